"""Tests of detect-defects and remove-defects (dust, hairs, scratches)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy import ndimage

import photomend
from photomend import ParameterError, quality, synth
from photomend.image import Image
from photomend.ops import _defects_concentric, defects


@pytest.fixture(autouse=True)
def _fresh_logits():
    """No test reads the network's output remembered from another."""
    defects._LOGITS.clear()


def _texture(shape=(128, 128), seed=3):
    """A clean gray photo-like scene: gradient, fine fabric texture, noise."""
    rng = np.random.default_rng(seed)
    h, w = shape
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    base = 0.35 + 0.3 * x / w + 0.04 * np.sin(x / 1.7) * np.sin(y / 2.3)
    base += ndimage.gaussian_filter(rng.standard_normal(shape), 1.2).astype(np.float32) * 0.03
    base += rng.standard_normal(shape).astype(np.float32) * (2 / 255)
    return np.clip(base, 0, 1).astype(np.float32)[..., None]


def _disk(shape, cy, cx, r):
    y, x = np.mgrid[0:shape[0], 0:shape[1]]
    return ((y - cy) ** 2 + (x - cx) ** 2 <= r * r)


SPECKS = [(30, 30, 3), (90, 40, 4), (60, 100, 2.5)]


def _damaged(bright=False):
    """Three round specks drawn by hand and one synthetic scratch."""
    img = _texture()
    speck = np.zeros(img.shape[:2], bool)
    for cy, cx, r in SPECKS:
        speck |= _disk(img.shape, cy, cx, r)
    img[speck] = 0.97 if bright else 0.04
    s = synth.scratches(img, 2, count=1, width=(1.5, 3.0), opacity=(0.7, 0.9),
                        dark_fraction=0.0 if bright else 1.0, length=(100, 140))
    line = (s.mask > 0.2) & ~speck
    return s.image, speck | line, line


def _found(truth, m):
    """Fraction of `truth` within 1 px of a detection."""
    return quality.mask_scores(truth, m, tolerance=1).recall


def test_specks_and_a_scratch_are_found():
    img, truth, line = _damaged()
    m = photomend.run("detect-defects", img)
    assert m.shape == img.shape[:2] and m.dtype == np.float32
    s = quality.mask_scores(truth, m, tolerance=1)
    assert s.recall > 0.9 and s.precision > 0.9, s
    for cy, cx, _ in SPECKS:
        assert m[cy, cx] > 0.5
    assert _found(line, m) > 0.9


def test_clean_textured_image_gives_nothing():
    m = photomend.run("detect-defects", _texture())
    assert (m > 0.5).mean() < 0.002


def test_clean_smooth_scene_gives_nothing():
    # (The 'photo' scene is no test: its thin straight lines are scratches by
    # any definition that a single image allows.)
    scene = synth.synthetic_scene((128, 128, 3), seed=5, kind="smooth")
    noisy = synth.gaussian_noise(scene, 1, sigma=2, clip=True).image
    m = photomend.run("detect-defects", noisy)
    assert (m > 0.5).mean() < 0.001


@pytest.mark.parametrize(("bright", "polarity", "found"), [
    (False, "dark", True), (False, "bright", False), (True, "bright", True),
    (True, "dark", False), (True, "both", True)])
def test_polarity_is_honoured(bright, polarity, found):
    img, truth, _ = _damaged(bright)
    m = photomend.run("detect-defects", img, polarity=polarity)
    hits = _found(truth, m)
    assert hits > 0.8 if found else hits < 0.05


def test_kinds_separate_spots_and_lines():
    img, truth, line = _damaged()
    spots = photomend.run("detect-defects", img, kinds="spots")
    lines = photomend.run("detect-defects", img, kinds="lines")
    speck = truth & ~line
    assert _found(speck, spots) > 0.9 and _found(line, spots) < 0.05
    assert _found(line, lines) > 0.9 and _found(speck, lines) < 0.05


def test_sensitivity_is_monotonic():
    img, _, _ = _damaged()
    low = photomend.run("detect-defects", img, sensitivity=0.1) > 0.5
    high = photomend.run("detect-defects", img, sensitivity=0.9) > 0.5
    assert (low & ~high).sum() == 0 and high.sum() >= low.sum()


def test_max_size_leaves_big_blobs_alone():
    img = _texture()
    img[_disk(img.shape, 64, 64, 5)] = 0.04  # an 11 px blob
    big = photomend.run("detect-defects", img, max_size=16)
    small = photomend.run("detect-defects", img, max_size=6)
    assert big[64, 64] > 0.5 and small[64, 64] < 0.5


def test_large_max_size_finds_big_specks_at_half_resolution():
    img = _texture((160, 160))
    blob = _disk(img.shape, 80, 80, 11)  # a 23 px speck
    img[blob] = 0.04
    assert photomend.run("detect-defects", img, max_size=16)[80, 80] < 0.5
    m = photomend.run("detect-defects", img, max_size=32)
    assert (m[blob] > 0.5).mean() > 0.95


def test_noise_estimate_is_robust_to_texture():
    rng = np.random.default_rng(0)
    flat = np.full((128, 128), 0.5, np.float32) + rng.standard_normal((128, 128)).astype(
        np.float32) * 0.02
    assert defects.estimate_noise(flat) == pytest.approx(0.02, rel=0.15)
    textured = _texture()[..., 0]
    assert defects.estimate_noise(textured) < 4 * (2 / 255)


def test_infrared_detection_finds_only_damage():
    rng = np.random.default_rng(2)
    h, w = 96, 96
    ir = 0.85 + 0.05 * np.linspace(0, 1, w, dtype=np.float32)[None, :] + rng.standard_normal(
        (h, w)).astype(np.float32) * 0.005
    truth = _disk((h, w), 30, 30, 3) | _disk((h, w), 70, 60, 2)
    truth[5:90, 80] = True  # a hair
    ir[truth] *= 0.3
    m = defects.detect_infrared(ir)
    s = quality.mask_scores(truth, m, tolerance=1)
    assert s.recall > 0.95 and s.precision > 0.6  # the 1-px growth costs precision
    assert (m[~ndimage.binary_dilation(truth, iterations=2)] > 0.5).sum() == 0


