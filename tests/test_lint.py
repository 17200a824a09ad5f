"""ruff and mypy are part of the suite: the tree stays clean."""

import os
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _tool(name):
    path = shutil.which(name, path=os.pathsep.join([str(pathlib.Path(sys.executable).parent),
                                                    os.environ.get("PATH", "")]))
    if path is None:
        pytest.skip(f"{name} is not installed (pip install -e '.[test]')")
    return path


def test_ruff():
    out = subprocess.run([_tool("ruff"), "check", "--no-cache", "."], cwd=ROOT,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_mypy(tmp_path):
    # Check core under its real name, photomend, so imports resolve to it.
    (tmp_path / "photomend").symlink_to(ROOT / "core")
    env = {**os.environ, "MYPYPATH": str(tmp_path)}
    out = subprocess.run([_tool("mypy"), "--no-incremental", "-p", "photomend"], cwd=ROOT,
                         env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
