"""The GIMP plug-in's pure parts and its installer, without GIMP."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Annotated, Literal

import numpy as np
import pytest
from gimp_harness import PLUGIN, REPO, plugin_procedures

import photomend
from photomend import Param, ParamSpec
from photomend.hosts import install_gimp, install_krita

procs = plugin_procedures()


# ------------------------------------------------------- layout and names


def test_plugin_file_is_executable_and_named_like_its_folder():
    entry = PLUGIN / f"{PLUGIN.name}.py"
    assert PLUGIN.name == install_gimp.PLUGIN_NAME
    assert os.access(entry, os.X_OK)
    assert entry.read_text().startswith("#!/usr/bin/env python3\n")
    # GIMP puts this folder first on sys.path: nothing in it may shadow photomend.
    assert not list(PLUGIN.glob("photomend.py")) and not (PLUGIN / "photomend").exists()


def test_installer_and_plugin_agree_on_file_names():
    assert procs.CONFIG_NAME == install_gimp.CONFIG_NAME
    assert procs.VENDOR_NAME == install_gimp.VENDOR_NAME


@pytest.mark.parametrize("spec", photomend.operations(), ids=lambda s: s.id)
def test_procedure_names_and_menus_derive_from_the_id(spec):
    name = procs.procedure_name(spec)
    assert name == f"plug-in-photomend-{spec.id}"
    assert procs.operation_id(name) == spec.id
    assert procs.menu_path(spec) == f"<Image>/Filters/Restore/{spec.menu}"
    assert procs.menu_label(spec) == spec.label + "..."


def test_operation_id_rejects_foreign_names():
    with pytest.raises(ValueError, match="not a photomend procedure"):
        procs.operation_id("plug-in-unsharp-mask")


# ------------------------------------------------------------- arguments


@pytest.mark.parametrize("spec", photomend.operations(), ids=lambda s: s.id)
def test_arguments_cover_every_widget_parameter(spec):
    args = procs.arguments(spec)
    by_param = {a.param: a for a in args if a.param is not None}
    expected = [p for p in spec.params
                if (p.widget and p.default is not None) or (p.kind == "array" and p.layer)]
    assert [a.param for a in args if a.param] == [p.name for p in expected]
    for p in expected:
        arg = by_param[p.name]
        assert arg.name == p.name.replace("_", "-")
        assert arg.blurb == p.help and arg.default == p.default
        assert arg.nick.replace("_", "").startswith(p.label)
        assert (arg.kind == "drawable") == bool(p.layer)
        if p.kind in ("float", "int"):
            assert arg.kind == {"float": "double", "int": "int"}[p.kind]
            assert (arg.min, arg.max, arg.step) == (p.min, p.max, p.step or None)
        if p.kind == "choice":
            assert [c[0] for c in arg.choices] == list(p.choices)
    outputs = [a for a in args if a.param is None]
    if spec.output == "image":
        assert [(a.name, a.default) for a in outputs] == [("output", "in-place")]
        assert [c[0] for c in outputs[0].choices] == ["in-place", "new-layer"]
    else:
        assert outputs == []
    keys = [a.nick[a.nick.index("_") + 1].lower() for a in args if "_" in a.nick]
    assert len(keys) == len(set(keys)) and not set(keys) & set("hrco")


def test_arguments_of_every_kind(scratch_registry):
    @photomend.operation("test-gimp-kinds", label="_Kinds", menu="Test", output="mask")
    def kinds(
        image: np.ndarray,
        *,
        noise_level: Annotated[float, Param("how noisy", min=0.0, max=1.0, unit="%")] = 0.5,
        count: Annotated[int, Param("how many", min=1, max=9)] = 3,
        steps: int = 4,
        gain: float = 1.5,
        on: Annotated[bool, Param("switch")] = True,
        mode: Literal["fast-path", "rgb"] = "rgb",
        sigma: Annotated[float | None, Param("automatic when empty", min=0.1)] = None,
        where: Annotated[tuple[float, float] | None, Param("point", kind="point")] = None,
        note: str = "x",
        table: Annotated[np.ndarray | None, Param("API only", kind="array")] = None,
        plane: Annotated[np.ndarray | None, Param("a layer", kind="array",
                                                  layer="plane")] = None,
    ) -> np.ndarray:
        """Test every kind."""
        return image[..., 0]

    args = procs.arguments(photomend.get_operation("test-gimp-kinds"))
    table = [(a.kind, a.name, a.nick, a.default, a.min, a.max) for a in args]
    int_lo, int_hi = -(2**31) + 1, 2**31 - 1
    assert table == [
        ("double", "noise-level", "_Noise level (%)", 0.5, 0.0, 1.0),
        ("int", "count", "Co_unt", 3, 1, 9),
        ("int", "steps", "_Steps", 4, int_lo, int_hi),
        ("double", "gain", "_Gain", 1.5, -sys.float_info.max, sys.float_info.max),
        ("boolean", "on", "On", True, None, None),  # o, n taken: no mnemonic
        ("choice", "mode", "_Mode", "rgb", None, None),
        ("drawable", "plane", "_Plane", None, None, None),
    ]
    assert args[-2].choices == (("fast-path", "Fast path", ""), ("rgb", "Rgb", ""))
    params, output = procs.read_values(photomend.get_operation("test-gimp-kinds"),
                                       {a.name: a.default for a in args}.__getitem__)
    assert params == {"noise_level": 0.5, "count": 3, "steps": 4, "gain": 1.5, "on": True,
                      "mode": "rgb", "plane": None}
    assert output == "in-place"


def test_read_values_returns_output_choice():
    spec = photomend.get_operation("sharpen")
    values = {a.name: a.default for a in procs.arguments(spec)} | {"output": "new-layer",
                                                                  "amount": 2.0}
    params, output = procs.read_values(spec, values.__getitem__)
    assert output == "new-layer" and params == {**spec.defaults(), "amount": 2.0}


def test_parameter_named_like_a_gimp_argument_is_refused(scratch_registry):
    @photomend.operation("test-gimp-clash", label="_Clash", menu="Test")
    def clash(image: np.ndarray, *, output: float = 1.0) -> np.ndarray:
        """Clash with the output argument."""
        return image

    with pytest.raises(ValueError, match="clashes with a GIMP argument"):
        procs.arguments(photomend.get_operation("test-gimp-clash"))


@pytest.mark.parametrize(("step", "digits"), [(1, 0), (0.1, 1), (0.25, 2), (0.005, 3), (1e-05, 5)])
def test_dialog_decimals_follow_the_step(step, digits):
    level = ParamSpec("level", "float", 1.0, min=0.0, max=2.0, step=step, label="Level")
    spec = SimpleNamespace(id="test-step", params=(level,), output="mask")
    (arg,) = procs.arguments(spec)
    assert (arg.step, arg.digits) == (step, digits)


def test_mnemonics_avoid_each_other_and_the_dialog_buttons():
    used = set("hrco")
    labels = [procs._mnemonic(t, used) for t in ("Radius", "Amount", "Channels", "Dark level")]
    assert labels == ["R_adius", "A_mount", "Cha_nnels", "_Dark level"]
    assert used == set("hrcoamnd")
    assert procs._mnemonic("Oh", set("oh")) == "Oh"


# ---------------------------------------------------------- pixel formats


@pytest.mark.parametrize(("precision", "encoding", "transfer"), [
    ("u8-non-linear", "R'G'B'A float", "perceptual"),
    ("u8-perceptual", "R'G'B'A float", "perceptual"),
    ("u8-linear", "RGBA float", "linear"),
    ("u16-non-linear", "R'G'B'A float", "perceptual"),
    ("u16-linear", "RGBA float", "linear"),
    ("u32-non-linear", "R'G'B'A float", "perceptual"),
    ("half-linear", "RGBA float", "linear"),
    ("half-perceptual", "R'G'B'A float", "perceptual"),
    ("float-linear", "RGBA float", "linear"),
    ("float-non-linear", "R'G'B'A float", "perceptual"),
    ("double-linear", "RGBA float", "linear"),
])
def test_float_format_for_every_precision(precision, encoding, transfer):
    assert procs.pixel_format(precision, gray=False, alpha=True) == (encoding, transfer, 4)
    gray = encoding.replace("R'G'B'", "Y'").replace("RGB", "Y")
    assert procs.pixel_format(precision, gray=True, alpha=True) == (gray, transfer, 2)
    assert procs.pixel_format(precision, gray=True, alpha=False) == (
        gray.replace("A float", " float"), transfer, 1)
    assert procs.pixel_format(precision, gray=False, alpha=False) == (
        encoding.replace("A float", " float"), transfer, 3)


# ------------------------------------------------------ finding photomend


def _run(code: str, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    # -I: no user site, no PYTHONPATH, no current directory on sys.path.
    return subprocess.run([sys.executable, "-I", "-c", code, *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120, check=False)


LOAD = """
import sys
sys.path.insert(0, sys.argv[1])
import gimp_procedures
try:
    module = gimp_procedures.load_photomend(sys.argv[1])
