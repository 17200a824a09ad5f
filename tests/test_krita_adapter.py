"""The Krita plug-in's pure parts, without Krita.

Pixel layouts for every depth and byte order, refusals, the actions and the
generated ``.action`` file, the loader, the installer (into temporary
folders, kritarc editing included), and KritaHost's write sequence over a
small stand-in for Krita's scripting API.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import types
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

import photomend
from photomend.errors import ImageError, MaskError
from photomend.hosts import apply_operation
from photomend.hosts import install_krita as inst
from photomend.hosts._install import install_hint
from photomend.plugins.krita.photomend_krita import actions, loader, pixels

REPO = Path(__file__).resolve().parents[1]
PLUGIN = REPO / "plugins" / "krita"
DEPTHS = [("U8", np.uint8), ("U16", np.uint16), ("F16", np.float16), ("F32", np.float32)]


def _values(dtype: type, shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    if dt.kind == "u":
        return rng.integers(0, np.iinfo(dt).max, shape, endpoint=True).astype(dt)
    return rng.uniform(-0.25, 1.5, shape).astype(dt)  # HDR values must survive


# ------------------------------------------------------------ pixel layouts


@pytest.mark.parametrize(("depth", "dtype"), DEPTHS)
@pytest.mark.parametrize("model", ["RGBA", "GRAYA"])
def test_bytes_round_trip_exactly(model, depth, dtype):
    lay = pixels.layout(model, depth)
    stored = _values(dtype, (5, 7, lay.channels))
    image = pixels.to_image(stored.tobytes(), 7, 5, lay, "perceptual")
    assert image.dtype == np.dtype(dtype)
    assert image.channels == lay.channels - 1
    assert pixels.from_image(image, lay, "perceptual") == stored.tobytes()


@pytest.mark.parametrize(("depth", "dtype"), DEPTHS)
def test_krita_byte_order(depth, dtype):
    # docs/hosts.md: U8/U16 RGBA are stored B,G,R,A; F16/F32 RGBA are R,G,B,A.
    lay = pixels.layout("RGBA", depth)
    top = np.iinfo(dtype).max if np.dtype(dtype).kind == "u" else 1.0
    red = np.array([top, 0, 0, top], dtype=dtype)  # logical R,G,B,A
    stored = red[[2, 1, 0, 3]] if depth in ("U8", "U16") else red
    image = pixels.to_image(stored.tobytes(), 1, 1, lay, "perceptual")
    np.testing.assert_array_equal(image.color[0, 0], [1.0, 0.0, 0.0])
    assert lay.swapped == (depth in ("U8", "U16"))
    assert pixels.from_image(image, lay, "perceptual") == stored.tobytes()


def test_gray_alpha_order():
    lay = pixels.layout("GRAYA", "U16")
    image = pixels.to_image(np.array([1000, 65535], np.uint16).tobytes(), 1, 1, lay,
                            "perceptual")
    assert image.color[0, 0, 0] == pytest.approx(1000 / 65535)
    assert image.alpha[0, 0] == 1.0


def test_sixteen_bit_precision_survives_a_transfer_round_trip():
    lay = pixels.layout("RGBA", "U16")
    stored = _values(np.uint16, (4, 6, 4), seed=3)
    image = pixels.to_image(stored.tobytes(), 6, 4, lay, "linear")
    back = pixels.from_image(image.in_transfer("perceptual"), lay, "linear")
    diff = np.frombuffer(back, np.uint16).astype(int) - stored.reshape(-1).astype(int)
    assert np.abs(diff).max() <= 1


@pytest.mark.parametrize(("profile", "transfer"), [
    ("sRGB-elle-V2-srgbtrc.icc", "perceptual"),
    ("sRGB-elle-V2-g10.icc", "linear"),
    ("Gray-D50-elle-V2-g10.icc", "linear"),
    ("scRGB (linear)", "linear"),
    ("sRGB built-in", "perceptual"),
    ("Rec2020-elle-V4-g10.icc", "linear"),
    ("", "perceptual"),
])
def test_transfer_from_profile(profile, transfer):
    assert pixels.transfer_of(profile) == transfer


@pytest.mark.parametrize(("model", "words"), [
    ("CMYKA", ["RGB and grayscale", "CMYK", "Convert Image Color Space"]),
    ("LABA", ["L*a*b*"]),
    ("XYZA", ["XYZ"]),
])
def test_other_colour_models_are_refused(model, words):
    with pytest.raises(ImageError) as info:
        pixels.layout(model, "U8", "Scan")
    assert "“Scan”" in str(info.value)
    for word in words:
        assert word in str(info.value)


def test_unknown_depth_is_refused():
    with pytest.raises(ImageError, match="U8, U16, F16, F32"):
        pixels.layout("RGBA", "F64")


@pytest.mark.parametrize(("kind", "words"), [
    ("grouplayer", ["is a group layer", "to Paint Layer"]),
    ("filelayer", ["is a file layer"]),
    ("clonelayer", ["is a clone layer"]),
    ("vectorlayer", ["is a vector layer"]),
    ("filterlayer", ["is a filter layer"]),
    ("filllayer", ["is a fill layer"]),
    ("transparencymask", ["transparency mask", "paint layer it belongs to"]),
])
def test_non_paint_layers_are_refused(kind, words):
    with pytest.raises(ImageError) as info:
        pixels.check_layer(kind, "Layer 2")
    for word in words:
        assert word in str(info.value)
    pixels.check_layer("paintlayer", "Layer 2")


def test_selection_levels():
    data = np.array([[0, 128, 255]], np.uint8).tobytes()
    mask = pixels.selection_from_bytes(data, 3, 1)
    assert mask.dtype == np.float32
    np.testing.assert_allclose(mask, [[0.0, 128 / 255, 1.0]])


@pytest.mark.parametrize(("depth", "dtype"), DEPTHS)
def test_detection_mask_layer(depth, dtype):
    lay = pixels.layout("RGBA", depth)
    mask = np.array([[0.0, 0.5, 1.0]], np.float32)
    data = np.frombuffer(pixels.mask_to_bytes(mask, lay), dtype).reshape(1, 3, 4)
    image = pixels.to_image(data.tobytes(), 3, 1, lay, "perceptual")
    np.testing.assert_allclose(image.alpha, mask, atol=1 / 255)
    np.testing.assert_array_equal(image.color[0, 1], pixels.MASK_COLOR["RGBA"])


# ----------------------------------------------------------------- actions


def test_action_ids_are_derived_from_operation_ids():
    for spec in photomend.operations():
        action = actions.action_id(spec)
        assert action == "photomend_" + spec.id.replace("-", "_")
        assert actions.operation_id(action) == spec.id
    with pytest.raises(ValueError, match="not a photomend action"):
        actions.operation_id("photomend_menu_enhance")


@pytest.mark.parametrize(("label", "qt", "plain"), [
    ("_Sharpen (Unsharp Mask)", "&Sharpen (Unsharp Mask)", "Sharpen (Unsharp Mask)"),
    ("Remove _Dust & Scratches", "Remove &Dust && Scratches", "Remove Dust & Scratches"),
    ("De_blur", "De&blur", "Deblur"),
])
def test_menu_texts(label, qt, plain):
    assert actions.qt_text(label) == qt
    assert actions.plain_text(qt) == plain


def test_menu_groups_follow_the_registry():
    specs = photomend.operations()
    groups = actions.menu_groups(specs)
    assert [g.text for g in groups] == list(dict.fromkeys(s.menu for s in specs))
    assert sorted(s.id for g in groups for s in g.specs) == sorted(s.id for s in specs)
    for group in groups:
        assert group.location == "Filter/photomend_menu"
        assert actions.action_location(group) == f"Filter/photomend_menu/{group.id}"
        assert group.id.startswith("photomend_menu_")


def test_action_file_lists_every_operation():
    specs = photomend.operations()
    root = ET.fromstring(actions.action_file(specs))
    assert root.tag == "ActionCollection"
    (collection,) = root.findall("Actions")
    assert collection.findtext("text") == "Photo Restoration"
    found = {a.get("name"): a for a in collection.findall("Action")}
    assert set(found) == {actions.action_id(s) for s in specs}
    for spec in specs:
        entry = found[actions.action_id(spec)]
        assert entry.findtext("text") == actions.action_text(spec)
        assert entry.findtext("toolTip") == spec.summary
        assert int(entry.findtext("activationFlags"), 2) == 0x10  # ACTIVE_DEVICE


def test_checked_in_action_file_is_in_sync():
    path = PLUGIN / "photomend_krita.action"
    assert actions.checked_in_path() == path
    assert path.read_text(encoding="utf-8") == actions.action_file(photomend.operations()), (
        "regenerate with: python -m photomend.plugins.krita.photomend_krita.actions --write")
    assert actions.main(["--check"]) == 0


def test_desktop_file_names_the_plugin():
    text = (PLUGIN / "photomend_krita.desktop").read_text(encoding="utf-8")
    assert "ServiceTypes=Krita/PythonPlugin" in text
    assert "X-KDE-Library=photomend_krita" in text


# ------------------------------------------------------------------ loader


def _run_python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          timeout=120, check=False, env=env, cwd="/")


_LOAD = """
import sys
sys.path.insert(0, sys.argv[1])
from photomend_krita import loader
module = loader.load_photomend(sys.argv[2])
print(module.__file__)
print(sorted(s.id for s in module.operations()))
"""


def test_loader_loads_only_the_configured_package(tmp_path):
    import shutil

    copy = tmp_path / "elsewhere" / "pkg"
    shutil.copytree(REPO / "core", copy, ignore=shutil.ignore_patterns("__pycache__"))
    plugin = tmp_path / "pykrita" / "photomend_krita"
    plugin.mkdir(parents=True)
    (plugin / loader.CONFIG_NAME).write_text(json.dumps({"package": str(copy)}))
    done = _run_python(_LOAD, str(PLUGIN), str(plugin))
    assert done.returncode == 0, done.stderr
    where, ops = done.stdout.splitlines()
    assert where == str(copy / "__init__.py")
    assert ops == str(sorted(s.id for s in photomend.operations()))


def test_loader_finds_the_package_in_a_source_checkout():
    done = _run_python(_LOAD, str(PLUGIN), str(PLUGIN / "photomend_krita"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == str(REPO / "core" / "__init__.py")


def test_loader_says_how_to_fix_a_missing_package(tmp_path):
    code = """
