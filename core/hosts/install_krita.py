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

import os
import shutil
import sys
from pathlib import Path

from . import _install
from ._install import CONFIG_NAME, VENDOR_NAME

__all__ = [
    "APP",
    "CONFIG_NAME",
    "PLUGIN_NAME",
    "VENDOR_NAME",
    "default_dest",
    "default_kritarc",
    "install",
    "krita_python",
    "set_kritarc_flag",
]

#: Folder of the plug-in, stem of its .desktop and .action files.
PLUGIN_NAME = "photomend_krita"
FLATPAK_ID = "org.kde.krita"
ENABLE_KEY = f"enable_{PLUGIN_NAME}"


def _linux_pythons() -> list[Path] | None:
    # Distribution packages link Krita against the system Python; an
    # AppImage carries its own, which cannot be run from outside.
    krita = shutil.which("krita")
    if krita is None or krita.lower().endswith(".appimage"):
        return None
    return [Path("/usr/bin/python3")]


APP = _install.App(
    name="Krita", plugin=PLUGIN_NAME, flatpak_id=FLATPAK_ID,
    windows_python=os.path.join("Krita (x64)", "python", "python.exe"),
    mac_pythons=("/Applications/krita.app/Contents/Frameworks/Python.framework/Versions/"
                 "Current/bin/python3",),
    linux_pythons=_linux_pythons)


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
    if sys.platform == "win32":
        return _install.roaming_appdata() / "krita" / "pykrita"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "krita" / "pykrita"
    if _use_flatpak():
        return _flatpak_data() / "data" / "krita" / "pykrita"
    return _install.xdg_dir("XDG_DATA_HOME", ".local", "share") / "krita" / "pykrita"


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
    return _install.xdg_dir("XDG_CONFIG_HOME", ".config") / "kritarc"


def krita_python(dest: str | os.PathLike[str]) -> list[str] | None:
    """Return the command running the Python Krita uses, or None if unknown."""
    return APP.python(dest)


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
        removed = [p for p in (target, desktop, action) if _install.remove(p)]
        set_kritarc_flag(rc, None)
        if not removed:
            return f"The photomend Krita plug-in is not installed in {base}; nothing removed."
        return (f"Removed the photomend Krita plug-in from {base} and its entry in {rc}. "
                "Restart Krita.")
    source = _plugin_source()
    package = _install.place_plugin(source / PLUGIN_NAME, target)
    shutil.copy2(source / f"{PLUGIN_NAME}.desktop", desktop)
    action.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source / f"{PLUGIN_NAME}.action", action)
    set_kritarc_flag(rc, True)
    lines = [f"Installed the photomend Krita plug-in in {target}",
             f"It uses the photomend package in {package}; enabled in {rc}.",
             "Quit Krita if it is running (it rewrites kritarc on exit), then start it; "
             "the operations are under Filter > Photo Restoration."]
    lines += _install.python_report(
        APP, python, base, target,
        "Could not find the Python Krita uses to check it for numpy and scipy; "
        "if they are missing, photomend says so when Krita starts, with the "
        "command to install them.")
    return "\n".join(lines)


if __name__ == "__main__":  # python -m photomend.hosts.install_krita [--uninstall]
    print(install(uninstall="--uninstall" in sys.argv[1:]))
