"""Tests of the Color operations: restore-color, white-balance, auto-contrast."""

from __future__ import annotations

import numpy as np
import pytest

import photomend
from photomend import ImageError, ParameterError, quality, synth
from photomend.convert import linear_to_srgb, srgb_to_linear
from photomend.ops import color
from photomend.ops._color_fade import (
    FadeModel,
    density,
    dye_cues,
    estimate_fade,
    stain_cues,
    trim_frame,
)
from photomend.ops._color_tone import apply_curves, clahe_luma, weighted_percentile


def _scene(seed: int, h: int = 96, w: int = 128) -> np.ndarray:
    """A synthetic photo with a white, grey and black card, as on a real print."""
    img = synth.synthetic_scene((h, w, 3), seed).copy()
    y0, x0 = h - 20, 8
    for i, v in enumerate((0.96, 0.5, 0.02)):
        img[y0:y0 + 14, x0 + 16 * i:x0 + 16 * i + 14] = v
    return img


def _card(img: np.ndarray, i: int) -> np.ndarray:
    """Mean colour of card patch `i` (0 white, 1 grey, 2 black), inner pixels."""
    h = img.shape[0]
    y0, x0 = h - 20, 8 + 16 * i
    return img[y0 + 3:y0 + 11, x0 + 3:x0 + 11].reshape(-1, 3).mean(axis=0)


def _chroma(rgb: np.ndarray) -> float:
    """CIELAB chroma of one sRGB colour."""
    lab = quality.srgb_to_lab(np.asarray(rgb, np.float64).reshape(1, 1, 3))[0, 0]
    return float(np.hypot(lab[1], lab[2]))


SEEDS = range(6)


# --------------------------------------------------------------------------
# restore-color: known answers


def test_known_fade_model_is_undone_exactly():
    # The inverse model with the true parameters recovers the print.
    clean = _scene(1)
    deg = synth.fade(clean, 1, contrast=0.2, dye_loss=(0.4, 0.1, 0.2), yellowing=0.15,
                     black_lift=0.0)
    t = deg.color_transform
    model = FadeModel(black_in=float(t.offset[0]), black_out=0.0, gain=1.0 / float(t.gain[0]),
                      retention=t.dye_retention, stain=t.stain_density / t.dye_retention)
    out = model.apply(deg.image)
    assert quality.delta_e_mean(clean, np.clip(out, 0, 1)) < 0.05


@pytest.mark.parametrize("seed", SEEDS)
def test_cyan_dye_loss_is_undone(seed):
    clean = _scene(seed)
    faded = synth.dye_fading(clean, seed, loss=(0.55, 0.15, 0.1)).image
    out = photomend.run("restore-color", faded)
    before = quality.delta_e_mean(clean, np.clip(faded, 0, 1))
    after = quality.delta_e_mean(clean, np.clip(out, 0, 1))
    assert after < 6.0 and after < 0.45 * before  # measured: at most 4.9 and 0.34


@pytest.mark.parametrize("value", [0.0, 0.02, 1.0])
def test_a_scanner_frame_is_ignored(value):
    # A frame wider than the 3 % border cut passed for the print's own black
    # or white, and restore-color then left a faded print unchanged.
    clean = _scene(3)
    faded = synth.dye_fading(clean, 3, loss=(0.55, 0.15, 0.1)).image
    framed = np.pad(faded, ((12, 12), (16, 16), (0, 0)), constant_values=value)
    out = photomend.run("restore-color", framed)[12:-12, 16:-16]
    plain = photomend.run("restore-color", faded)
    before = quality.delta_e_mean(clean, faded)
    assert quality.delta_e_mean(clean, np.clip(out, 0, 1)) < 0.5 * before
    assert quality.delta_e_mean(plain, out) < 1.5