def test_infrared_plane_is_used_through_run():
    # Colour detail that looks like dust (dark dots) but is clean in infrared.
    img = _texture()
    img[_disk(img.shape, 40, 40, 3)] = 0.04
    ir = np.full(img.shape[:2], 0.9, np.float32)
    ir[_disk(img.shape, 90, 90, 3)] *= 0.2
    image = Image.from_array(np.repeat(img, 3, axis=-1), infrared=ir)
    m = photomend.run("detect-defects", image, infrared=image.infrared)
    assert m[90, 90] > 0.5 and m[40, 40] < 0.5


def test_infrared_of_wrong_size_is_refused():
    img = _texture()
    with pytest.raises(ParameterError, match="infrared plane has shape"):
        photomend.run("detect-defects", img, infrared=np.ones((10, 10), np.float32))


def _film_scan(shape=(300, 340), seed=4):
    """A textured RGB image with dust in an infrared plane only: ``(rgb, ir, dust)``."""
    rng = np.random.default_rng(seed)
    w = shape[1]
    rgb = np.repeat(_texture(shape), 3, axis=-1)
    ir = (0.88 + 0.04 * np.linspace(0, 1, w, dtype=np.float32)[None, :]
          + rng.standard_normal(shape).astype(np.float32) * 0.004)
    dust = np.zeros(shape, bool)
    for cy, cx, r in ((40, 50, 3), (150, 170, 2), (250, 300, 4), (100, 290, 2), (280, 20, 3)):
        dust |= _disk(shape, cy, cx, r)
    dust[60:140, 230] = True  # a hair across a tile edge
    ir[dust] *= 0.25
    rgb[dust] = 0.05
    return rgb, ir, dust


def test_the_mask_as_an_8_bit_selection_for_inpaint_changes_only_the_marks():
    # Detect, store as an 8-bit channel (as hosts do), use as Inpaint's selection.
    img, _, _ = _damaged()
    soft = photomend.run("detect-defects", img)
    assert 0.0 < (soft > 0).mean() < 0.2  # zero away from the marks
    channel = np.round(soft * 255).astype(np.uint8)
    out = photomend.run("inpaint", img, channel)
    far = ~ndimage.binary_dilation(soft > 0.5, iterations=3)
    moved = np.abs(out - img).max(axis=-1)[far]
    # (doubtful pixels, under a 50 % chance, are blended in by their share)
    assert (moved > 0).mean() < 0.035 and moved.max() < 5 / 255


def test_infrared_detection_tiles_exactly():
    # The plane is cut per tile like the image, and its noise measured once.
    rgb, ir, dust = _film_scan()
    whole = photomend.run("detect-defects", rgb, infrared=ir, tile=0)
    tiled = photomend.run("detect-defects", rgb, infrared=ir, tile=64)
    np.testing.assert_array_equal(tiled, whole)
    assert quality.mask_scores(dust, whole, tolerance=1).recall > 0.95
    spec = photomend.registry.get("detect-defects")
    assert spec.halo(spec.bind({"infrared": ir})) < 40  # no longer the whole image


def test_infrared_removal_and_given_damage_run_in_tiles(monkeypatch):
    rgb, ir, dust = _film_scan()
    seen = []
    spec = photomend.registry.get("remove-defects")

    def spy(image, **kwargs):
        for key in ("infrared", "damage"):
            if kwargs.get(key) is not None:
                assert kwargs[key].shape == image.shape[:2]
                seen.append(image.shape[:2])
        return defects.remove_defects(image, **kwargs)

    monkeypatch.setitem(photomend.registry._REGISTRY, spec.id, dataclasses.replace(spec, func=spy))
    for given in ({"infrared": ir}, {"damage": dust.astype(np.float32)}):
        seen.clear()
        out = photomend.run("remove-defects", rgb, tile=128, **given)
        assert len(seen) == 9 and max(seen) < rgb.shape[:2]  # 3 × 3 tiles, each its part
        changed = np.abs(out - rgb).max(axis=-1) > 1e-6
        assert changed[dust].mean() > 0.9
        assert not changed[~ndimage.binary_dilation(dust, iterations=2)].any()
        assert np.abs(out[dust] - 0.05).mean() > 0.2  # filled from around, not left dark


def test_a_given_mask_is_checked_on_the_whole_area_and_tiles_may_hold_none_of_it():
    # A large scan is tiled; most tiles hold none of the one scratch given.
    rgb = np.repeat(_texture((520, 600)), 3, axis=-1)
    damage = np.zeros(rgb.shape[:2], np.float32)
    damage[40:43, 30:200] = 1.0
    rgb[damage > 0] = 0.05
    out = photomend.run("remove-defects", rgb, tile=128, damage=damage)
    changed = np.abs(out - rgb).max(axis=-1) > 1e-6
    assert changed[damage > 0].all() and not changed[damage == 0].any()
    # a selection away from the damage: the mask marks nothing there
    sel = np.zeros(rgb.shape[:2], np.float32)
    sel[300:500, 300:580] = 1.0
    with pytest.raises(ParameterError, match="marks no pixel of the area worked on"):
        photomend.run("remove-defects", rgb, sel, damage=damage)