except ImportError as exc:
    print("ImportError:", exc)
else:
    print(module.__file__)
    print(sorted(s.id for s in module.operations()) == sorted(sys.argv[2].split(",")))
"""


def test_plugin_loads_the_package_named_by_the_installer(tmp_path):
    copy = tmp_path / "elsewhere" / "photomend"
    shutil.copytree(REPO / "core", copy, ignore=shutil.ignore_patterns("__pycache__"))
    plugin = tmp_path / "plug-ins" / "photomend_gimp"
    shutil.copytree(PLUGIN, plugin, ignore=shutil.ignore_patterns("__pycache__"))
    (plugin / procs.CONFIG_NAME).write_text(json.dumps({"package": str(copy)}))
    ids = ",".join(s.id for s in photomend.operations())
    done = _run(LOAD, tmp_path, str(plugin), ids)
    assert done.stdout.splitlines() == [str(copy / "__init__.py"), "True"], done.stderr


def test_plugin_used_in_place_finds_the_package_around_it(tmp_path):
    ids = ",".join(s.id for s in photomend.operations())
    done = _run(LOAD, tmp_path, str(PLUGIN), ids)
    assert done.stdout.splitlines() == [str(REPO / "core" / "__init__.py"), "True"], done.stderr


def test_plugin_without_photomend_says_how_to_install(tmp_path):
    plugin = tmp_path / "plug-ins" / "photomend_gimp"
    shutil.copytree(PLUGIN, plugin, ignore=shutil.ignore_patterns("__pycache__"))
    done = _run(LOAD, tmp_path, str(plugin), "")
    assert "photomend install gimp" in done.stdout, done.stderr


def test_startup_problem_names_the_missing_module_and_the_fix():
    text = procs.startup_problem(ModuleNotFoundError("no numpy", name="numpy"), "/x/plugin")
    assert "numpy is missing" in text and sys.executable in text
    assert "apt install python3-numpy python3-scipy" in text
    assert '--target "/x/plugin/vendor" numpy scipy' in text
    assert procs.startup_problem(RuntimeError("boom"), "/x").endswith(": boom")


# ------------------------------------------------------------- installer


def _fake_python(tmp_path: Path, flags: str) -> Path:
    script = tmp_path / "fake-python"
    script.write_text(f'#!/bin/sh\nexec "{sys.executable}" {flags} "$@"\n')
    script.chmod(0o755)
    return script


@pytest.mark.skipif(sys.platform == "win32", reason="shell wrapper")
def test_install_and_uninstall(tmp_path):
    dest = tmp_path / "plug-ins"
    report = install_gimp.install(dest=dest, python=sys.executable)
    target = dest / "photomend_gimp"
    assert report.splitlines()[0] == f"Installed the photomend GIMP plug-in in {target}"
    assert "Problem" not in report, report
    entry = target / "photomend_gimp.py"
    assert os.access(entry, os.X_OK)
    assert (target / "gimp_procedures.py").is_file()
    assert not (target / "__pycache__").exists()
    note = json.loads((target / install_gimp.CONFIG_NAME).read_text())
    assert note["package"] == str(Path(photomend.__file__).resolve().parent)

    # Reinstalling replaces the plug-in but keeps what the user put in vendor/.
    (target / "stale.py").write_text("")
    (target / "vendor").mkdir()
    (target / "vendor" / "kept.txt").write_text("")
    install_gimp.install(dest=dest, python=sys.executable)
    assert not (target / "stale.py").exists() and (target / "vendor" / "kept.txt").exists()

    assert "Removed" in install_gimp.install(dest=dest, uninstall=True)
    assert not target.exists() and dest.is_dir()
    assert "nothing removed" in install_gimp.install(dest=dest, uninstall=True)


@pytest.mark.skipif(sys.platform == "win32", reason="shell wrapper")
def test_install_reports_what_gimps_python_lacks(tmp_path):
    # -S: no site-packages, so neither numpy nor scipy.
    python = _fake_python(tmp_path, "-S")
    report = install_gimp.install(dest=tmp_path / "plug-ins", python=python)
    problems = [line for line in report.splitlines() if line.startswith("Problem:")]
    assert len(problems) == 1, report
    version = "{}.{}".format(*sys.version_info[:2])
    assert "lacks numpy and scipy" in problems[0]
    vendor = tmp_path / "plug-ins" / "photomend_gimp" / "vendor"
    assert f"python{version} -m pip install --target {vendor} numpy scipy" in problems[0]
    assert (tmp_path / "plug-ins" / "photomend_gimp" / "photomend_gimp.py").is_file()


@pytest.mark.skipif(sys.platform == "win32", reason="shell wrapper")
def test_install_reports_a_python_that_does_not_run(tmp_path):
    report = install_gimp.install(dest=tmp_path / "p", python=tmp_path / "no-such-python")
    assert "Problem: could not run GIMP's Python" in report


@pytest.mark.parametrize(("platform", "env", "expected"), [
    ("linux", {}, "home/.config/GIMP/3.0/plug-ins"),
    ("linux", {"XDG_CONFIG_HOME": "{tmp}/xdg"}, "xdg/GIMP/3.0/plug-ins"),
    ("linux", {"GIMP3_DIRECTORY": "{tmp}/profile"}, "profile/plug-ins"),
    ("win32", {"APPDATA": "{tmp}/roaming"}, "roaming/GIMP/3.0/plug-ins"),
    ("darwin", {}, "home/Library/Application Support/GIMP/3.0/plug-ins"),
])
def test_default_dest(monkeypatch, tmp_path, platform, env, expected):
    monkeypatch.setattr(sys, "platform", platform)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for key in ("XDG_CONFIG_HOME", "GIMP3_DIRECTORY", "APPDATA"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value.format(tmp=tmp_path))
    assert install_gimp.default_dest() == tmp_path / expected


def test_default_dest_prefers_an_existing_flatpak_profile(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.delenv("GIMP3_DIRECTORY", raising=False)
    flatpak = tmp_path / ".var/app/org.gimp.GIMP/config/GIMP/3.0"
    flatpak.mkdir(parents=True)
    assert install_gimp.default_dest() == flatpak / "plug-ins"
    (tmp_path / ".config/GIMP/3.0").mkdir(parents=True)
    assert install_gimp.default_dest() == tmp_path / ".config/GIMP/3.0/plug-ins"


def test_flatpak_profile_is_checked_with_the_flatpak_python(monkeypatch, tmp_path):
    monkeypatch.setattr(install_gimp.shutil, "which",
                        lambda name: "/usr/bin/flatpak" if name == "flatpak" else None)
    dest = tmp_path / ".var/app/org.gimp.GIMP/config/GIMP/3.0/plug-ins"
    assert install_gimp.gimp_python(dest) == [
        "/usr/bin/flatpak", "run", "--command=python3", "org.gimp.GIMP"]


@pytest.mark.parametrize(("installer", "relative"), [
    (install_gimp, "GIMP 3/bin/python.exe"),
    (install_krita, "Krita (x64)/python/python.exe"),
])
def test_windows_python_is_found_in_the_program_folders(monkeypatch, tmp_path, installer,
                                                       relative):
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setenv("ProgramFiles", str(tmp_path / "Program Files"))
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path / "Local"))
    dest = tmp_path / "profile"
    assert installer.APP.python(dest) is None
    per_user = tmp_path / "Local" / "Programs" / relative
    per_user.parent.mkdir(parents=True)
    per_user.touch()
    assert installer.APP.python(dest) == [str(per_user)]
    system = tmp_path / "Program Files" / relative
    system.parent.mkdir(parents=True)
    system.touch()
    assert installer.APP.python(dest) == [str(system)]  # Program Files first