import sys
sys.path.insert(0, sys.argv[1])
from photomend_krita import loader
try:
    loader.load_photomend(sys.argv[2])
except ImportError as exc:
    print(exc)
"""
    deep = tmp_path / "a" / "b" / "c" / "photomend_krita"
    deep.mkdir(parents=True)
    done = _run_python(code, str(PLUGIN), str(deep))
    assert "photomend install krita" in done.stdout


def test_startup_problem_explains_missing_numpy(monkeypatch):
    exc = ModuleNotFoundError("No module named 'scipy'", name="scipy")
    text = loader.startup_problem(exc, "/x/pykrita/photomend_krita")
    assert "numpy and scipy" in text
    assert "scipy is missing" in text
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert version in text
    assert "/x/pykrita/photomend_krita/vendor" in text
    monkeypatch.setattr(sys, "platform", "win32")
    assert f"py -{version} -m pip install --target" in loader.install_hint("numpy", "C:/k")
    other = loader.startup_problem(RuntimeError("boom"))
    assert "RuntimeError: boom" in other


# --------------------------------------------------------------- installer


def _install(tmp_path, **kwargs):
    dest = tmp_path / "share" / "krita" / "pykrita"
    rc = tmp_path / "config" / "kritarc"
    return dest, rc, inst.install(dest=dest, kritarc=rc, python=sys.executable, **kwargs)


def test_install_places_everything(tmp_path):
    dest, rc, report = _install(tmp_path)
    plugin = dest / "photomend_krita"
    assert (plugin / "__init__.py").is_file()
    assert (plugin / "host.py").is_file()
    assert not list(plugin.rglob("__pycache__"))
    assert (dest / "photomend_krita.desktop").is_file()
    action = dest.parent / "actions" / "photomend_krita.action"
    assert action.read_text() == (PLUGIN / "photomend_krita.action").read_text()
    note = json.loads((plugin / inst.CONFIG_NAME).read_text())
    assert note["package"] == str(Path(photomend.__file__).resolve().parent)
    assert rc.read_text() == "[python]\nenable_photomend_krita=true\n"
    assert "Installed the photomend Krita plug-in" in report
    assert "Filter > Photo Restoration" in report
    assert "Problem" not in report  # this Python has numpy and scipy


def test_install_edits_kritarc_without_clobbering(tmp_path):
    rc = tmp_path / "config" / "kritarc"
    rc.parent.mkdir(parents=True)
    original = ("[General]\r\nShowRootLayer=false\r\nkey%20with%20escapes=a\\\\b\r\n\r\n"
                "[python]\r\nenable_other=true\r\nenable_photomend_krita=false\r\n\r\n"
                "[theme]\r\nTheme=Krita dark\r\n")
    rc.write_bytes(original.encode())
    _install(tmp_path)
    text = rc.read_bytes().decode()
    assert text == original.replace("enable_photomend_krita=false", "enable_photomend_krita=true")
    _install(tmp_path)  # idempotent
    assert rc.read_bytes().decode() == text
    inst.install(dest=tmp_path / "share" / "krita" / "pykrita", kritarc=rc, uninstall=True)
    assert rc.read_bytes().decode() == original.replace(
        "enable_photomend_krita=false\r\n", "")


@pytest.mark.parametrize(("before", "after"), [
    ("", "[python]\nenable_photomend_krita=true\n"),
    ("[General]\nx=1\n", "[General]\nx=1\n\n[python]\nenable_photomend_krita=true\n"),
    ("[python]\na=1\n\n[B]\nb=2\n", "[python]\na=1\nenable_photomend_krita=true\n\n[B]\nb=2\n"),
    ("[python]\nenable_photomend_krita=false\nenable_photomend_krita=true\n",
     "[python]\nenable_photomend_krita=true\n"),
    ("[other]\nenable_photomend_krita=false\n[python]\n",
     "[other]\nenable_photomend_krita=false\n[python]\nenable_photomend_krita=true\n"),
])
def test_kritarc_flag(tmp_path, before, after):
    rc = tmp_path / "kritarc"
    rc.write_text(before)
    inst.set_kritarc_flag(rc, True)
    assert rc.read_text() == after


def test_reinstall_keeps_the_vendor_folder_and_uninstall_removes_all(tmp_path):
    dest, rc, _ = _install(tmp_path)
    vendor = dest / "photomend_krita" / "vendor" / "numpy"
    vendor.mkdir(parents=True)
    (dest / "photomend_krita" / "stale.py").write_text("")
    _install(tmp_path)
    assert vendor.is_dir()
    assert not (dest / "photomend_krita" / "stale.py").exists()
    report = inst.install(dest=dest, kritarc=rc, uninstall=True)
    assert "Removed" in report
    assert not (dest / "photomend_krita").exists()
    assert not (dest / "photomend_krita.desktop").exists()
    assert not (dest.parent / "actions" / "photomend_krita.action").exists()
    assert "photomend" not in rc.read_text()
    again = inst.install(dest=dest, kritarc=rc, uninstall=True)
    assert "nothing removed" in again


def _fake_python(tmp_path, payload: dict) -> Path:
    script = tmp_path / "python3"
    script.write_text(f"#!/bin/sh\necho '{json.dumps(payload)}'\n")
    script.chmod(0o755)
    return script


def test_install_reports_missing_numpy_with_what_to_do(tmp_path):
    fake = _fake_python(tmp_path, {"version": "3.10", "full": "3.10.11",
                                   "missing": ["numpy", "scipy"], "error": None})
    dest = tmp_path / "krita" / "pykrita"
    report = inst.install(dest=dest, kritarc=tmp_path / "kritarc", python=fake)
    (problem,) = [line for line in report.splitlines() if line.startswith("Problem")]
    assert "lacks numpy and scipy" in problem
    assert "3.10.11" in problem
    assert (f'python3.10 -m pip install --target {dest / "photomend_krita" / "vendor"} '
            "numpy scipy") in problem


def test_install_hint_for_distribution_python(tmp_path):
    hint = install_hint(inst.APP, ["/usr/bin/python3"], "3.13", tmp_path)
    assert "sudo apt install python3-numpy python3-scipy" in hint


def test_install_reports_an_unrunnable_python(tmp_path):
    report = inst.install(dest=tmp_path / "p", kritarc=tmp_path / "rc",
                          python=tmp_path / "missing-python")
    assert "Problem: could not run Krita's Python" in report


@pytest.mark.parametrize(("platform", "env", "dest", "rc"), [
    ("linux", {"XDG_DATA_HOME": "{h}/data", "XDG_CONFIG_HOME": "{h}/cfg"},
     "{h}/data/krita/pykrita", "{h}/cfg/kritarc"),
    ("linux", {}, "{h}/.local/share/krita/pykrita", "{h}/.config/kritarc"),
    ("win32", {"APPDATA": "{h}/Roaming", "LOCALAPPDATA": "{h}/Local"},
     "{h}/Roaming/krita/pykrita", "{h}/Local/kritarc"),
    ("darwin", {}, "{h}/Library/Application Support/krita/pykrita",
     "{h}/Library/Preferences/kritarc"),
])
def test_default_locations(monkeypatch, tmp_path, platform, env, dest, rc):
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "APPDATA", "LOCALAPPDATA"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value.format(h=tmp_path))
    monkeypatch.setattr(sys, "platform", platform)
    monkeypatch.setattr(inst.shutil, "which", lambda name: "/usr/bin/" + name)
    assert inst.default_dest() == Path(dest.format(h=tmp_path))
    assert inst.default_kritarc() == Path(rc.format(h=tmp_path))


def test_flatpak_location(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(inst.shutil, "which",
                        lambda name: "/usr/bin/flatpak" if name == "flatpak" else None)
    (tmp_path / ".var" / "app" / "org.kde.krita").mkdir(parents=True)
    dest = inst.default_dest()
    assert dest == tmp_path / ".var/app/org.kde.krita/data/krita/pykrita"
    assert inst.default_kritarc(dest) == tmp_path / ".var/app/org.kde.krita/config/kritarc"
    assert inst.krita_python(dest) == ["/usr/bin/flatpak", "run", "--command=python3",
                                       "org.kde.krita"]


def test_krita_python_unknown_for_an_appimage(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(inst.shutil, "which", lambda name: "/opt/krita-5.2.9.AppImage")
    assert inst.krita_python(tmp_path) is None


# ------------------------------------------------- KritaHost over a stand-in


class FakeNode:
    """Just enough of krita.Node: pixels in Krita's byte order, merge down, flags."""

    def __init__(self, doc, name, kind="paintlayer"):
        self.doc, self._name, self._type = doc, name, kind
        self.model, self.depth, self.profile = doc.model, doc.depth, doc.profile
        lay = pixels.layout(self.model, self.depth)
        self.dtype = lay.dtype
        self.data = np.zeros((doc.height(), doc.width(), lay.channels), lay.dtype)
        self.opacity_, self.mode, self.shown, self.locked_ = 255, "normal", True, False
        self.parent, self.children = None, []

    # the parts of the API KritaHost uses
    def name(self): return self._name
    def setName(self, name): self._name = name
    def type(self): return self._type
    def colorModel(self): return self.model
    def colorDepth(self): return self.depth
    def colorProfile(self): return self.profile
    def locked(self): return self.locked_
    def visible(self): return self.shown
    def setVisible(self, value): self.shown = value
    def opacity(self): return self.opacity_
    def setOpacity(self, value): self.opacity_ = value
    def blendingMode(self): return self.mode
    def setBlendingMode(self, value): self.mode = value
    def inheritAlpha(self): return False
    def setInheritAlpha(self, value): pass
    def alphaLocked(self): return False
    def setAlphaLocked(self, value): pass
    def colorLabel(self): return 0
    def setColorLabel(self, value): pass
    def animated(self): return False
    def channels(self): return [types.SimpleNamespace(visible=lambda: True)]
    def childNodes(self): return list(self.children)
    def parentNode(self): return self.parent
    def uniqueId(self): return id(self)

    def pixelData(self, x, y, w, h):
        return self.data[y:y + h, x:x + w].tobytes()

    def setPixelData(self, data, x, y, w, h):
        self.data[y:y + h, x:x + w] = np.frombuffer(data, self.dtype).reshape(h, w, -1)

    def duplicate(self):
        copy = FakeNode(self.doc, self._name)
        copy.data = self.data.copy()
        return copy

    def addChildNode(self, child, above):
        child.parent = self
        self.children.insert(self.children.index(above) + 1 if above else len(self.children),
                             child)
        self.doc.log.append(("add", child.name()))

    def mergeDown(self):
        """Composite this layer "over" the one below into a new layer (float maths)."""
        parent = self.parent
        index = parent.children.index(self)
        below = parent.children[index - 1]
        scale = np.iinfo(self.dtype).max if self.dtype.kind == "u" else 1.0
        src, dst = self.data / scale, below.data / scale
        sa, da = src[..., -1:], dst[..., -1:]
        out_a = sa + da * (1 - sa)
        color = np.where(out_a > 0, (src[..., :-1] * sa + dst[..., :-1] * da * (1 - sa))
                         / np.where(out_a > 0, out_a, 1), 0)
        # Krita's fast paths: a transparent source leaves the pixel, a
        # transparent destination takes the source as it is.
        color = np.where(sa == 0, dst[..., :-1], np.where(da == 0, src[..., :-1], color))
        merged = FakeNode(self.doc, below.name())
        merged.opacity_, merged.mode = below.opacity_, below.mode
        out = np.concatenate([color, out_a], axis=-1) * scale
        merged.data = (np.rint(out) if self.dtype.kind == "u" else out).astype(self.dtype)
        parent.children[index - 1:index + 1] = [merged]
        merged.parent, self.parent, below.parent = parent, None, None
        self.doc.log.append(("merge", self.name()))
        return None


