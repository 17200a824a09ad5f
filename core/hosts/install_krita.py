"""Install photomend's Krita 5 plug-in into the user's Krita resource folder.

What goes where (``<res>`` is Krita's resource folder, e.g.
``~/.local/share/krita`` on Linux)::

    <res>/pykrita/photomend_krita/          the plug-in (package data of
                                            photomend.plugins.krita)
    <res>/pykrita/photomend_krita.desktop   tells Krita it is a Python plug-in
    <res>/actions/photomend_krita.action    menu texts, tooltips, activation
    kritarc: [python] enable_photomend_krita=true

A small JSON note in the plug-in folder names the folder of this
``photomend`` package; the plug-in loads exactly that folder, never the
site-packages around it, because Krita runs its own Python, whose numpy
may differ from the installer's. numpy and scipy must be importable by
Krita's Python (or placed in the plug-in's ``vendor`` folder), which
:func:`install` checks when it can find that Python.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

__all__ = [
    "PLUGIN_NAME",
    "default_dest",
    "default_kritarc",
    "install",
    "krita_python",
    "set_kritarc_flag",
]

#: Folder of the plug-in, stem of its .desktop and .action files.
PLUGIN_NAME = "photomend_krita"
CONFIG_NAME = "photomend-location.json"
VENDOR_NAME = "vendor"
FLATPAK_ID = "org.kde.krita"
ENABLE_KEY = f"enable_{PLUGIN_NAME}"
_REQUIRED = ("numpy", "scipy")

# Run by Krita's Python: what is missing, and whether photomend loads the
# way the plug-in loads it (package folder only, vendor folder appended).
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
    import photomend.plugins.krita as krita_plugins

    return Path(krita_plugins.__file__).resolve().parent


def _flatpak_data() -> Path:
    return Path.home() / ".var" / "app" / FLATPAK_ID


def _use_flatpak() -> bool:
    """Whether Krita is (only) installed as a Flatpak on this Linux system."""
    return _flatpak_data().is_dir() and shutil.which("krita") is None


def default_dest() -> Path:
    r"""Return Krita's user ``pykrita`` folder on this system.

    Linux: ``$XDG_DATA_HOME/krita/pykrita`` (``~/.local/share/...``), or
    the Flatpak's ``~/.var/app/org.kde.krita/data/krita/pykrita`` when only
    the Flatpak is installed. Windows: ``%APPDATA%\\krita\\pykrita``. macOS:
    ``~/Library/Application Support/krita/pykrita``.
    """
    home = Path.home()
    if sys.platform == "win32":
        appdata = os.environ.get("APPDATA") or str(home / "AppData" / "Roaming")
        return Path(appdata) / "krita" / "pykrita"
    if sys.platform == "darwin":
        return home / "Library" / "Application Support" / "krita" / "pykrita"
    if _use_flatpak():
        return _flatpak_data() / "data" / "krita" / "pykrita"
    data = Path(os.environ.get("XDG_DATA_HOME") or home / ".local" / "share")
    return data / "krita" / "pykrita"


def default_kritarc(dest: Path | None = None) -> Path:
    """Return the kritarc Krita reads, for a plug-in installed in `dest`."""
    home = Path.home()
    if sys.platform == "win32":
        local = os.environ.get("LOCALAPPDATA") or str(home / "AppData" / "Local")
        return Path(local) / "kritarc"
    if sys.platform == "darwin":
        return home / "Library" / "Preferences" / "kritarc"
    if (dest is not None and FLATPAK_ID in Path(dest).parts) or (dest is None and _use_flatpak()):
        return _flatpak_data() / "config" / "kritarc"
    return Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config") / "kritarc"


def krita_python(dest: Path) -> list[str] | None:
    """Return the command running the Python Krita uses, or None if unknown."""
    if FLATPAK_ID in Path(dest).parts:
        flatpak = shutil.which("flatpak")
        return [flatpak, "run", "--command=python3", FLATPAK_ID] if flatpak else None
    if sys.platform == "win32":
        roots = [os.environ.get("ProgramFiles", r"C:\Program Files"),
                 os.path.join(os.environ.get("LOCALAPPDATA", ""), "Programs")]
        candidates = [Path(r) / "Krita (x64)" / "python" / "python.exe" for r in roots if r]
    elif sys.platform == "darwin":
        framework = Path("/Applications/krita.app/Contents/Frameworks/Python.framework")
        candidates = [framework / "Versions" / "Current" / "bin" / "python3"]
    else:
        # Distribution packages link Krita against the system Python; an
        # AppImage carries its own, which cannot be run from outside.
        krita = shutil.which("krita")
        if krita is None or krita.lower().endswith(".appimage"):
            return None
        candidates = [Path("/usr/bin/python3")]
    for path in candidates:
        if path.is_file():
            return [str(path)]
    return None


def _quote(part: str) -> str:
    return f'"{part}"' if " " in part else part


def _install_hint(command: list[str] | None, version: str, vendor: Path) -> str:
    """Return exactly what to run so Krita's Python finds numpy and scipy."""
    names = " ".join(_REQUIRED)
    target = _quote(str(vendor))
    if sys.platform == "win32":
        pip = f"py -{version} -m pip install --target {target} {names}"
    else:
        pip = f"python{version} -m pip install --target {target} {names}"
    if command is not None and command[0].startswith("/usr/bin/"):
        debs = " ".join(f"python3-{m}" for m in _REQUIRED)
        return (f"install them from your distribution, e.g. 'sudo apt install {debs}' "
                f"(Debian/Ubuntu) or 'sudo dnf install {debs}' (Fedora)")
    return (f"install Python {version} (python.org) if you have none, then run: {pip} "
            "(the plug-in adds that folder to Krita's Python)")


