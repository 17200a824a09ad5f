"""Tests of the inpaint operation (photomend.ops.inpaint)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import photomend
from photomend import Cancelled, MaskError, ParameterError, quality, synth
from photomend.ops._inpaint_diffusion import thin_plate_fill
from photomend.ops.inpaint import inpaint

METHODS = ("auto", "diffusion", "patch")


def _ramp(h=48, w=64, channels=3):
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    planes = [0.1 + 0.006 * x + 0.004 * y + 0.05 * c for c in range(channels)]
    return np.stack(planes, axis=-1).astype(np.float32)


def _holes(h=48, w=64):
    """An interior block, a scratch, a speck and holes at an edge and a corner."""
    m = np.zeros((h, w), np.float32)
    m[12:24, 20:34] = 1.0
    m[36:38, 5:50] = 1.0
    m[5, 50] = 1.0
    m[20:30, 0:6] = 1.0
    m[h - 7:, w - 9:] = 1.0
    return m


def _texture(h=96, w=96):
    """A periodic colour texture (periods 8 and 6 px)."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    a = 0.5 + 0.3 * np.sin(2 * np.pi * x / 8) * np.cos(2 * np.pi * y / 6)
    b = 0.5 + 0.2 * np.cos(2 * np.pi * (x + y) / 8)
    return np.stack([a, b, 1 - a], axis=-1).astype(np.float32)


# -- known answers ---------------------------------------------------------

@pytest.mark.parametrize("method", ["auto", "diffusion"])
def test_linear_ramp_is_reproduced_in_any_hole(method):
    image = _ramp()
    mask = _holes()
    damaged = image * (mask[..., None] == 0)
    out = photomend.run("inpaint", damaged, mask, method=method)
    np.testing.assert_allclose(out, image, atol=2e-5)


@pytest.mark.parametrize("method", METHODS)
def test_constant_image_is_reproduced(method):
    image = np.full((48, 64, 3), 0.37, np.float32)
    mask = _holes()
    damaged = np.where(mask[..., None] > 0, 0.9, image).astype(np.float32)
    out = photomend.run("inpaint", damaged, mask, method=method)
    np.testing.assert_allclose(out, image, atol=1e-5)


def test_thin_plate_fill_reproduces_a_plane_at_the_border():
    image = _ramp(30, 30, 1)
    hole = np.zeros((30, 30), bool)
    hole[:, :10] = True  # a third of the image, along the whole left edge
    out = thin_plate_fill(np.where(hole[..., None], 0, image), hole)
    np.testing.assert_allclose(out, image, atol=2e-5)


def test_patch_fills_a_periodic_texture_with_that_texture():
    image = _texture()
    mask = np.zeros(image.shape[:2], np.float32)
    mask[30:62, 34:70] = 1.0
    damaged = image * (1 - mask[..., None])
    out = photomend.run("inpaint", damaged, mask, method="patch", seed=3)
    assert quality.psnr(image, out, mask=mask) > 35.0
    # A smooth fill cannot invent the texture: far lower inside the hole.
    smooth = photomend.run("inpaint", damaged, mask, method="diffusion")
    assert quality.psnr(image, smooth, mask=mask) < 25.0


def test_source_restriction_copies_only_from_the_source():
    image = np.full((48, 64, 3), 0.8, np.float32)
    image[:, :32] = 0.2
    mask = np.zeros((48, 64), np.float32)
    mask[16:32, 40:56] = 1.0
    source = np.zeros((48, 64), np.float32)
    source[:, :32] = 1.0
    out = photomend.run("inpaint", image, mask, method="patch", source=source)
    np.testing.assert_allclose(out[16:32, 40:56], 0.2, atol=1e-5)


# -- properties ------------------------------------------------------------