@pytest.mark.parametrize("seed", range(4))
def test_a_few_dust_specks_do_not_hide_the_fading(seed):
    # 25 dark 5 × 5 px specks (0.2 % of the area) pulled the cyan retention
    # of a cyan-faded print from 0.28-0.39 to 0.45-0.78 before.
    clean = _scene(seed, 480, 640)
    faded = synth.dye_fading(clean, seed, loss=(0.55, 0.15, 0.1)).image
    dusty = faded.copy()
    rng = np.random.default_rng(seed)
    for y, x in zip(rng.integers(0, 475, 25), rng.integers(0, 635, 25), strict=True):
        dusty[y:y + 5, x:x + 5] = 0.02
    plain, spotted = estimate_fade(faded).retention, estimate_fade(dusty).retention
    assert plain[0] < 0.5  # the fading is seen without specks...
    np.testing.assert_allclose(spotted, plain, atol=0.03)  # ...and with them


def test_trim_frame_cuts_frames_only():
    thumb = np.full((40, 60, 3), 0.5, np.float32)
    thumb[:4] = 0.01  # a black band on top, a white one on the left
    thumb[:, :3] = 0.97
    assert trim_frame(thumb).shape == (35, 56, 3)
    dark = np.full((40, 60, 3), 0.5, np.float32)
    dark[:15] = 0.02  # a dark sky over a third of the picture is not a frame
    assert trim_frame(dark).shape == dark.shape
    assert trim_frame(np.full((40, 60, 3), 0.01, np.float32)).shape == (40, 60, 3)


@pytest.mark.parametrize("seed", SEEDS)
def test_contrast_loss_is_undone(seed):
    clean = _scene(seed)
    faded = synth.contrast_loss(clean, seed, amount=0.35).image
    out = photomend.run("restore-color", faded)
    assert quality.delta_e_mean(clean, np.clip(out, 0, 1)) < 2.0  # measured: at most 1.3


def test_combined_fading_is_much_reduced():
    ratios = []
    for seed in SEEDS:
        clean = _scene(seed)
        faded = synth.fade(clean, seed, contrast=0.3, dye_loss=(0.5, 0.15, 0.1),
                           yellowing=0.25, black_lift=0.08).image
        out = photomend.run("restore-color", faded)
        ratios.append(quality.delta_e_mean(clean, np.clip(out, 0, 1))
                      / quality.delta_e_mean(clean, np.clip(faded, 0, 1)))
    assert np.mean(ratios) < 0.75 and max(ratios) < 0.95  # measured: 0.66 and 0.82


def test_grey_card_becomes_neutral():
    ratios = []
    for seed in SEEDS:
        clean = _scene(seed)
        faded = synth.fade(clean, seed, contrast=0.3, dye_loss=(0.5, 0.15, 0.1),
                           yellowing=0.0, black_lift=0.08).image
        out = photomend.run("restore-color", faded)
        assert _chroma(_card(faded, 1)) > 10.0
        ratios.append(_chroma(_card(out, 1)) / _chroma(_card(faded, 1)))
    assert np.mean(ratios) < 0.65 and max(ratios) < 0.8  # measured: 0.54 and 0.66


@pytest.mark.parametrize("seed", SEEDS[:3])
def test_dye_cues_shift_by_the_log_retention_ratios(seed):
    # Span, gradient norm and shadow depth scale exactly with a dye's
    # retention; the gradient ridge is a histogram mode (bins of 0.02).
    clean = _scene(seed)
    deg = synth.dye_fading(clean, seed, loss=(0.5, 0.2, 0.1))
    r = deg.color_transform.dye_retention
    expected = np.tile(np.log([r[0] / r[1], r[2] / r[1]]), 4)
    shift = dye_cues(density(deg.image)) - dye_cues(density(clean))
    exact = [0, 1, 4, 5, 6, 7]
    np.testing.assert_allclose(shift[exact], expected[exact], atol=1e-3)
    np.testing.assert_allclose(shift[2:4], expected[2:4], atol=0.2)


@pytest.mark.parametrize("seed", SEEDS[:3])
def test_stain_cues_shift_by_the_stain(seed):
    clean = _scene(seed)
    deg = synth.yellowing(clean, seed, amount=0.3)
    s = deg.color_transform.stain_density
    shift = stain_cues(density(deg.image)) - stain_cues(density(clean))
    np.testing.assert_allclose(shift, np.tile([s[0] - s[1], s[2] - s[1]], 3), atol=3e-3)