class FakeDocument:
    def __init__(self, width, height, model="RGBA", depth="U8",
                 profile="sRGB-elle-V2-srgbtrc.icc"):
        self.w, self.h, self.model, self.depth, self.profile = width, height, model, depth, profile
        self.log: list[tuple[str, str]] = []
        self.root = FakeNode(self, "root", "grouplayer")
        self.layer = FakeNode(self, "Background")
        self.root.addChildNode(self.layer, None)
        self.sel: np.ndarray | None = None
        self.log.clear()
        self.created: list[FakeNode] = []

    def width(self): return self.w
    def height(self): return self.h
    def activeNode(self): return self.layer
    def createNode(self, name, kind):
        self.created.append(FakeNode(self, name, kind))
        return self.created[-1]

    def refreshProjection(self): pass
    def waitForDone(self): pass

    def selection(self):
        if self.sel is None:
            return None
        rows, cols = np.flatnonzero(self.sel.any(axis=1)), np.flatnonzero(self.sel.any(axis=0))
        sel = self.sel
        return types.SimpleNamespace(
            x=lambda: int(cols[0]), y=lambda: int(rows[0]),
            width=lambda: int(cols[-1] - cols[0] + 1), height=lambda: int(rows[-1] - rows[0] + 1),
            pixelData=lambda x, y, w, h: sel[y:y + h, x:x + w].tobytes())


