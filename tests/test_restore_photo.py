"""restore-photo: the one-click recipe of the other operations."""

import json

import numpy as np
import pytest

import photomend
from photomend import quality, synth
from photomend.cli import main

OFF = {"defects": False, "color": False, "denoise": False, "deblur": False, "sharpen": False}


@pytest.fixture(scope="module")
def old():
    clean = synth.synthetic_scene((160, 160, 3), seed=5)
    aged = synth.old_photo(clean, 11, "medium")
    # plus scanner noise, so that every step has work to do
    aged.image = synth.gaussian_noise(aged.image, 12, sigma=6.0, clip=True).image
    return clean, aged


def test_every_step_off_changes_nothing(old):
    clean, _ = old
    np.testing.assert_array_equal(photomend.run("restore-photo", clean, **OFF), clean)


def test_restores_an_aged_photo_and_reports_what_it_did(old):
    clean, deg = old
    aged = np.clip(deg.image, 0, 1).astype(np.float32)
    report = {}
    out = photomend.run("restore-photo", aged, report=report)
    assert quality.psnr(clean, out) > quality.psnr(clean, aged) + 0.5
    assert report["noise_sigma"] > 1.0
    ran = [s["op"] for s in report["steps"]]
    assert ran[:2] == ["remove-defects", "restore-color"] and "denoise" in ran
    assert ran[-1] == "sharpen"
    denoise = next(s for s in report["steps"] if s["op"] == "denoise")
    assert denoise["params"]["sigma"] == pytest.approx(report["noise_sigma"])


@pytest.mark.parametrize(("method", "fill", "denoiser"), [
    ("fast", "diffusion", "fast"), ("quality", "auto", "quality")])
def test_the_method_picks_the_fill_and_the_denoiser(old, method, fill, denoiser):
    clean, deg = old
    aged = np.clip(deg.image, 0, 1).astype(np.float32)
    report = {}
    out = photomend.run("restore-photo", aged, method=method, report=report)
    params = {s["op"]: s["params"] for s in report["steps"]}
    assert params["remove-defects"]["method"] == fill
    assert params["denoise"]["method"] == denoiser
    assert quality.psnr(clean, out) > quality.psnr(clean, aged) + 0.5


def test_fast_is_the_default_and_its_tiles_read_less_context():
    spec = photomend.registry.get("restore-photo")
    assert spec.defaults()["method"] == "fast"
    remove = photomend.registry.get("remove-defects")
    thin = remove.halo(remove.bind({"method": "diffusion"}))
    assert thin < remove.halo(remove.bind({"method": "auto"})) - 50


def test_a_blurred_photo_is_deblurred_with_the_strength_given():
    clean = synth.synthetic_scene((128, 128, 3), seed=8)
    blurred = np.clip(photomend.psf.blur(clean, photomend.psf.gaussian(2.0)), 0, 1)
    steps = {}
    for strength in (0.2, 0.8):
        report = {}
        photomend.run("restore-photo", blurred.astype(np.float32), defects=False, color=False,
                      denoise=False, sharpen=False, deblur_strength=strength, report=report)
        steps[strength] = {s["op"]: s["params"] for s in report["steps"]}
    assert steps[0.2]["deblur"]["strength"] == 0.2 and steps[0.8]["deblur"]["strength"] == 0.8


def test_the_blur_is_estimated_on_the_centre_of_a_large_scan(monkeypatch):
    from photomend.ops import deblur, restore_photo

    seen = []
    real = deblur.estimate_psf

    def spy(image, *args, **kwargs):
        seen.append(image.shape[:2])
        return real(image, *args, **kwargs)

    monkeypatch.setattr(deblur, "estimate_psf", spy)
    img = synth.synthetic_scene((40, restore_photo.BLUR_SAMPLE + 300, 3), seed=2)
    photomend.run("restore-photo", img, defects=False, color=False, denoise=False)
    assert seen == [(40, restore_photo.BLUR_SAMPLE)]


def test_clean_scan_is_not_denoised(old):
    clean, _ = old
    report = {}
    photomend.run("restore-photo", clean, report=report, defects=False, color=False)
    assert report["noise_sigma"] < 1.0
    assert "denoise" not in [s["op"] for s in report["steps"]]


def test_selection_limits_every_step(old):
    _, deg = old
    aged = np.clip(deg.image, 0, 1).astype(np.float32)
    sel = np.zeros(aged.shape[:2], np.float32)
    sel[40:100, 30:90] = 1
    out = photomend.run("restore-photo", aged, mask=sel, deblur=False)
    np.testing.assert_array_equal(out[sel == 0], aged[sel == 0])


def test_cli_report_and_recipe_round_trip(tmp_path, old):
    from photomend import save

    _, deg = old
    src = tmp_path / "scan.tif"
    pixels = (np.clip(deg.image, 0, 1) * 65535).round().astype(np.uint16)
    save(photomend.Image.from_array(pixels), src)
    out1, out2, recipe = tmp_path / "a.tif", tmp_path / "b.tif", tmp_path / "r.json"
    assert main(["run", "restore-photo", str(src), "-o", str(out1), "--deblur",
                 "--report", str(tmp_path / "rep"), "--save-recipe", str(recipe)]) == 0
    payload = json.loads((tmp_path / "rep" / "scan-report.json").read_text())
    step = payload["steps"][0]
    assert step["op"] == "restore-photo" and step["noise_sigma"] > 0
    # The recipe holds the steps as they ran, with the estimates fixed.
    saved = json.loads(recipe.read_text())["steps"]
    assert [s["op"] for s in saved] == [s["op"] for s in step["steps"]]
    assert "restore-photo" not in [s["op"] for s in saved]
    ran = {s["op"]: s["params"] for s in saved}
    if "denoise" in ran:
        assert ran["denoise"]["sigma"] == pytest.approx(step["noise_sigma"])
    assert main(["run", "--recipe", str(recipe), str(src), "-o", str(out2)]) == 0
    a, b = photomend.load(out1), photomend.load(out2)
    assert a.dtype == np.uint16
    np.testing.assert_array_equal(a.to_array(), b.to_array())


