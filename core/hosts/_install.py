"""What the GIMP and Krita installers share.

Both installers copy a plug-in folder into the application's profile, write
a small JSON note in it naming the folder of this ``photomend`` package
(the plug-in loads exactly that folder, never the site-packages around it:
their compiled numpy may belong to another Python than the application's),
keep the plug-in's ``vendor`` folder across updates (numpy and scipy the
user installed there for an application Python that lacks them), and check
the application's Python for numpy and scipy, saying exactly what to run
when they are missing. An :class:`App` holds what differs between them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["CONFIG_NAME", "REQUIRED", "VENDOR_NAME", "App", "check_python", "install_hint",
           "package_dir", "place_plugin", "python_report", "remove", "roaming_appdata",
           "xdg_dir"]

#: The note naming the photomend package, written into the plug-in folder.
CONFIG_NAME = "photomend-location.json"
#: numpy/scipy for an application Python without them (``pip install --target``).
VENDOR_NAME = "vendor"
#: What the application's Python must import.
REQUIRED = ("numpy", "scipy")

# Run by the application's Python: what is missing, and whether photomend
# loads the way the plug-in loads it (package folder only, vendor appended).
_CHECK = r"""
import importlib.util, json, os, sys
folder, vendor = sys.argv[1], sys.argv[2]
if os.path.isdir(vendor):
    sys.path.append(vendor)
missing = [m for m in sys.argv[3:] if importlib.util.find_spec(m) is None]
error = None
if not missing:
    try:
        spec = importlib.util.spec_from_file_location(
            "photomend", os.path.join(folder, "__init__.py"),
            submodule_search_locations=[folder])
        module = importlib.util.module_from_spec(spec)
        sys.modules["photomend"] = module
        spec.loader.exec_module(module)
        module.operations()
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
print(json.dumps({"version": "%d.%d" % sys.version_info[:2], "full": sys.version.split()[0],
                  "missing": missing, "error": error}))
"""


def _no_candidates() -> list[Path]:
    return []


@dataclass(frozen=True)
class App:
    """What one host application's installer needs to know.

    Attributes
    ----------
    name : str
        As shown to the user: ``'GIMP'``, ``'Krita'``.
    plugin : str
        Name of the plug-in folder.
    flatpak_id : str
        The application's Flatpak id; a destination inside its Flatpak data
        folder is checked with the Flatpak's Python.
    windows_python : str
        Path of the bundled ``python.exe`` below ``Program Files`` (or the
        per-user ``Programs`` folder).
    mac_pythons : tuple of str
        Candidate interpreters of the macOS application bundle.
    linux_pythons : callable
        Returns the candidate interpreters on Linux and other Unixes, or
        None when the application's Python cannot be run from outside.
    """

    name: str
    plugin: str
    flatpak_id: str
    windows_python: str
    mac_pythons: tuple[str, ...] = ()
    linux_pythons: Callable[[], Sequence[Path] | None] = field(default=_no_candidates)

    def python(self, dest: str | os.PathLike[str]) -> list[str] | None:
        """Return the command running the Python the application uses, or None."""
        if self.flatpak_id in Path(dest).parts:
            flatpak = shutil.which("flatpak")
            return [flatpak, "run", "--command=python3", self.flatpak_id] if flatpak else None
        if sys.platform == "win32":
            roots = [os.environ.get("ProgramFiles", r"C:\Program Files"),
                     os.path.join(os.environ.get("LOCALAPPDATA", ""), "Programs")]
            candidates: Sequence[Path] | None = [Path(r) / self.windows_python
                                                 for r in roots if r]
        elif sys.platform == "darwin":
            candidates = [Path(p) for p in self.mac_pythons]
        else:
            candidates = self.linux_pythons()
        for path in candidates or ():
            if path.is_file():
                return [str(path)]
        return None


def package_dir() -> Path:
    """Return the folder of this photomend package (what the plug-in loads)."""
    import photomend

    return Path(photomend.__file__).resolve().parent


def roaming_appdata() -> Path:
    r"""Return Windows' ``%APPDATA%`` (``~\AppData\Roaming`` when unset)."""
    return Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming")