@pytest.mark.parametrize("method", ["diffusion", "auto"])
def test_a_wide_given_area_is_filled_whole_in_tiles(method):
    rgb = np.repeat(_texture((400, 420)), 3, axis=-1)
    damage = np.zeros(rgb.shape[:2], np.float32)
    damage[120:240, 150:270] = 1.0  # a painted-over area across tile edges
    spec = photomend.registry.get("remove-defects")
    assert spec.halo(spec.bind({"damage": damage, "method": method})) >= 120
    one = photomend.run("remove-defects", rgb, tile=0, damage=damage, method=method)
    tiled = photomend.run("remove-defects", rgb, tile=64, damage=damage, method=method)
    inside = damage > 0
    if method == "diffusion":
        np.testing.assert_allclose(tiled, one, atol=1e-5)
    else:  # the patch search is random per piece: no seams, close to one pass
        assert np.abs(tiled[inside] - one[inside]).mean() < 0.02


def test_a_measured_infrared_noise_always_fits_a_recipe():
    from photomend.recipe import Recipe, resolved_recipe, validate_recipe

    rgb = np.repeat(_texture(), 3, axis=-1)
    wild = np.random.default_rng(3).random(rgb.shape[:2]).astype(np.float32)  # not infrared
    report: dict = {}
    photomend.run("detect-defects", rgb, infrared=wild, report=report)
    assert 0 < report["params"]["infrared_noise"] <= defects.INFRARED_NOISE_MAX
    validate_recipe(resolved_recipe(Recipe.single("detect-defects"), [report]))


def test_a_selection_cuts_the_infrared_plane_with_the_image():
    rgb, ir, dust = _film_scan()
    sel = np.zeros(rgb.shape[:2], np.float32)
    sel[120:300, 140:340] = 1.0
    m = photomend.run("detect-defects", rgb, sel, infrared=ir)
    inside = dust & (sel > 0)
    assert (m[inside] > 0.5).mean() > 0.95
    assert (m[sel == 0] == 0).all()
    out = photomend.run("remove-defects", rgb, sel, infrared=ir)
    changed = np.abs(out - rgb).max(axis=-1) > 1e-6
    assert changed[inside].mean() > 0.9 and not changed[sel == 0].any()


def test_16_bit_input_through_run():
    img, truth, _ = _damaged()
    u16 = np.round(np.repeat(img, 3, axis=-1) * 65535).astype(np.uint16)
    m = photomend.run("detect-defects", u16)
    assert m.dtype == np.float32 and quality.mask_scores(truth, m).f1 > 0.85
    clean = np.round(np.repeat(_texture(), 3, axis=-1) * 65535).astype(np.uint16)
    out = photomend.run("remove-defects", u16)
    assert out.dtype == np.uint16 and out.shape == u16.shape
    for cy, cx, r in SPECKS[:2]:  # the two clearest specks are filled by default
        disk = _disk(img.shape, cy, cx, r)
        assert quality.psnr(clean, out, data_range=65535, mask=disk) > 30
    before = quality.psnr(clean, u16, data_range=65535)
    eager = photomend.run("remove-defects", u16, sensitivity=0.9)
    assert quality.psnr(clean, eager, data_range=65535) > before + 10  # everything


def test_removal_changes_only_the_selection():
    img, _, _ = _damaged()
    sel = np.zeros(img.shape[:2], np.float32)
    sel[:, :64] = 1.0
    out = photomend.run("remove-defects", img, mask=sel)
    np.testing.assert_array_equal(out[:, 64:], img[:, 64:])
    assert np.abs(out[30, 30] - img[30, 30]).max() > 0.2  # speck inside was filled
    changed = np.abs(out - img).max(axis=-1) > 0
    assert changed[:, :64].any()


@pytest.mark.parametrize("kind", ["smooth", "texture"])
def test_removal_leaves_clean_images_alone(kind):
    img = (synth.synthetic_scene((128, 128, 3), seed=5, kind="smooth") if kind == "smooth"
           else np.repeat(_texture(), 3, axis=-1))
    noisy = synth.gaussian_noise(img, 1, sigma=2, clip=True).image.astype(np.float32)
    out = photomend.run("remove-defects", noisy)
    assert quality.psnr(noisy, out) > 45


@pytest.mark.parametrize(("name", "value", "text"), [
    ("sensitivity", 1.5, "sensitivity must be 0 to 1"),
    ("max_size", 1, "max_size must be 2 to 64 px"),
    ("polarity", "grey", "polarity must be one of"),
    ("kinds", "blobs", "kinds must be one of"),
    ("noise", -0.1, "noise must be 0 to 0.25"),
])
def test_bad_parameters_are_refused_clearly(name, value, text):
    with pytest.raises(ParameterError, match=text):
        photomend.run("detect-defects", _texture(), **{name: value})
    with pytest.raises(ParameterError, match=text):
        photomend.run("remove-defects", _texture(), **{name: value})


def test_given_noise_level_is_used():
    img, _, _ = _damaged()
    # Claiming heavy noise makes the detector conservative.
    m = photomend.run("detect-defects", img, noise=0.2)
    assert (m > 0.5).sum() < (photomend.run("detect-defects", img) > 0.5).sum()


def _aged_scene(size, seed, specks, hairs, scratches):
    """A smooth synthetic scene with dust, hairs, scratches and noise; and the truth."""
    clean = synth.synthetic_scene((size, size, 3), seed=seed, kind="smooth")
    d = synth.dust(clean, 1, count=specks)
    h = synth.hairs(d.image, 2, count=hairs)
    s = synth.scratches(h.image, 3, count=scratches)
    noisy = synth.gaussian_noise(s.image, 4, sigma=2, clip=True).image.astype(np.float32)
    return noisy, np.maximum.reduce([d.mask, h.mask, s.mask]) > 0.2


def test_f1_on_seeded_synthetic_damage():
    noisy, truth = _aged_scene(160, 11, 8, 2, 1)
    m = photomend.run("detect-defects", noisy)
    f1 = quality.mask_scores(truth, m, tolerance=1).f1
    assert f1 > 0.75, f1


def test_tiled_detection_equals_one_pass():
    img, _, _ = _damaged()
    img = np.concatenate([img, img[:, ::-1]], axis=1)  # 128 x 256
    whole = photomend.run("detect-defects", img, tile=0)
    tiled = photomend.run("detect-defects", img, tile=128)
    np.testing.assert_allclose(tiled, whole, atol=1e-4)


