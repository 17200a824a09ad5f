"""Tests of the photomend command line (photomend.cli)."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import shutil
import subprocess
import sys
import types
from pathlib import Path
from typing import Annotated

import numpy as np
import pytest
import tifffile
from PIL import Image as PILImage
from PIL import ImageCms
from scipy import ndimage

import photomend
from photomend import cli
from photomend.cli import main
from photomend.registry import Param


# -- helpers ---------------------------------------------------------------------------
def _png8(path: Path, rng: np.random.Generator, size=(40, 48)) -> Path:
    PILImage.fromarray((rng.random((*size, 3)) * 255).astype(np.uint8)).save(path)
    return path


def _srgb_icc() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _tiff16(path: Path, rng: np.random.Generator, icc: bytes) -> Path:
    data = (rng.random((36, 44, 3)) * 65535).astype(np.uint16)
    tifffile.imwrite(path, data, photometric="rgb", iccprofile=icc)
    return path


def _read(path: Path) -> np.ndarray:
    return photomend.load(path).to_array()


@pytest.fixture
def scans(tmp_path, rng):
    folder = tmp_path / "in"
    folder.mkdir()
    return [_png8(folder / f"scan{i}.png", rng) for i in range(1, 4)]


def _err(capsys) -> str:
    return capsys.readouterr().err


# -- ops -------------------------------------------------------------------------------
def test_ops_lists_sharpen_and_its_parameters(capsys):
    assert main(["ops"]) == 0
    out = capsys.readouterr().out
    assert "sharpen — Sharpen detail with an unsharp mask." in out
    assert "--radius PX" in out and "float, default 2 px, 0.1 to 100 px" in out
    assert "--channels {luminance,rgb}" in out and "one of 'luminance', 'rgb'" in out
    assert "Size of the details to bring out" in out


def test_ops_json_is_machine_readable(capsys):
    assert main(["ops", "--json"]) == 0
    ops = {o["id"]: o for o in json.loads(capsys.readouterr().out)}
    radius = {p["name"]: p for p in ops["sharpen"]["params"]}["radius"]
    assert radius == {**radius, "flag": "--radius", "kind": "float", "default": 2.0,
                      "min": 0.1, "max": 100.0, "unit": "px"}
    assert {p["name"]: p for p in ops["sharpen"]["params"]}["channels"]["choices"] == [
        "luminance", "rgb"]


def test_run_op_help_shows_flags_ranges_and_defaults(capsys):
    assert main(["run", "sharpen", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "usage: photomend run sharpen" in out
    assert "--radius PX" in out and "[0.1 to 100 px; default: 2 px]" in out
    assert "--channels {luminance,rgb}" in out and "--save-recipe FILE" in out


def test_run_help_lists_operations(capsys):
    assert main(["run", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--recipe FILE" in out and "sharpen" in out


def test_bool_params_get_flag_and_no_flag(scratch_registry):
    @scratch_registry.operation("flag-test", label="_Flag", menu="Test")
    def flag_test(image: np.ndarray, *, keep_tone: Annotated[bool, Param(
            "Keep the tone.")] = True, output: Annotated[float, Param(
            "Clashes with -o.", min=0, max=1)] = 0.5) -> np.ndarray:
        """Do nothing, with a flag."""
        return image

    help_text = cli.op_parser(scratch_registry.get("flag-test")).format_help()
    assert "--keep-tone, --no-keep-tone" in help_text
    assert "--param-output VALUE" in help_text


# -- run -------------------------------------------------------------------------------
def test_run_sharpen_8bit_png(tmp_path, rng):
    src = _png8(tmp_path / "a.png", rng)
    before = src.read_bytes()
    out = tmp_path / "out.png"
    assert main(["run", "sharpen", str(src), "-o", str(out), "--radius", "1.5",
                 "--amount", "1"]) == 0
    assert src.read_bytes() == before
    result = _read(out)
    expected = photomend.run("sharpen", _read(src), radius=1.5, amount=1.0)
    assert result.dtype == np.uint8
    np.testing.assert_array_equal(result, expected)


def test_run_16bit_tiff_keeps_depth_and_icc(tmp_path, rng):
    icc = _srgb_icc()
    src = _tiff16(tmp_path / "scan.tif", rng, icc)
    out = tmp_path / "out.tif"
    assert main(["run", "sharpen", str(src), "-o", str(out)]) == 0
    with tifffile.TiffFile(out) as tif:
        page = tif.pages[0]
        assert page.dtype == np.uint16 and page.shape == (36, 44, 3)
        assert page.tags["InterColorProfile"].value == icc
        data = page.asarray()
    expected = photomend.run("sharpen", tifffile.imread(src))
    np.testing.assert_array_equal(data, expected)
    assert len(np.unique(data)) > 256  # really 16-bit values, not 8-bit scaled up


def test_depth_option_changes_bit_depth(tmp_path, rng):
    src = _tiff16(tmp_path / "scan.tif", rng, _srgb_icc())
    out = tmp_path / "out8.tif"
    assert main(["run", "sharpen", str(src), "-o", str(out), "--depth", "8"]) == 0
    assert tifffile.imread(out).dtype == np.uint8


def test_mask_limits_changes(tmp_path, rng):
    src = _png8(tmp_path / "a.png", rng)
    mask = np.zeros((40, 48), dtype=np.uint8)
    mask[:, :20] = 255
    PILImage.fromarray(mask).save(tmp_path / "mask.png")
    out = tmp_path / "out.png"
    assert main(["run", "sharpen", str(src), "-o", str(out), "--mask",
                 str(tmp_path / "mask.png"), "--amount", "2"]) == 0
    before, after = _read(src), _read(out)
    np.testing.assert_array_equal(after[:, 20:], before[:, 20:])
    assert not np.array_equal(after[:, :20], before[:, :20])


def test_mask_of_wrong_size_is_reported(tmp_path, rng, capsys):
    src = _png8(tmp_path / "a.png", rng)
    PILImage.fromarray(np.zeros((5, 5), dtype=np.uint8) + 255).save(tmp_path / "m.png")
    assert main(["run", "sharpen", str(src), "-o", str(tmp_path / "o.png"),
                 "--mask", str(tmp_path / "m.png")]) == 1
    assert "the mask m.png has shape (5, 5), but the image is 40×48" in _err(capsys)


def test_folder_output_in_parallel(tmp_path, scans):
    out = tmp_path / "out"
    assert main(["run", "sharpen", *map(str, scans), "-o", str(out), "--jobs", "2"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["scan1.png", "scan2.png", "scan3.png"]
    for src in scans:
        np.testing.assert_array_equal(_read(out / src.name), photomend.run("sharpen", _read(src)))


def test_restore_photo_batch_over_mixed_files(tmp_path, capsys):
    """8/16-bit TIFF, PNG and JPEG, colour and gray, and one broken file, in parallel."""
    import hashlib

    from photomend import synth

    folder = tmp_path / "scans"
    folder.mkdir()
    aged = np.clip(synth.old_photo(synth.synthetic_scene((96, 112, 3), seed=4), 9,
                                   "medium").image, 0, 1)
    files = {"a16.tif": np.dtype(np.uint16), "b8.png": np.dtype(np.uint8),
             "c8.jpg": np.dtype(np.uint8), "d16.png": np.dtype(np.uint16)}
    for name, dtype in files.items():
        levels = np.iinfo(dtype).max
        pixels = (aged * levels).round().astype(dtype)
        photomend.save(dataclasses.replace(photomend.Image.from_array(pixels), dpi=(300.0, 300.0)),
                       folder / name)
    gray = (aged.mean(axis=-1) * 65535).round().astype(np.uint16)
    photomend.save(dataclasses.replace(photomend.Image.from_array(gray), dpi=(300.0, 300.0)),
                   folder / "e16-gray.tif")
    files["e16-gray.tif"] = np.dtype(np.uint16)
    (folder / "f-broken.tif").write_bytes(b"II*\x00 truncated")
    digest = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}
    out = tmp_path / "out"
    code = main(["run", "restore-photo", *sorted(map(str, folder.iterdir())), "-o", str(out),
                 "--jobs", "2"])
    err = _err(capsys)
    assert code == 1 and "f-broken.tif" in err and "1 of 6 file(s) failed" in err
    assert sorted(p.name for p in out.iterdir()) == sorted(files)
    for name, dtype in files.items():
        src, res = photomend.load(folder / name), photomend.load(out / name)
        assert res.dtype == dtype and res.to_array().shape == src.to_array().shape
        assert res.dpi == pytest.approx((300.0, 300.0))
        assert not np.array_equal(res.to_array(), src.to_array())  # it was restored
    assert digest == {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
                      for p in folder.iterdir()}  # inputs untouched


def test_trailing_slash_makes_a_folder_for_one_input(tmp_path, rng):
    src = _png8(tmp_path / "a.png", rng)
    assert main(["run", "sharpen", str(src), "-o", f"{tmp_path / 'new' / 'dir'}/"]) == 0
    assert (tmp_path / "new" / "dir" / "a.png").is_file()


def test_several_inputs_need_a_folder(tmp_path, scans, capsys):
    not_a_folder = _png8(tmp_path / "x.png", np.random.default_rng(1))
    assert main(["run", "sharpen", *map(str, scans), "-o", str(not_a_folder)]) == 2
    assert "is a file, but several inputs need an output folder" in _err(capsys)


def test_bad_input_among_good_ones(tmp_path, scans, capsys):
    bad = scans[0].parent / "scan9.png"
    bad.write_bytes(b"not an image at all")
    out = tmp_path / "out"
    code = main(["run", "sharpen", str(scans[0]), str(bad), str(scans[1]), "-o", str(out)])
    err = _err(capsys)
    assert code == 1
    assert f"photomend: {bad}: cannot read" in err and "1 of 3 file(s) failed" in err
    assert "Traceback" not in err
    assert sorted(p.name for p in out.iterdir()) == ["scan1.png", "scan2.png"]


def test_bad_input_in_parallel_batch(tmp_path, scans, capsys):
    missing = scans[0].parent / "scan3-missing.png"
    out = tmp_path / "out"
    code = main(["run", "sharpen", *map(str, scans), str(missing), "-o", str(out), "-j", "2"])
    assert code == 1
    assert f"photomend: {missing}: cannot read" in _err(capsys)
    assert len(list(out.iterdir())) == 3


def test_refuses_to_overwrite(tmp_path, rng, capsys):
    src = _png8(tmp_path / "a.png", rng)
    out = _png8(tmp_path / "out.png", rng)
    before = out.read_bytes()
    assert main(["run", "sharpen", str(src), "-o", str(out)]) == 1
    assert f"{out} already exists; use --overwrite" in _err(capsys)
    assert out.read_bytes() == before
    assert main(["run", "sharpen", str(src), "-o", str(out), "--overwrite"]) == 0
    assert out.read_bytes() != before


def test_never_writes_over_an_input(tmp_path, rng, capsys):
    src = _png8(tmp_path / "a.png", rng)
    before = src.read_bytes()
    assert main(["run", "sharpen", str(src), "-o", str(tmp_path)]) == 1
    assert "is one of the inputs" in _err(capsys)
    assert src.read_bytes() == before


def test_overwrite_never_replaces_an_input(tmp_path, rng, capsys):
    # --overwrite once wrote a detection mask over the photo it came from.
    a, b = _png8(tmp_path / "a.png", rng), _png8(tmp_path / "b.png", rng)
    mask = _png8(tmp_path / "m.png", rng)
    originals = {p: p.read_bytes() for p in (a, b, mask)}
    runs = [["run", "detect-defects", str(a), "-o", str(a)],
            ["run", "detect-defects", str(a), str(b), "-o", str(tmp_path)],
            ["run", "sharpen", str(a), "-o", str(mask), "--mask", str(mask)],
            ["run", "sharpen", str(a), "-o", str(tmp_path / "c.png"),
             "--save-recipe", str(a)],
            ["run", "sharpen", str(a), "-o", str(tmp_path / "c.png"), "--mask", str(mask),
             "--save-recipe", str(mask)],
            ["run", "remove-defects", str(a), "--infrared", str(b), "-o", str(b)]]
    for args in runs:
        assert main([*args, "--overwrite"]) in (1, 2), args
        assert "is one of the inputs; photomend never writes over an original" in _err(capsys)
    assert {p: p.read_bytes() for p in originals} == originals
    assert not (tmp_path / "c.png").exists()


def test_report_problems_are_found_before_anything_is_written(tmp_path, rng, capsys):
    src = _png8(tmp_path / "a.png", rng)
    out = tmp_path / "out.png"
    assert main(["run", "sharpen", str(src), "-o", str(out), "--report", str(src)]) == 2
    assert f"--report takes a folder, but {src} is a file" in _err(capsys)
    (tmp_path / "rep").mkdir()
    (tmp_path / "rep" / "a-report.json").write_text("{}")
    assert main(["run", "sharpen", str(src), "-o", str(out), "--report",
                 str(tmp_path / "rep")]) == 1
    assert "a-report.json already exists; use --overwrite" in _err(capsys)
    assert not out.exists()
    assert main(["run", "sharpen", str(src), "-o", str(out), "--report",
                 str(tmp_path / "rep"), "--overwrite"]) == 0
    assert json.loads((tmp_path / "rep" / "a-report.json").read_text())["steps"]


def test_a_psf_given_as_numbers(tmp_path, rng, capsys):
    # A comma list made a 1-D array, which no PSF can be.
    src = _png8(tmp_path / "a.png", rng)
    kernel = np.array([[0, 1, 0], [1, 4, 1], [0, 1, 0]], np.float32)
    expected = photomend.run("deblur", _read(src), psf=kernel, method="wiener")
    for i, text in enumerate(["0,1,0,1,4,1,0,1,0", "0 1 0; 1 4 1; 0 1 0"]):
        out = tmp_path / f"o{i}.png"
        assert main(["run", "deblur", str(src), "-o", str(out), "--psf", text,
                     "--method", "wiener"]) == 0
        np.testing.assert_array_equal(_read(out), expected)
    assert main(["run", "deblur", str(src), "-o", str(tmp_path / "x.png"), "--psf",
                 "1,2;3"]) == 2
    assert "rows separated by ';'" in _err(capsys)


def test_two_inputs_with_one_name_do_not_clash(tmp_path, rng, capsys):
    (tmp_path / "x").mkdir()
    (tmp_path / "y").mkdir()
    a, b = _png8(tmp_path / "x" / "s.png", rng), _png8(tmp_path / "y" / "s.png", rng)
    assert main(["run", "sharpen", str(a), str(b), "-o", str(tmp_path / "out")]) == 1
    assert f"photomend: {b}: " in _err(capsys)
    np.testing.assert_array_equal(_read(tmp_path / "out" / "s.png"),
                                  photomend.run("sharpen", _read(a)))


def test_bad_parameter_exits_2_naming_it(tmp_path, rng, capsys):
    src = _png8(tmp_path / "a.png", rng)
    code = main(["run", "sharpen", str(src), "-o", str(tmp_path / "o.png"), "--radius", "500"])
    err = _err(capsys)
    assert code == 2
    assert err == "photomend: error: sharpen: radius must be 0.1 to 100 px, got 500 px\n"
    assert not (tmp_path / "o.png").exists()


@pytest.mark.parametrize(("args", "message"), [
    (["run", "blur", "a.png", "-o", "o.png"], "unknown operation 'blur'; available:"),
    (["run", "sharpen", "a.png", "-o", "o.png", "--channels", "cmyk"],
     "channels must be one of 'luminance', 'rgb', got 'cmyk'"),
    (["run", "sharpen", "a.png", "-o", "o.png", "--amount", "lots"],
     "amount must be a number (0 to 5), got 'lots'"),
    (["run", "sharpen", "a.png"], "give the output with -o OUT"),
    (["run", "a.json", "a.png", "-o", "o.png"], "use: photomend run --recipe a.json"),
    (["run", "-o", "o.png", "a.png"], "name an operation"),
    (["run", "sharpen", "a.png", "-o", "o.png", "--output-mask", "m.png"],
     "--output-mask needs a detection operation"),
])
def test_usage_errors_are_one_line(tmp_path, monkeypatch, capsys, args, message):
    monkeypatch.chdir(tmp_path)
    assert main(args) == 2
    err = _err(capsys)
    assert message in err and err.count("\n") == 1 and err.startswith("photomend: error: ")


def test_argparse_errors_exit_2(capsys):
    assert main(["run", "sharpen", "a.png", "--radius"]) == 2
    assert "expected one argument" in _err(capsys)


# -- recipes ---------------------------------------------------------------------------
def test_saved_recipe_replays_to_identical_pixels(tmp_path, rng):
    src = _tiff16(tmp_path / "a.tif", rng, _srgb_icc())
    recipe = tmp_path / "steps.json"
    assert main(["run", "sharpen", str(src), "-o", str(tmp_path / "first.tif"),
                 "--radius", "0.7", "--threshold", "0.01", "--save-recipe", str(recipe)]) == 0
    saved = json.loads(recipe.read_text(encoding="utf-8"))
    assert saved["steps"] == [{"op": "sharpen", "params": {
        "radius": 0.7, "amount": 0.5, "threshold": 0.01, "channels": "luminance"}}]
    assert main(["run", "--recipe", str(recipe), str(src), "-o",
                 str(tmp_path / "again.tif")]) == 0
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "first.tif"),
                                  tifffile.imread(tmp_path / "again.tif"))


def test_recipe_chain_replay_and_resave(tmp_path, rng):
    src = _png8(tmp_path / "a.png", rng)
    chain = tmp_path / "chain.json"
    chain.write_text(json.dumps({"format": "photomend-recipe", "version": 1, "steps": [
        {"op": "sharpen", "params": {"radius": 1}},
        {"op": "sharpen", "params": {"radius": 3, "amount": 0.2}}]}), encoding="utf-8")
    resaved = tmp_path / "resaved.json"
    assert main(["run", "--recipe", str(chain), str(src), "-o", str(tmp_path / "o.png"),
                 "--save-recipe", str(resaved)]) == 0
    expected = photomend.run("sharpen", photomend.run("sharpen", photomend.load(src),
                                                      radius=1.0), radius=3.0, amount=0.2)
    np.testing.assert_array_equal(_read(tmp_path / "o.png"), expected.to_array())
    steps = json.loads(resaved.read_text(encoding="utf-8"))["steps"]
    assert steps[1]["params"] == {"radius": 3.0, "amount": 0.2, "threshold": 0.0,
                                  "channels": "luminance"}


@pytest.mark.parametrize(("step", "message"), [
    ({"op": "dehaze-everything"}, "step 2 (dehaze-everything): unknown operation"),
    ({"op": "sharpen", "params": {"radius": 0}},
     "step 2 (sharpen): radius must be 0.1 to 100 px, got 0 px"),
])
def test_bad_recipe_names_the_step(tmp_path, rng, capsys, step, message):
    src = _png8(tmp_path / "a.png", rng)
    recipe = tmp_path / "r.json"
    recipe.write_text(json.dumps({"format": "photomend-recipe", "version": 1,
                                  "steps": [{"op": "sharpen"}, step]}), encoding="utf-8")
    assert main(["run", "--recipe", str(recipe), str(src), "-o", str(tmp_path / "o.png")]) == 2
    err = _err(capsys)
    assert err.startswith(f"photomend: error: r.json: {message}")
    assert not (tmp_path / "o.png").exists()


# -- detection and repair operations ---------------------------------------------------
@pytest.fixture
def detect_and_fill(scratch_registry):
    @scratch_registry.operation("detect-bright", label="_Detect Bright", menu="Test",
                                output="mask")
    def detect_bright(image: np.ndarray) -> np.ndarray:
        """Mark bright pixels as damage."""
        return (image.max(axis=-1) > 0.9).astype(np.float32)

    @scratch_registry.operation("fill-test", label="_Fill", menu="Test", mask_role="damage")
    def fill_test(image: np.ndarray) -> np.ndarray:
        """Fill the damage with black."""
        return np.zeros_like(image)

    return scratch_registry


def _bright_dot(path: Path) -> Path:
    pixels = np.full((16, 16, 3), 100, dtype=np.uint8)
    pixels[4, 5] = 255
    PILImage.fromarray(pixels).save(path)
    return path


def test_detection_writes_a_16bit_gray_mask(tmp_path, detect_and_fill):
    src = _bright_dot(tmp_path / "a.png")
    assert main(["run", "detect-bright", str(src), "-o", str(tmp_path / "m.png")]) == 0
    mask = _read(tmp_path / "m.png")
    assert mask.dtype == np.uint16 and mask.shape == (16, 16, 1)
    assert mask[4, 5, 0] == 65535 and mask.sum() == 65535


def test_detection_to_output_mask_folder(tmp_path, detect_and_fill):
    srcs = [_bright_dot(tmp_path / "a.png"), _bright_dot(tmp_path / "b.png")]
    assert main(["run", "detect-bright", *map(str, srcs), "--output-mask",
                 str(tmp_path / "masks")]) == 0
    assert sorted(p.name for p in (tmp_path / "masks").iterdir()) == ["a.png", "b.png"]


def test_recipe_detect_then_repair_writes_image_and_mask(tmp_path, detect_and_fill):
    src = _bright_dot(tmp_path / "a.png")
    recipe = tmp_path / "r.json"
    recipe.write_text(json.dumps({"format": "photomend-recipe", "version": 1, "steps": [
        {"op": "detect-bright"}, {"op": "fill-test"}]}), encoding="utf-8")
    assert main(["run", "--recipe", str(recipe), str(src), "-o", str(tmp_path / "o.png"),
                 "--output-mask", str(tmp_path / "m.tif")]) == 0
    out = _read(tmp_path / "o.png")
    assert out[4, 5].tolist() == [0, 0, 0] and out[0, 0].tolist() == [100, 100, 100]
    assert tifffile.imread(tmp_path / "m.tif").dtype == np.uint16


def test_repair_without_mask_is_a_clear_error(tmp_path, detect_and_fill, capsys):
    src = _bright_dot(tmp_path / "a.png")
    assert main(["run", "fill-test", str(src), "-o", str(tmp_path / "o.png")]) == 2
    err = _err(capsys)
    assert err.startswith("photomend: error: fill-test repairs marked damage and needs a mask")
    assert "--mask FILE" in err


# -- cancelling ------------------------------------------------------------------------
@pytest.mark.parametrize("stop", [KeyboardInterrupt, photomend.Cancelled])
def test_ctrl_c_exits_130_leaving_no_file(tmp_path, rng, monkeypatch, capsys, stop):
    src = _png8(tmp_path / "a.png", rng)

    def interrupted(*args, **kwargs):
        raise stop()

    monkeypatch.setattr("photomend.recipe.apply_operation", interrupted)
    assert main(["run", "sharpen", str(src), "-o", str(tmp_path / "o.png")]) == 130
    assert "cancelled" in _err(capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]


# -- progress bar ----------------------------------------------------------------------
class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_render_bar():
    line = cli.render_bar(0.25, 30.0, "2/4 scan2.tif 50%", width=80)
    assert line == "[#####---------------]  25% ETA 1:30  2/4 scan2.tif 50%"
    assert cli.render_bar(0.0, 1.0, "x").count("-:--") == 1
    assert len(cli.render_bar(0.5, 1.0, "x" * 200, width=40)) == 39


def test_progress_bar_only_on_a_terminal(tmp_path, scans, monkeypatch):
    tty = _Tty()
    monkeypatch.setattr(sys, "stderr", tty)
    assert main(["run", "sharpen", *map(str, scans), "-o", str(tmp_path / "out")]) == 0
    drawn = tty.getvalue()
    assert "100%" in drawn and "3/3" in drawn and "ETA" in drawn
    assert drawn.endswith("\r\x1b[K")  # the bar is erased at the end


def test_quiet_when_not_a_terminal(tmp_path, scans, capsys):
    assert main(["run", "sharpen", *map(str, scans), "-o", str(tmp_path / "out")]) == 0
    assert capsys.readouterr() == ("", "")


# -- demo, install ---------------------------------------------------------------------
def test_demo_writes_result_and_comparison(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    restored, pair = out / "sample-restored.png", out / "before-after.png"
    assert str(restored) in printed and str(pair) in printed
    assert "skipping" not in printed  # every step of the default recipe ran
    assert _read(restored).shape == (512, 512, 3) and _read(restored).dtype == np.uint16
    # The comparison is of the sample and the full restore-photo recipe.
    from importlib.resources import files

    from photomend.recipe import apply_recipe, load_recipe

    data = files("photomend") / "data"
    recipe = load_recipe(data / "default-recipe.json")
    assert [step.op for step in recipe.steps] == ["restore-photo", "sharpen"]
    sample = photomend.load(data / "sample-aged.png")
    expected = apply_recipe(sample, recipe).to_array()
    assert np.abs(_read(restored).astype(np.int64) - expected.astype(np.int64)).max() <= 1
    specks = np.abs(expected.astype(np.float64) - sample.to_array()).max(axis=-1) > 0.2 * 65535
    assert specks.sum() > 500  # dust and scratches were filled
    side = _read(pair)
    assert side.dtype == np.uint8 and side.shape[0] == 512 and side.shape[1] > 1024
    assert main(["demo", "-o", str(out)]) == 2  # never overwrites without --overwrite
    assert "already exists" in capsys.readouterr().err
    assert main(["demo", "-o", str(out), "--overwrite"]) == 0


def test_demo_recipe_skips_unknown_steps(tmp_path):
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"format": "photomend-recipe", "version": 1, "steps": [
        {"op": "restore-everything"}, {"op": "sharpen", "params": {"amount": 0.3}}]}),
        encoding="utf-8")
    recipe, skipped = cli.demo_recipe(path)
    assert skipped == ["restore-everything"]
    assert recipe is not None and [s.op for s in recipe.steps] == ["sharpen"]


def test_comparison_draws_labels():
    gray = photomend.Image.from_array(np.full((64, 64), 0.5, dtype=np.float32))
    side = cli.comparison(gray, gray)
    assert side.shape == (64, 136, 3) and side.dtype == np.uint8
    label = side[:20, :60]
    assert (label == 0).any() and (label > 200).any()  # white text on a black box
    assert (side[30:, :64] == 128).all() and (side[:, 64:72] == 255).all()


def test_install_dispatches_to_host_module(monkeypatch, capsys, tmp_path):
    calls = []
    fake = types.ModuleType("photomend.hosts.install_krita")
    fake.install = lambda dest=None, uninstall=False: calls.append((dest, uninstall)) or "done"
    monkeypatch.setitem(sys.modules, "photomend.hosts.install_krita", fake)
    assert main(["install", "krita", "--dest", str(tmp_path), "--uninstall"]) == 0
    assert capsys.readouterr().out == "done\n"
    assert calls == [(tmp_path, True)]


def test_install_reports_a_missing_installer(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "photomend.hosts.install_gimp", None)  # import fails
    assert main(["install", "gimp"]) == 2
    assert "installing the GIMP plug-in is not supported" in _err(capsys)


# -- the real console script -----------------------------------------------------------
def test_console_script_end_to_end(tmp_path, rng):
    script = Path(sys.executable).with_name("photomend")
    command = [str(script)] if script.exists() else [shutil.which("photomend") or "photomend"]
    src = _png8(tmp_path / "a.png", rng)
    done = subprocess.run([*command, "run", "sharpen", str(src), "-o", str(tmp_path / "o.png"),
                           "--radius", "1"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    np.testing.assert_array_equal(_read(tmp_path / "o.png"),
                                  photomend.run("sharpen", _read(src), radius=1.0))
    bad = subprocess.run([*command, "run", "sharpen", str(src), "-o", str(tmp_path / "p.png"),
                          "--radius", "500"], capture_output=True, text=True, check=False)
    assert bad.returncode == 2
    assert bad.stderr == "photomend: error: sharpen: radius must be 0.1 to 100 px, got 500 px\n"


def test_save_recipe_refuses_an_existing_file_and_survives_a_failed_first_input(tmp_path, rng):
    good = _png8(tmp_path / "b.png", rng)
    bad = tmp_path / "a.png"
    bad.write_bytes(b"not a png")
    recipe = tmp_path / "r.json"
    recipe.write_text("{}", encoding="utf-8")
    assert main(["run", "sharpen", str(bad), str(good), "-o", str(tmp_path / "out"),
                 "--save-recipe", str(recipe)]) != 0
    assert recipe.read_text(encoding="utf-8") == "{}"  # never replaced unasked
    recipe.unlink()
    assert main(["run", "sharpen", str(bad), str(good), "-o", str(tmp_path / "out"),
                 "--radius", "2", "--save-recipe", str(recipe)]) == 1
    saved = json.loads(recipe.read_text(encoding="utf-8"))
    assert saved["steps"][0]["op"] == "sharpen"
    assert saved["steps"][0]["params"]["radius"] == 2.0


def test_save_recipe_never_takes_an_output_path(tmp_path, rng):
    src = _png8(tmp_path / "a.png", rng)
    out = tmp_path / "out.png"
    assert main(["run", "sharpen", str(src), "-o", str(out), "--save-recipe", str(out)]) == 2
    assert not out.exists()
    assert main(["run", "sharpen", str(src), "-o", str(out),
                 "--save-recipe", str(tmp_path / "nowhere" / "r.json")]) == 2
    assert not out.exists()


@pytest.mark.parametrize(("content", "message"), [
    ("utf-16", "it is UTF-16 text; recipes are JSON saved as UTF-8"),
    ("binary", "it is not a text file"),
    ("missing", "no such recipe file"),
    ("folder", "is a folder, not a recipe file"),
])
def test_unreadable_recipes_are_usage_errors(tmp_path, rng, capsys, content, message):
    src = _png8(tmp_path / "a.png", rng)
    recipe = tmp_path / "r.json"
    text = '{"photomend_recipe": 1, "steps": [{"op": "sharpen", "params": {}}]}'
    if content == "utf-16":
        recipe.write_bytes(text.encode("utf-16"))
    elif content == "binary":
        recipe.write_bytes(src.read_bytes())
    elif content == "folder":
        recipe.mkdir()
    assert main(["run", "--recipe", str(recipe), str(src), "-o", str(tmp_path / "o.png")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o.png").exists()


def test_recipes_and_reports_follow_the_umask(tmp_path, rng):
    src = _png8(tmp_path / "a.png", rng)
    old = os.umask(0o022)
    try:
        assert main(["run", "sharpen", str(src), "-o", str(tmp_path / "o.png"),
                     "--save-recipe", str(tmp_path / "r.json"),
                     "--report", str(tmp_path / "rep")]) == 0
    finally:
        os.umask(old)
    assert (tmp_path / "r.json").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "rep" / "a-report.json").stat().st_mode & 0o777 == 0o644
    assert not list(tmp_path.glob("**/*.tmp"))


@pytest.mark.parametrize(("name", "message"), [
    ("q.bmp", ".bmp is not a supported image type"),
    ("nowhere/q.tif", "its folder does not exist"),
])
def test_an_unwritable_output_is_refused_before_any_work(tmp_path, rng, capsys, monkeypatch,
                                                         name, message):
    src = _png8(tmp_path / "a.png", rng)
    ran = []
    monkeypatch.setattr(cli, "process", lambda *args, **kw: ran.append(args))
    assert main(["run", "sharpen", str(src), "-o", str(tmp_path / name)]) == 2
    assert message in capsys.readouterr().err
    assert not ran


def test_an_unusable_report_folder_is_refused_before_any_output_is_replaced(tmp_path, rng):
    src = _png8(tmp_path / "a.png", rng)
    out = tmp_path / "o.png"
    out.write_bytes(b"old result")
    blocker = tmp_path / "notes.txt"
    blocker.write_text("a file where a folder would go")
    assert main(["run", "sharpen", str(src), "-o", str(out), "--overwrite",
                 "--report", str(blocker / "reports")]) == 2
    assert out.read_bytes() == b"old result"


def test_an_input_listed_twice_is_processed_once(tmp_path, rng, capsys):
    a = _png8(tmp_path / "a.png", rng)
    b = _png8(tmp_path / "b.png", rng)
    out = tmp_path / "out"
    assert main(["run", "sharpen", str(a), str(b), str(tmp_path / "." / "a.png"),
                 "-o", str(out) + "/"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png"]
    assert "failed" not in capsys.readouterr().err


def test_a_folder_given_as_input_is_named_as_one(tmp_path, rng, capsys):
    folder = tmp_path / "scans"
    folder.mkdir()
    assert main(["run", "sharpen", str(folder), "-o", str(tmp_path / "out") + "/"]) != 0
    assert "it is a folder, not an image file" in capsys.readouterr().err


# -- RGBI scans ------------------------------------------------------------------
def _write_rgbi(path: Path) -> np.ndarray:
    rng = np.random.default_rng(5)
    rgb = (0.3 + 0.4 * rng.random((48, 56, 3))) * 65535
    ir = np.full((48, 56), 0.9 * 65535)
    dust = np.zeros((48, 56), bool)
    dust[10:13, 20:23] = True
    ir[dust] = 0.15 * 65535
    rgbi = np.dstack([rgb, ir]).round().astype(np.uint16)
    tifffile.imwrite(path, rgbi, photometric="rgb", extrasamples=[0])
    return dust


def test_rgbi_scans_are_cleaned_from_their_infrared_plane(tmp_path):
    dust = _write_rgbi(tmp_path / "scan.tif")
    assert main(["run", "remove-defects", str(tmp_path / "scan.tif"), "-o",
                 str(tmp_path / "ice.tif"), "--save-recipe", str(tmp_path / "r.json")]) == 0
    assert main(["run", "remove-defects", str(tmp_path / "scan.tif"), "-o",
                 str(tmp_path / "plain.tif"), "--no-infrared"]) == 0
    scan = tifffile.imread(tmp_path / "scan.tif")
    ice, plain = tifffile.imread(tmp_path / "ice.tif"), tifffile.imread(tmp_path / "plain.tif")
    changed = np.abs(ice[..., :3].astype(int) - scan[..., :3]).max(axis=-1) > 0
    assert changed[dust].all()
    assert not changed[ndimage.binary_dilation(dust, iterations=3) == 0].any()
    assert np.abs(plain[..., :3].astype(int) - scan[..., :3])[dust].max() == 0
    for out in (ice, plain):  # the infrared plane is kept in the output
        np.testing.assert_array_equal(out[..., 3], scan[..., 3])
    params = json.loads((tmp_path / "r.json").read_text())["steps"][0]["params"]
    assert params["infrared"] is None  # each scan of a batch uses its own plane


def test_recipes_as_run_leave_out_per_scan_planes_but_keep_kernels(tmp_path):
    from photomend.recipe import Recipe, Step, resolved_recipe

    plane = np.ones((4, 4), np.float32)
    psf = np.ones((3, 3), np.float32) / 9
    recipe = Recipe(steps=[Step("remove-defects", {}), Step("deblur", {})])
    reports = [{"params": {"sensitivity": 0.5, "damage": plane, "infrared": plane}},
               {"params": {"psf": psf, "method": "wiener"}}]
    steps = resolved_recipe(recipe, reports).steps
    assert steps[0].params == {"sensitivity": 0.5}
    assert steps[1].params["psf"] is psf


def test_no_infrared_is_kept_in_recipes_and_replayed(tmp_path):
    dust = _write_rgbi(tmp_path / "scan.tif")
    assert main(["run", "remove-defects", str(tmp_path / "scan.tif"), "-o",
                 str(tmp_path / "a.tif"), "--no-infrared",
                 "--save-recipe", str(tmp_path / "r.json")]) == 0
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["infrared"] == "ignore"
    assert main(["run", "--recipe", str(tmp_path / "r.json"), str(tmp_path / "scan.tif"),
                 "-o", str(tmp_path / "b.tif")]) == 0
    scan = tifffile.imread(tmp_path / "scan.tif")
    replayed = tifffile.imread(tmp_path / "b.tif")
    assert np.abs(replayed[..., :3].astype(int) - scan[..., :3])[dust].max() == 0
    np.testing.assert_array_equal(replayed[..., 3], scan[..., 3])
    # with a damage mask the infrared plane is not used (nor refused as "both")
    damage = np.zeros((48, 56), np.uint8)
    damage[30:33, 5:25] = 255
    PILImage.fromarray(damage).save(tmp_path / "damage.png")
    assert main(["run", "remove-defects", str(tmp_path / "scan.tif"), "-o",
                 str(tmp_path / "c.tif"), "--damage", str(tmp_path / "damage.png")]) == 0
    filled = tifffile.imread(tmp_path / "c.tif")
    changed = np.abs(filled[..., :3].astype(int) - scan[..., :3]).max(axis=-1) > 0
    assert changed[damage > 0].any() and not changed[dust].any()
    data["infrared"] = "maybe"
    (tmp_path / "bad.json").write_text(json.dumps(data))
    assert main(["run", "--recipe", str(tmp_path / "bad.json"), str(tmp_path / "scan.tif"),
                 "-o", str(tmp_path / "d.tif")]) != 0


def test_restore_photo_reports_of_rgbi_scans_hold_no_infrared_plane(tmp_path):
    _write_rgbi(tmp_path / "scan.tif")
    assert main(["run", "restore-photo", str(tmp_path / "scan.tif"), "-o",
                 str(tmp_path / "out.tif"), "--report", str(tmp_path / "rep")]) == 0
    report = json.loads((tmp_path / "rep" / "scan-report.json").read_text())
    (step,) = report["steps"]
    inner = {s["op"]: s["params"] for s in step["steps"]}
    assert "infrared" not in inner["remove-defects"] and "infrared" not in step["params"]
    assert len(list((tmp_path / "rep").glob("*.png"))) == 1  # the defects found, no plane