@pytest.mark.parametrize("method", METHODS)
def test_only_masked_pixels_change_and_input_is_untouched(method):
    image = synth.synthetic_scene((64, 80, 3), seed=1)
    mask = synth.blob_mask(image.shape, 0.1, seed=2)
    mask[40:44, 10:30] = 0.4  # a soft part
    before, mask_before = image.copy(), mask.copy()
    out = photomend.run("inpaint", image, mask, method=method)
    np.testing.assert_array_equal(out[mask == 0], image[mask == 0])
    assert np.isfinite(out).all()
    assert not np.allclose(out[mask == 1], image[mask == 1])
    np.testing.assert_array_equal(image, before)
    np.testing.assert_array_equal(mask, mask_before)


@pytest.mark.parametrize("method", METHODS)
def test_holes_touching_every_border_are_filled(method):
    image = synth.synthetic_scene((48, 48, 3), seed=4)
    mask = np.zeros((48, 48), np.float32)
    mask[:6, :] = 1.0
    mask[:, -5:] = 1.0
    mask[40:, 10:20] = 1.0
    mask[20:25, :4] = 1.0
    out = photomend.run("inpaint", image * (1 - mask[..., None]), mask, method=method)
    assert np.isfinite(out).all()
    # The fill continues the image: no black band from the zeroed pixels.
    assert quality.psnr(image, out, mask=mask) > 20.0


@pytest.mark.parametrize("method", METHODS)
def test_sixteen_bit_gray_and_rgb_through_run(method):
    rgb = (synth.synthetic_scene((48, 56, 3), seed=5) * 65535).astype(np.uint16)
    gray = rgb[..., 1].copy()
    mask = synth.blob_mask(rgb.shape, 0.08, seed=6)
    for image in (rgb, gray):
        out = photomend.run("inpaint", image, mask, method=method)
        assert out.dtype == np.uint16
        assert out.shape == image.shape
        np.testing.assert_array_equal(out[mask == 0], image[mask == 0])
        err = np.abs(out.astype(np.float64) - image)[mask > 0].mean() / 65535
        assert err < 0.1


def test_same_seed_same_result():
    image = synth.synthetic_scene((64, 64, 3), seed=8, kind="texture")
    mask = synth.blob_mask(image.shape, 0.12, seed=9)
    a = photomend.run("inpaint", image, mask, method="patch", seed=11)
    b = photomend.run("inpaint", image, mask, method="patch", seed=11)
    np.testing.assert_array_equal(a, b)


def test_many_holes_and_a_large_one():
    image = synth.synthetic_scene((96, 96, 3), seed=12)
    mask = synth.blob_mask(image.shape, 0.30, seed=13)  # 30 % of the image
    specks = np.random.default_rng(14).random((96, 96)) < 0.01
    mask = np.maximum(mask, specks.astype(np.float32))
    for method in METHODS:
        out = photomend.run("inpaint", image * (1 - mask[..., None]), mask, method=method)
        assert np.isfinite(out).all()
        assert quality.psnr(image, out, mask=mask) > 16.0


def test_auto_beats_the_smooth_fill_on_texture_and_matches_it_on_scratches():
    image = synth.synthetic_scene((128, 128, 3), seed=21)
    blobs = synth.blob_mask(image.shape, 0.10, seed=22)
    strokes = synth.stroke_mask(image.shape, 0.04, 3.0, seed=23)
    for mask, margin in ((blobs, 0.0), (strokes, -0.05)):
        damaged = image * (1 - mask[..., None])
        auto = quality.psnr(image, photomend.run("inpaint", damaged, mask))
        smooth = quality.psnr(image, photomend.run("inpaint", damaged, mask,
                                                   method="diffusion"))
        assert auto > smooth + margin
        assert auto > 24.0


def test_large_hole_copies_texture_from_beyond_the_context_width():
    # A 40 px wide hole in a periodic texture with context 8: the search
    # still reaches twice the half-width, so the period comes back instead
    # of a blur (which would leave the hole's variance near zero).
    image = _texture(160, 160)
    mask = np.zeros((160, 160), np.float32)
    mask[60:100, 60:100] = 1.0
    out = photomend.run("inpaint", image * (1 - mask[..., None]), mask, method="patch",
                        context=8)
    hole = mask > 0
    assert out[hole].std(axis=0).min() > 0.6 * image[hole].std(axis=0).min()
    assert quality.psnr(image, out, mask=mask) > 20.0