def test_yellowing_is_reduced():
    ratios = []
    for seed in SEEDS:
        clean = _scene(seed)
        faded = synth.yellowing(clean, seed, amount=0.3).image
        out = photomend.run("restore-color", faded)
        ratios.append(quality.delta_e_mean(clean, np.clip(out, 0, 1))
                      / quality.delta_e_mean(clean, faded))
    assert np.mean(ratios) < 0.9 and max(ratios) < 1.0 + 1e-6  # measured: 0.84 and 1.0


@pytest.mark.parametrize("seed", SEEDS)
def test_good_photo_is_left_alone(seed):
    clean = _scene(seed)
    out = photomend.run("restore-color", clean)
    assert quality.delta_e_mean(clean, out) < 0.25


def test_balanced_grey_ramp_is_left_alone():
    ramp = np.repeat(np.linspace(0.0, 1.0, 256, dtype=np.float32)[None, :, None], 3, axis=2)
    image = np.repeat(ramp, 32, axis=0)
    out = photomend.run("restore-color", image)
    assert np.max(np.abs(out - image)) < 1e-3


@pytest.mark.parametrize("seed", SEEDS)
def test_restoring_twice_is_like_once(seed):
    clean = _scene(seed)
    faded = synth.fade(clean, seed).image
    once = photomend.run("restore-color", faded)
    twice = photomend.run("restore-color", once)
    assert quality.delta_e_mean(once, twice) < 0.25


def test_strength_interpolates():
    clean = _scene(3)
    faded = synth.dye_fading(clean, 3, loss=(0.5, 0.1, 0.1)).image
    none = photomend.run("restore-color", faded, strength=0.0)
    half = photomend.run("restore-color", faded, strength=0.5)
    full = photomend.run("restore-color", faded, strength=1.0)
    np.testing.assert_array_equal(none, faded)
    d_half = quality.delta_e_mean(clean, np.clip(half, 0, 1))
    assert quality.delta_e_mean(clean, full) < d_half < quality.delta_e_mean(clean, faded)


def test_curves_of_one_scan_apply_to_another():
    clean = _scene(4)
    faded = synth.fade(clean, 4, contrast=0.3, dye_loss=(0.5, 0.1, 0.2), yellowing=0.1,
                       black_lift=0.05).image
    curves = color.fade_curves(faded)
    assert curves.shape == (4096, 3) and curves.dtype == np.float32
    np.testing.assert_allclose(photomend.run("restore-color", faded, curves=curves),
                               photomend.run("restore-color", faded), atol=1e-6)


def test_tiles_share_one_estimate():
    clean = synth.synthetic_scene((150, 210, 3), 5)
    faded = synth.fade(clean, 5).image
    whole = photomend.run("restore-color", faded, tile=0)
    tiled = photomend.run("restore-color", faded, tile=64)
    np.testing.assert_array_equal(whole, tiled)


def test_selection_limits_the_change_and_the_statistics():
    clean = _scene(2)
    faded = synth.dye_fading(clean, 2, loss=(0.5, 0.1, 0.1)).image
    mask = np.zeros(faded.shape[:2], np.float32)
    mask[10:60, 20:100] = 1.0
    out = photomend.run("restore-color", faded, mask=mask)
    np.testing.assert_array_equal(out[mask == 0], faded[mask == 0])
    inside = (slice(10, 60), slice(20, 100))
    assert (quality.delta_e_mean(clean[inside], np.clip(out[inside], 0, 1))
            < quality.delta_e_mean(clean[inside], faded[inside]))


@pytest.mark.parametrize("op", ["restore-color", "white-balance"])
def test_pixels_outside_the_selection_do_not_sway_the_estimate(op):
    # restore-color estimated from the selection's whole bounding box, and
    # white-balance from blocks straddling its edge: painting the unselected
    # pixels changed the result inside by up to 1.26 (0.034).
    clean = _scene(2, 240, 320)
    faded = synth.fade(clean, 2).image
    mask = np.zeros(faded.shape[:2], np.float32)
    mask[20:120, 30:170] = 1.0
    mask[140:220, 150:300] = 0.6
    results = []
    for paint in ((1.0, 0.0, 0.0), (0.0, 0.2, 1.0)):
        painted = faded.copy()
        painted[mask == 0] = paint
        results.append(photomend.run(op, painted, mask=mask))
    np.testing.assert_array_equal(results[0][mask > 0], results[1][mask > 0])