@pytest.fixture
def host_module():
    # KritaHost never imports krita: it only calls the objects it is given.
    return importlib.import_module("photomend.plugins.krita.photomend_krita.host")


def _document(depth, dtype, model="RGBA"):
    doc = FakeDocument(24, 16, model, depth)
    lay = pixels.layout(model, depth)
    doc.layer.data = _values(dtype, doc.layer.data.shape, seed=5)
    if np.dtype(dtype).kind == "f":
        doc.layer.data = np.clip(doc.layer.data, 0, 1).astype(dtype)
    doc.layer.data[..., -1] = doc.layer.data[..., -1] // 2 + 1 if lay.dtype.kind == "u" else 0.6
    return doc


def _logical(doc, node=None):
    node = node or doc.root.children[0]
    data = node.data
    return data[..., [2, 1, 0, 3]] if (doc.model == "RGBA" and data.dtype.kind == "u") else data


@pytest.mark.parametrize(("depth", "dtype"), DEPTHS)
def test_host_in_place_write_is_exact_through_the_merge(host_module, depth, dtype):
    doc = _document(depth, dtype)
    sel = np.zeros((16, 24), np.uint8)
    sel[3:12, 4:20] = 255
    sel[3:12, 4:8] = 90
    doc.sel = sel
    before = _logical(doc).copy()
    host = host_module.KritaHost(doc)
    apply_operation(host, "sharpen", {"amount": 2.0})
    expected = photomend.run("sharpen", before, sel, amount=2.0)
    after = _logical(doc)
    assert [n.name() for n in doc.root.children] == ["Background"]
    np.testing.assert_array_equal(after[..., -1], before[..., -1])  # semi-transparent kept
    tol = {"U8": 1, "U16": 2, "F16": 2e-3, "F32": 1e-4}[depth]
    assert np.abs(after.astype(float) - expected.astype(float)).max() <= tol
    np.testing.assert_array_equal(after[sel == 0], before[sel == 0])
    # The old layer object (kept by Krita for undo) has its original pixels back,
    # and the helper that comes back with one Undo is hidden.
    old = doc.layer
    assert old.parent is None
    np.testing.assert_array_equal(_logical(doc, old), before)
    (helper,) = doc.created
    assert not helper.visible()
    assert doc.log == [("add", "Sharpen (Unsharp Mask)" + host_module.HELPER_SUFFIX),
                       ("merge", "Sharpen (Unsharp Mask)" + host_module.HELPER_SUFFIX)]
    # What the undo companion looks for: found while in the stack, hidden.
    assert host_module.find_helper(doc.root) is None
    doc.root.children.append(helper)
    assert host_module.find_helper(doc.root) is helper
    helper.shown = True  # a visible layer of that name is the user's
    assert host_module.find_helper(doc.root) is None