def test_auto_fills_object_sized_textured_holes_by_patch_not_blur():
    image = _texture(180, 180)
    mask = np.zeros((180, 180), np.float32)
    mask[50:120, 50:120] = 1.0  # half-width 35 px: an object, not a speck
    damaged = image * (1 - mask[..., None])
    auto = photomend.run("inpaint", damaged, mask)
    patch = photomend.run("inpaint", damaged, mask, method="patch")
    np.testing.assert_allclose(auto, patch, atol=1e-6)


def test_thin_damage_self_test_learns_the_share_of_the_patch_fill():
    from photomend.ops import inpaint as module

    image = _texture(128, 128)
    hole = np.zeros((128, 128), bool)
    hole[40:43, 10:110] = True  # a scratch across a periodic texture
    filled = np.array(image)
    filled[hole] = thin_plate_fill(image, hole)[hole]
    allowed = ~hole
    share = module._validated_share(filled, hole, hole, allowed, 9, 64, 0,
                                    photomend.Progress())
    assert share is not None and share.shape == hole.shape
    assert 0.0 <= share.min() and share.max() <= 1.0
    # On an exactly repeating texture copying is right: the share leans to it.
    assert share[hole].mean() > 0.5
    # Too little room for a test: no share.
    tiny = np.zeros((12, 12), bool)
    tiny[5, 5] = True
    assert module._validated_share(np.zeros((12, 12, 3), np.float32), tiny, tiny, ~tiny, 9,
                                   64, 0, photomend.Progress()) is None


def test_progress_reaches_one_and_cancel_stops():
    image = synth.synthetic_scene((64, 64, 3), seed=15)
    mask = synth.blob_mask(image.shape, 0.1, seed=16)
    seen: list[float] = []
    photomend.run("inpaint", image, mask, seen.append, method="auto")
    assert seen[-1] == 1.0
    assert all(b >= a - 1e-9 for a, b in itertools.pairwise(seen))
    with pytest.raises(Cancelled):
        photomend.run("inpaint", image, mask, lambda f: f < 0.3, method="patch")


# -- errors ----------------------------------------------------------------

def test_empty_mask_is_refused():
    image = np.zeros((16, 16, 3), np.float32)
    with pytest.raises(MaskError, match="marks no damage"):
        photomend.run("inpaint", image, np.zeros((16, 16)))
    with pytest.raises(MaskError, match="marks no damage"):
        inpaint(image, mask=np.zeros((16, 16), np.float32))


def test_missing_mask_is_refused():
    image = np.zeros((16, 16, 3), np.float32)
    with pytest.raises(MaskError, match="needs a mask"):
        photomend.run("inpaint", image)
    with pytest.raises(MaskError, match="needs a mask"):
        inpaint(image)


@pytest.mark.parametrize("method", METHODS)
def test_whole_image_mask_leaves_nothing_to_sample_from(method):
    image = np.zeros((16, 16, 3), np.float32)
    with pytest.raises(MaskError, match="nothing is left to sample from"):
        photomend.run("inpaint", image, np.ones((16, 16)), method=method)


def test_source_outside_everything_known_is_refused():
    image = np.zeros((16, 16, 3), np.float32)
    mask = np.zeros((16, 16))
    mask[4:8, 4:8] = 1
    with pytest.raises(MaskError, match="nothing is left to sample from"):
        photomend.run("inpaint", image, mask, source=mask)


