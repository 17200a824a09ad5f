"""The package layout: core/ ships as photomend with every subpackage."""

import pathlib

import pytest

tomllib = pytest.importorskip("tomllib")

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_every_subpackage_is_listed_in_pyproject():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    mapping = config["package-dir"]
    found = set()
    for name, folder in mapping.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            parts = [] if str(rel) == "." else list(rel.parts)
            if folder == "plugins" and len(parts) > 1:
                continue  # a host's plug-in files: package data, not an import package
            found.add(".".join([name, *parts]))
    assert found <= listed, f"add to pyproject packages: {sorted(found - listed)}"


def test_core_imports_no_host_api():
    banned = ("import gi", "from gi", "import krita", "from krita", "import PyQt5",
              "from PyQt5")
    for path in (ROOT / "core").rglob("*.py"):
        if "ui" in path.relative_to(ROOT / "core").parts:
            continue
        text = path.read_text()
        for b in banned:
            assert f"\n{b}" not in text and not text.startswith(b), f"{path}: {b}"


def test_what_hosts_import_needs_no_file_codecs():
    """GIMP's and Krita's Pythons have numpy, scipy and PyQt5 but not tifffile or imagecodecs.

    The hosts' code paths (engine, operations, recipes, host adapters, the
    dialog's modules) must import without them; only file I/O needs them.
    """
    import subprocess
    import sys

    script = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('tifffile', 'imagecodecs'):
            raise ImportError('blocked: ' + name)
        return None
sys.meta_path.insert(0, Block())
import photomend, photomend.recipe, photomend.hosts.apply, photomend.hosts.layers
import photomend.registry
assert photomend.registry.operations()
try:
    import PyQt5.QtWidgets
except ImportError:
    pass
else:
    import photomend.ui.dialog, photomend.ui.preview
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=ROOT, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
