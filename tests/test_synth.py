from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from scipy import ndimage

from photomend import psf, quality, synth
from photomend.errors import ImageError, ParameterError

H, W = 48, 64


@pytest.fixture(scope="module")
def rgb() -> np.ndarray:
    return synth.synthetic_scene((H, W, 3), 7)


@pytest.fixture(scope="module")
def gray() -> np.ndarray:
    return synth.synthetic_scene((H, W), 7)


GENERATORS: dict[str, Callable[..., synth.Degradation]] = {
    "dust": synth.dust,
    "hairs": synth.hairs,
    "scratches": synth.scratches,
    "tears": synth.tears,
    "creases": synth.creases,
    "cracks": synth.cracks,
    "holes": synth.holes,
    "fade": synth.fade,
    "contrast_loss": synth.contrast_loss,
    "dye_fading": synth.dye_fading,
    "yellowing": synth.yellowing,
    "lifted_blacks": synth.lifted_blacks,
    "gaussian_blur": synth.gaussian_blur,
    "defocus_blur": synth.defocus_blur,
    "motion_blur": synth.motion_blur,
    "kernel_blur": synth.kernel_blur,
    "gaussian_noise": synth.gaussian_noise,
    "poisson_gaussian_noise": synth.poisson_gaussian_noise,
    "film_grain": synth.film_grain,
    "jpeg": synth.jpeg,
    "old_photo": synth.old_photo,
}
LOCAL = ["dust", "hairs", "scratches", "tears", "creases", "cracks", "holes"]


def dense(name: str) -> dict[str, int]:
    """Enough items that a small test image is surely damaged."""
    return {"count": 12} if name in ("dust", "hairs", "scratches") else {}


@pytest.mark.parametrize("name", GENERATORS)
@pytest.mark.parametrize("channels", [3, 1])
def test_generator_contract(name: str, channels: int, rgb: np.ndarray,
                            gray: np.ndarray) -> None:
    clean = rgb if channels == 3 else gray
    before = clean.copy()
    gen = GENERATORS[name]
    first = gen(clean, 11, **dense(name))
    again = gen(clean, 11, **dense(name))
    other = gen(clean, 12, **dense(name))
    np.testing.assert_array_equal(clean, before)  # input untouched
    assert first.image.dtype == np.float32 and first.image.shape == clean.shape
    assert np.isfinite(first.image).all()
    np.testing.assert_array_equal(first.clean, clean)
    assert first.clean is not clean
    np.testing.assert_array_equal(first.image, again.image)  # deterministic
    assert first.params.keys() == again.params.keys()
    assert not np.array_equal(first.image, other.image)  # seed matters
    assert not np.array_equal(first.image, clean)  # something happened
    with_generator = gen(clean, np.random.default_rng(11), **dense(name))
    assert with_generator.image.shape == clean.shape
    if first.mask is not None:
        assert first.mask.shape == clean.shape[:2] and first.mask.dtype == np.float32
        assert 0.0 <= first.mask.min() and first.mask.max() <= 1.0


@pytest.mark.parametrize("name", LOCAL)
def test_local_damage_leaves_unmasked_pixels_untouched(name: str, rgb: np.ndarray) -> None:
    d = GENERATORS[name](rgb, 3, **dense(name))
    assert d.mask is not None
    assert set(d.masks) == {name}
    np.testing.assert_array_equal(d.mask, d.masks[name])
    outside = d.mask == 0
    assert outside.any() and (~outside).any()
    np.testing.assert_array_equal(d.image[outside], d.clean[outside])
    changed = np.abs(d.image - d.clean).max(axis=2) > 0
    assert not (changed & outside).any()
    assert changed[d.mask > 0.5].mean() > 0.5


def test_dust_has_dark_and_bright_specks_of_the_requested_size(rgb: np.ndarray) -> None:
    d = synth.dust(rgb, 0, count=60, radius=(1.0, 8.0))
    specks = d.params["specks"]
    assert len(specks) == 60
    assert {s["dark"] for s in specks} == {True, False}
    radii = np.array([s["radii"] for s in specks])
    assert radii.max() <= 8.0 and radii[:, 1].min() >= 1.0
    assert all(0.4 <= s["opacity"] <= 1.0 for s in specks)
    assert 0 < d.mask.max() <= 1.0
    soft = (d.mask > 0) & (d.mask < 0.99)
    assert soft.any()  # anti-aliased, soft edges


@pytest.mark.parametrize("name", ["gaussian_blur", "defocus_blur", "motion_blur",
                                  "kernel_blur"])
