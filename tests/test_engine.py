from typing import Annotated

import numpy as np
import pytest

import photomend
from photomend import Cancelled, Image, ImageError, MaskError, Param, ParameterError
from photomend.engine import as_mask, context_box


def _image(rng, shape=(64, 80, 3), dtype=np.uint16):
    return (rng.random(shape) * np.iinfo(dtype).max).astype(dtype)


def test_run_keeps_type_shape_and_alpha(rng):
    rgba = _image(rng, (30, 40, 4))
    out = photomend.run("sharpen", rgba, radius=1.5, amount=1.0)
    assert out.dtype == np.uint16 and out.shape == rgba.shape
    np.testing.assert_array_equal(out[..., 3], rgba[..., 3])
    assert np.any(out[..., :3] != rgba[..., :3])


def test_mask_limits_changes_and_feathers(rng):
    img = rng.random((40, 50, 3)).astype(np.float32)
    mask = np.zeros((40, 50), np.float32)
    mask[10:20, 10:30] = 1.0
    mask[25, 10:30] = 0.5
    full = photomend.run("sharpen", img, amount=2.0)
    out = photomend.run("sharpen", img, mask=mask, amount=2.0)
    outside = mask == 0
    np.testing.assert_array_equal(out[outside], img[outside])
    np.testing.assert_allclose(out[10:20, 10:30], full[10:20, 10:30], atol=1e-6)
    np.testing.assert_allclose(out[25, 10:30], 0.5 * (img[25, 10:30] + full[25, 10:30]),
                               atol=1e-6)


@pytest.mark.parametrize("coverage", [0.05, 0.9])  # sparse and dense blending paths
def test_blend_through_soft_masks_of_any_coverage(rng, coverage):
    img = rng.random((60, 70, 3)).astype(np.float32)
    before = img.copy()
    mask = np.zeros((60, 70), np.float32)
    inner = rng.random((30, 40)) < coverage
    mask[15:45, 20:60] = inner * rng.uniform(0.1, 1.0, (30, 40))
    full = photomend.run("sharpen", img, amount=2.0)
    out = photomend.run("sharpen", img, mask=mask, amount=2.0)
    expected = img + mask[..., None] * (full - img)
    np.testing.assert_allclose(out, expected, atol=1e-6)
    np.testing.assert_array_equal(img, before)  # the input is never written
    assert not np.shares_memory(out, img)


def test_unblended_run_leaves_blending_to_the_host(rng):
    img = rng.random((40, 50, 3)).astype(np.float32)
    mask = np.zeros((40, 50), np.float32)
    mask[10:20, 10:30] = 0.25
    full = photomend.run("sharpen", img)
    raw = photomend.run("sharpen", img, mask=mask, blend=False)
    np.testing.assert_allclose(raw[10:20, 10:30], full[10:20, 10:30], atol=1e-6)


def test_empty_selection_and_bad_masks(rng):
    img = rng.random((20, 20, 3)).astype(np.float32)
    with pytest.raises(MaskError, match="selection is empty"):
        photomend.run("sharpen", img, mask=np.zeros((20, 20)))
    with pytest.raises(MaskError, match=r"shape \(20, 21\).*20×20"):
        photomend.run("sharpen", img, mask=np.ones((20, 21)))
    bad = np.ones((20, 20))
    bad[0, 0] = np.nan
    with pytest.raises(MaskError, match="NaN"):
        photomend.run("sharpen", img, mask=bad)


def test_mask_levels():
    m = as_mask(np.array([[0, 65535]], np.uint16), (1, 2))
    np.testing.assert_array_equal(m, [[0.0, 1.0]])
    assert as_mask(np.array([[True, False]]), (1, 2)).dtype == np.float32
    np.testing.assert_array_equal(as_mask(np.array([[-1.0, 2.0]]), (1, 2)), [[0.0, 1.0]])
    with pytest.raises(MaskError, match="numbers"):
        as_mask(np.array([["a", "b"]]), (1, 2))


def test_context_box():
    m = np.zeros((50, 60), np.float32)
    m[20:25, 30:32] = 1
    assert context_box(m, 5) == (slice(15, 30), slice(25, 37))
    assert context_box(m, 100) == (slice(0, 50), slice(0, 60))
    assert context_box(m, None) == (slice(0, 50), slice(0, 60))


def test_bad_images_are_refused():
    with pytest.raises(ImageError, match="NaN"):
        photomend.run("sharpen", np.full((5, 5, 3), np.nan, np.float32))
    with pytest.raises(ImageError, match="numpy array"):
        photomend.run("sharpen", [[1, 2], [3, 4]])


