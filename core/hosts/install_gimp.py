"""Install photomend's GIMP 3 plug-in into the user's GIMP profile.

The plug-in folder (``photomend_gimp/``, shipped as package data in
``photomend.plugins.gimp``) is copied into GIMP's user plug-ins folder, and
a small JSON note next to it names the folder of this ``photomend``
package. The plug-in loads exactly that package folder, never the
site-packages around it: their compiled numpy may belong to another Python
than the one GIMP runs. numpy and scipy must therefore be importable by
GIMP's own Python, or sit in the plug-in's ``vendor`` folder (which the
plug-in appends to ``sys.path``); :func:`install` checks this when it can
find GIMP's Python and says exactly what to run otherwise.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

__all__ = ["PLUGIN_NAME", "default_dest", "gimp_python", "install"]

#: Folder and file stem of the plug-in (GIMP needs them equal).
PLUGIN_NAME = "photomend_gimp"
CONFIG_NAME = "photomend-location.json"
VENDOR_NAME = "vendor"
FLATPAK_ID = "org.gimp.GIMP"
_REQUIRED = ("numpy", "scipy")

# Run by GIMP's Python: what is missing, and whether photomend loads the way
# the plug-in loads it (package folder only, vendor folder appended).
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


def _package_dir() -> Path:
    import photomend

    return Path(photomend.__file__).resolve().parent


def _plugin_source() -> Path:
    import photomend.plugins.gimp as gimp_plugins

    return Path(gimp_plugins.__file__).resolve().parent / PLUGIN_NAME


def default_dest() -> Path:
    """Return GIMP 3's user plug-ins folder on this system.

    ``GIMP3_DIRECTORY`` (GIMP's own override of the profile folder) wins.
    On Linux the Flatpak profile is used when it exists and a native one
    does not.
    """
    home = Path.home()
    override = os.environ.get("GIMP3_DIRECTORY")
    if override:
        return Path(override) / "plug-ins"
    if sys.platform == "win32":
        appdata = os.environ.get("APPDATA") or str(home / "AppData" / "Roaming")
        return Path(appdata) / "GIMP" / "3.0" / "plug-ins"
    if sys.platform == "darwin":
        return home / "Library" / "Application Support" / "GIMP" / "3.0" / "plug-ins"
    config = Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config")
    native = config / "GIMP" / "3.0"
    flatpak = home / ".var" / "app" / FLATPAK_ID / "config" / "GIMP" / "3.0"
    if flatpak.is_dir() and not native.is_dir():
        return flatpak / "plug-ins"
    return native / "plug-ins"


def gimp_python(dest: Path) -> list[str] | None:
    """Return the command running the Python GIMP will use, or None if unknown."""
    if FLATPAK_ID in Path(dest).parts:
        flatpak = shutil.which("flatpak")
        return [flatpak, "run", "--command=python3", FLATPAK_ID] if flatpak else None
    if sys.platform == "win32":
        roots = [os.environ.get("ProgramFiles", r"C:\Program Files"),
                 os.path.join(os.environ.get("LOCALAPPDATA", ""), "Programs")]
        candidates = [Path(r) / "GIMP 3" / "bin" / "python.exe" for r in roots if r]
    elif sys.platform == "darwin":
        app = Path("/Applications/GIMP.app/Contents/MacOS")
        candidates = [app / "python3", app / "python"]
    else:
        # GIMP starts plug-ins with "/usr/bin/env python3" from the desktop's
        # PATH: the system Python, not a virtualenv the installer may run in.
        candidates = [Path("/usr/bin/python3")]
        which = shutil.which("python3")
        if which:
            candidates.append(Path(which))
    for path in candidates:
        if path.is_file():
            return [str(path)]
    return None


def _quote(part: str) -> str:
    return f'"{part}"' if " " in part else part


def _install_hint(command: list[str], version: str, vendor: Path) -> str:
    """Return exactly what to run so GIMP's Python finds numpy and scipy."""
    names = " ".join(_REQUIRED)
    if sys.platform.startswith("linux") and command[0].startswith("/usr/bin/"):
        debs = " ".join(f"python3-{m}" for m in _REQUIRED)
        return (f"install them from your distribution, e.g. 'sudo apt install {debs}' "
                f"(Debian/Ubuntu) or 'sudo dnf install {debs}' (Fedora)")
    # GIMP's own Python (Windows, macOS, Flatpak) usually has no pip: a
    # python.org Python of the same version fetches matching wheels.
    py = f"py -{version}" if sys.platform == "win32" else f"python{version}"
    return (f"install Python {version} (python.org) if you have none, then run: "
            f"{py} -m pip install --target {_quote(str(vendor))} {names} "
            "(the plug-in adds that folder to GIMP's Python)")


def _check_python(command: list[str], package: Path, vendor: Path) -> list[str]:
    """Return problems found running photomend in `command`'s Python."""
    shown = " ".join(command)
    try:
        done = subprocess.run(
            [*command, "-E", "-c", _CHECK, str(package), str(vendor), *_REQUIRED],
            capture_output=True, text=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return [f"could not run GIMP's Python ({shown}): {exc}"]
    try:
        result = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        detail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return [f"could not check GIMP's Python ({shown}): {detail}"]
    if result["missing"]:
        return [f"GIMP's Python ({shown}, {result['full']}) lacks "
                f"{' and '.join(result['missing'])}; "
                f"{_install_hint(command, result['version'], vendor)}"]
    if result["error"]:
        return [f"photomend does not load in GIMP's Python ({shown}, {result['full']}): "
                f"{result['error']}"]
    return []


def install(dest: str | os.PathLike[str] | None = None, uninstall: bool = False,
            python: str | os.PathLike[str] | None = None) -> str:
    """Install (or remove) the GIMP 3 plug-in; return a report for the user.

    Parameters
    ----------
    dest : path, optional
        GIMP's user plug-ins folder; default :func:`default_dest`. The
        plug-in goes into ``dest/photomend_gimp/``.
    uninstall : bool
        Remove the plug-in folder (with its ``vendor`` folder) instead.
    python : path, optional
        The Python interpreter GIMP runs plug-ins with, to check for numpy
        and scipy; default: found per platform (:func:`gimp_python`).

    Returns
    -------
    str
        What was done, then one line per problem found in GIMP's Python
        (the plug-in is installed regardless, so fixing Python suffices).
    """
    base = Path(dest) if dest is not None else default_dest()
    target = base / PLUGIN_NAME
    if uninstall:
        if not target.exists():
            return f"The photomend GIMP plug-in is not installed in {base}; nothing removed."
        shutil.rmtree(target)
        return f"Removed the photomend GIMP plug-in from {target}. Restart GIMP."
    package = _package_dir()
    vendor = target / VENDOR_NAME
    if target.is_dir():  # update: keep numpy/scipy the user put in vendor/
        for child in target.iterdir():
            if child.is_dir() and child.name != VENDOR_NAME:
                shutil.rmtree(child)
            elif not child.is_dir():
                child.unlink()
    shutil.copytree(_plugin_source(), target, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", CONFIG_NAME,
                                                  VENDOR_NAME))
    entry = target / f"{PLUGIN_NAME}.py"
    entry.chmod(0o755)
    note = {"package": str(package), "installed-by": sys.executable}
    (target / CONFIG_NAME).write_text(json.dumps(note, indent=2) + "\n", encoding="utf-8")
    lines = [f"Installed the photomend GIMP plug-in in {target}",
             f"It uses the photomend package in {package}.",
             "Restart GIMP; the operations are under Filters > Restore."]
    command = [str(python)] if python is not None else gimp_python(base)
    if command is None:
        lines.append("Could not find the Python GIMP uses to check it for numpy and scipy; "
                     "if the menu entries are missing, see Filters > Restore > photomend: "
                     "Setup Problem.")
    else:
        lines += [f"Problem: {p}" for p in _check_python(command, package, vendor)]
    return "\n".join(lines)
