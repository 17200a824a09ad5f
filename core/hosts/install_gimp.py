"""Install photomend's GIMP 3 plug-in into the user's GIMP profile.

The plug-in folder (``photomend_gimp/``, shipped as package data in
``photomend.plugins.gimp``) is copied into GIMP's user plug-ins folder, and
a small JSON note next to it names the folder of this ``photomend``
package. The plug-in loads exactly that package folder, never the
site-packages around it: their compiled numpy may belong to another Python
than the one GIMP runs. numpy and scipy must therefore be importable by
GIMP's own Python, or sit in the plug-in's ``vendor`` folder (which the
plug-in appends to ``sys.path``); :func:`install` checks this when it can
find GIMP's Python and says exactly what to run otherwise. The parts shared
with the Krita installer are in :mod:`photomend.hosts._install`.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from . import _install
from ._install import CONFIG_NAME, VENDOR_NAME

__all__ = ["APP", "CONFIG_NAME", "PLUGIN_NAME", "VENDOR_NAME", "default_dest", "gimp_python",
           "install"]

#: Folder and file stem of the plug-in (GIMP needs them equal).
PLUGIN_NAME = "photomend_gimp"
FLATPAK_ID = "org.gimp.GIMP"


def _linux_pythons() -> list[Path]:
    # GIMP starts plug-ins with "/usr/bin/env python3" from the desktop's
    # PATH: the system Python, not a virtualenv the installer may run in.
    which = shutil.which("python3")
    return [Path("/usr/bin/python3"), *([Path(which)] if which else [])]


APP = _install.App(
    name="GIMP", plugin=PLUGIN_NAME, flatpak_id=FLATPAK_ID,
    windows_python=os.path.join("GIMP 3", "bin", "python.exe"),
    mac_pythons=("/Applications/GIMP.app/Contents/MacOS/python3",
                 "/Applications/GIMP.app/Contents/MacOS/python"),
    linux_pythons=_linux_pythons)


def _plugin_source() -> Path:
    import photomend.plugins.gimp as gimp_plugins

    return Path(gimp_plugins.__file__).resolve().parent / PLUGIN_NAME


def default_dest() -> Path:
    """Return GIMP 3's user plug-ins folder on this system.

    ``GIMP3_DIRECTORY`` (GIMP's own override of the profile folder) wins.
    On Linux the Flatpak profile is used when it exists and a native one
    does not.
    """
    override = os.environ.get("GIMP3_DIRECTORY")
    if override:
        return Path(override) / "plug-ins"
    if sys.platform == "win32":
        return _install.roaming_appdata() / "GIMP" / "3.0" / "plug-ins"
    home = Path.home()
    if sys.platform == "darwin":
        return home / "Library" / "Application Support" / "GIMP" / "3.0" / "plug-ins"
    native = _install.xdg_dir("XDG_CONFIG_HOME", ".config") / "GIMP" / "3.0"
    flatpak = home / ".var" / "app" / FLATPAK_ID / "config" / "GIMP" / "3.0"
    if flatpak.is_dir() and not native.is_dir():
        return flatpak / "plug-ins"
    return native / "plug-ins"


def gimp_python(dest: str | os.PathLike[str]) -> list[str] | None:
    """Return the command running the Python GIMP will use, or None if unknown."""
    return APP.python(dest)


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
        The report: what was done, and a ``Problem:`` line for each problem
        found in GIMP's Python. The plug-in is installed regardless, so
        fixing that Python suffices.
    """
    base = Path(dest) if dest is not None else default_dest()
    target = base / PLUGIN_NAME
    if uninstall:
        if not _install.remove(target):
            return f"The photomend GIMP plug-in is not installed in {base}; nothing removed."
        return f"Removed the photomend GIMP plug-in from {target}. Restart GIMP."
    package = _install.place_plugin(_plugin_source(), target)
    (target / f"{PLUGIN_NAME}.py").chmod(0o755)
    lines = [f"Installed the photomend GIMP plug-in in {target}",
             f"It uses the photomend package in {package}.",
             "Restart GIMP; the operations are under Filters > Restore."]
    lines += _install.python_report(
        APP, python, base, target,
        "Could not find the Python GIMP uses to check it for numpy and scipy; "
        "if the menu entries are missing, see Filters > Restore > photomend: Setup Problem.")
    return "\n".join(lines)


if __name__ == "__main__":  # python -m photomend.hosts.install_gimp [--uninstall]
    print(install(uninstall="--uninstall" in sys.argv[1:]))