def _register_probe(space="perceptual", output="image", mask_role="selection"):
    seen = {}

    @photomend.operation("test-probe", label="_Probe", menu="Test", space=space,
                         output=output, mask_role=mask_role)
    def probe(image: np.ndarray, *, mask: np.ndarray | None = None,
              gain: Annotated[float, Param("gain", min=0, max=4)] = 2.0) -> np.ndarray:
        """Probe what the engine passes."""
        seen["image"] = image.copy()
        seen["mask"] = None if mask is None else mask.copy()
        if output == "mask":
            return np.ones(image.shape[:2], np.float32)
        return image * gain
    return seen


def test_linear_operations_get_linear_light(scratch_registry):
    seen = _register_probe(space="linear")
    img = np.full((4, 4, 3), 0.5, np.float32)
    out = photomend.run("test-probe", img, gain=2.0)
    np.testing.assert_allclose(seen["image"], 0.21404114, rtol=1e-5)
    np.testing.assert_allclose(out, photomend.convert.linear_to_srgb(
        np.float32(2 * 0.21404114)), rtol=1e-5)
    lin = Image.from_array(img, transfer="linear")
    out_img = photomend.run("test-probe", lin, gain=2.0)
    assert isinstance(out_img, Image) and out_img.transfer == "linear"
    np.testing.assert_allclose(out_img.color, 1.0)


def test_operations_see_only_the_selection_box(scratch_registry):
    seen = _register_probe()
    img = np.zeros((30, 30, 1), np.float32)
    mask = np.zeros((30, 30), np.float32)
    mask[5:8, 10:20] = 1
    photomend.run("test-probe", img, mask=mask)
    # halo None: the whole image is context
    assert seen["image"].shape == (30, 30, 1)
    assert seen["mask"].shape == (30, 30)


def test_damage_operations_require_a_mask(scratch_registry):
    _register_probe(mask_role="damage")
    img = np.zeros((10, 10, 3), np.float32)
    with pytest.raises(MaskError, match="needs a mask"):
        photomend.run("test-probe", img)
    with pytest.raises(MaskError, match="marks no damage"):
        photomend.run("test-probe", img, mask=np.zeros((10, 10)))


def test_detection_output_is_limited_to_the_selection(scratch_registry):
    _register_probe(output="mask")
    img = np.zeros((10, 12, 3), np.uint8)
    assert photomend.run("test-probe", img).shape == (10, 12)
    sel = np.zeros((10, 12), np.float32)
    sel[2:4, 3:5] = 0.5
    out = photomend.run("test-probe", img, mask=sel)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, sel)


def test_cancel_leaves_input_untouched(rng):
    img = _image(rng, (300, 300, 3))
    before = img.copy()
    calls = []

    def stop(fraction):
        calls.append(fraction)
        return len(calls) < 3

    with pytest.raises(Cancelled):
        photomend.run("sharpen", img, progress=stop, tile=64)
    np.testing.assert_array_equal(img, before)
    assert calls == sorted(calls)


@pytest.mark.parametrize("tile", [17, 64, 100])
def test_tiled_equals_untiled(rng, tile):
    img = rng.random((150, 130, 3)).astype(np.float32)
    whole = photomend.run("sharpen", img, tile=0, radius=3.0)
    tiled = photomend.run("sharpen", img, tile=tile, radius=3.0)
    np.testing.assert_allclose(tiled, whole, atol=1e-6)


def test_progress_reaches_one(rng):
    seen = []
    photomend.run("sharpen", rng.random((100, 100, 3)).astype(np.float32), progress=seen.append,
                  tile=32)
    assert seen[0] == 0.0 and seen[-1] == 1.0
    assert seen == sorted(seen)


def test_operation_exception_in_a_tile_propagates(scratch_registry):
    @photomend.operation("test-boom", label="_Boom", menu="Test", local=True, halo=1)
    def boom(image: np.ndarray) -> np.ndarray:
        """Fail on the second row of tiles."""
        if image.shape[0] < 20:
            raise photomend.ImageError("boom")
        return image

    with pytest.raises(photomend.ImageError, match="boom"):
        photomend.run("test-boom", np.zeros((50, 50, 3), np.float32), tile=32)


