"""Drive a real GIMP 3 for photomend's host tests.

A whole test module shares ONE GIMP launch (each costs seconds): the test
process writes a plan of jobs and their input pixels, GIMP runs them all in
one batch script, and every result (status, message, pixels of each layer
and channel, the selection used) comes back as JSON and ``.npy`` files.

Two sides live here:

- test side (the pytest Python): :func:`unavailable`, :class:`GimpSession`;
- GIMP side (GIMP's own Python, numpy from the host system):
  :func:`batch_main`, run by ``python-fu-eval``, and :func:`dialog_hook`,
  run from a ``sitecustomize`` in the plug-in's process, which answers the
  plug-in's real dialogs: GIMP's procedure dialog (a GLib timeout presses
  OK or Cancel) and photomend's Qt dialog and progress dialog (Qt timers).
  These import ``gi`` inside the functions, so the test side never does.

GIMP runs through ``.ci/hosts.sh exec`` (a Debian 13 chroot, or natively
on Debian 13) with the repository bind-mounted at the same path, under
``xvfb-run`` so interactive runs have a display, with HOME in a throw-away
folder: the plug-in is installed into a fresh GIMP profile every time.
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
PLUGIN = REPO / "plugins" / "gimp" / "photomend_gimp"
PROFILE = "home/.config/GIMP/3.0"
DIALOG_ENV = "PHOTOMEND_TEST_DIALOG"
#: Whole GIMP run; a hung dialog or plug-in must not hang the test suite.
TIMEOUT = 600


# --------------------------------------------------------------- test side


def plugin_procedures() -> Any:
    """Import the plug-in's pure module (``gimp_procedures.py``), no GIMP needed."""
    import importlib.util

    path = PLUGIN / "gimp_procedures.py"
    spec = importlib.util.spec_from_file_location("_gimp_procedures", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def unavailable() -> str | None:
    """Return why GIMP cannot be driven here, or None when it can."""
    if not HOSTS.is_file():
        return f"{HOSTS.relative_to(REPO)} is missing"
    try:
        done = subprocess.run(["bash", str(HOSTS), "root"], capture_output=True, text=True,
                              timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"'bash .ci/hosts.sh root' failed: {exc}"
    root = done.stdout.strip()
    if done.returncode != 0 or not root:
        return ("no GIMP 3 environment ('bash .ci/hosts.sh root' failed); "
                "provide it with 'bash .ci/hosts.sh provision' (as root)")
    for program in ("gimp-console-3.0", "xvfb-run"):
        if not (Path(root) / "usr/bin" / program).exists():
            return f"{program} is not installed in {root}"
    if root != "/" and os.geteuid() != 0:
        return "the GIMP chroot needs root to enter"
    return None


def environment_root() -> Path:
    """Return the root of the host environment ('/' when native)."""
    done = subprocess.run(["bash", str(HOSTS), "root"], capture_output=True, text=True,
                          timeout=60, check=True)
    return Path(done.stdout.strip())


class GimpSession:
    """A throw-away folder seen by both sides, a GIMP profile, and one GIMP run.

    The folder is made inside the environment's own /tmp, so it needs no
    bind mount: the test side uses :attr:`work` (host path), GIMP uses
    :attr:`inner` (the same folder seen from inside).
    """

    def __init__(self) -> None:
        self.root = environment_root()
        tmp = self.root / "tmp"
        self.work = Path(tempfile.mkdtemp(prefix="photomend-gimp-", dir=tmp))
        self.work.chmod(0o755)
        self.inner = "/" + str(self.work.relative_to(self.root))
        self.log = ""
        self.seconds = 0.0
        import photomend

        self.package = Path(photomend.__file__).resolve().parent
        self.binds = [REPO] + ([] if self.package.is_relative_to(REPO) else [self.package])

    def close(self) -> None:
        shutil.rmtree(self.work, ignore_errors=True)

    def save(self, name: str, array: np.ndarray) -> str:
        np.save(self.work / name, array)
        return name

    def load(self, name: str) -> np.ndarray:
        return np.load(self.work / name)

    def _exec(self, *command: str) -> list[str]:
        binds = [arg for b in self.binds for arg in ("--bind", str(b))]
        return ["bash", str(HOSTS), "exec", *binds, "--", *command]

    def install_plugin(self) -> str:
        """Install the plug-in into this session's GIMP profile; return the report.

        The installer checks GIMP's Python for numpy and scipy through a
        wrapper that runs the environment's python3.
        """
        from photomend.hosts.install_gimp import install

        wrapper = self.work / "gimp-python"
        command = " ".join(f"'{c}'" for c in self._exec("/usr/bin/python3"))
        wrapper.write_text(f'#!/bin/sh\nexec {command} "$@"\n')
        wrapper.chmod(0o755)
        return install(dest=self.work / PROFILE / "plug-ins", python=wrapper)

    def _limit_plugins(self) -> None:
        """Let GIMP load only our plug-in and the Python batch interpreter.

        A fresh profile makes GIMP query its ~120 bundled plug-ins (~10 s);
        none of them is needed here.
        """
        gimprc = self.work / PROFILE / "gimprc"
        if gimprc.exists():
            return
        system = self.work / "system-plug-ins"
        system.mkdir(exist_ok=True)
        found = [*self.root.glob("usr/lib/*/gimp/3.0/plug-ins/python-eval"),
                 *self.root.glob("usr/lib/gimp/3.0/plug-ins/python-eval")]
        if found:  # (multiarch path on Debian)
            (system / "python-eval").symlink_to("/" + str(found[0].relative_to(self.root)))
        gimprc.parent.mkdir(parents=True, exist_ok=True)
        path = f"${{gimp_dir}}/plug-ins:{self.inner}/system-plug-ins"
        gimprc.write_text(f'(plug-in-path "{path}")\n')

    def install_broken_copy(self, name: str, init: str) -> None:
        """Install a second copy of the plug-in whose photomend fails to import.

        The copy (folder and file named `name`) is pointed at a fake package
        whose ``__init__.py`` is `init`; it must then register only its
        "setup problem" procedure.
        """
        from photomend.hosts.install_gimp import CONFIG_NAME

        package = self.work / "broken" / "photomend"
        package.mkdir(parents=True)
        (package / "__init__.py").write_text(init)
        (package / "registry.py").write_text("")
        target = self.work / PROFILE / "plug-ins" / name
        shutil.copytree(PLUGIN, target, ignore=shutil.ignore_patterns("__pycache__"))
        (target / "photomend_gimp.py").rename(target / f"{name}.py")
        config = {"package": f"{self.inner}/broken/photomend"}
        (target / CONFIG_NAME).write_text(json.dumps(config))

    def run(self, plan: dict[str, Any], dialogs: list[dict[str, Any]] | None = None
            ) -> dict[str, Any]:
        """Run `plan` in one headless GIMP launch and return its results.

        Parameters
        ----------
        plan : dict
            ``{"procedures": [names to describe], "jobs": [job, ...]}``; see
            :func:`_run_job` for a job's keys. Input arrays must have been
            saved with :meth:`save`.
        dialogs : list of dict, optional
            What to do in each procedure dialog the plug-in shows, in order
            (see :func:`dialog_hook`).
        """
        self._limit_plugins()
        results = self.work / "results.json"
        results.unlink(missing_ok=True)
        (self.work / "plan.json").write_text(json.dumps(plan))
        (self.work / "dialogs.json").write_text(json.dumps(dialogs or []))
        site = self.work / "site"
        site.mkdir(exist_ok=True)
        (site / "sitecustomize.py").write_text("import gimp_harness\ngimp_harness.dialog_hook()\n")
        code = f"import gimp_harness; gimp_harness.batch_main({self.inner + '/plan.json'!r})"
        command = self._exec(
            "env", f"HOME={self.inner}/home", f"XDG_CONFIG_HOME={self.inner}/home/.config",
            f"PYTHONPATH={self.inner}/site:{REPO / 'tests'}",
            f"{DIALOG_ENV}={self.inner}/dialogs.json", "PYTHONDONTWRITEBYTECODE=1",
            # Concurrent "xvfb-run -a" can pick the same display (see
            # docs/hosts-env.md): start the search at a per-process number.
            "xvfb-run", "-a", "-n", str(200 + os.getpid() % 700), "-s", "-screen 0 1280x1024x24",
            "gimp-console-3.0", "-i", "-n", "-d", "-f",
            "--batch-interpreter=python-fu-eval", "-b", code, "--quit")
        start = time.monotonic()
        # Own process group, so a timeout ends GIMP and its plug-ins too.
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, start_new_session=True)
        try:
            out, _ = proc.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
            out += f"\n[harness] GIMP killed after {TIMEOUT} s"
        self.seconds = time.monotonic() - start
        self.log = out
        if not results.is_file():
            msg = f"GIMP produced no results (exit {proc.returncode}); its output:\n{out[-6000:]}"
            raise RuntimeError(msg)
        return json.loads(results.read_text())


# --------------------------------------------------------------- GIMP side


def _gimp() -> tuple[Any, Any]:
    import gi

    gi.require_version("Gimp", "3.0")
    gi.require_version("Gegl", "0.4")
    from gi.repository import Gegl, Gimp

    return Gimp, Gegl


def _jsonable(value: Any) -> Any:
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if hasattr(value, "value_nick"):
        return value.value_nick
    return repr(value)


def _describe(Gimp: Any, name: str) -> dict[str, Any]:
    proc = Gimp.get_pdb().lookup_procedure(name)
    if proc is None:
        return {"missing": True}
    args = []
    for spec in proc.get_arguments():
        arg = {"name": spec.name, "nick": spec.get_nick(), "blurb": spec.get_blurb(),
               "type": spec.value_type.name, "default": _jsonable(spec.get_default_value())}
        for key in ("minimum", "maximum"):
            if hasattr(spec, key):
                arg[key] = getattr(spec, key)
        if spec.value_type.name == "gchararray" and hasattr(Gimp, "param_spec_choice_get_choice"):
            try:
                arg["choices"] = list(Gimp.param_spec_choice_get_choice(spec).list_nicks())
            except TypeError:
                pass
        args.append(arg)
    return {"menu_label": proc.get_menu_label(), "menu_paths": list(proc.get_menu_paths()),
            "blurb": proc.get_blurb(), "help": proc.get_help(),
            "image_types": proc.get_image_types(), "arguments": args}


def _buffer_get(Gegl: Any, drawable: Any, x: int, y: int, w: int, h: int, fmt: str,
                dtype: Any, channels: int) -> np.ndarray:
    data = drawable.get_buffer().get(Gegl.Rectangle.new(x, y, w, h), 1.0, fmt,
                                     Gegl.AbyssPolicy.NONE)
    return np.frombuffer(data, dtype).reshape(h, w, channels).copy()


def _run_job(Gimp: Any, Gegl: Any, job: dict[str, Any], work: Path) -> dict[str, Any]:
    """Build the job's image, run its procedure, save what came out.

    Job keys: ``input`` (.npy of ``(H, W, C)`` levels in ``format``),
    ``format`` (babl format to write and read the layer), ``base``
    ('rgb', 'gray' or 'indexed'), ``precision`` (nick), ``canvas``
    ``[W, H]``, ``offsets`` ``[x, y]`` of the layer, ``selection``
    ``{"rect": [x, y, w, h], "feather": px}``, ``procedure``, ``run_mode``
    (Gimp.RunMode name) and ``args`` (procedure arguments; ``{"$drawable":
    name}`` stands for an ``extra`` drawable); ``extra``: more drawables, each
    ``{"name", "input" (.npy), "kind": "layer" (RGBA u8, below the source, at
    ``offsets``) or "channel" (image-sized float mask)}``; or, instead of
    ``procedure``, ``host_op`` and ``plugin_dir`` (see :func:`_run_host`).
    """
    pixels = np.load(work / job["input"])
    h, w, c = pixels.shape
    dtype = pixels.dtype
    cw, ch = job.get("canvas", [w, h])
    gray = job["base"] == "gray"
    base = Gimp.ImageBaseType.GRAY if gray else Gimp.ImageBaseType.RGB
    precision = getattr(Gimp.Precision, job["precision"].upper().replace("-", "_"))
    image = Gimp.Image.new_with_precision(cw, ch, base, precision)
    kind = ("GRAY" if gray else "RGB") + ("A" if c in (2, 4) else "") + "_IMAGE"
    layer = Gimp.Layer.new(image, "source", w, h, getattr(Gimp.ImageType, kind), 100.0,
                           Gimp.LayerMode.NORMAL)
    image.insert_layer(layer, None, 0)
    layer.set_offsets(*job.get("offsets", [0, 0]))
    buffer = layer.get_buffer()
    buffer.set(Gegl.Rectangle.new(0, 0, w, h), job["format"],
               np.ascontiguousarray(pixels).tobytes())
    buffer.flush()
    extra = {"source": layer}
    for item in job.get("extra", []):
        values = np.load(work / item["input"])
        eh, ew = values.shape[:2]
        if item["kind"] == "channel":
            drawable = Gimp.Channel.new(image, item["name"], ew, eh, 100.0,
                                        Gegl.Color.new("black"))
            image.insert_channel(drawable, None, 0)
            fmt = "Y float"
        else:
            drawable = Gimp.Layer.new(image, item["name"], ew, eh, Gimp.ImageType.RGBA_IMAGE,
                                      100.0, Gimp.LayerMode.NORMAL)
            image.insert_layer(drawable, None, 1)
            drawable.set_offsets(*item.get("offsets", [0, 0]))
            fmt = "R'G'B'A u8"
        drawable.get_buffer().set(Gegl.Rectangle.new(0, 0, ew, eh), fmt,
                                  np.ascontiguousarray(values).tobytes())
        drawable.get_buffer().flush()
        extra[item["name"]] = drawable
    if job["base"] == "indexed":
        image.convert_indexed(Gimp.ConvertDitherType.NONE, Gimp.ConvertPaletteType.GENERATE,
                              16, False, False, "")
    out: dict[str, Any] = {"selection": None}
    selection = job.get("selection")
    if selection:
        image.select_rectangle(Gimp.ChannelOps.REPLACE, *selection["rect"])
        if selection.get("feather"):
            Gimp.Selection.feather(image, selection["feather"])
        sel = _buffer_get(Gegl, image.get_selection(), 0, 0, cw, ch, "Y float", np.float32, 1)
        out["selection"] = f"{job['name']}-selection.npy"
        np.save(work / out["selection"], sel[..., 0])
    out["before"] = f"{job['name']}-before.npy"
    np.save(work / out["before"], _buffer_get(Gegl, layer, 0, 0, w, h, job["format"], dtype, c))

    if "host_op" in job:
        _run_host(job, image, layer)
        out["status"], out["message"] = "success", None
    else:
        proc = Gimp.get_pdb().lookup_procedure(job["procedure"])
        config = proc.create_config()
        config.set_property("run-mode",
                            getattr(Gimp.RunMode, job.get("run_mode", "NONINTERACTIVE")))
        config.set_property("image", image)
        config.set_core_object_array("drawables", [layer])
        for key, value in job.get("args", {}).items():
            if isinstance(value, dict) and "$drawable" in value:
                value = extra[value["$drawable"]]
            config.set_property(key, value)
        values = proc.run(config)
        out["status"] = values.index(0).value_nick
        out["message"] = _jsonable(values.index(1)) if values.length() > 1 else None

    out["layers"] = []
    for i, item in enumerate(image.get_layers()):
        _, ox, oy = item.get_offsets()
        iw, ih = item.get_width(), item.get_height()
        name = f"{job['name']}-layer{i}.npy"
        np.save(work / name, _buffer_get(Gegl, item, 0, 0, iw, ih, job["format"], dtype, c))
        out["layers"].append({"name": item.get_name(), "offsets": [ox, oy], "file": name})
    out["channels"] = []
    for i, channel in enumerate(image.get_channels()):
        name = f"{job['name']}-channel{i}.npy"
        np.save(work / name, _buffer_get(Gegl, channel, 0, 0, cw, ch, "Y float", np.float32,
                                         1)[..., 0])
        out["channels"].append({"name": channel.get_name(), "file": name})
    image.delete()
    return out


def register_test_ops(photomend: Any) -> None:
    """Register stand-ins for kinds of operation the registry may not have yet."""

    @photomend.operation("test-find-dark", label="Find _Dark", menu="Test", output="mask")
    def find_dark(image, *, threshold=0.3):  # type: ignore[no-untyped-def]
        """Mark dark pixels (a detection operation for host tests)."""
        return (image.mean(axis=-1) < threshold).astype(np.float32)


def _run_host(job: dict[str, Any], image: Any, layer: Any) -> None:
    """Drive the plug-in's GimpHost directly, with a test operation.

    Imports the installed plug-in module into this (batch) process; its
    procedures are not registered from here, only its host is used.
    """
    if job["plugin_dir"] not in sys.path:
        sys.path.insert(0, job["plugin_dir"])
    import photomend_gimp

    register_test_ops(photomend_gimp.photomend)
    host = photomend_gimp.GimpHost(image, layer)
    photomend_gimp.apply_operation(host, job["host_op"], job.get("args", {}))


def batch_main(plan_path: str) -> None:
    """Run a plan inside GIMP (``python-fu-eval``); write ``results.json`` beside it."""
    import faulthandler

    faulthandler.dump_traceback_later(TIMEOUT - 60, exit=True)
    Gimp, Gegl = _gimp()
    work = Path(plan_path).parent
    plan = json.loads(Path(plan_path).read_text())
    results: dict[str, Any] = {"python": sys.version.split()[0], "numpy": np.__version__}
    results["procedures"] = {name: _describe(Gimp, name) for name in plan.get("procedures", [])}
    results["jobs"] = {}
    for job in plan.get("jobs", []):
        start = time.monotonic()
        try:
            out = _run_job(Gimp, Gegl, job, work)
        except Exception:
            out = {"error": traceback.format_exc()}
        out["seconds"] = round(time.monotonic() - start, 3)
        results["jobs"][job["name"]] = out
    (work / "results.json").write_text(json.dumps(results, indent=1))


def _labels(widget: Any, Gtk: Any) -> list[str]:
    found = [widget.get_text()] if isinstance(widget, Gtk.Label) else []
    if isinstance(widget, Gtk.Container):
        for child in widget.get_children():
            found += _labels(child, Gtk)
    return found


def dialog_hook() -> None:
    """In the plug-in's process, answer each dialog as the test says.

    Runs from ``sitecustomize`` (only in the photomend plug-in, only when
    the test asked for it). Steps are taken in order from the JSON list
    named by ``PHOTOMEND_TEST_DIALOG``; a record per dialog shown is appended
    to that path + ``.log`` (so the next step is the one after the records).

    Before the plug-in starts, the next step may set ``env`` variables of
    the process and, with ``without_qt``, make PyQt5 unimportable. Then both
    kinds of dialog are answered: GIMP's procedure dialog (see
    :func:`_answer_gimp`) and photomend's shared Qt dialog (see
    :func:`_answer_qt`); each record says which ``kind`` was shown.
    """
    script = os.environ.get(DIALOG_ENV)
    if not script or os.path.basename(sys.argv[0]) != "photomend_gimp.py":
        return
    log = Path(script + ".log")
    steps = json.loads(Path(script).read_text())

    def next_step() -> tuple[int, dict[str, Any]]:
        done = len(log.read_text().splitlines()) if log.exists() else 0
        return done, (steps[done] if done < len(steps) else {"response": "cancel"})

    def write(record: dict[str, Any]) -> None:
        with log.open("a") as f:
            f.write(json.dumps(record) + "\n")

    _, upcoming = next_step()
    os.environ.update(upcoming.get("env", {}))
    _hook_gimp_dialog(next_step, write)
    if upcoming.get("without_qt"):
        sys.modules["PyQt5"] = None  # type: ignore[assignment]  # import raises ImportError
    else:
        _hook_qt_dialog(next_step, write, Path(script + ".progress"))


def _hook_gimp_dialog(next_step: Any, write: Any) -> None:
    """Answer ``GimpUi.ProcedureDialog.run`` with a GLib timeout.

    Once the real dialog is on screen the timeout records its title,
    labels, values and spin settings, types the step's ``set`` values into
    the widgets (numbers; others through the dialog's config), then answers
    ``response`` ('ok' or 'cancel').
    """
    import gi

    gi.require_version("GimpUi", "3.0")
    gi.require_version("Gtk", "3.0")
    from gi.repository import GimpUi, GLib, GObject, Gtk

    original = GimpUi.ProcedureDialog.run

    def run(dialog: Any) -> Any:
        done, step = next_step()
        polls = [0]

        def answer() -> bool:
            polls[0] += 1
            if not dialog.get_mapped() and polls[0] < 200:
                return True  # not on screen yet: ask again in 50 ms
            record: dict[str, Any] = {"step": done, "kind": "gimp"}
            response = Gtk.ResponseType.CANCEL
            try:
                config = dialog.get_property("config")
                names = step.get("record", [])
                # Numbers get a GimpLabelSpin (label + scale + spin button).
                widgets = {k: dialog.get_widget(k, GObject.TYPE_NONE) for k in names}
                spins = {k: w.get_spin_button() for k, w in widgets.items()
                         if isinstance(w, GimpUi.LabelSpin)}
                record.update(title=dialog.get_title(), mapped=dialog.get_mapped(),
                              labels=_labels(dialog, Gtk),
                              values={k: _jsonable(config.get_property(k)) for k in names},
                              spins={k: [w.get_digits(), *w.get_increments()]
                                     for k, w in spins.items()})
                for key, value in step.get("set", {}).items():
                    widget = dialog.get_widget(key, GObject.TYPE_NONE)
                    if isinstance(value, dict) and "$drawable" in value:  # by name
                        from gi.repository import Gimp

                        name = value["$drawable"]
                        value = next(d for image in Gimp.get_images()
                                     for d in (image.get_channel_by_name(name),
                                               image.get_layer_by_name(name)) if d)
                        record["widgets"] = {key: type(widget).__name__}
                    if isinstance(widget, GimpUi.LabelSpin):
                        widget.set_value(value)
                    else:
                        config.set_property(key, value)
                if step.get("response") == "ok":
                    response = Gtk.ResponseType.OK
            except Exception:
                record["error"] = traceback.format_exc()
            write(record)
            dialog.response(response)
            return False

        GLib.timeout_add(50, answer)
        return original(dialog)

    GimpUi.ProcedureDialog.run = run


def _hook_qt_dialog(next_step: Any, write: Any, progress_log: Path) -> None:
    """Answer photomend's Qt filter dialog (``QDialog.exec_``) with Qt timers.

    Once the dialog is on screen and its live preview has been computed,
    records its title, the values of its editors, the output and the
    values the preview was computed with; then sets the step's ``set``
    values (parameter names) and waits for the preview of those; then
    presses the step's ``response`` button ('ok' or 'cancel'). With
    ``"progress": "cancel"`` the progress dialog that follows is cancelled
    before the job starts (a line is appended to `progress_log`).
    """
    from PyQt5.QtCore import QTimer
    from PyQt5.QtWidgets import QDialog, QDialogButtonBox, QProgressDialog, QPushButton

    original_exec = QDialog.exec_
    original_set_value = QProgressDialog.setValue
    cancel_progress: list[int] = []

    def set_value(dialog: Any, value: int) -> None:
        original_set_value(dialog, value)
        # run_with_progress connects Cancel, sets 0, then starts the job.
        if cancel_progress and dialog.objectName() == "photomend-progress":
            step = cancel_progress.pop()
            with progress_log.open("a") as f:
                f.write(json.dumps({"step": step, "label": dialog.labelText()}) + "\n")
            dialog.findChild(QPushButton).click()  # what the user presses: emits canceled

    def exec_(dialog: Any) -> Any:
        if not (dialog.objectName().startswith("photomend-") and hasattr(dialog, "editors")):
            return original_exec(dialog)
        done, step = next_step()
        record: dict[str, Any] = {"step": done, "kind": "qt"}
        deadline = time.monotonic() + 120
        phases = ["shown", "set", "answer"]

        def preview_values() -> Any:
            result = dialog.preview.result
            return None if result is None else {k: _jsonable(v)
                                                for k, v in result.values.items()}

        def poll() -> None:
            try:
                ready = (dialog.isVisible() and not dialog.preview.busy
                         and dialog.preview.result is not None)
                if not ready and time.monotonic() < deadline:
                    QTimer.singleShot(50, poll)
                    return
                phase = phases.pop(0)
                if phase == "shown":
                    record.update(title=dialog.windowTitle(), visible=dialog.isVisible(),
                                  values={k: _jsonable(e.value())
                                          for k, e in dialog.editors.items()},
                                  output=dialog.output, preview=preview_values())
                    if step.get("report"):
                        record["report_offered"] = dialog.report_check.isVisible()
                        dialog.report_check.setChecked(True)
                    if step.get("set"):
                        dialog.set_values(step["set"])
                        QTimer.singleShot(50, poll)
                        return
                    phases.pop(0)
                elif phase == "set":
                    record["preview_after_set"] = preview_values()
                    QTimer.singleShot(0, poll)
                    return
            except Exception:
                record["error"] = traceback.format_exc()
            ok = step.get("response") == "ok" and "error" not in record
            if ok and step.get("progress") == "cancel":
                cancel_progress.append(done)
            write(record)
            which = QDialogButtonBox.Ok if ok else QDialogButtonBox.Cancel
            dialog.buttons.button(which).click()

        QTimer.singleShot(50, poll)
        return original_exec(dialog)

    QDialog.exec_ = exec_
    QProgressDialog.setValue = set_value