def test_removal_reports_what_it_filled_tiled_or_not():
    clean = synth.synthetic_scene((200, 260, 3), seed=41)
    dusty = synth.dust(clean, 42, count=12).image.astype(np.float32)
    whole_report: dict = {}
    whole = photomend.run("remove-defects", dusty, tile=0, report=whole_report)
    tiled_report: dict = {}
    tiled = photomend.run("remove-defects", dusty, tile=96, report=tiled_report)
    found = whole_report["defects"]
    assert found.shape == (200, 260) and found.any()
    changed = np.abs(whole - dusty).max(axis=-1) > 0
    assert not (changed & (found == 0)).any()  # nothing changes outside the mask
    np.testing.assert_array_equal(tiled_report["defects"], found)
    assert not ((np.abs(tiled - dusty).max(axis=-1) > 0) & (found == 0)).any()


def test_network_convolution_matches_direct_correlation():
    # The numpy network's dilated 3 x 3 layer (reflect padding, ReLU) against
    # scipy's correlation of each input channel with each kernel.
    from photomend.ops import _defects_net as net

    rng = np.random.default_rng(7)
    x = rng.standard_normal((23, 19, 3)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)  # (out, in, kh, kw)
    b = rng.standard_normal(4).astype(np.float32)
    mats = np.ascontiguousarray(w.transpose(2, 3, 1, 0).reshape(9, 3, 4))
    m = 6  # the buffers' border, at least the dilation
    for d in (1, 2, 5):
        pad = net._padded(23, 19, 3, m)
        pad[m + 1:m + 24, m:m + 19] = x
        net._reflect(pad, m, d)
        np.testing.assert_array_equal(
            pad[m + 1 - d:m + 24 + d, m - d:m + 19 + d],
            np.pad(x, ((d, d), (d, d), (0, 0)), mode="reflect"))
        dest = net._padded(23, 19, 4, m)
        net._conv3(pad, m, d, mats, b, dest)
        got = dest[m + 1:m + 24, m:m + 19]
        want = np.zeros((23, 19, 4), np.float64)
        for o in range(4):
            for i in range(3):
                k = np.zeros((2 * d + 1, 2 * d + 1))
                k[::d, ::d] = w[o, i]
                want[..., o] += ndimage.correlate(x[..., i].astype(np.float64), k,
                                                  mode="mirror")
            want[..., o] += b[o]
        np.testing.assert_allclose(got, np.maximum(want, 0), atol=1e-4)


def test_network_input_is_noise_aware_and_colour_blind_for_gray():
    from photomend.ops import _defects_net as net

    gray = np.full((20, 20, 1), 0.25, np.float32)
    planes = net.net_input(gray, 0.01)
    assert planes.shape == (4, 20, 20)
    np.testing.assert_allclose(planes[0], -0.25)
    assert not planes[1:3].any()
    np.testing.assert_allclose(planes[3], 0.01 * net.NOISE_SCALE)
    rgb = np.repeat(gray, 3, axis=-1)
    np.testing.assert_allclose(net.net_input(rgb, 0.01), planes)


def test_a_line_along_the_frame_is_not_damage():
    # Scans carry the print's edge or the film rebate as a thin band along
    # the border; a scratch that reaches the border is still found.
    img = _texture((128, 128))
    img[:, :2] = 0.05
    s = synth.scratches(img, 2, count=1, width=(1.5, 3.0), opacity=(0.7, 0.9),
                        dark_fraction=1.0, length=(100, 140))
    line = (s.mask > 0.2)
    found = photomend.run("detect-defects", s.image) > 0.5
    assert not found[:, :defects.FRAME_BAND].all(axis=1).any()
    assert _found(line & (np.arange(128) >= 2)[None, :], found) > 0.9
    framed = photomend.run("remove-defects", img)
    np.testing.assert_array_equal(framed, img)


def test_removal_in_a_tile_fully_fills_only_damage_reaching_the_kept_part():
    img = _texture((96, 160))
    hole = _disk(img.shape, 48, 30, 3) | _disk(img.shape, 48, 130, 3)
    img[hole] = 0.04
    left = np.zeros(hole.shape, bool)
    left[:, :80] = True
    from photomend.ops.inpaint import fill_damage
    from photomend.progress import Progress
    part = fill_damage(img, hole, "auto", Progress(), needed=left)
    smooth = fill_damage(img, hole, "diffusion", Progress())
    right = hole & ~left
    # Damage outside the kept part gets the quick diffusion fill only ...
    np.testing.assert_array_equal(part[right], smooth[right])
    # ... while damage reaching it gets the full fill (texture blended in),
    # as without `needed`.
    whole = fill_damage(img, hole, "auto", Progress())
    kept = hole & left
    assert np.abs(part[kept] - smooth[kept]).mean() > 0.003
    assert np.abs(whole[right] - smooth[right]).mean() > 0.001
    out = defects.remove_defects(img, keep=(slice(0, 96), slice(0, 80)))
    assert np.abs(out[hole] - img[hole]).min() > 0.1  # both specks were filled


def test_removal_fill_blends_texture_without_the_self_test(monkeypatch):
    from photomend.ops import inpaint
    from photomend.progress import Progress

    img = _texture((96, 96))
    hole = _disk(img.shape, 48, 48, 3)
    img[hole] = 0.04

    def no_test(*args, **kwargs):
        raise AssertionError("the self-test ran")

    monkeypatch.setattr(inpaint, "_validated_share", no_test)
    filled = defects.fill_defects(img, hole)
    smooth = inpaint.fill_damage(img, hole, "diffusion", Progress())
    # Textured surroundings: copied texture is blended into the diffusion fill.
    assert np.abs(filled[hole] - smooth[hole]).mean() > 2e-3
    np.testing.assert_array_equal(filled[~hole], img[~hole])
    with pytest.raises(AssertionError, match="self-test"):
        inpaint.fill_damage(img, hole, "auto", Progress())