def _check_python(command: list[str], package: Path, vendor: Path) -> list[str]:
    """Return problems found running photomend in `command`'s Python."""
    shown = " ".join(command)
    try:
        done = subprocess.run(
            [*command, "-E", "-c", _CHECK, str(package), str(vendor), *_REQUIRED],
            capture_output=True, text=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return [f"could not run Krita's Python ({shown}): {exc}"]
    try:
        result = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        detail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return [f"could not check Krita's Python ({shown}): {detail}"]
    if result["missing"]:
        return [f"Krita's Python ({shown}, {result['full']}) lacks "
                f"{' and '.join(result['missing'])}; "
                f"{_install_hint(command, result['version'], vendor)}"]
    if result["error"]:
        return [f"photomend does not load in Krita's Python ({shown}, {result['full']}): "
                f"{result['error']}"]
    return []


def set_kritarc_flag(path: Path, enabled: bool | None) -> None:
    """Set (or with None remove) ``[python] enable_photomend_krita`` in kritarc.

    The file is edited line by line: every other line, comment and section
    stays byte for byte as it was (QSettings' own format is not quite INI,
    so a parser round trip could change it). Krita rewrites kritarc when it
    quits, so it must not be running.
    """
    text = ""
    if path.exists():
        with open(path, encoding="utf-8", newline="") as handle:  # keep \r\n as it is
            text = handle.read()
    newline = "\r\n" if "\r\n" in text else "\n"
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == "[python]"), None)
    entry = None if enabled is None else f"{ENABLE_KEY}={'true' if enabled else 'false'}"
    if start is None:
        if entry is None:
            return
        if lines and lines[-1].strip():
            lines.append("")
        lines += ["[python]", entry]
    else:
        end = next((i for i in range(start + 1, len(lines))
                    if lines[i].strip().startswith("[")), len(lines))
        found = [i for i in range(start + 1, end)
                 if lines[i].split("=", 1)[0].strip() == ENABLE_KEY]
        for i in reversed(found[1:]):
            del lines[i]
        if found:
            if entry is None:
                del lines[found[0]]
            else:
                lines[found[0]] = entry
        elif entry is not None:
            last = end
            while last > start + 1 and not lines[last - 1].strip():
                last -= 1
            lines.insert(last, entry)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write(newline.join(lines) + newline)


def _remove(path: Path) -> bool:
    if path.is_dir():
        shutil.rmtree(path)
        return True
    if path.exists():
        path.unlink()
        return True
    return False


def install(dest: str | os.PathLike[str] | None = None, uninstall: bool = False,
            python: str | os.PathLike[str] | None = None, *,
            kritarc: str | os.PathLike[str] | None = None) -> str:
    """Install (or remove) the Krita 5 plug-in; return a report for the user.

    Parameters
    ----------
    dest : path, optional
        Krita's ``pykrita`` folder; default :func:`default_dest`. The
        ``.action`` file goes to ``dest/../actions``.
    uninstall : bool
        Remove the plug-in, its files and its kritarc entry instead.
    python : path, optional
        The Python interpreter Krita runs, to check for numpy and scipy;
        default: found per platform (:func:`krita_python`).
    kritarc : path, optional
        Krita's settings file; default :func:`default_kritarc`.

    Returns
    -------
    str
        What was done, then one line per problem found in Krita's Python
        (the plug-in is installed regardless, so fixing Python suffices).
    """
    base = Path(dest) if dest is not None else default_dest()
    rc = Path(kritarc) if kritarc is not None else default_kritarc(base)
    target = base / PLUGIN_NAME
    desktop = base / f"{PLUGIN_NAME}.desktop"
    action = base.parent / "actions" / f"{PLUGIN_NAME}.action"
    if uninstall:
        removed = [p for p in (target, desktop, action) if _remove(p)]
        set_kritarc_flag(rc, None)
        if not removed:
            return f"The photomend Krita plug-in is not installed in {base}; nothing removed."
        return (f"Removed the photomend Krita plug-in from {base} and its entry in {rc}. "
                "Restart Krita.")
    package = _package_dir()
    source = _plugin_source()
    vendor = target / VENDOR_NAME
    if target.is_dir():  # update: keep numpy/scipy the user put in vendor/
        for child in target.iterdir():
            if child.name != VENDOR_NAME:
                _remove(child)
    shutil.copytree(source / PLUGIN_NAME, target, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", CONFIG_NAME,
                                                  VENDOR_NAME))
    shutil.copy2(source / f"{PLUGIN_NAME}.desktop", desktop)
    action.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source / f"{PLUGIN_NAME}.action", action)
    note = {"package": str(package), "installed-by": sys.executable}
    (target / CONFIG_NAME).write_text(json.dumps(note, indent=2) + "\n", encoding="utf-8")
    set_kritarc_flag(rc, True)
    lines = [f"Installed the photomend Krita plug-in in {target}",
             f"It uses the photomend package in {package}; enabled in {rc}.",
             "Quit Krita if it is running (it rewrites kritarc on exit), then start it; "
             "the operations are under Filter > Photo Restoration."]
    command = [str(python)] if python is not None else krita_python(base)
    if command is None:
        lines.append("Could not find the Python Krita uses to check it for numpy and scipy; "
                     "if they are missing, photomend says so when Krita starts, with the "
                     "command to install them.")
    else:
        lines += [f"Problem: {p}" for p in _check_python(command, package, vendor)]
    return "\n".join(lines)


if __name__ == "__main__":  # python -m photomend.hosts.install_krita [--uninstall]
    print(install(uninstall="--uninstall" in sys.argv[1:]))
