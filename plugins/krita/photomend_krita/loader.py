"""Find and import the photomend package from inside Krita.

Krita runs plug-ins on its own Python, which may not be the Python that
installed photomend. The installer therefore writes the package's folder
into ``photomend-location.json`` next to this file, and only that folder
is loaded, never the site-packages it came from (their compiled modules
may be built for another Python). Standard library only: photomend is not
importable yet when this runs.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import sysconfig
from typing import Any

#: Written by ``photomend install krita`` into this folder.
CONFIG_NAME = "photomend-location.json"
#: Optional folder for numpy/scipy built for Krita's Python (``pip --target``).
VENDOR_NAME = "vendor"
HERE = os.path.dirname(os.path.abspath(__file__))


def package_candidates(plugin_dir: str = HERE) -> list[str]:
    """Return the folders that may hold photomend: the installer's note first.

    Without a note the plug-in is being used in place: inside an installed
    package (``photomend/plugins/krita/<this folder>``) or a source checkout
    (``<repo>/plugins/krita/<this folder>`` with the package in ``<repo>/core``).
    """
    found = []
    config = os.path.join(plugin_dir, CONFIG_NAME)
    if os.path.isfile(config):
        with open(config, encoding="utf-8") as f:
            found.append(str(json.load(f)["package"]))
    top = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(plugin_dir))))
    return [*found, top, os.path.join(top, "core")]


def load_photomend(plugin_dir: str = HERE) -> Any:
    """Import the photomend package this plug-in belongs to and return it.

    Raises
    ------
    ImportError
        When no package is found, or it cannot be imported (numpy or scipy
        missing in Krita's Python: ``ModuleNotFoundError`` naming them).
    """
    if "photomend" in sys.modules:
        return sys.modules["photomend"]
    vendor = os.path.join(plugin_dir, VENDOR_NAME)
    if os.path.isdir(vendor) and vendor not in sys.path:
        sys.path.append(vendor)
    for folder in package_candidates(plugin_dir):
        init = os.path.join(folder, "__init__.py")
        if not (os.path.isfile(init) and os.path.isfile(os.path.join(folder, "registry.py"))):
            continue
        spec = importlib.util.spec_from_file_location(
            "photomend", init, submodule_search_locations=[folder])
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["photomend"] = module
        try:
            spec.loader.exec_module(module)
            module.operations()  # imports every operation: fail now, not in a menu
        except BaseException:
            for name in [n for n in sys.modules if n.split(".")[0] == "photomend"]:
                del sys.modules[name]
            raise
        return module
    msg = (f"the photomend package was not found (looked for {CONFIG_NAME} in "
           f"{plugin_dir}); reinstall the plug-in with 'photomend install krita'")
    raise ImportError(msg)


def install_hint(missing: str, plugin_dir: str = HERE) -> str:
    """Return how to install numpy and scipy for the Python running this code."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    vendor = os.path.join(plugin_dir, VENDOR_NAME)
    pip = f'python{version} -m pip install --target "{vendor}" numpy scipy'
    if sys.platform == "win32":
        pip = f'py -{version} -m pip install --target "{vendor}" numpy scipy'
    distro = sys.platform.startswith("linux") and sys.prefix == "/usr"
    if distro and "FLATPAK_ID" not in os.environ:
        return (f"Install your distribution's packages (Debian/Ubuntu: sudo apt install "
                f"python3-numpy python3-scipy; Fedora: sudo dnf install python3-numpy "
                f"python3-scipy), or with any Python {version} on this computer: {pip}")
    return (f"Krita's Python is {version} ({sysconfig.get_platform()}). With a Python "
            f"{version} from python.org installed, run: {pip}")


def startup_problem(exc: BaseException, plugin_dir: str = HERE) -> str:
    """Explain to the user why photomend could not start inside Krita."""
    where = f"Krita's Python ({sys.version.split()[0]}, {sys.executable or 'embedded'})"
    name = getattr(exc, "name", None)
    if isinstance(exc, ModuleNotFoundError) and name in ("numpy", "scipy"):
        return (f"photomend needs numpy and scipy, but {name} is missing in {where}. "
                f"{install_hint(name, plugin_dir)} Then restart Krita.")
    return f"photomend could not start in {where}: {type(exc).__name__}: {exc}"