@pytest.mark.parametrize(("psf", "expected"), [
    (photomend.psf.gaussian(1.3), 1.3),
    (photomend.psf.disk(6.0, softness=0.0), 3.0),
    (photomend.psf.motion(12.0, 30.0), 12.0 / np.sqrt(24.0)),
])
def test_blur_spread_is_the_sigma_of_an_equally_spread_gaussian(psf, expected):
    from photomend.ops.restore_photo import blur_spread

    assert blur_spread(psf) == pytest.approx(expected, rel=0.06)


def test_a_sharp_photo_is_not_sharpened_a_soft_one_is(old):
    from photomend.ops.restore_photo import SHARPEN_SPREAD

    clean, _ = old
    only_sharpen = {**OFF, "sharpen": True}
    report = {}
    out = photomend.run("restore-photo", clean, report=report, **only_sharpen)
    assert report["blur_spread"] < SHARPEN_SPREAD[0]
    assert "sharpen" not in [s["op"] for s in report["steps"]]
    np.testing.assert_array_equal(out, clean)

    soft = photomend.psf.blur(clean, photomend.psf.gaussian(1.5))
    report = {}
    out = photomend.run("restore-photo", soft, report=report, **only_sharpen)
    assert report["blur_spread"] > SHARPEN_SPREAD[1]
    step = next(s for s in report["steps"] if s["op"] == "sharpen")
    assert step["params"]["amount"] == pytest.approx(0.25)
    assert quality.psnr(clean, out) > quality.psnr(clean, soft)


def test_tiny_images_skip_the_blur_estimate():
    tiny = synth.synthetic_scene((12, 14, 3), seed=2)
    report = {}
    out = photomend.run("restore-photo", tiny, report=report, defects=False, color=False)
    assert out.shape == tiny.shape
    assert report["blur"] is None and report["blur_spread"] == 0.0
    assert not {"deblur", "sharpen"} & {s["op"] for s in report["steps"]}


@pytest.mark.parametrize("shape", [(1, 40), (4, 4), (40, 1)])
def test_tiny_areas_are_restored_without_the_colour_estimate(shape):
    """Too small to estimate fading (or blur) from: those steps are left out, not failed."""
    rng = np.random.default_rng(6)
    image = (0.2 + 0.6 * rng.random((*shape, 3))).astype(np.float32)
    report: dict = {}
    out = photomend.run("restore-photo", image, report=report)
    assert out.shape == image.shape and np.isfinite(out).all()
    assert "restore-color" not in [s["op"] for s in report["steps"]]
    big = (0.2 + 0.6 * rng.random((16, 16, 3))).astype(np.float32)
    big_report: dict = {}
    photomend.run("restore-photo", big, report=big_report)
    assert "restore-color" in [s["op"] for s in big_report["steps"]]


def test_report_names_the_fading_and_cast_it_corrected():
    """The estimates of the colour step (veil, dye loss, stain) are reported and summarised."""
    from photomend.ops._color_fade import FadeModel, estimate_fade
    from photomend.ops.color import fade_curves
    from photomend.ops.restore_photo import _fade, _summary

    base = synth.synthetic_scene((120, 160, 3), seed=3)
    faded = synth.fade(base, 1)
    report: dict = {}
    photomend.run("restore-photo", faded.image, report=report, defects=False, denoise=False,
                  deblur=False, sharpen=False)
    model = estimate_fade(faded.image)
    fade = report["fade"]
    assert fade == _fade(model)
    assert list(fade["dye_retention"].values()) == pytest.approx(list(model.retention))
    assert fade["dye_retention"]["cyan"] < 0.9  # this print lost much of its cyan dye
    cyan = round(100 * model.retention[0])
    assert f"black {model.black_in:.2f}, dyes cyan {cyan} % magenta " in report["summary"]
    (step,) = report["steps"]
    np.testing.assert_allclose(step["params"]["curves"], fade_curves(faded.image), atol=1e-6)

    stained = FadeModel(0.1, 0.1, 1.0, np.ones(3), np.array([0.0, 0.02, 0.16]))
    assert _summary({"noise_sigma": 1.0, "fade": _fade(stained)}) == (
        "noise σ 1.0, stain yellow 0.16 magenta 0.02")
    clean_report: dict = {}
    photomend.run("restore-photo", base, report=clean_report, defects=False, denoise=False,
                  deblur=False, sharpen=False, color=False)
    assert clean_report["fade"] is None and "dyes" not in clean_report["summary"]


def test_a_feathered_selection_blends_the_restoration_once():
    """Partly selected pixels get that share of the full restoration (not its square)."""
    base = synth.synthetic_scene((96, 120, 3), seed=4)
    aged = synth.fade(base, 2).image
    full = np.zeros((96, 120), np.float32)
    full[20:80, 30:100] = 1.0
    feathered = full.copy()
    feathered[20:80, 30:45] = 0.5
    whole = photomend.run("restore-photo", aged, full, defects=False)
    part = photomend.run("restore-photo", aged, feathered, defects=False)
    expected = aged + feathered[..., None] * (whole - aged)
    np.testing.assert_allclose(part, expected, atol=2e-6)
    assert np.abs(part - aged)[20:80, 30:45].max() > 0.02