def test_shape_mismatches_are_refused():
    image = np.zeros((16, 16, 3), np.float32)
    mask = np.zeros((16, 16))
    mask[4:8, 4:8] = 1
    with pytest.raises(MaskError, match="shape"):
        photomend.run("inpaint", image, np.ones((16, 15)))
    with pytest.raises(MaskError, match="shape"):
        inpaint(image, mask=np.ones((15, 16), np.float32))
    with pytest.raises(ParameterError, match="source"):
        photomend.run("inpaint", image, mask, source=np.ones((8, 8)))


def test_even_patch_size_and_bad_method_are_refused():
    image = np.zeros((16, 16, 3), np.float32)
    mask = np.zeros((16, 16))
    mask[4:8, 4:8] = 1
    with pytest.raises(ParameterError, match="patch_size must be odd"):
        photomend.run("inpaint", image, mask, patch_size=8)
    with pytest.raises(ParameterError, match="method"):
        photomend.run("inpaint", image, mask, method="magic")


def test_registration():
    spec = photomend.get_operation("inpaint")
    assert spec.mask_role == "damage"
    assert spec.menu == "Repair"
    assert spec.halo({"context": 40, "source": None}) is None  # the op crops per region
    names = [p.name for p in spec.params]
    assert names == ["method", "patch_size", "context", "source", "seed"]


def test_thin_damage_the_self_test_rejects_keeps_the_smooth_fill(monkeypatch):
    # Where the self-test finds no use for copied texture (share 0), the
    # damage keeps its diffusion fill and the patch fill never runs on it.
    from photomend.ops import inpaint as module

    rng = np.random.default_rng(4)
    img = (0.5 + 0.05 * rng.standard_normal((96, 96, 3))).astype(np.float32)
    mask = np.zeros((96, 96), np.float32)
    mask[48, 10:86] = 1.0
    calls = []

    def no_share(filled, hole, *args, **kwargs):
        calls.append("test")
        return np.zeros(hole.shape, np.float32)

    def counting(*args, **kwargs):
        calls.append("patch")
        return real(*args, **kwargs)

    real = module.patch_fill
    monkeypatch.setattr(module, "_validated_share", no_share)
    monkeypatch.setattr(module, "patch_fill", counting)
    out = inpaint(img, mask=mask)
    assert calls == ["test"]
    np.testing.assert_array_equal(out, inpaint(img, mask=mask, method="diffusion"))


def test_broad_blur_matches_the_gaussian_filter_inside():
    from scipy import ndimage

    from photomend.ops.inpaint import _broad_blur

    rng = np.random.default_rng(5)
    planes = (rng.random((2, 301, 257)) < 0.02).astype(np.float32)
    got = _broad_blur(planes, 32.0)
    for p, g in zip(planes, got, strict=True):
        ref = ndimage.gaussian_filter(p, 32.0)
        assert np.abs(g - ref)[40:-40, 40:-40].max() < 0.03 * ref.max()
        assert np.abs(g - ref).max() < 0.2 * ref.max()


def test_fill_damage_leaves_an_image_with_nothing_known_alone():
    from photomend.ops.inpaint import fill_damage
    from photomend.progress import Progress

    img = np.random.default_rng(6).random((12, 12, 3)).astype(np.float32)
    everything = np.ones((12, 12), bool)
    np.testing.assert_array_equal(fill_damage(img, everything, "auto", Progress()), img)
    np.testing.assert_array_equal(fill_damage(img, ~everything, "auto", Progress()), img)


@pytest.mark.parametrize("shape", [(6, 40), (7, 7), (5, 9), (9, 5), (3, 300)])
def test_auto_fills_images_smaller_than_the_self_test_shifts(shape):
    """The self-test moves copies of the damage by up to 8 px; smaller images still fill."""
    rng = np.random.default_rng(0)
    img = rng.random((*shape, 3)).astype(np.float32)
    mask = np.zeros(shape, bool)
    mask[shape[0] // 2, 1:-1] = True
    out = photomend.run("inpaint", img, mask=mask)
    assert np.isfinite(out).all()
    np.testing.assert_array_equal(out[~mask], img[~mask])
    assert not np.array_equal(out[mask], img[mask])
