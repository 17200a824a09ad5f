"""Resynthesizer ("Heal Selection" of GIMP 3) as an inpainting peer.

Resynthesizer (https://github.com/bootchk/resynthesizer, branch
``resynthesizer3``) is GIMP's patch-based healing plug-in, of the class of
Photoshop's Content-Aware Fill. It is not packaged for Debian 13, so
``.ci/resynth.sh`` builds it for the GIMP 3 host environment of
``.ci/hosts.sh`` and installs it into a cache folder
(``${PHOTOMEND_HOSTS_CACHE:-/var/cache/photomend-hosts}/resynthesizer``, or
``$PHOTOMEND_RESYNTH_PLUGINS`` = the plug-ins folder it prints). When any of
that is missing, :func:`unavailable` says why and the benchmark shows
"n/a (reason)".

How it runs. One headless GIMP process (``gimp-console-3.0`` under
``xvfb-run``: the Script-Fu interpreter that runs the Heal Selection script
needs a display even in batch mode, without one the script is silently not
registered) serves a whole benchmark run. It runs a Python-Fu batch loop
(:data:`_SERVER`) that polls a bound temp folder for jobs. Per job the
Python side writes the image as raw 16-bit RGB (or gray) and the hole as a
raw 8-bit mask; GIMP builds a ``U16_NON_LINEAR`` image from them, loads the
mask into a channel and makes it the selection (``image.select_item``),
calls the PDB procedure ``plug-in-heal-selection`` with the defaults of its
dialog — context sampling width 50 px, sample from all around, random
filling order (arguments ``adjustment``=50, ``option``=0, ``option-2``=0) —
and writes the layer back as raw 16-bit. Heal Selection duplicates the
image, grows the selection by the sampling width minus the hole as the
corpus and calls the engine ``plug-in-resynthesizer`` (neighbours 16,
trys 500, autism 0.117). The engine synthesises in 8 bits per channel
(``R'G'B' u8``) and writes through the selection, so pixels outside the hole
keep their 16-bit values and the fill inside is 8-bit.

Timing. GIMP start-up (5–10 s with a fresh throw-away profile) is *not*
counted: :func:`method` starts the server eagerly when the method list is
built, before any case is timed (not inside a pytest run: there it would
start lazily on first use). The time of a case is what the benchmark's
``measure`` sees: writing the job, GIMP building the image and selection,
the heal (which spawns the Script-Fu interpreter and the engine plug-in, as
every PDB plug-in call in GIMP does), reading the result — measured
0.02–0.05 s more than the heal call alone. Start-up and the mean heal time
measured inside GIMP are printed to stderr when the run ends
(:meth:`GimpServer.summary`). The large-image rows of the task
(:func:`heal_timed`) reuse the same GIMP.

Harmless noise in GIMP 3.0.4 (in the log of the temp folder): the scripts
end with ``script-fu-register-i18n``, which only GIMP 3.2 defines ("unbound
variable" after the procedure is already registered); resource warnings
of other scripts; ``cannot open display`` never appears under xvfb-run.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..core import Case, Method
from ..measure import Cost, measure

#: PDB procedure and its arguments (the defaults of its dialog).
PROCEDURE = "plug-in-heal-selection"
SAMPLING_WIDTH = 50  # "Context sampling width (pixels)", argument "adjustment"
SAMPLE_FROM = 0  # "Sample from": 0 all around, 1 sides, 2 above and below ("option")
FILLING_ORDER = 0  # "Filling order": 0 random, 1 inwards, 2 outwards ("option-2")

#: Seconds to wait for GIMP to come up, and for one image.
START_TIMEOUT = 240.0
JOB_TIMEOUT = 900.0

_REPO = Path(__file__).resolve().parents[2]
_HOSTS = _REPO / ".ci" / "hosts.sh"

# Runs inside GIMP (python-fu-eval). {dir}, {parent}, {settings} are filled in.
_SERVER = r'''
import json, os, time, traceback
import gi
gi.require_version("Gimp", "3.0")
gi.require_version("Gegl", "0.4")
from gi.repository import Gimp, Gegl

D = {dir!r}
PARENT = {parent!r}
SETTINGS = {settings!r}
JOBS = os.path.join(D, "jobs")


def put(path, obj):
    with open(path + ".tmp", "w") as f:
        json.dump(obj, f)
    os.replace(path + ".tmp", path)


def heal(proc, spec):
    w, h, c = spec["width"], spec["height"], spec["channels"]
    with open(spec["image"], "rb") as f:
        pixels = f.read()
    with open(spec["mask"], "rb") as f:
        mask = f.read()
    start = time.perf_counter()
    rgb = c == 3
    fmt = "R'G'B' u16" if rgb else "Y' u16"
    img = Gimp.Image.new_with_precision(
        w, h, Gimp.ImageBaseType.RGB if rgb else Gimp.ImageBaseType.GRAY,
        Gimp.Precision.U16_NON_LINEAR)
    try:
        layer = Gimp.Layer.new(img, "photo", w, h,
                               Gimp.ImageType.RGB_IMAGE if rgb else Gimp.ImageType.GRAY_IMAGE,
                               100.0, Gimp.LayerMode.NORMAL)
        img.insert_layer(layer, None, 0)
        rect = Gegl.Rectangle.new(0, 0, w, h)
        buf = layer.get_buffer()
        buf.set(rect, fmt, pixels)
        buf.flush()
        channel = Gimp.Channel.new(img, "hole", w, h, 100.0, Gegl.Color.new("black"))
        img.insert_channel(channel, None, 0)
        cbuf = channel.get_buffer()
        cbuf.set(rect, "Y u8", mask)
        cbuf.flush()
        img.select_item(Gimp.ChannelOps.REPLACE, channel)
        img.remove_channel(channel)
        img.set_selected_layers([layer])
        cfg = proc.create_config()
        cfg.set_property("run-mode", Gimp.RunMode.NONINTERACTIVE)
        cfg.set_property("image", img)
        cfg.set_core_object_array("drawables", [layer])
        for name, value in SETTINGS.items():
            cfg.set_property(name, value)
        t0 = time.perf_counter()
        res = proc.run(cfg)
        heal_s = time.perf_counter() - t0
        status = res.index(0)
        if status != Gimp.PDBStatusType.SUCCESS:
            msg = res.index(1) if res.length() > 1 else None
            return {{"ok": False, "error": "%s: %s" % (status.value_nick, msg)}}
        out = bytes(layer.get_buffer().get(rect, 1.0, fmt, Gegl.AbyssPolicy.CLAMP))
    finally:
        img.delete()
    with open(spec["output"] + ".tmp", "wb") as f:
        f.write(out)
    os.replace(spec["output"] + ".tmp", spec["output"])
    return {{"ok": True, "heal_seconds": heal_s, "gimp_seconds": time.perf_counter() - start}}


def main():
    proc = Gimp.get_pdb().lookup_procedure("{procedure}")
    if proc is None:
        put(os.path.join(D, "ready.json"),
            {{"ok": False, "error": "GIMP has no procedure {procedure} (plug-in not loaded)"}})
        return
    put(os.path.join(D, "ready.json"), {{"ok": True, "gimp": Gimp.version(),
        "arguments": [a.name for a in proc.get_arguments()]}})
    while not os.path.exists(os.path.join(D, "quit")) and os.path.exists("/proc/%d" % PARENT):
        jobs = sorted(j for j in os.listdir(JOBS) if j.endswith(".json"))
        if not jobs:
            time.sleep(0.01)
            continue
        for name in jobs:
            path = os.path.join(JOBS, name)
            with open(path) as f:
                spec = json.load(f)
            os.remove(path)
            try:
                result = heal(proc, spec)
            except Exception:
                result = {{"ok": False, "error": traceback.format_exc()}}
            put(spec["done"], result)


main()
'''


def plugins_dir() -> Path | None:
    """The folder with the built plug-ins (``resynthesizer/``, ``plug-in-heal-selection/``)."""
    env = os.environ.get("PHOTOMEND_RESYNTH_PLUGINS")
    if env:
        path = Path(env)
    else:
        cache = Path(os.environ.get("PHOTOMEND_HOSTS_CACHE", "/var/cache/photomend-hosts"))
        link = cache / "resynthesizer"
        if not (link / ".ready").is_file():
            return None
        path = link / "prefix" / "lib" / "gimp" / "3.0" / "plug-ins"
    ok = ((path / "resynthesizer" / "resynthesizer").is_file()
          and (path / PROCEDURE / f"{PROCEDURE}.scm").is_file())
    return path.resolve() if ok else None


def host_root() -> Path | None:
    """Root of the GIMP 3 host environment (``bash .ci/hosts.sh root``), if provisioned."""
    if not _HOSTS.is_file() or shutil.which("bash") is None:
        return None
    try:
        out = subprocess.run(["bash", str(_HOSTS), "root"], capture_output=True, text=True,
                             timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    root = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""
    return Path(root) if out.returncode == 0 and root else None


def unavailable() -> str | None:
    """Why Resynthesizer cannot run here (None when everything is in place)."""
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        return "needs root on Linux for the GIMP 3 host environment"
    root = host_root()
    if root is None:
        return "no GIMP 3 host environment: bash .ci/hosts.sh provision"
    for tool in ("usr/bin/gimp-console-3.0", "usr/bin/xvfb-run",
                 "usr/bin/gimp-script-fu-interpreter-3.0"):
        if not (root / tool).exists():
            return f"host environment lacks /{tool}"
    if plugins_dir() is None:
        return "plug-in not built: bash .ci/resynth.sh SOURCE"
    return None


class GimpServer:
    """One headless GIMP that heals images sent to it through a temp folder."""

    def __init__(self) -> None:
        self.dir: Path | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.startup_seconds = 0.0
        self.heal_seconds: list[float] = []
        self.round_trip_seconds: list[float] = []
        self.failures = 0
        self._n = 0

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> str | None:
        """Start GIMP and wait until it is ready; return an error or None."""
        reason = unavailable()
        if reason is not None:
            return reason
        plugins = plugins_dir()
        assert plugins is not None
        self.dir = Path(tempfile.mkdtemp(prefix="photomend-resynth-"))
        home = self.dir / "home"
        dest = home / ".config" / "GIMP" / "3.0" / "plug-ins"
        shutil.copytree(plugins, dest, symlinks=False)
        (self.dir / "jobs").mkdir()
        settings = {"adjustment": SAMPLING_WIDTH, "option": SAMPLE_FROM,
                    "option-2": FILLING_ORDER}
        (self.dir / "server.py").write_text(_SERVER.format(
            dir=str(self.dir), parent=os.getpid(), settings=settings, procedure=PROCEDURE))
        batch = f"exec(open({str(self.dir / 'server.py')!r}).read())"
        cmd = ["bash", str(_HOSTS), "exec", "--bind", str(self.dir), "--",
               "env", f"HOME={home}", "xvfb-run", "-a", "-s", "-screen 0 320x240x24",
               "gimp-console-3.0", "-i", "-n", "-d", "-f",
               "--batch-interpreter=python-fu-eval", "-b", batch, "--quit"]
        start = time.perf_counter()
        with open(self.dir / "gimp.log", "wb") as log:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        atexit.register(self.close)
        ready = self.dir / "ready.json"
        while not ready.exists():
            if not self.running:
                error = f"GIMP exited ({self._log_tail()})"
                self.close()
                return error
            if time.perf_counter() - start > START_TIMEOUT:
                self.close()
                return f"GIMP not ready after {START_TIMEOUT:.0f} s"
            time.sleep(0.05)
        info = json.loads(ready.read_text())
        self.startup_seconds = time.perf_counter() - start
        if not info.get("ok"):
            self.close()
            return str(info.get("error"))
        print(f"Resynthesizer: GIMP {info.get('gimp')} ready in {self.startup_seconds:.1f} s "
              "(start-up not counted in s/image)", file=sys.stderr)
        return None

    def _log_tail(self) -> str:
        try:
            lines = (Path(str(self.dir)) / "gimp.log").read_text(errors="replace").splitlines()
        except OSError:
            return "no log"
        useful = [ln for ln in lines if "error" in ln.lower() or "Traceback" in ln]
        return "; ".join((useful or lines)[-3:])[-300:] or "no output"

    def heal(self, image: np.ndarray, hole: np.ndarray) -> np.ndarray:
        """Heal `hole` (bool H×W) in `image` (float H×W×C in [0, 1]); raises on failure."""
        if not self.running or self.dir is None:
            raise RuntimeError("GIMP is not running")
        h, w, c = image.shape
        if c not in (1, 3):
            raise ValueError(f"{c} channels (need 1 or 3)")
        self._n += 1
        stem = self.dir / "jobs" / f"{self._n:06d}"
        start = time.perf_counter()
        u16 = np.rint(np.clip(image, 0.0, 1.0) * 65535.0).astype("<u2")
        Path(f"{stem}.img").write_bytes(np.ascontiguousarray(u16).tobytes())
        Path(f"{stem}.mask").write_bytes((hole.astype(np.uint8) * 255).tobytes())
        done, output = Path(f"{stem}.done"), Path(f"{stem}.out")
        spec = {"width": w, "height": h, "channels": c, "image": f"{stem}.img",
                "mask": f"{stem}.mask", "output": str(output), "done": str(done)}
        Path(f"{stem}.tmp").write_text(json.dumps(spec))
        os.replace(f"{stem}.tmp", f"{stem}.json")
        try:
            while not done.exists():
                if not self.running:
                    raise RuntimeError(f"GIMP exited ({self._log_tail()})")
                if time.perf_counter() - start > JOB_TIMEOUT:
                    self.close()
                    raise RuntimeError(f"no result after {JOB_TIMEOUT:.0f} s")
                time.sleep(0.002)
            result = json.loads(done.read_text())
            if not result.get("ok"):
                raise RuntimeError(str(result.get("error")).strip().splitlines()[-1])
            raw = np.frombuffer(output.read_bytes(), dtype="<u2").reshape(h, w, c)
            out = raw.astype(np.float32) / 65535.0
        finally:
            for suffix in (".img", ".mask", ".out", ".done"):
                Path(f"{stem}{suffix}").unlink(missing_ok=True)
        self.heal_seconds.append(float(result["heal_seconds"]))
        self.round_trip_seconds.append(time.perf_counter() - start)
        return out

    def summary(self) -> str:
        n = len(self.heal_seconds)
        if not n:
            return "Resynthesizer: no image healed"
        return (f"Resynthesizer: {n} images; GIMP start-up {self.startup_seconds:.1f} s "
                f"(not counted); heal call in GIMP {np.mean(self.heal_seconds):.2f} s/image, "
                f"round trip {np.mean(self.round_trip_seconds):.2f} s/image"
                + (f"; {self.failures} failed" if self.failures else ""))

    def close(self) -> None:
        """Ask GIMP to quit; kill its process group if it does not."""
        if self.proc is not None:
            if self.heal_seconds or self.failures:
                print(self.summary(), file=sys.stderr)
            if self.dir is not None and self.proc.poll() is None:
                (self.dir / "quit").touch()
                try:
                    self.proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    try:
                        os.killpg(self.proc.pid, signal.SIGTERM)
                        self.proc.wait(timeout=10)
                    except (ProcessLookupError, subprocess.TimeoutExpired):
                        pass
            self.proc = None
        if self.dir is not None:
            _unbind(self.dir)
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None


def _unbind(path: Path) -> None:
    """Undo the bind mount ``hosts.sh exec --bind`` left in the chroot."""
    root = host_root()
    if root is None or root == Path("/"):
        return
    inside = root / str(path).lstrip("/")
    if subprocess.run(["mountpoint", "-q", str(inside)]).returncode == 0:
        subprocess.run(["umount", "-l", str(inside)], capture_output=True)
    try:
        inside.rmdir()
    except OSError:
        pass


class Healer:
    """``Method.fn`` for the benchmark: heals one case, reusing one GIMP.

    A case whose heal fails gives an all-NaN image (shown as nan in the
    table) and a message on stderr instead of stopping the benchmark; a GIMP
    that died is started again on the next case, at most :data:`MAX_STARTS`
    times in all.
    """

    MAX_STARTS = 4

    def __init__(self) -> None:
        self.server = GimpServer()
        self.error: str | None = None
        self.starts = 0

    def start(self) -> str | None:
        if not self.server.running:
            if self.starts >= self.MAX_STARTS:
                self.error = f"GIMP started {self.starts} times, giving up"
            else:
                self.starts += 1
                self.server.close()
                self.error = self.server.start()
        return self.error

    def __call__(self, case: Case) -> np.ndarray:
        hole = np.asarray(case.truth["mask"]) > 0
        if not hole.any():
            return case.degraded.copy()
        try:
            if self.start() is not None:
                raise RuntimeError(self.error)
            return self.server.heal(case.degraded, hole)
        except Exception as exc:  # the benchmark must go on
            self.server.failures += 1
            print(f"Resynthesizer failed on {case.sample.set}/{case.sample.name}: {exc}",
                  file=sys.stderr)
            return np.full_like(case.degraded, np.nan, dtype=np.float32)


_SHARED: Healer | None = None


def shared() -> Healer:
    """The process-wide :class:`Healer` (one GIMP for the cases and the large images)."""
    global _SHARED
    if _SHARED is None:
        _SHARED = Healer()
    return _SHARED


def heal_timed(image: np.ndarray, hole: np.ndarray) -> tuple[np.ndarray, Cost] | None:
    """Heal one image with the shared GIMP (started first, untimed, if needed).

    Returns the output and the cost of the heal round trip, or None (after
    a message on stderr) when Resynthesizer is unavailable or fails.
    """
    healer = shared()
    error = unavailable() or healer.start()
    if error is None:
        try:
            return measure(healer.server.heal, image, np.asarray(hole) > 0)
        except Exception as exc:  # the benchmark must go on
            error = str(exc)
    print(f"Resynthesizer skipped: {error}", file=sys.stderr)
    return None


def method(name: str = "Resynthesizer (heal selection)") -> Method:
    """The benchmark method, or an unavailable one saying why.

    Outside pytest GIMP is started here, so its start-up is not timed as
    part of the first image; inside pytest nothing is started until the
    method is called (the test suite filters peers out).
    """
    reason = unavailable()
    if reason is not None:
        return Method(name, None, reason)
    healer = shared()
    if "PYTEST_CURRENT_TEST" not in os.environ:
        error = healer.start()
        if error is not None:
            return Method(name, None, f"GIMP: {error}"[:160])
    return Method(name, healer)


def heal_batch(items: list[tuple[np.ndarray, np.ndarray]]
               ) -> tuple[list[np.ndarray] | None, str]:
    """Heal each (image float H×W×C in [0, 1], hole bool H×W) in one GIMP run.

    Returns ``(outputs, "")``, or ``(None, reason)`` when Resynthesizer or
    its host environment is unavailable or GIMP fails.
    """
    server = GimpServer()
    error = server.start()
    if error is not None:
        return None, error
    try:
        return [server.heal(img, np.asarray(m, dtype=bool)) for img, m in items], ""
    except Exception as exc:
        return None, str(exc)
    finally:
        server.close()


def details() -> dict[str, Any]:
    """What is installed: plug-ins folder and the Resynthesizer commit."""
    plugins = plugins_dir()
    commit = None
    if plugins is not None:
        stamp = plugins.parents[4] / "COMMIT" if len(plugins.parents) > 4 else None
        if stamp is not None and stamp.is_file():
            commit = stamp.read_text().strip()
    return {"plugins": str(plugins) if plugins else None, "commit": commit}