@pytest.mark.parametrize("kind", ["diagonal", "stripe", "soft"])
def test_thin_or_faint_selections_still_get_an_estimate(kind):
    # A 5 px diagonal selection gave NaN curves (the selection turned black)
    # and a uniform 0.4 selection was refused; both now fall back or work.
    clean = _scene(1, 240, 320)
    faded = synth.fade(clean, 1).image
    y, x = np.mgrid[0:240, 0:320]
    mask = {"diagonal": np.abs(y - x) <= 2, "stripe": (x >= 100) & (x < 106),
            "soft": np.full((240, 320), True)}[kind].astype(np.float32)
    if kind == "soft":
        mask *= 0.4
    # (the stripe's own box is too narrow to run on; its statistics are not)
    assert np.isfinite(color.fade_curves(faded, mask=mask)).all()
    if kind == "stripe":
        return
    report: dict = {}
    out = photomend.run("restore-color", faded, mask=mask, report=report)
    assert np.isfinite(report["params"]["curves"]).all()
    sel = mask > 0
    assert np.isfinite(out).all()
    assert (out[sel].max(axis=-1) < 0.005).mean() < 0.05  # not all black, as before
    photomend.run("restore-photo", faded, mask=mask, method="fast")  # no error


def test_gray_images_get_the_tone_correction_only():
    clean = synth.synthetic_scene((64, 80), 2)
    faded = synth.contrast_loss(clean, 2, amount=0.35).image
    out = photomend.run("restore-color", faded)
    assert out.shape == faded.shape
    assert np.mean(np.abs(out - clean)) < 0.5 * np.mean(np.abs(faded - clean))


# --------------------------------------------------------------------------
# 16-bit safety


def _ramp16(width: int = 4096) -> np.ndarray:
    """A smooth 16-bit ramp with a warm, faded look (every column distinct)."""
    x = np.linspace(0.18, 0.78, width)
    rgb = np.stack([x, 0.94 * x + 0.01, 0.8 * x + 0.02], axis=-1)
    img = np.repeat(rgb[None], 8, axis=0)
    return np.rint(img * 65535).astype(np.uint16)