def test_a_given_damage_mask_is_only_filled():
    img, _, _ = _damaged()
    marked = np.zeros(img.shape[:2], np.float32)
    cy, cx, r = SPECKS[0]
    marked[_disk(img.shape, cy, cx, r + 1)] = 0.9  # an edited mask: one speck, grown
    out = photomend.run("remove-defects", img, damage=marked)
    changed = np.abs(out - img).max(axis=-1) > 0
    assert changed[cy, cx] and not (changed & (marked <= 0.5)).any()
    assert abs(float(out[cy, cx, 0]) - float(_texture()[cy, cx, 0])) < 0.08
    # The other specks and the scratch were not sought.
    assert not changed[SPECKS[1][0], SPECKS[1][1]]
    # A (H, W, 1) mask is taken too, and the report shows what was filled.
    report: dict = {}
    defects.remove_defects(img, damage=marked[..., None], report=report)
    np.testing.assert_array_equal(report["defects"], (marked > 0.5).astype(np.float32))


@pytest.mark.parametrize(("damage", "extra", "text"), [
    (np.ones((5, 5), np.float32), {}, "the damage plane has shape"),
    (np.full((128, 128), np.nan, np.float32), {}, "finite numbers"),
    (np.zeros((128, 128), np.float32), {}, "marks no pixel"),
    (np.ones((128, 128), np.float32), {}, "marks every pixel"),
    (np.ones((128, 128), np.float32), {"infrared": np.ones((128, 128), np.float32)},
     "either a damage mask or an infrared plane"),
])
def test_bad_damage_masks_are_refused_clearly(damage, extra, text):
    img, _, _ = _damaged()
    with pytest.raises(ParameterError, match=text):
        photomend.run("remove-defects", img, damage=damage, **extra)


def test_damage_mask_from_the_command_line(tmp_path):
    from PIL import Image as PILImage

    from photomend.cli import main

    img, _, _ = _damaged()
    src, mask, out = tmp_path / "in.tif", tmp_path / "damage.png", tmp_path / "out.tif"
    photomend.save(Image.from_array(img), src)
    marked = np.zeros(img.shape[:2], np.uint8)
    cy, cx, r = SPECKS[1]
    marked[_disk(img.shape, cy, cx, r + 1)] = 255
    PILImage.fromarray(marked).save(mask)
    assert main(["run", "remove-defects", str(src), "-o", str(out), "--damage", str(mask)]) == 0
    result = photomend.load(out).color
    changed = np.abs(result - photomend.load(src).color).max(axis=-1) > 1e-4
    assert changed[cy, cx] and not (changed & (marked == 0)).any()


def _photo_like(shape=(192, 256), seed=5):
    """A colour scene of smooth shapes and gradients."""
    return synth.synthetic_scene((*shape, 3), seed, kind="smooth").astype(np.float32)


@pytest.mark.parametrize("scene", ["smooth", "fabric"])
def test_a_crack_network_is_found_as_lines(scene):
    clean = _photo_like() if scene == "smooth" else _texture((192, 256))
    d = synth.cracks(clean, 4, count=1, size=160.0)
    noisy = synth.gaussian_noise(d.image, 1, sigma=2.0, clip=True).image.astype(np.float32)
    truth = d.mask > 0.2
    found = photomend.run("detect-defects", noisy, kinds="lines")
    assert _found(truth, found) > 0.8


@pytest.mark.parametrize("seed", [2, 7])
def test_a_branching_crack_network_is_lines_not_spots(seed):
    # Where cracks branch they are 6-8 px wide: measured at its widest, the
    # network passed for a spot ('lines' found none of it, 'spots' all).
    clean = synth.synthetic_scene((256, 320, 3), 5, kind="smooth")
    d = synth.cracks(clean, seed, count=1)
    noisy = synth.gaussian_noise(d.image, 1, sigma=2.0, clip=True).image.astype(np.float32)
    truth = d.mask > 0.2
    assert _found(truth, photomend.run("detect-defects", noisy, kinds="lines", passes=1)) > 0.9
    assert _found(truth, photomend.run("detect-defects", noisy, kinds="spots", passes=1)) < 0.1


@pytest.mark.parametrize("max_size", [24, 64])
def test_cracks_stay_lines_when_big_specks_are_sought_too(max_size):
    # The coarse passes for big specks widen a crack into a band; it is
    # judged, and kept, by what the full-resolution pass found.
    d = synth.cracks(_photo_like(), 4, count=1, size=160.0)
    noisy = synth.gaussian_noise(d.image, 1, sigma=2.0, clip=True).image.astype(np.float32)
    truth = d.mask > 0.2
    found = photomend.run("detect-defects", noisy, kinds="lines", max_size=max_size)
    assert _found(truth, found) > 0.8
    both = photomend.run("detect-defects", noisy, max_size=max_size) > 0.5
    near = ndimage.binary_dilation(truth)
    assert (both & ~near).sum() < 0.2 * both.sum()  # the crack, not a band around it


def test_a_crease_is_found():
    clean = _photo_like()
    d = synth.creases(clean, 3, count=1)
    noisy = synth.gaussian_noise(d.image, 1, sigma=2.0, clip=True).image.astype(np.float32)
    found = photomend.run("detect-defects", noisy)
    assert _found(d.mask > 0.5, found) > 0.5



def _dusty(count, seed=5, shape=(192, 192, 3)):
    clean = synth.synthetic_scene(shape, seed=21, kind="smooth")
    out = synth.dust(clean, seed, count=count) if count else None
    img = clean if out is None else out.image
    return synth.gaussian_noise(img, 9, sigma=2, clip=True).image.astype(np.float32)


def test_damage_share_grows_with_the_damage():
    shares = [defects.estimate_damage_share(_dusty(n)) for n in (0, 10, 40)]
    assert shares[0] < 5e-4 < shares[1] < shares[2] < 0.2, shares