def xdg_dir(variable: str, *default: str) -> Path:
    """Return the XDG base folder `variable`, or ``~/<default...>`` when unset."""
    return Path(os.environ.get(variable) or Path.home().joinpath(*default))


def _quote(part: str) -> str:
    return f'"{part}"' if " " in part else part


def install_hint(app: App, command: Sequence[str] | None, version: str, vendor: Path) -> str:
    """Return exactly what to run so the application's Python finds numpy and scipy.

    Parameters
    ----------
    app : App
        The application.
    command : list of str or None
        The interpreter checked (None when unknown).
    version : str
        Its ``major.minor`` version.
    vendor : Path
        The plug-in's vendor folder.
    """
    names = " ".join(REQUIRED)
    if (command is not None and sys.platform.startswith("linux")
            and command[0].startswith("/usr/bin/")):
        debs = " ".join(f"python3-{m}" for m in REQUIRED)
        return (f"install them from your distribution, e.g. 'sudo apt install {debs}' "
                f"(Debian/Ubuntu) or 'sudo dnf install {debs}' (Fedora)")
    # The application's own Python (Windows, macOS, Flatpak) usually has no
    # pip: a python.org Python of the same version fetches matching wheels.
    py = f"py -{version}" if sys.platform == "win32" else f"python{version}"
    return (f"install Python {version} (python.org) if you have none, then run: "
            f"{py} -m pip install --target {_quote(str(vendor))} {names} "
            f"(the plug-in adds that folder to {app.name}'s Python)")


def check_python(app: App, command: Sequence[str], package: Path, vendor: Path) -> list[str]:
    """Return problems found running photomend in `command`'s Python (none: [])."""
    shown = " ".join(command)
    try:
        done = subprocess.run(
            [*command, "-E", "-c", _CHECK, str(package), str(vendor), *REQUIRED],
            capture_output=True, text=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return [f"could not run {app.name}'s Python ({shown}): {exc}"]
    try:
        result = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        detail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return [f"could not check {app.name}'s Python ({shown}): {detail}"]
    if result["missing"]:
        return [f"{app.name}'s Python ({shown}, {result['full']}) lacks "
                f"{' and '.join(result['missing'])}; "
                f"{install_hint(app, command, result['version'], vendor)}"]
    if result["error"]:
        return [f"photomend does not load in {app.name}'s Python ({shown}, "
                f"{result['full']}): {result['error']}"]
    return []


def python_report(app: App, python: str | os.PathLike[str] | None, dest: Path,
                  target: Path, unknown: str) -> list[str]:
    """Return the report lines about the application's Python.

    `python` is the interpreter the user named (None: found with
    :meth:`App.python` for `dest`); `unknown` is the line shown when none
    is found. One ``Problem: ...`` line per problem.
    """
    command = [str(python)] if python is not None else app.python(dest)
    if command is None:
        return [unknown]
    return [f"Problem: {p}"
            for p in check_python(app, command, package_dir(), target / VENDOR_NAME)]


def remove(path: Path) -> bool:
    """Remove a file or folder; return whether there was one."""
    if path.is_dir():
        shutil.rmtree(path)
        return True
    if path.exists():
        path.unlink()
        return True
    return False


def place_plugin(source: Path, target: Path) -> Path:
    """Copy the plug-in folder `source` to `target`; return the package folder noted.

    An update replaces everything in `target` except its vendor folder,
    and the note names this photomend package.
    """
    if target.is_dir():  # update: keep numpy/scipy the user put in vendor/
        for child in target.iterdir():
            if child.name != VENDOR_NAME:
                remove(child)
    shutil.copytree(source, target, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", CONFIG_NAME,
                                                  VENDOR_NAME))
    package = package_dir()
    note = {"package": str(package), "installed-by": sys.executable}
    (target / CONFIG_NAME).write_text(json.dumps(note, indent=2) + "\n", encoding="utf-8")
    return package