def test_report_holds_resolved_params_and_full_size_masks(scratch_registry):
    def prepare(image, params):
        return {"gain": 3.0} if params["gain"] is None else {}

    @photomend.operation("test-report", label="_Report", menu="Test", halo=2,
                         prepare=prepare)
    def reporting(image: np.ndarray, *, report: dict | None = None,
                  gain: Annotated[float | None, Param("gain", min=0, max=4)] = None
                  ) -> np.ndarray:
        """Report a mask of the processed region."""
        if report is not None:
            report["found"] = np.ones(image.shape[:2], np.float32)
            report["level"] = 0.5
        return image * gain

    img = np.full((20, 30, 3), 0.1, np.float32)
    sel = np.zeros((20, 30), np.float32)
    sel[5:8, 10:12] = 1
    report: dict = {}
    photomend.run("test-report", img, mask=sel, report=report)
    assert report["params"] == {"gain": 3.0} and report["level"] == 0.5
    found = report["found"]
    assert found.shape == (20, 30)
    assert found[3:10, 8:14].all() and found.sum() == 7 * 6
    photomend.run("test-report", img)  # without a report dict the op still runs


def test_tiles_tell_an_operation_which_pixels_are_kept(scratch_registry):
    seen: list[tuple[tuple[int, ...], tuple[slice, slice] | None]] = []

    @photomend.operation("test-keep", label="_Keep", menu="Test", local=True, halo=3)
    def keeping(image: np.ndarray, *, keep: tuple[slice, slice] | None = None
                ) -> np.ndarray:
        """Mark the kept part of each tile."""
        seen.append((image.shape, keep))
        out = np.zeros_like(image)
        out[(slice(None), slice(None)) if keep is None else keep] = 1.0
        return out

    img = np.zeros((40, 50, 3), np.float32)
    tiled = photomend.run("test-keep", img, tile=16)
    assert (tiled == 1.0).all()  # every kept pixel was inside its tile's `keep`
    assert len(seen) == 3 * 4
    # A tile in the middle reads 3 px of context on every side.
    assert ((22, 22, 3), (slice(3, 19), slice(3, 19))) in seen
    assert "keep" not in {p.name for p in photomend.registry.get("test-keep").params}
    seen.clear()
    photomend.run("test-keep", img, tile=0)
    assert seen == [((40, 50, 3), None)]


def test_a_halo_as_large_as_the_image_is_not_tiled(scratch_registry):
    calls: list[tuple[int, ...]] = []

    @photomend.operation("test-whole", label="_Whole", menu="Test", local=True,
                         halo=lambda params: 1 << 30)
    def whole(image: np.ndarray) -> np.ndarray:
        """Record the size of each call."""
        calls.append(image.shape)
        return image

    photomend.run("test-whole", np.zeros((40, 50, 3), np.float32), tile=16)
    assert calls == [(40, 50, 3)]


def test_values_far_beyond_any_photograph_are_refused():
    """Finite but huge values used to come back as NaN (auto-contrast, inpaint)."""
    img = np.linspace(0, 1e30, 48 * 48 * 3, dtype=np.float32).reshape(48, 48, 3)
    for op in ("auto-contrast", "sharpen"):
        with pytest.raises(ImageError, match=r"values from 0 to 1e\+30.*scale the image first"):
            photomend.run(op, img)
    hdr = np.full((32, 32, 3), 5e4, np.float32)  # bright, but a photograph's range
    assert photomend.run("sharpen", hdr).dtype == np.float32


@pytest.mark.parametrize("tile", [2.5, "512", -5, True])
def test_a_wrong_tile_is_refused(tile):
    with pytest.raises(ParameterError, match="tile must be a whole number of pixels"):
        photomend.run("sharpen", np.zeros((40, 40, 3), np.uint8), tile=tile)


def test_a_number_too_large_for_a_float_is_refused():
    with pytest.raises(ParameterError, match=r"radius must be .*too large"):
        photomend.run("sharpen", np.zeros((40, 40, 3), np.uint8), radius=10**400)


@pytest.mark.parametrize("dtype", [np.uint32, np.float64])
@pytest.mark.parametrize("channels", [0, 3, 4])
def test_wide_types_keep_unselected_pixels_bit_identical(dtype, channels):
    """float32 cannot hold uint32 or float64 values exactly; unselected ones are the caller's."""
    rng = np.random.default_rng(0)
    shape = (60, 70) if channels == 0 else (60, 70, channels)
    top = np.iinfo(np.uint32).max if dtype == np.uint32 else 1.0
    img = (rng.random(shape) * top).astype(dtype)
    mask = np.zeros((60, 70), bool)
    mask[10:30, 10:40] = True
    out = photomend.run("sharpen", img, mask=mask)
    assert out.dtype == img.dtype and out.shape == img.shape
    np.testing.assert_array_equal(out[~mask], img[~mask])
    assert not np.array_equal(out[mask], img[mask])