def test_host_new_layer_and_mask_outputs(host_module):
    doc = _document("U16", np.uint16)
    before = _logical(doc).copy()
    host = host_module.KritaHost(doc)
    apply_operation(host, "sharpen", {}, output="new-layer")
    assert [n.name() for n in doc.root.children] == ["Background", "Sharpen (Unsharp Mask)"]
    np.testing.assert_array_equal(_logical(doc), before)
    expected = photomend.run("sharpen", before)
    assert np.abs(_logical(doc, doc.root.children[1]).astype(int)
                  - expected.astype(int)).max() <= 2
    box = photomend.hosts.Box(2, 3, 4, 5)
    mask = np.linspace(0, 1, 20, dtype=np.float32).reshape(5, 4)
    host.write_mask(box, mask, "Detect")
    layer = doc.root.children[1]
    assert layer.name() == "Detect"
    alpha = _logical(doc, layer)[..., -1] / 65535
    np.testing.assert_allclose(alpha[3:8, 2:6], mask, atol=1e-4)
    assert alpha.sum() == pytest.approx(mask.sum(), abs=1e-3)


def test_host_gray_document(host_module):
    doc = _document("F32", np.float32, model="GRAYA")
    before = _logical(doc).copy()
    apply_operation(host_module.KritaHost(doc), "sharpen", {"radius": 1.0})
    expected = photomend.run("sharpen", before, radius=1.0)
    assert np.abs(_logical(doc) - expected).max() <= 1e-4


def test_host_refusals(host_module):
    doc = _document("U8", np.uint8)
    doc.layer.locked_ = True
    with pytest.raises(ImageError, match="is locked"):
        host_module.KritaHost(doc)
    doc.layer.locked_ = False
    doc.layer._name = "Sharpen" + host_module.HELPER_SUFFIX
    doc.layer.shown = False
    with pytest.raises(ImageError, match="press Undo once more"):
        host_module.KritaHost(doc)
    doc = _document("U8", np.uint8)
    doc.layer.children.append(FakeNode(doc, "mask", "filtermask"))
    host = host_module.KritaHost(doc)
    with pytest.raises(ImageError, match=r"filter masks.*New layer"):
        apply_operation(host, "sharpen")
    assert [n.name() for n in doc.root.children] == ["Background"]
    assert doc.log == []  # nothing added, nothing merged
    damage = [s.id for s in photomend.operations() if s.mask_role == "damage"]
    if damage:
        with pytest.raises(MaskError, match="select the damage"):
            apply_operation(host, damage[0])