def test_damage_share_ignores_marks_the_shape_rules_reject():
    img = _texture((160, 160))
    # A 19 px blob is image content at max_size 16, although its most
    # confident core alone would pass for a speck: shapes are judged whole.
    img[_disk(img.shape, 80, 80, 9)] = 0.04
    assert defects.estimate_damage_share(img, max_size=16) < 5e-4
    assert defects.estimate_damage_share(img, max_size=32) > 0.005


def test_too_small_an_area_gets_the_neutral_share(monkeypatch):
    img = _texture((100, 100))
    img[_disk(img.shape, 50, 50, 3)] = 0.04
    assert defects.estimate_damage_share(img) == defects.PRIOR_REF
    assert defects._prior_shift(defects.PRIOR_REF) == 0.0
    # which leaves the level where it was fitted
    plain = photomend.run("detect-defects", img, damage_share=defects.PRIOR_REF)
    np.testing.assert_array_equal(photomend.run("detect-defects", img), plain)


def test_measuring_and_detecting_read_the_network_once(monkeypatch):
    calls = []
    real = defects._pyramid_logits

    def counted(*args, **kwargs):
        calls.append(args[0].shape)
        return real(*args, **kwargs)

    monkeypatch.setattr(defects, "_pyramid_logits", counted)
    defects._LOGITS.clear()
    img = _dusty(10)
    first = photomend.run("detect-defects", img)
    assert len(calls) == 1
    img2 = img.copy()
    img2[5, 5] += 0.01  # other pixels: read afresh
    photomend.run("remove-defects", img2)
    assert len(calls) == 2
    again = photomend.run("detect-defects", img, sensitivity=0.5)
    assert len(calls) == 2
    np.testing.assert_array_equal(first, again)


def test_the_damage_share_moves_the_decision_level():
    img = _dusty(25)
    marks = [photomend.run("detect-defects", img, damage_share=s) > 0.5
             for s in (0.0, 0.003, 0.05)]
    assert (marks[0] & ~marks[1]).sum() == 0 and (marks[1] & ~marks[2]).sum() == 0
    assert marks[0].sum() < marks[2].sum()
    # Measured once on the whole image, reported, and used by every tile.
    report: dict = {}
    whole = photomend.run("detect-defects", img, tile=0, report=report)
    measured = report["params"]["damage_share"]
    assert measured == pytest.approx(defects.estimate_damage_share(img))
    np.testing.assert_array_equal(whole, photomend.run("detect-defects", img,
                                                       damage_share=measured))
    tiled = photomend.run("detect-defects", img, tile=96)
    np.testing.assert_allclose(tiled, whole, atol=1e-4)


def test_a_clean_photo_is_judged_more_strictly_than_a_dusty_one():
    # The same faint speck: doubtful on its own, dust among much dust.
    img = _texture((160, 160))
    img[_disk(img.shape, 80, 80, 2.5)] -= 0.08
    level = {s: photomend.run("detect-defects", img, damage_share=s)[80, 80]
             for s in (0.0, 0.05)}
    assert level[0.0] < 0.4 and level[0.05] > 0.6, level


def test_a_strict_level_does_not_shrink_a_big_blob_into_a_speck():
    img = _texture((160, 160))
    blob = _disk(img.shape, 80, 80, 11)  # 23 px: image content at max_size 16
    img[blob] = 0.04
    for sensitivity in (0.1, 0.3, 0.5):
        m = photomend.run("detect-defects", img, max_size=16, sensitivity=sensitivity)
        assert (m[blob] > 0.5).sum() == 0, sensitivity


def test_large_scans_are_sampled_for_the_damage_share(monkeypatch):
    boxes = defects._share_boxes(3000, 4000)
    assert len(boxes) == 9
    assert all(r.stop - r.start == defects.SHARE_CROP == c.stop - c.start for r, c in boxes)
    assert min(r.start for r, _ in boxes) == 0 and max(r.stop for r, _ in boxes) == 3000
    assert min(c.start for _, c in boxes) == 0 and max(c.stop for _, c in boxes) == 4000
    assert defects._share_boxes(900, 1100) == [(slice(0, 900), slice(0, 1100))]
    assert defects._share_boxes(800, 5000) == [(slice(0, 800), slice(0, 5000))]
    # a sampled share agrees with the whole image's on evenly spread dust
    img = _dusty(200, shape=(1100, 1100, 3))
    sampled = defects.estimate_damage_share(img)
    monkeypatch.setattr(defects, "_share_boxes", lambda h, w: [(slice(0, h), slice(0, w))])
    assert sampled == pytest.approx(defects.estimate_damage_share(img), rel=0.35)


def test_each_polarity_is_judged_on_its_own_for_the_share():
    # A dark and a bright speck side by side: two specks, not one blob
    # too big to be dust.
    img = _texture((160, 160))
    img[_disk(img.shape, 80, 74, 5)] = 0.03
    img[_disk(img.shape, 80, 86, 5)] = 0.97
    both = defects.estimate_damage_share(img, max_size=12)
    dark = defects.estimate_damage_share(img, max_size=12, polarity="dark")
    bright = defects.estimate_damage_share(img, max_size=12, polarity="bright")
    assert dark > 0 and bright > 0
    assert both == pytest.approx(dark + bright, rel=0.2)


# -- an RGBI scan's own infrared plane (Digital ICE) -----------------------------
def _rgbi_scan(seed: int = 0) -> tuple[Image, np.ndarray]:
    """A textured scan whose infrared plane shows dust the colours do not."""
    rng = np.random.default_rng(seed)
    color = (0.3 + 0.4 * rng.random((64, 72, 3))).astype(np.float32)
    ir = np.full((64, 72), 0.9, np.float32)
    dust = np.zeros((64, 72), bool)
    dust[20:23, 30:33] = True
    dust[40, 10:40] = True  # a hair
    ir[dust] = 0.15
    return Image(color=color, dtype=np.dtype(np.uint16), infrared=ir), dust