def test_blur_is_reproduced_by_the_returned_psf(name: str, rgb: np.ndarray) -> None:
    d = GENERATORS[name](rgb, 5)
    assert d.psf is not None
    k = d.psf
    assert k.shape[0] % 2 == 1 and k.shape[1] % 2 == 1
    assert (k >= 0).all() and k.sum() == pytest.approx(1.0, abs=1e-12)
    ys, xs = np.indices(k.shape)
    assert (k * ys).sum() == pytest.approx(k.shape[0] // 2, abs=1e-9)
    assert (k * xs).sum() == pytest.approx(k.shape[1] // 2, abs=1e-9)
    np.testing.assert_allclose(psf.blur(d.clean, k), d.image, atol=1e-6)


def test_blur_parameters_and_given_kernel(rgb: np.ndarray) -> None:
    d = synth.motion_blur(rgb, 0, length=9.0, angle=30.0)
    np.testing.assert_allclose(d.psf, psf.motion(9.0, 30.0))
    assert d.params["length"] == 9.0 and d.params["angle"] == 30.0
    k = np.zeros((5, 5))
    k[1, 3] = 1.0
    d = synth.kernel_blur(rgb, 0, psf=k)
    np.testing.assert_allclose(d.psf, [[1.0]])
    with pytest.raises(ParameterError, match="sigma"):
        synth.gaussian_blur(rgb, 0, sigma=-1.0)


@pytest.mark.parametrize("name", ["fade", "contrast_loss", "dye_fading", "yellowing",
                                  "lifted_blacks", "old_photo"])
def test_fading_transform_is_exact_and_invertible(name: str, rgb: np.ndarray,
                                                  gray: np.ndarray) -> None:
    for clean in (rgb, gray):
        d = GENERATORS[name](clean, 9)
        ct = d.color_transform
        assert ct is not None
        if name != "old_photo":
            np.testing.assert_allclose(ct.apply(d.clean), d.image, atol=1e-6)
            np.testing.assert_allclose(ct.invert(d.image), d.clean, atol=2e-5)
        _, y = ct.curves(64)
        assert y.shape == (64, clean.shape[2])
        assert (np.diff(y, axis=0) > 0).all()  # strictly increasing, hence invertible


def test_fading_casts_go_the_documented_way() -> None:
    grey = np.full((4, 4, 3), 0.5, dtype=np.float32)
    cyan_loss = synth.dye_fading(grey, 0, loss=[0.5, 0.05, 0.25]).image[0, 0]
    assert cyan_loss[0] > cyan_loss[2] > cyan_loss[1]  # red/magenta cast
    yellow = synth.yellowing(grey, 0, amount=0.3).image[0, 0]
    assert yellow[0] > yellow[1] > yellow[2]  # blue absorbed most
    black = np.zeros((4, 4, 1), dtype=np.float32)
    assert synth.lifted_blacks(black, 0, level=0.1).image.min() == pytest.approx(0.1, abs=1e-6)
    flat = synth.contrast_loss(grey, 0, amount=0.4).image
    np.testing.assert_allclose(flat, 0.5, atol=1e-6)  # pivot at mid-grey
    ramp = np.linspace(0, 1, 11, dtype=np.float32)[None, :, None]
    low = synth.contrast_loss(ramp, 0, amount=0.4).image
    assert np.ptp(low) == pytest.approx(0.6, abs=1e-6)
    d = synth.fade(grey, 0, contrast=0.1, dye_loss=0.2, yellowing=0.1, black_lift=0.05)
    assert d.params["contrast"] == 0.1 and d.params["dye_loss"] == [0.2, 0.2, 0.2]
    with pytest.raises(ParameterError, match="dye_loss"):
        synth.fade(grey, 0, dye_loss=[0.1, 0.2])
    with pytest.raises(ParameterError, match=r"contrast = 0.9 is out of range \[0, 0.8\]"):
        synth.fade(grey, 0, contrast=0.9)


@pytest.mark.parametrize("sigma", [5.0, 25.0, 50.0])
def test_gaussian_noise_has_the_requested_sigma_unclipped(sigma: float,
                                                           rgb: np.ndarray) -> None:
    d = synth.gaussian_noise(rgb, 1, sigma=sigma)
    noise = d.image.astype(np.float64) - d.clean
    assert noise.std() == pytest.approx(sigma / 255.0, rel=0.05)
    assert abs(noise.mean()) < 3 * sigma / 255.0 / np.sqrt(noise.size)
    if sigma == 50.0:
        assert d.image.min() < 0.0 or d.image.max() > 1.0  # no clipping by default
    clipped = synth.gaussian_noise(rgb, 1, sigma=sigma, clip=True)
    assert 0.0 <= clipped.image.min() and clipped.image.max() <= 1.0


def test_poisson_gaussian_variance_follows_the_model() -> None:
    flat = np.full((64, 64, 3), 0.5, dtype=np.float32)
    d = synth.poisson_gaussian_noise(flat, 2, peak=100.0, sigma=5.0)
    var = float((d.image.astype(np.float64) - 0.5).var())
    assert var == pytest.approx(0.5 * d.params["a"] + d.params["b"], rel=0.05)
    assert d.params["a"] == pytest.approx(0.01)


def test_film_grain_is_strongest_in_midtones_and_correlated() -> None:
    ramp = np.repeat(np.linspace(0.0, 1.0, 64, dtype=np.float32)[None, :], 64, axis=0)
    d = synth.film_grain(ramp[..., None], 3, strength=0.05, size=1.5, clip=False)
    grain = d.image[..., 0] - ramp
    mid, dark = grain[:, 28:36].std(), grain[:, :3].std()
    assert mid > 3 * dark
    assert mid == pytest.approx(0.05, rel=0.25)
    # Neighbouring pixels are correlated (clumped grain), unlike white noise.
    mid_grain = grain[:, 20:44]
    corr = np.corrcoef(mid_grain[:, :-1].ravel(), mid_grain[:, 1:].ravel())[0, 1]
    assert corr > 0.5


def test_jpeg_quality_orders_the_error(rgb: np.ndarray, gray: np.ndarray) -> None:
    good = synth.jpeg(rgb, 0, quality=95)
    bad = synth.jpeg(rgb, 0, quality=10)
    assert quality.psnr(rgb, good.image) > quality.psnr(rgb, bad.image) + 5
    assert quality.psnr(rgb, good.image) > 30
    assert good.params["bytes"] > bad.params["bytes"]
    assert synth.jpeg(gray, 0, quality=50).image.shape == gray.shape
    with pytest.raises(ParameterError, match="quality"):
        synth.jpeg(rgb, 0, quality=0)


@pytest.mark.parametrize("coverage", [0.01, 0.05, 0.15])
def test_hole_coverage_is_as_requested(coverage: float, rgb: np.ndarray) -> None:
    d = synth.holes(rgb, 4, coverage=coverage)
    assert d.masks["holes"].mean() == pytest.approx(coverage, rel=0.2)
    assert set(np.unique(d.mask)) <= {0.0, 1.0}
    inside = d.mask > 0
    np.testing.assert_allclose(d.image[inside], np.broadcast_to(
        np.array(d.params["fill"], dtype=np.float32), d.image[inside].shape))


@pytest.mark.parametrize("coverage", [0.02, 0.08, 0.15])
@pytest.mark.parametrize("width", [2.0, 6.0])
def test_stroke_and_blob_masks_hit_the_coverage(coverage: float, width: float) -> None:
    strokes = synth.stroke_mask((96, 128), coverage, width, 1)
    assert strokes.shape == (96, 128) and strokes.dtype == np.float32
    assert set(np.unique(strokes)) <= {0.0, 1.0}
    assert strokes.mean() == pytest.approx(coverage, rel=0.2)
    np.testing.assert_array_equal(strokes, synth.stroke_mask((96, 128, 3), coverage, width, 1))
    blobs = synth.blob_mask((96, 128), coverage, 1)
    assert blobs.mean() == pytest.approx(coverage, abs=1 / (96 * 128))
    assert not np.array_equal(blobs, synth.blob_mask((96, 128), coverage, 2))


def test_mask_errors() -> None:
    with pytest.raises(ParameterError, match="coverage"):
        synth.blob_mask((10, 10), 1.5, 0)
    with pytest.raises(ParameterError, match="coverage"):
        synth.stroke_mask((10, 10), 0.0, 2.0, 0)
    with pytest.raises(ParameterError, match="shape"):
        synth.stroke_mask((10,), 0.1, 2.0, 0)


@pytest.mark.parametrize("severity", ["light", "medium", "heavy"])
def test_old_photo_returns_consistent_ground_truth(severity: str) -> None:
    clean = synth.synthetic_scene((64, 80, 3), 1)
    d = synth.old_photo(clean, 8, severity)  # type: ignore[arg-type]
    assert set(d.masks) == {"dust", "hairs", "scratches"}
    assert d.mask is not None and d.psf is not None and d.color_transform is not None
    union = 1 - np.prod([1 - m for m in d.masks.values()], axis=0)
    np.testing.assert_allclose(d.mask, union, atol=1e-6)
    assert 0.0 <= d.image.min() and d.image.max() <= 1.0
    # Before surface damage and grain the photo is fade(blur(clean)).
    base = d.color_transform.apply(psf.blur(clean, d.psf))
    residual = (d.image - base)[d.mask == 0]
    strength = d.params["grain"]["strength"]
    assert abs(residual.mean()) < 0.01
    assert residual.std() < 1.2 * strength
    assert d.params["order"] == ["blur", "fading", "dust", "hairs", "scratches", "grain"]


def test_old_photo_severity_orders_the_damage() -> None:
    clean = synth.synthetic_scene((64, 80, 3), 2)
    scores = [quality.psnr(clean, synth.old_photo(clean, 3, s).image)  # type: ignore[arg-type]
              for s in ("light", "medium", "heavy")]
    assert scores[0] > scores[1] > scores[2]
    with pytest.raises(ParameterError, match="severity"):
        synth.old_photo(clean, 3, "ancient")  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["photo", "smooth", "texture"])
def test_synthetic_scene(kind: str) -> None:
    scene = synth.synthetic_scene((40, 56, 3), 5, kind)  # type: ignore[arg-type]
    assert scene.shape == (40, 56, 3) and scene.dtype == np.float32
    assert 0.03 - 1e-6 <= scene.min() and scene.max() <= 0.97 + 1e-6
    np.testing.assert_array_equal(scene, synth.synthetic_scene((40, 56, 3), 5, kind))  # type: ignore[arg-type]
    assert not np.array_equal(scene, synth.synthetic_scene((40, 56, 3), 6, kind))  # type: ignore[arg-type]
    assert synth.synthetic_scene((40, 56), 5, kind).shape == (40, 56, 1)  # type: ignore[arg-type]
    steps = np.abs(np.diff(scene, axis=1)).max()
    if kind == "smooth":
        assert steps < 0.1
    else:
        assert steps > 0.3  # crisp edges and fine detail


@pytest.mark.parametrize("seed", [None, -1, 1.5, True, "7"])
def test_bad_seeds_are_refused(seed: object, rgb: np.ndarray) -> None:
    with pytest.raises(ParameterError, match="seed"):
        synth.dust(rgb, seed)  # type: ignore[arg-type]


@pytest.mark.parametrize(("image", "text"), [
    (np.zeros((8, 8), dtype=np.float32), r"\(H, W, 1\) or \(H, W, 3\)"),
    (np.zeros((8, 8, 4), dtype=np.float32), r"\(H, W, 1\) or \(H, W, 3\)"),
    (np.zeros((8, 8, 3), dtype=np.uint8), "to_float32"),
    (np.full((8, 8, 3), np.nan, dtype=np.float32), "NaN"),
    (np.zeros((0, 8, 3), dtype=np.float32), "empty"),
])
def test_bad_images_are_refused(image: np.ndarray, text: str) -> None:
    with pytest.raises(ImageError, match=text):
        synth.scratches(image, 0)


def test_parameter_errors_name_the_parameter(rgb: np.ndarray) -> None:
    with pytest.raises(ParameterError, match=r"radius = 100.0 is out of range"):
        synth.dust(rgb, 0, radius=100.0)
    with pytest.raises(ParameterError, match="low must not exceed high"):
        synth.scratches(rgb, 0, width=(3.0, 1.0))
    with pytest.raises(ParameterError, match="count"):
        synth.hairs(rgb, 0, count=-1)
    with pytest.raises(ParameterError, match="sigma"):
        synth.gaussian_noise(rgb, 0, sigma=300.0)
    with pytest.raises(ParameterError, match="fill"):
        synth.holes(rgb, 0, coverage=0.05, fill=(1.0, 1.0))


def test_cracks_branch_into_a_network_of_thin_bright_lines(rgb):
    d = synth.cracks(rgb, 3, count=1, size=150.0)
    line = d.mask > 0.2
    assert line.any()
    _, n = ndimage.label(line, structure=np.ones((3, 3), bool))
    assert n <= 3  # one connected network (ends may leave the frame)
    assert d.params["cracks"][0]["lines"] > 3  # it branched
    # Thin: almost every marked pixel is within 2 px of the unmarked image.
    assert (ndimage.distance_transform_edt(line) <= 2).mean() > 0.95
    assert (d.image[line].mean(axis=-1) > rgb[line].mean(axis=-1)).mean() > 0.9