@pytest.mark.parametrize(("op", "params"), [
    ("restore-color", {}),
    ("white-balance", {"point": (2000, 4)}),
    ("auto-contrast", {}),
])
def test_16bit_ramps_stay_smooth(op, params):
    img = _ramp16()
    out = photomend.run(op, img, **params)
    assert out.dtype == np.uint16
    row = out[4].astype(np.int64)
    for c in range(3):
        steps = np.diff(row[:, c])
        assert np.all(steps >= 0), f"channel {c} not monotone"
        # Each input column is a distinct level; a stretch spreads them, it
        # never merges runs of them into bands.
        distinct = len(np.unique(row[:, c]))
        assert distinct > 0.95 * len(np.unique(img[4, :, c]))
        # No gaps either: away from the clipped ends, steps stay even.
        mid = steps[len(steps) // 20: -len(steps) // 20]
        assert mid.max() <= 2 * max(np.median(mid), 1)


def test_curves_are_continuous_in_float():
    table = np.linspace(0.0, 1.0, 5, dtype=np.float32)[:, None] ** 2
    table = np.repeat(table, 3, axis=1)
    x = np.array([[[0.1, 0.375, 0.9]]], np.float32)
    out = apply_curves(x, table)
    # Linear interpolation between knots at 0, .25, .5, .75, 1 of y = x².
    np.testing.assert_allclose(out[0, 0], [0.025, 0.15625, 0.825], rtol=1e-6)
    # Beyond [0, 1] the end segments continue.
    np.testing.assert_allclose(apply_curves(np.array([[[1.5, -0.5, 1.0]]], np.float32),
                                            table)[0, 0], [1.875, -0.125, 1.0], rtol=1e-6)


# --------------------------------------------------------------------------
# restore-color: errors


def test_fully_clipped_input_is_refused():
    white = np.ones((32, 32, 3), np.float32)
    with pytest.raises(ImageError, match="entirely clipped"):
        photomend.run("restore-color", white)
    bw = np.zeros((32, 32, 3), np.float32)
    bw[:, 16:] = 1.0
    with pytest.raises(ImageError, match="entirely clipped"):
        estimate_fade(bw)


@pytest.mark.parametrize(("curves", "text"), [
    (np.zeros((1, 3)), "at least 2 samples"),
    (np.zeros((8, 2)), "shape"),
    (np.linspace(1, 0, 8)[:, None].repeat(3, axis=1), "non-decreasing"),
])
def test_bad_curves_are_refused(curves, text):
    with pytest.raises(ParameterError, match=text):
        photomend.run("restore-color", _scene(0), curves=curves)


# --------------------------------------------------------------------------
# white-balance


def _cast(img: np.ndarray, gains) -> np.ndarray:
    return linear_to_srgb(srgb_to_linear(img) * np.asarray(gains, np.float32))


def test_picked_point_becomes_neutral():
    clean = _scene(3)
    cast = _cast(clean, (1.1, 1.0, 0.7))
    h = clean.shape[0]
    x, y = 8 + 16 + 7, h - 20 + 7  # centre of the grey card
    out = photomend.run("white-balance", cast, point=(x, y), radius=3)
    patch = out[y - 3:y + 4, x - 3:x + 4].reshape(-1, 3).mean(axis=0)
    assert np.ptp(patch) < 2e-3
    # The whole image is corrected, not just the point.
    assert quality.delta_e_mean(clean, np.clip(out, 0, 1)) < 1.0


def test_picked_colour_becomes_neutral():
    colour = (0.8, 0.6, 0.4)
    img = np.full((4, 4, 3), colour, np.float32)
    out = photomend.run("white-balance", img, color="#cc9966")
    assert np.ptp(out[0, 0]) < 2e-3
    out2 = photomend.run("white-balance", img, color=colour)
    np.testing.assert_allclose(out2, out, atol=1e-6)
    # The luminance of the picked colour is kept.
    lum = srgb_to_linear(np.asarray(colour, np.float32)) @ np.array([0.2126, 0.7152, 0.0722])
    assert abs(float(srgb_to_linear(out[0, 0])[0]) - float(lum)) < 1e-3


@pytest.mark.parametrize("colour", [(160, 128, 112), (5, 1, 1), "1.2,0.5,0.5", (-0.1, 0.5, 0.5)])
def test_a_colour_outside_0_to_1_is_refused(colour):
    # 8-bit numbers were taken as they are and left a cast (or values up to 1.39).
    img = np.full((4, 4, 3), 0.5, np.float32)
    with pytest.raises(ParameterError, match=r"color components must be in 0\.\.1.*'#rrggbb'"):
        photomend.run("white-balance", img, color=colour)


def test_daylight_temperature_changes_nothing():
    img = _scene(1)
    out = photomend.run("white-balance", img, method="temperature", temperature=6500.0, tint=0.0)
    np.testing.assert_allclose(out, img, atol=2e-6)


def test_low_temperature_cools_and_tint_removes_green():
    grey = np.full((2, 2, 3), 0.5, np.float32)
    warm = photomend.run("white-balance", grey, method="temperature", temperature=3200.0)
    assert warm[0, 0, 2] > warm[0, 0, 0]  # correcting tungsten light makes it bluer
    magenta = photomend.run("white-balance", grey, method="temperature", tint=0.5)
    assert magenta[0, 0, 1] < magenta[0, 0, 0]


def test_tungsten_light_is_undone_by_its_temperature():
    clean = _scene(2)
    light = color.temperature_gains(3000.0)  # gains that correct 3000 K
    cast = _cast(clean, 1.0 / light)
    out = photomend.run("white-balance", cast, method="temperature", temperature=3000.0)
    assert quality.delta_e_mean(clean, np.clip(out, 0, 1)) < 0.5


@pytest.mark.parametrize("method", ["auto", "gray-edge", "white-patch", "gray-world"])
def test_automatic_balance_reduces_a_cast(method):
    clean = _scene(5)
    cast = _cast(clean, (1.0, 0.9, 0.6))
    out = photomend.run("white-balance", cast, method=method)
    assert _chroma(_card(out, 1)) < 0.6 * _chroma(_card(cast, 1))


def test_white_balance_strength_is_a_power_of_the_gains():
    img = _cast(_scene(5), (1.0, 0.9, 0.6))
    full = srgb_to_linear(photomend.run("white-balance", img, point=(31, 83)))
    half = srgb_to_linear(photomend.run("white-balance", img, point=(31, 83), strength=0.5))
    base = srgb_to_linear(img)
    np.testing.assert_allclose(half / base, np.sqrt(full / base), rtol=2e-3, atol=1e-6)


def test_neutral_point_outside_the_image_is_refused():
    img = _scene(0)
    with pytest.raises(ParameterError, match=r"outside the image \(x must be 0 to 127"):
        photomend.run("white-balance", img, point=(128, 5))
    with pytest.raises(ParameterError, match="outside the image"):
        photomend.run("white-balance", img, point=(-1, 5))


def test_point_and_colour_together_are_refused():
    with pytest.raises(ParameterError, match="not both"):
        photomend.run("white-balance", _scene(0), point=(3, 3), color="#808080")


def test_black_neutral_reference_is_refused():
    img = _scene(0)
    with pytest.raises(ParameterError, match="black"):
        photomend.run("white-balance", img, color="#ff00ff")


def test_automatic_balance_of_a_clipped_image_is_refused():
    with pytest.raises(ImageError, match="no usable pixels"):
        photomend.run("white-balance", np.ones((16, 16, 3), np.float32))


# --------------------------------------------------------------------------
# auto-contrast


def test_levels_stretch_luminance_and_keep_colour():
    clean = _scene(1)
    flat = 0.3 + 0.4 * clean
    out = photomend.run("auto-contrast", flat, black_clip=0.5, white_clip=0.5)
    luma = out @ np.array([0.2126, 0.7152, 0.0722], np.float32)
    lo, hi = np.percentile(luma, [0.5, 99.5])
    assert abs(lo) < 0.01 and abs(hi - 1.0) < 0.01
    # Chromaticity (linear RGB ratios) is kept where nothing clips.
    lin_in, lin_out = srgb_to_linear(flat), srgb_to_linear(out)
    ok = (lin_out.max(axis=-1) < 0.99) & (lin_out.min(axis=-1) > 1e-3)
    r_in = lin_in[ok] / lin_in[ok].sum(axis=1, keepdims=True)
    r_out = lin_out[ok] / lin_out[ok].sum(axis=1, keepdims=True)
    np.testing.assert_allclose(r_out, r_in, atol=2e-4)


def test_local_contrast_adds_detail_in_flat_regions():
    y, x = np.mgrid[0:128, 0:128].astype(np.float32)
    base = 0.45 + 0.1 * (x / 127) + 0.02 * np.sin(y / 2.0) * (x < 64)
    img = np.repeat(base[..., None], 3, axis=2)
    levels = photomend.run("auto-contrast", img)
    local = photomend.run("auto-contrast", img, strength=1.0, threshold=1.0)
    ripple = (slice(40, 90), slice(8, 56))
    assert local[ripple].std() > levels[ripple].std()
    # Still grey: luminance only.
    assert np.max(np.ptp(local, axis=-1)) < 1e-4


def test_clahe_of_uniform_tiles_and_unselected_tiles_is_identity():
    # Every tile of a fine ramp pattern holds a flat histogram: nothing to equalise.
    plane = np.tile(np.linspace(0, 1, 16, dtype=np.float32), (64, 4))
    np.testing.assert_allclose(clahe_luma(plane, tiles=4, clip_limit=4.0, bins=16), plane,
                               atol=1e-6)
    weights = np.zeros_like(plane)
    out = clahe_luma(plane, tiles=4, clip_limit=4.0, weights=weights)
    np.testing.assert_allclose(out, plane, atol=1e-6)


def test_selection_statistics_come_from_the_selection():
    img = np.zeros((40, 40, 3), np.float32)
    img[:, :20] = 0.2
    img[:, 20:] = np.linspace(0.4, 0.6, 20, dtype=np.float32)[None, :, None]
    mask = np.zeros((40, 40), np.float32)
    mask[:, 20:] = 1.0
    out = photomend.run("auto-contrast", img, mask=mask, black_clip=0.0, white_clip=0.0)
    assert out[:, 20:].min() < 0.01 and out[:, 20:].max() > 0.99
    np.testing.assert_array_equal(out[:, :20], img[:, :20])


def test_flat_image_is_refused():
    with pytest.raises(ImageError, match="flat"):
        photomend.run("auto-contrast", np.full((8, 8, 3), 0.4, np.float32))


def test_weighted_percentile_matches_numpy_without_weights():
    v = np.random.default_rng(0).random(1001)
    np.testing.assert_allclose(weighted_percentile(v, None, [5, 50, 95]),
                               np.percentile(v, [5, 50, 95]))
    w = np.ones_like(v)
    np.testing.assert_allclose(weighted_percentile(v, w, [50]), np.percentile(v, 50), atol=2e-3)


# -- tiny and thin areas ---------------------------------------------------------
@pytest.mark.parametrize("shape", [(1, 1), (1, 40), (40, 1), (7, 30)])
def test_restore_color_on_too_small_an_area_says_so(shape):
    rng = np.random.default_rng(2)
    image = rng.random((*shape, 3)).astype(np.float32)
    with pytest.raises(ImageError, match=rf"the area is {shape[1]}×{shape[0]} px, too small "
                                         r"to estimate the fading from .* 8×8 px"):
        photomend.run("restore-color", image)


def test_restore_color_on_a_thin_selection_says_so_and_changes_nothing():
    rng = np.random.default_rng(3)
    image = rng.random((40, 50, 3)).astype(np.float32)
    before = image.copy()
    row = np.zeros((40, 50), np.float32)
    row[12, 5:45] = 1.0
    with pytest.raises(ImageError, match="the area is 40×1 px"):
        photomend.run("restore-color", image, row)
    np.testing.assert_array_equal(image, before)
    np.testing.assert_array_equal(photomend.run("restore-color", image, row, curves=np.stack(
        [np.linspace(0, 1, 5)] * 3, axis=1)), before)  # given curves need no estimate


@pytest.mark.parametrize("shape", [(1, 40), (40, 1)])
def test_white_balance_auto_works_on_thin_images(shape):
    rng = np.random.default_rng(4)
    image = (0.2 + 0.6 * rng.random((*shape, 3))).astype(np.float32)
    out = photomend.run("white-balance", image)
    assert out.shape == image.shape and np.isfinite(out).all()
    with pytest.raises(ImageError, match=r"no usable pixels .*\(the area has only 1 px\)"):
        photomend.run("white-balance", image[:1, :1])


def test_gray_edge_without_edges_says_so():
    flat = np.full((32, 32, 3), 0.5, np.float32)
    flat[..., 0] = 0.6
    with pytest.raises(ImageError, match="gray-edge found no edges"):
        photomend.run("white-balance", flat, method="gray-edge")
    with pytest.raises(ImageError, match="gray-edge found no edges"):
        photomend.run("white-balance", flat[:1], method="gray-edge")


def test_white_balance_names_a_selection_too_small_to_estimate_from():
    rng = np.random.default_rng(9)
    image = (0.2 + 0.6 * rng.random((600, 800, 3))).astype(np.float32)
    few = np.zeros((600, 800), np.float32)
    few[100, 100:104] = 1.0  # 4 px, in one block of the statistics
    with pytest.raises(ImageError, match=r"\(the selection is too small a part of the image\)"):
        photomend.run("white-balance", image, few)
    one = np.zeros((600, 800), np.float32)
    one[5, 5] = 1.0
    with pytest.raises(ImageError, match=r"\(the area has only 1 px\)"):
        photomend.run("white-balance", image, one)


def test_scene_linear_values_past_white_are_named_as_such():
    """Not "clipped to black or white": the pixels are all brighter than white."""
    img = (0.3 + 0.5 * np.random.default_rng(0).random((64, 64, 3))).astype(np.float32) * 4.0
    with pytest.raises(ImageError, match=r"reach 3\.2, past white .*scale the image into 0–1"):
        photomend.run("restore-color", img)
    with pytest.raises(ImageError, match=r"past white \(1\.0\): scale them into 0–1"):
        photomend.run("white-balance", img)