@pytest.mark.parametrize("op", ["detect-defects", "remove-defects", "restore-photo"])
def test_a_scans_own_infrared_plane_is_used(op):
    scan, dust = _rgbi_scan()
    report: dict = {}
    out = photomend.run(op, scan, report=report)
    found = (out > 0.5) if op == "detect-defects" else (
        np.abs(out.color - scan.color).max(axis=-1) > 1e-3 if op == "remove-defects"
        else report["defects"] > 0.5)
    assert found[dust].mean() > 0.9
    assert not found[ndimage.binary_dilation(dust, iterations=3) == 0].any()
    # the same through the infrared parameter, and nothing without a plane
    given = photomend.run(op, Image(color=scan.color, dtype=scan.dtype), infrared=scan.infrared)
    plain = photomend.run(op, Image(color=scan.color, dtype=scan.dtype))
    if op == "detect-defects":
        np.testing.assert_array_equal(given, out)
        assert not (plain > 0.5)[dust].any()
    else:
        np.testing.assert_array_equal(given.color, out.color)
        if op == "remove-defects":
            assert np.abs(plain.color - scan.color)[dust].max() < 1e-3
        else:  # restore-photo changes the whole photo; its dust is found only with the plane
            assert not np.array_equal(plain.color, out.color)
    # the plane belongs to this scan: it is not among the parameters reported
    assert "infrared" not in report["params"]


def test_an_infrared_parameter_given_wins_over_the_scans_own():
    scan, dust = _rgbi_scan()
    other = np.full(scan.infrared.shape, 0.9, np.float32)
    other[5:8, 60:63] = 0.15
    found = photomend.run("detect-defects", scan, infrared=other) > 0.5
    assert found[5:8, 60:63].all() and not found[dust].any()


def test_a_damage_mask_given_for_an_rgbi_scan_is_filled_as_given():
    """The scan's infrared plane is not used when the damage to fill is given."""
    scan, dust = _rgbi_scan()
    given = np.zeros(dust.shape, np.float32)
    given[50:53, 50:60] = 1.0
    out = photomend.run("remove-defects", scan, damage=given)
    changed = np.abs(out.color - scan.color).max(axis=-1) > 1e-6
    assert changed[given > 0].any() and not changed[given == 0].any()
    report: dict = {}
    photomend.run("restore-photo", scan, report=report, denoise=False, deblur=False,
                  sharpen=False, color=False)
    (step,) = report["steps"]  # the plane belongs to the scan: not in the step's report
    assert step["op"] == "remove-defects" and "infrared" not in step["params"]


