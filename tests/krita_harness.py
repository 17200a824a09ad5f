"""Drive a real Krita 5 for photomend's host tests.

Each test module costs at most two Krita launches: the test process writes
a job (a JSON plan plus ``.npy`` input pixels), Krita runs all of it, and
the results (pixels read back, layer stacks, messages, errors) come back as
JSON and ``.npy`` files. Two ways to run Krita (docs/hosts.md):

- ``kritarunner`` with the offscreen platform (no window, ~1 s): the pixel
  paths through the plug-in's :class:`KritaHost` and
  :func:`photomend.hosts.apply_operation`;
- the full GUI, ``xvfb-run -a krita --nosplash IMAGE``, with a test
  Extension (:data:`DRIVER`) that waits for the window and then runs a
  scenario: actions and menus, the real dialog (OK pressed by a timer),
  preview against the applied result, undo.

Two sides live here:

- test side (the pytest Python): :func:`unavailable`, :class:`KritaSession`;
- Krita side (Krita's Python): :func:`runner_main` and :func:`gui_main`,
  which import Krita and Qt inside the functions, so the test side never does.

Krita runs through ``.ci/hosts.sh exec`` (a Debian 13 chroot, or natively
on Debian 13) with the repository bind-mounted at the same path and HOME in
a throw-away folder inside the environment's /tmp, which the session shares
between runs: the first start builds Krita's resource database (~10 s).
Every Krita-side entry point arms a faulthandler watchdog, and every launch
has a subprocess timeout, so a hang fails instead of blocking.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
HOSTS = REPO / ".ci" / "hosts.sh"
JOB_ENV = "PHOTOMEND_KRITA_JOB"
DRIVER = "photomend_test_driver"
#: Wall-clock limits of one launch (the first one builds the resource DB).
RUNNER_TIMEOUT = 300
GUI_TIMEOUT = 300
#: Profile with the sRGB curve, so numbers compare as perceptual values.
SRGB = "sRGB-elle-V2-srgbtrc.icc"
LINEAR = "sRGB-elle-V2-g10.icc"
GRAY_SRGB = "Gray-D50-elle-V2-srgbtrc.icc"
DTYPES = {"U8": np.uint8, "U16": np.uint16, "F16": np.float16, "F32": np.float32}


# --------------------------------------------------------------- test side


def unavailable() -> str | None:
    """Return why Krita cannot be driven here, or None when it can."""
    if not HOSTS.is_file():
        return f"{HOSTS.relative_to(REPO)} is missing"
    try:
        done = subprocess.run(["bash", str(HOSTS), "root"], capture_output=True, text=True,
                              timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"'bash .ci/hosts.sh root' failed: {exc}"
    root = done.stdout.strip()
    if done.returncode != 0 or not root:
        return ("no Krita 5 environment ('bash .ci/hosts.sh root' failed); "
                "provide it with 'bash .ci/hosts.sh provision' (as root)")
    for tool in ("usr/bin/krita", "usr/bin/kritarunner", "usr/bin/xvfb-run"):
        if not (Path(root) / tool).exists():
            return f"{tool} is not installed in {root}"
    if root != "/" and os.geteuid() != 0:
        return "the Krita chroot needs root to enter"
    return None


class KritaSession:
    """A throw-away folder seen by both sides, a Krita HOME, and Krita launches.

    The folder is made inside the environment's own /tmp, so it needs no
    bind mount: the test side uses :attr:`work` (host path), Krita uses
    :attr:`inner` (the same folder seen from inside).
    """

    def __init__(self) -> None:
        done = subprocess.run(["bash", str(HOSTS), "root"], capture_output=True, text=True,
                              timeout=60, check=True)
        self.root = Path(done.stdout.strip())
        self.work = Path(tempfile.mkdtemp(prefix="photomend-krita-", dir=self.root / "tmp"))
        self.work.chmod(0o755)
        self.inner = "/" + str(self.work.relative_to(self.root))
        self.home = self.work / "home"
        self.pykrita = self.home / ".local" / "share" / "krita" / "pykrita"
        self.kritarc = self.home / ".config" / "kritarc"
        # kritarunner keeps its resources in .../kritarunner; sharing Krita's
        # folder means the resource database is built once, not twice.
        self.pykrita.mkdir(parents=True)
        (self.pykrita.parent.parent / "kritarunner").symlink_to("krita")
        self.runs = 0
        self.launches: list[tuple[str, float]] = []
        import photomend

        self.package = Path(photomend.__file__).resolve().parent
        self.binds = [REPO] + ([] if self.package.is_relative_to(REPO) else [self.package])

    def close(self) -> None:
        """Delete the session folder."""
        shutil.rmtree(self.work, ignore_errors=True)

    def inside(self, path: Path) -> str:
        """Return `path` (under :attr:`work`) as Krita sees it."""
        return self.inner + "/" + str(Path(path).relative_to(self.work))

    def _exec(self, *command: str) -> list[str]:
        binds = [arg for b in self.binds for arg in ("--bind", str(b))]
        return ["bash", str(HOSTS), "exec", *binds, "--", *command]

    def install_plugin(self) -> str:
        """Install the plug-in into this session's HOME; return the installer's report.

        The installer checks Krita's Python for numpy and scipy through a
        wrapper that runs the environment's python3 (the Python Krita uses).
        """
        from photomend.hosts.install_krita import install

        wrapper = self.work / "krita-python"
        command = " ".join(f"'{c}'" for c in self._exec("python3"))
        wrapper.write_text(f'#!/bin/sh\nexec {command} "$@"\n', encoding="utf-8")
        wrapper.chmod(0o755)
        return install(dest=self.pykrita, python=wrapper, kritarc=self.kritarc)

    def install_driver(self) -> None:
        """Install the test Extension that runs :func:`gui_main` in the GUI."""
        from photomend.hosts.install_krita import set_kritarc_flag

        folder = self.pykrita / DRIVER
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "__init__.py").write_text(
            "import sys\n"
            f"sys.path.insert(0, {str(REPO / 'tests')!r})\n"
            "import krita_harness\n"
            "krita_harness.gui_main()\n", encoding="utf-8")
        (self.pykrita / f"{DRIVER}.desktop").write_text(
            "[Desktop Entry]\nType=Service\nServiceTypes=Krita/PythonPlugin\n"
            f"X-KDE-Library={DRIVER}\nX-Python-2-Compatible=false\n"
            "Name=photomend test driver\n", encoding="utf-8")
        set_kritarc_flag(self.kritarc, True)  # photomend_krita
        text = self.kritarc.read_text(encoding="utf-8")
        if f"enable_{DRIVER}=true" not in text:
            self.kritarc.write_text(
                text.replace("[python]\n", f"[python]\nenable_{DRIVER}=true\n", 1),
                encoding="utf-8")

    def save(self, name: str, array: np.ndarray) -> str:
        """Store an input array for Krita; return its name."""
        np.save(self.work / name, array)
        return name

    def load(self, name: str) -> np.ndarray:
        """Load an array Krita wrote."""
        return np.load(self.work / name)

    def _launch(self, kind: str, job: dict[str, Any], command: list[str],
                timeout: float) -> dict[str, Any]:
        self.runs += 1
        job_file = self.work / f"job-{self.runs}.json"
        out = f"result-{self.runs}.json"
        job = {**job, "work": self.inner, "out": out, "watchdog": timeout - 10}
        job_file.write_text(json.dumps(job), encoding="utf-8")
        # Krita's swap files, single-instance locks and Xvfb's auth file go
        # to TMPDIR: inside the session, so closing it removes them.
        env = [f"HOME={self.inside(self.home)}", f"{JOB_ENV}={self.inside(job_file)}",
               "XDG_RUNTIME_DIR=" + self.inside(self.work / "runtime"),
               "TMPDIR=" + self.inside(self.work / "tmp")]
        (self.work / "runtime").mkdir(mode=0o700, exist_ok=True)
        (self.work / "tmp").mkdir(exist_ok=True)
        started = time.monotonic()
        proc = subprocess.Popen(self._exec("env", *env, *command), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, start_new_session=True)
        try:
            log, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            log, _ = proc.communicate()
            msg = f"Krita ({kind}) did not finish within {timeout} s:\n{_tail(log)}"
            raise RuntimeError(msg) from None
        finally:
            self.launches.append((kind, time.monotonic() - started))
        (self.work / f"log-{self.runs}.txt").write_text(log, encoding="utf-8")
        result_file = self.work / out
        if not result_file.exists():
            msg = f"Krita ({kind}) wrote no result (exit {proc.returncode}):\n{_tail(log)}"
            raise RuntimeError(msg)
        result = json.loads(result_file.read_text(encoding="utf-8"))
        result["log"] = log
        if result.get("fatal"):
            msg = f"Krita ({kind}) failed:\n{result['fatal']}\n{_tail(log)}"
            raise RuntimeError(msg)
        return result

    def run_runner(self, cases: list[dict[str, Any]]) -> dict[str, Any]:
        """Run `cases` in kritarunner (offscreen); return the results by case name."""
        command = ["env", "QT_QPA_PLATFORM=offscreen",
                   f"PYTHONPATH={self.inside(self.pykrita)}:{REPO / 'tests'}",
                   "kritarunner", "-s", "krita_harness", "-f", "runner_main"]
        return self._launch("kritarunner", {"cases": cases}, command, RUNNER_TIMEOUT)

    def run_gui(self, image: str, scenario: dict[str, Any]) -> dict[str, Any]:
        """Open `image` (a file in :attr:`work`) in the full GUI and run `scenario`."""
        command = ["xvfb-run", "-a", "-s", "-screen 0 1600x1000x24", "krita", "--nosplash",
                   f"{self.inner}/{image}"]
        try:
            return self._launch("gui", scenario, command, GUI_TIMEOUT)
        except RuntimeError as exc:
            # docs/hosts-env.md: "xvfb-run -a" races with another one starting
            # at the same moment (exit 134, "could not connect to display").
            if "could not connect to display" not in str(exc):
                raise
            return self._launch("gui", scenario, command, GUI_TIMEOUT)


def _tail(log: str, lines: int = 60) -> str:
    return "\n".join(log.splitlines()[-lines:])


def layer_bytes(array: np.ndarray, model: str) -> bytes:
    """Return logical pixels (R,G,B,A / gray,alpha) in Krita's byte order.

    Written independently of the plug-in's own conversion on purpose: 8-
    and 16-bit RGBA are stored B,G,R,A (docs/hosts.md).
    """
    if model == "RGBA" and array.dtype.kind == "u":
        array = array[..., [2, 1, 0, 3]]
    return np.ascontiguousarray(array).tobytes()


def logical(data: bytes, width: int, height: int, model: str, depth: str) -> np.ndarray:
    """Inverse of :func:`layer_bytes`."""
    array = np.frombuffer(data, DTYPES[depth]).reshape(height, width, -1)
    if model == "RGBA" and array.dtype.kind == "u":
        array = array[..., [2, 1, 0, 3]]
    return np.ascontiguousarray(array)


# -------------------------------------------------------------- Krita side


def _job() -> dict[str, Any]:
    with open(os.environ[JOB_ENV], encoding="utf-8") as f:
        return json.load(f)


def _finish(job: dict[str, Any], result: dict[str, Any]) -> None:
    path = os.path.join(job["work"], job["out"])
    with open(path + ".part", "w", encoding="utf-8") as f:
        json.dump(result, f, default=str)
    os.replace(path + ".part", path)


def _save(job: dict[str, Any], name: str, array: np.ndarray) -> str:
    np.save(os.path.join(job["work"], name), array)
    return name


def _paint_layers(node: Any) -> list[Any]:
    return [n for n in node.childNodes() if n.type() == "paintlayer"]


def _layers(node: Any) -> list[dict[str, Any]]:
    """Describe the paint layers under `node`, bottom first (``layer<i>`` in results)."""
    return [{"name": n.name(), "type": n.type(), "visible": n.visible(),
             "opacity": n.opacity(), "mode": n.blendingMode()} for n in _paint_layers(node)]


def _make_document(case: dict[str, Any], job: dict[str, Any]) -> tuple[Any, Any]:
    from krita import Krita, Selection

    array = np.load(os.path.join(job["work"], case["pixels"]))
    height, width = array.shape[:2]
    model, depth, profile = case.get("document") or (case["model"], case["depth"],
                                                     case["profile"])
    doc = Krita.instance().createDocument(width, height, case["name"], model, depth, profile,
                                          72.0)
    node = doc.rootNode().childNodes()[0]
    if (model, depth, profile) != (case["model"], case["depth"], case["profile"]):
        node.setColorSpace(case["model"], case["depth"], case["profile"])
    node.setPixelData(layer_bytes(array, case["model"]), 0, 0, width, height)
    if case.get("selection"):
        levels = np.load(os.path.join(job["work"], case["selection"])).astype(np.uint8)
        selection = Selection()
        selection.setPixelData(levels.tobytes(), 0, 0, width, height)
        doc.setSelection(selection)
    for key, value in case.get("setup", {}).items():
        if key == "opacity":
            node.setOpacity(value)
        elif key == "mode":
            node.setBlendingMode(value)
        elif key == "locked":
            node.setLocked(value)
        elif key == "child":
            node.addChildNode(doc.createNode("child", value), None)
        elif key == "node":  # make the target another kind of layer
            other = doc.createNode("other", value)
            doc.rootNode().addChildNode(other, node)
            node = other
    doc.waitForDone()
    return doc, node


def _run_case(case: dict[str, Any], job: dict[str, Any]) -> dict[str, Any]:
    from photomend_krita.host import KritaHost

    from photomend.hosts import apply_operation

    doc, node = _make_document(case, job)
    try:
        width, height = doc.width(), doc.height()
        out: dict[str, Any] = {"error": None}
        try:
            host = KritaHost(doc, node)
            out["transfer"] = host.transfer
            apply_operation(host, case["op"], case.get("params", {}),
                            output=case.get("output", "in-place"))
        except Exception as exc:  # the test asserts on it
            out["error"] = f"{type(exc).__name__}: {exc}"
            out["error_class"] = [c.__name__ for c in type(exc).__mro__]
        doc.waitForDone()
        out["layers"] = _layers(doc.rootNode())
        for i, layer in enumerate(_paint_layers(doc.rootNode())):
            data = bytes(layer.pixelData(0, 0, width, height))
            out[f"layer{i}"] = _save(job, f"{case['name']}-layer{i}.npy",
                                     logical(data, width, height, case["model"], case["depth"]))
        return out
    finally:
        doc.close()


def runner_main(*_: Any) -> None:
    """Entry point for ``kritarunner -f runner_main``: run every case of the job."""
    import faulthandler

    job = _job()
    faulthandler.dump_traceback_later(job["watchdog"], exit=True)
    result: dict[str, Any] = {"cases": {}}
    try:
        import photomend_krita  # noqa: F401 - loads photomend the plug-in's way

        import photomend

        result["photomend"] = os.path.dirname(photomend.__file__)
        for case in job["cases"]:
            started = time.monotonic()
            try:
                result["cases"][case["name"]] = _run_case(case, job)
            except Exception:
                result["cases"][case["name"]] = {"error": traceback.format_exc(),
                                                 "crashed": True}
            result["cases"][case["name"]]["seconds"] = time.monotonic() - started
    except Exception:
        result["fatal"] = traceback.format_exc()
    _finish(job, result)
    faulthandler.cancel_dump_traceback_later()
    sys.stdout.flush()


# ----------------------------------------------------------- GUI scenario


class _Scenario:
    """The GUI steps, one after another on Qt timers (Krita stays responsive)."""

    def __init__(self, job: dict[str, Any]) -> None:
        self.job = job
        self.started = time.monotonic()
        self.result: dict[str, Any] = {"steps": {}}
        self.steps = [getattr(self, f"step_{name}") for name in job["steps"]]

    # -- helpers ----------------------------------------------------------
    @staticmethod
    def krita() -> Any:
        from krita import Krita

        return Krita.instance()

    def doc(self) -> Any:
        return self.krita().activeDocument()

    def pixels(self, node: Any) -> np.ndarray:
        doc = self.doc()
        data = bytes(node.pixelData(0, 0, doc.width(), doc.height()))
        return logical(data, doc.width(), doc.height(), node.colorModel(), node.colorDepth())

    def save(self, name: str, array: np.ndarray) -> str:
        return _save(self.job, name, array)

    def later(self, fn: Any, ms: int = 0) -> None:
        from PyQt5.QtCore import QTimer

        def guarded() -> None:
            try:
                fn()
            except Exception:
                self.result["fatal"] = traceback.format_exc()
                self.quit()

        QTimer.singleShot(ms, guarded)

    def when(self, ready: Any, then: Any, timeout: float = 60.0) -> None:
        """Poll `ready()` every 50 ms; call ``then(value)`` once it is truthy."""
        deadline = time.monotonic() + timeout

        def poll() -> None:
            value = ready()
            if value:
                then(value)
            elif time.monotonic() > deadline:
                raise TimeoutError(f"gave up waiting for {ready.__name__}")
            else:
                self.later(poll, 50)

        self.later(poll, 50)

    @staticmethod
    def modal(name: str) -> Any:
        from PyQt5.QtWidgets import QApplication

        for widget in QApplication.topLevelWidgets():
            if widget.objectName() == name and widget.isVisible():
                return widget
        return None

    def trigger(self, action_id: str, record: dict[str, Any]) -> None:
        started = time.monotonic()
        self.krita().action(action_id).trigger()  # returns after the dialog closes
        self.doc().waitForDone()
        record["seconds"] = time.monotonic() - started

    def run_next(self) -> None:
        if not self.steps:
            self.quit()
            return
        step = self.steps.pop(0)
        self.result["steps"][step.__name__[5:]] = record = {
            "at": round(time.monotonic() - self.started, 2)}
        step(record)

    def next(self, ms: int = 100) -> None:
        self.later(self.run_next, ms)

    def quit(self) -> None:
        self.result["at_quit"] = round(time.monotonic() - self.started, 2)
        _finish(self.job, self.result)
        for doc in self.krita().documents():
            doc.setModified(False)
        self.krita().action("file_quit").trigger()

    # -- steps ------------------------------------------------------------
    def step_start(self, record: dict[str, Any]) -> None:
        """Record the document, the actions and the menu tree."""
        from photomend_krita import actions

        import photomend

        doc = self.doc()
        node = doc.activeNode()
        record["document"] = [doc.colorModel(), doc.colorDepth(), doc.colorProfile()]
        record["active"] = node.name() if node is not None else None
        record["actions"] = {}
        for spec in photomend.operations():
            action = self.krita().action(actions.action_id(spec))
            record["actions"][spec.id] = None if action is None else [
                action.text(), action.toolTip(), action.isEnabled()]
        menubar = self.krita().activeWindow().qwindow().menuBar()

        def tree(menu: Any) -> list[Any]:
            return [[a.objectName(), a.text(), tree(a.menu()) if a.menu() else None]
                    for a in menu.actions() if a.objectName().startswith("photomend")]

        record["menu"] = [[a.objectName(), tree(a.menu())] for a in menubar.actions()
                          if a.menu() is not None and tree(a.menu())]
        self.original = self.pixels(node)
        record["original"] = self.save("gui-original.npy", self.original)
        self.next()

    def _dialog_run(self, record: dict[str, Any], op_id: str, *, values: Any = None,
                    output: str | None = None, press: str = "ok",
                    reset: bool = False, report: bool = False) -> None:
        """Trigger `op_id`'s action; when its dialog shows, set it up and press a button."""
        from photomend_krita import actions, pixels
        from PyQt5.QtWidgets import QDialogButtonBox

        from photomend import get_operation

        spec = get_operation(op_id)

        def dialog() -> Any:
            return self.modal(f"photomend-{spec.id}")

        def previewed(dlg: Any) -> Any:
            preview = dlg.preview
            return dlg if (preview.result is not None and not preview.busy) else None

        def answer(dlg: Any) -> None:
            record["dialog"] = dlg.windowTitle()
            if reset:  # the dialog remembers earlier steps' values
                dlg.reset()
            if report:
                record["report_offered"] = dlg.report_check.isVisible()
                dlg.report_check.setChecked(True)
            if values:
                dlg.set_values(values)
            keys = dlg.layer_keys()
            record["layer_choices"] = {
                name: [dlg.editors[name].combo.itemText(i)
                       for i in range(dlg.editors[name].combo.count())] for name in keys}
            record["layer_keys"] = keys
            if output:
                dlg.output = output
            self.when(lambda: previewed(dlg), lambda d: press_button(d))

        def press_button(dlg: Any) -> None:
            result = dlg.preview.result
            record["preview_values"] = dict(result.values)
            record["preview_box"] = list(result.box)
            if isinstance(result.data, np.ndarray):
                record["preview"] = self.save(f"gui-{record['name']}-preview.npy", result.data)
            else:
                node = self.doc().activeNode()
                lay = pixels.layout(node.colorModel(), node.colorDepth())
                data = pixels.from_image(result.data, lay, pixels.transfer_of(
                    node.colorProfile()))
                record["preview"] = self.save(
                    f"gui-{record['name']}-preview.npy",
                    logical(data, result.box.width, result.box.height, lay.model, lay.depth))
            button = QDialogButtonBox.Ok if press == "ok" else QDialogButtonBox.Cancel
            dlg.buttons.button(button).click()

        self.when(dialog, answer)
        self.trigger(actions.action_id(spec), record)

    def _after(self, record: dict[str, Any]) -> None:
        doc = self.doc()
        record["layers"] = _layers(doc.rootNode())
        for i, layer in enumerate(_paint_layers(doc.rootNode())):
            record[f"layer{i}"] = self.save(f"gui-{record['name']}-layer{i}.npy",
                                            self.pixels(layer))

    def _undo(self, record: dict[str, Any], then: Any, times: int = 1,
              action: str = "edit_undo", key: str = "undo") -> None:
        """Press Undo (or `action`) `times` times; record layers and projection after each."""
        done = record.setdefault(key, [])

        def press() -> None:
            self.krita().action(action).trigger()
            self.doc().waitForDone()
            self.later(settled, 400)

        def settled() -> None:
            doc = self.doc()
            doc.waitForDone()
            after = {"name": f"{record['name']}-{key}{len(done) + 1}"}
            self._after(after)
            active = doc.activeNode()
            after["active"] = None if active is None else active.name()
            after["projection"] = self.save(f"gui-{after['name']}-projection.npy",
                                            self._projection())
            done.append(after)
            if len(done) < times:
                press()
            else:
                then()

        press()

    def _select(self, levels: np.ndarray | None) -> None:
        from krita import Selection

        doc = self.doc()
        if levels is None:
            self.krita().action("deselect").trigger()
        else:
            selection = Selection()
            selection.setPixelData(levels.astype(np.uint8).tobytes(), 0, 0,
                                   doc.width(), doc.height())
            doc.setSelection(selection)
        doc.waitForDone()

    def _projection(self) -> np.ndarray:
        doc = self.doc()
        doc.refreshProjection()
        proj = doc.rootNode().projectionPixelData(0, 0, doc.width(), doc.height())
        return np.frombuffer(bytes(proj), np.uint8).copy()

    def step_in_place(self, record: dict[str, Any]) -> None:
        """OK on the dialog with a partial selection; then one Undo and one Redo."""
        record["name"] = "in-place"
        spec = self.job["in_place"]
        self._select(np.load(os.path.join(self.job["work"], spec["selection"])))
        record["projection_before"] = self.save("gui-projection-before.npy", self._projection())
        self._dialog_run(record, spec["op"], values=spec["values"])
        self._after(record)
        record["projection_after"] = self.save("gui-projection-after.npy", self._projection())

        def redo() -> None:
            self._undo(record, undo_again, action="edit_redo", key="redo")

        def undo_again() -> None:  # leave the document as it was for later steps
            self._undo(record, self.next, key="undo_again")

        self._undo(record, redo)

    def step_new_layer(self, record: dict[str, Any]) -> None:
        """Output to a new layer; the source stays as it was."""
        record["name"] = "new-layer"
        spec = self.job["new_layer"]
        self._select(np.load(os.path.join(self.job["work"], spec["selection"])))
        self._dialog_run(record, spec["op"], values=spec["values"], output="new-layer")
        self._after(record)
        self._undo(record, self.next)

    def step_every_op(self, record: dict[str, Any]) -> None:
        """Every operation through its action and dialog (defaults, OK), then one Undo."""
        import photomend

        self._select(np.load(os.path.join(self.job["work"], self.job["every_op"]["selection"])))
        record["name"] = "every-op"
        record["ops"] = {}
        pending = [spec.id for spec in photomend.operations()]

        def run_next() -> None:
            if not pending:
                self.next()
                return
            op_id = pending.pop(0)
            sub = record["ops"][op_id] = {"name": f"op-{op_id}"}
            self._dialog_run(sub, op_id, output="in-place", reset=True)
            self._after(sub)
            self._undo(sub, run_next)

        run_next()

    def step_report(self, record: dict[str, Any]) -> None:
        """Restore Old Photo with "Add what it found as layers" ticked."""
        record["name"] = "report"
        self._select(None)
        self._dialog_run(record, "restore-photo", output="in-place", reset=True, report=True)
        self._after(record)
        self.next()

    def step_layers(self, record: dict[str, Any]) -> None:
        """Layer parameters: each run adds its layer, opens its operation's dialog on
        the Background, chooses the layer by name for the parameter, presses OK
        (with "Add what it found as layers" when asked), then undoes it all.

        ``job["layers"]``: a list of ``{"key", "op", "param", "layer" (name),
        "pixels" (.npy RGBA U8 over the canvas), "values", "report"}``.
        """
        record["name"] = "layers"
        runs = list(self.job["layers"])
        doc = self.doc()
        self._select(None)
        root = doc.rootNode()
        background = next(n for n in root.childNodes() if n.name() == "Background")
        record["before"] = self.save("gui-layers-before.npy", self.pixels(background))
        for run in runs:
            node = doc.createNode(run["layer"], "paintlayer")
            rgba = np.load(os.path.join(self.job["work"], run["pixels"]))
            node.setPixelData(layer_bytes(rgba, "RGBA"), 0, 0, doc.width(), doc.height())
            root.addChildNode(node, None)
        doc.waitForDone()

        def run_next() -> None:
            if not runs:
                self.next()
                return
            run = runs.pop(0)
            sub = record[run["key"]] = {"name": f"layers-{run['key']}"}
            doc.setActiveNode(background)
            doc.waitForDone()
            values = {run["param"]: run["layer"], **run.get("values", {})}
            self._dialog_run(sub, run["op"], values=values, output="in-place", reset=True,
                             report=run.get("report", False))
            self._after(sub)
            # an added report layer is an undo step of its own (no undo macros)
            self._undo(sub, run_next, times=2 if run.get("report") else 1)

        self.later(run_next, 200)

    def step_cancel(self, record: dict[str, Any]) -> None:
        """Cancel leaves everything as it was."""
        record["name"] = "cancel"
        self._dialog_run(record, self.job["in_place"]["op"], press="cancel")
        self._after(record)
        self.next()

    def step_error(self, record: dict[str, Any]) -> None:
        """A damage operation without selection: the core's message in a box."""
        from photomend_krita import actions

        import photomend

        record["name"] = "error"
        self._select(None)
        spec = photomend.get_operation(self.job["error_op"])
        record["dialogs"] = []

        def box() -> Any:
            if self.modal(f"photomend-{spec.id}") is not None:
                record["dialogs"].append(spec.id)
            return self.modal("photomend-error")

        def close(widget: Any) -> None:
            record["message"] = widget.text()
            widget.done(0)

        self.when(box, close)
        self.trigger(actions.action_id(spec), record)
        self._after(record)
        self.next()


def gui_main() -> None:
    """Called by the test driver Extension at Krita's start: run the scenario."""
    import faulthandler

    from krita import Extension, Krita

    job = _job()
    faulthandler.dump_traceback_later(job["watchdog"], exit=True)
    scenario = _Scenario(job)

    class Driver(Extension):
        def setup(self) -> None:
            Krita.instance().notifier().windowCreated.connect(
                lambda: scenario.when(ready, lambda _: scenario.next(500), timeout=120))

        def createActions(self, window: Any) -> None:
            pass

    def ready() -> bool:
        doc = Krita.instance().activeDocument()
        return doc is not None and doc.activeNode() is not None

    Krita.instance().addExtension(Driver(Krita.instance()))