def _portrait(seed=5, *, centred_light=False, noise=0.004, sizes=None):
    """Skin with eight eyes (sclera, iris, pupil, catch-light) and four dust specks.

    Returns the image, each pupil's disk (with its catch-light) and each speck's.
    """
    h, w = 240, 400
    y, x = np.mgrid[0:h, 0:w]
    img = np.empty((h, w, 3), np.float32)
    img[:] = (0.85, 0.65, 0.55)
    pupils, specks = [], []
    sizes = sizes or [(18, 8), (24, 10), (22, 6), (30, 12)]
    for i, (iris, pupil) in enumerate(sizes):
        for dx in (-30, 40):
            cy, cx = 60 + 120 * (i // 2), 100 + 200 * (i % 2) + dx
            # the lids hide the iris' top and bottom
            sclera = ((y - cy) / (0.45 * iris)) ** 2 + ((x - cx) / (1.5 * iris)) ** 2 < 1
            img[sclera] = (0.92, 0.9, 0.88)
            img[_disk((h, w), cy, cx, iris / 2) & sclera] = ((0.35, 0.22, 0.1) if i % 2
                                                            else (0.3, 0.4, 0.5))
            img[_disk((h, w), cy, cx, pupil / 2)] = (0.05, 0.04, 0.04)
            off = 0.0 if centred_light else pupil / 5
            img[_disk((h, w), cy - off, cx + off, max(pupil / 5, 1))] = 0.98
            pupils.append(_disk((h, w), cy, cx, pupil / 2 + 2))
        # a dust speck as big as the pupil, on plain skin
        sy, sx = 110 + 15 * (i % 2), 40 + 100 * i
        img[_disk((h, w), sy, sx, pupil / 2)] = (0.08, 0.06, 0.06)
        specks.append(_disk((h, w), sy, sx, pupil / 2))
    img = ndimage.gaussian_filter(img, (1.0, 1.0, 0))
    img += np.random.default_rng(seed).normal(0, noise, img.shape).astype(np.float32)
    return np.clip(img, 0, 1).astype(np.float32), pupils, specks


def test_pupils_and_their_catch_lights_are_not_dust():
    # A pupil is a dark speck, but at the centre of a plain ring (the iris)
    # set off from what lies around: image content, unlike the same speck
    # on plain skin.
    img, pupils, specks = _portrait()
    mask = photomend.run("detect-defects", img)
    out = photomend.run("remove-defects", img)
    change = np.abs(out - img).max(axis=-1)
    for pupil in pupils:
        assert (mask[pupil] <= 0.5).all()  # nor the catch-light in it
        assert change[pupil].max() == 0.0
    for speck in specks:
        assert (mask[speck] > 0.5).mean() > 0.9
        assert out[speck].mean() > img[speck].mean() + 0.3  # filled with skin


def _eye(pupil: float, iris: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """One open eye on skin, a catch-light at the pupil's very centre, σ 2/255."""
    h, w = 160, 200
    y, x = np.mgrid[0:h, 0:w]
    img = np.empty((h, w, 3), np.float32)
    img[:] = (0.85, 0.65, 0.55)
    sclera = ((y - 80) / (1.2 * iris)) ** 2 + ((x - 100) / (2.6 * iris)) ** 2 < 1
    r = np.hypot(y - 80, x - 100)
    img[sclera] = (0.92, 0.9, 0.88)
    img[(r < iris) & sclera] = (0.3, 0.4, 0.5)
    img[r < pupil] = (0.05, 0.04, 0.04)
    img[r < 2.0] = 0.98
    img = ndimage.gaussian_filter(img, (1.0, 1.0, 0))
    img += np.random.default_rng(seed).normal(0, 2 / 255, img.shape).astype(np.float32)
    return np.clip(img, 0, 1).astype(np.float32), r < pupil


@pytest.mark.parametrize(("pupil", "iris"), [(6, 13), (9, 20)])
@pytest.mark.parametrize("seed", [0, 1])
def test_a_pupil_with_its_catch_light_at_the_centre_is_left_alone(pupil, iris, seed):
    # Found as a ring round the catch-light (or as a disc taking it in), the
    # pupil had the catch-light's edge taken for its own, or passed for a
    # line, and removal painted 95 % of it over with skin.
    img, inside = _eye(pupil, iris, seed)
    out = photomend.run("remove-defects", img)
    assert not (out != img).any(axis=-1)[inside].any()


@pytest.mark.parametrize("max_size", [16, 30, 64])
def test_tiles_judge_pupils_as_one_pass(max_size):
    # (coarser levels for big specks: the margin is a whole number of
    # their pixels, so tiles subsample as the whole image does)
    img, _, _ = _portrait()
    whole = photomend.run("detect-defects", img, tile=0, max_size=max_size)
    tiled = photomend.run("detect-defects", img, tile=96, max_size=max_size)
    np.testing.assert_allclose(tiled, whole, atol=1e-4)


@pytest.mark.parametrize("kind", ["smooth", "texture"])
def test_dust_is_not_taken_for_a_pupil(kind):
    # Given the true specks as the mask, the rim test spares none of them:
    # their fringes fade without a rim, and texture around them has no
    # round rim crossed the same way all round.
    clean = synth.synthetic_scene((256, 256, 3), 8, kind=kind).astype(np.float32)
    d = synth.dust(clean, 9, count=60, radius=(2.0, 8.0))
    img = synth.gaussian_noise(d.image, 1, sigma=2.0, clip=True).image.astype(np.float32)
    truth = d.mask > 0.2
    darker = img.mean(axis=-1) < clean.mean(axis=-1)
    soft = np.stack([truth & darker, truth & ~darker]).astype(np.float32)
    kept = _defects_concentric.spare_concentric(img, soft, 16, 2.0 / 255)
    labels, count = ndimage.label(truth, structure=np.ones((3, 3)))
    spared = np.unique(labels[(soft.max(axis=0) > 0.5) & (kept.max(axis=0) <= 0.5)])
    assert count > 40 and spared[spared > 0].size <= 1


def test_one_pass_is_the_network_alone_and_eight_judge_every_view_alike():
    from photomend.ops import _defects_net

    img, _, _ = _damaged()
    planes = _defects_net.net_input(img, 2 / 255)
    np.testing.assert_array_equal(_defects_net.averaged_logits(planes, 1),
                                  _defects_net.logits(planes))
    # Eight passes average over every turn and mirror image: the result
    # turns and mirrors with the image.
    m = photomend.run("detect-defects", img, passes=8)
    mirrored = photomend.run("detect-defects", np.ascontiguousarray(img[:, ::-1]), passes=8)
    turned = photomend.run("detect-defects", np.ascontiguousarray(img.transpose(1, 0, 2)),
                           passes=8)
    np.testing.assert_allclose(mirrored[:, ::-1], m, atol=1e-5)
    np.testing.assert_allclose(turned.T, m, atol=1e-5)
    one = photomend.run("detect-defects", img, passes=1)
    assert np.abs(one[:, ::-1] - photomend.run(
        "detect-defects", np.ascontiguousarray(img[:, ::-1]), passes=1)).max() > 0.01


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_more_passes_find_damage_at_least_as_well(seed):
    noisy, truth = _aged_scene(192, seed, 14, 3, 2)
    f1 = {p: quality.mask_scores(truth, photomend.run("detect-defects", noisy, passes=p),
                                 tolerance=1).f1 for p in (1, 8)}
    assert f1[8] >= f1[1] > 0.97, f1


def test_passes_tile_exactly_and_are_checked():
    img, _, _ = _damaged()
    img = np.concatenate([img, img[:, ::-1]], axis=1)
    whole = photomend.run("detect-defects", img, tile=0, passes=4)
    tiled = photomend.run("detect-defects", img, tile=128, passes=4)
    np.testing.assert_allclose(tiled, whole, atol=1e-4)
    for bad in (0, 9):
        with pytest.raises(ParameterError, match="passes"):
            photomend.run("remove-defects", img, passes=bad)


@pytest.mark.parametrize("iris", [20.0, 21.0, 22.0, 23.0, 24.0])
def test_a_pupil_is_judged_alike_whatever_other_specks_are_tested_with_it(iris):
    # The circles read around each speck must not depend on the largest
    # speck tested in the same batch.
    h, w = 120, 200
    img = np.full((h, w, 3), 0.8, np.float32)
    img[_disk((h, w), 60, 60, iris)] = 0.4
    pupil = _disk((h, w), 60, 60, 3.0)
    img[pupil] = 0.05
    img = ndimage.gaussian_filter(img, (0.7, 0.7, 0))
    other = _disk((h, w), 60, 160, 5.0)
    img[other] = 0.05
    none = np.zeros_like(pupil)
    alone = _defects_concentric.spare_concentric(
        img, np.stack([pupil, none]).astype(np.float32), 16, 0.004)
    along = _defects_concentric.spare_concentric(
        img, np.stack([pupil | other, none]).astype(np.float32), 16, 0.004)
    assert alone[0][pupil].max() == along[0][pupil].max()
