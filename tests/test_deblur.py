"""Tests of the deblur operation, its solvers and blind PSF estimation.

Scenes are seeded "dead leaves" images (occluding disks with power-law
radii): their spectra follow the 1/f² law of natural photos, which is what
blind estimation relies on, and they have hard edges that ring when
deconvolution goes wrong. Blur is applied in linear light, as a lens does
and as the operation models by default, unless a test says otherwise.
"""

from __future__ import annotations

import numpy as np
import pytest

import photomend
from photomend import ParameterError, Progress, quality, synth
from photomend import psf as psfs
from photomend.convert import linear_to_srgb, srgb_to_linear
from photomend.errors import Cancelled, ImageError
from photomend.ops import _deblur_blind as blind
from photomend.ops import _deblur_solvers as solvers
from photomend.ops import deblur as deblur_module
from photomend.ops._deblur_blind import general_supports
from photomend.ops.deblur import BlurEstimate, _busiest_box, deblur, estimate_psf


@pytest.fixture(autouse=True)
def _fresh_estimates() -> None:
    """Every test estimates afresh: no blind estimate is remembered from another."""
    deblur_module._MEMO.clear()


def dead_leaves(n: int, seed: int, channels: int = 1) -> np.ndarray:
    """A seeded dead-leaves scene, float32 (n, n, channels) in [0.05, 0.95]."""
    rng = np.random.default_rng(seed)
    img = np.full((n, n, channels), 0.5, np.float32)
    yy, xx = np.mgrid[0:n, 0:n]
    rmin, rmax = 2.0, n / 4
    for _ in range(int(6 * n)):
        u = rng.random()
        # radius density ∝ r^-3 between rmin and rmax (scale invariance)
        r = 1.0 / np.sqrt((1 - u) / rmin**2 + u / rmax**2)
        cy, cx = rng.uniform(-r, n + r, 2)
        y0, y1 = max(0, int(cy - r)), min(n, int(cy + r) + 1)
        x0, x1 = max(0, int(cx - r)), min(n, int(cx + r) + 1)
        if y0 >= y1 or x0 >= x1:
            continue
        inside = (yy[y0:y1, x0:x1] - cy) ** 2 + (xx[y0:y1, x0:x1] - cx) ** 2 <= r * r
        value = rng.uniform(0.05, 0.95, channels) if channels > 1 else rng.uniform(0.05, 0.95)
        img[y0:y1, x0:x1][inside] = value
    return img


def blur_linear(img: np.ndarray, kernel: np.ndarray, noise: float = 0.0,
                seed: int = 0) -> np.ndarray:
    """Blur sRGB-encoded pixels in linear light, then add noise to the encoded values."""
    out = linear_to_srgb(psfs.blur(srgb_to_linear(img), kernel))
    if noise:
        out = out + np.random.default_rng(seed).normal(0.0, noise, out.shape).astype(np.float32)
    return out.astype(np.float32)


def interior_psnr(ref: np.ndarray, out: np.ndarray, margin: int) -> float:
    sl = (slice(margin, -margin), slice(margin, -margin))
    return quality.psnr(ref[sl], np.clip(out, 0, 1)[sl])


@pytest.fixture(scope="module")
def scene() -> np.ndarray:
    return dead_leaves(128, seed=3)


@pytest.fixture(scope="module")
def big_scene() -> np.ndarray:
    return dead_leaves(256, seed=11)


# ----------------------------------------------------------------------------
# Known PSF


def test_noise_free_blur_with_known_psf_is_inverted(scene: np.ndarray) -> None:
    k = psfs.disk(3.0)
    blurred = blur_linear(scene, k)
    out = photomend.run("deblur", blurred, psf=k)
    before = interior_psnr(scene, blurred, 8)
    after = interior_psnr(scene, out, 8)
    assert before < 24.0
    assert after > 35.0  # measured ≈ 38.3 dB


def test_perceptual_blur_space_inverts_blur_of_encoded_values(scene: np.ndarray) -> None:
    k = psfs.motion(9.0, 30.0)
    blurred = psfs.blur(scene, k)  # blur applied to the stored values
    out = photomend.run("deblur", blurred, psf=k, blur_space="perceptual")
    assert interior_psnr(scene, out, 10) > 33.0  # measured ≈ 35.7 dB
    # the linear model does not fit this image as well
    lin = photomend.run("deblur", blurred, psf=k)
    assert interior_psnr(scene, lin, 10) < interior_psnr(scene, out, 10)


def test_step_edge_is_recovered() -> None:
    step = np.full((64, 64, 1), 0.2, np.float32)
    step[:, 32:] = 0.8
    k = psfs.gaussian(1.5)
    blurred = blur_linear(step, k)
    out = photomend.run("deblur", blurred, psf=k)
    row = out[32, :, 0]
    # the ramp over ~8 px becomes a one-pixel step again (measured: 0.203 → 0.799)
    assert np.abs(row[20:44] - step[32, 20:44, 0]).max() < 0.03
    error_in = np.abs(blurred[32, :, 0] - step[32, :, 0]).mean()
    assert np.abs(row - step[32, :, 0]).mean() < error_in / 4


@pytest.mark.parametrize(("method", "gain"), [  # measured gains: 4.2, 1.9, 1.0, 2.7 dB
    ("sparse", 3.5), ("wiener", 1.5), ("inverse", 0.7), ("richardson-lucy", 2.0)])
def test_every_method_improves_a_noisy_blur(scene: np.ndarray, method: str,
                                            gain: float) -> None:
    k = psfs.disk(3.0)
    blurred = blur_linear(scene, k, noise=0.01, seed=5)
    out = photomend.run("deblur", blurred, psf=k, method=method)
    before = interior_psnr(scene, blurred, 8)
    assert interior_psnr(scene, out, 8) > before + gain


def test_wiener_keeps_a_smooth_picture() -> None:
    # Little of a smooth picture stands above the noise: the spectrum model
    # is fitted where it does (it used to come out near zero and flatten it).
    smooth = synth.synthetic_scene((128, 128, 3), 5, kind="smooth")
    k = psfs.gaussian(0.5)
    blurred = blur_linear(smooth, k, noise=0.005, seed=3)
    out = photomend.run("deblur", blurred, psf=k, method="wiener")
    assert interior_psnr(smooth, out, 4) > interior_psnr(smooth, blurred, 4) - 0.5
    assert float(np.std(out)) > 0.8 * float(np.std(smooth))


def test_sparse_beats_wiener_on_noisy_motion(scene: np.ndarray) -> None:
    k = psfs.motion(11.0, 60.0)
    blurred = blur_linear(scene, k, noise=0.01, seed=6)
    sparse = interior_psnr(scene, photomend.run("deblur", blurred, psf=k), 12)
    wiener = interior_psnr(scene, photomend.run("deblur", blurred, psf=k, method="wiener"), 12)
    assert sparse > wiener + 0.5


def test_parametric_psf_matches_explicit_psf(scene: np.ndarray) -> None:
    blurred = blur_linear(scene, psfs.disk(2.5))
    a = photomend.run("deblur", blurred, blur="defocus", radius=2.5)
    b = photomend.run("deblur", blurred, psf=psfs.disk(2.5))
    np.testing.assert_allclose(a, b, atol=1e-4)
    c = photomend.run("deblur", blurred, blur="combined", radius=2.5, length=4.0, angle=10.0)
    d = photomend.run("deblur", blurred, psf=psfs.compose(psfs.disk(2.5), psfs.motion(4.0, 10.0)))
    np.testing.assert_allclose(c, d, atol=1e-4)


def test_no_ringing_at_image_borders(scene: np.ndarray) -> None:
    k = psfs.motion(15.0, 20.0)
    blurred = blur_linear(scene, k, noise=0.005, seed=2)
    out = np.clip(photomend.run("deblur", blurred, psf=k), 0, 1)
    border = np.ones(scene.shape[:2], bool)
    border[8:-8, 8:-8] = False  # the outer 8 px, where a circular model would ring
    band_in = quality.psnr(scene[border], blurred[border])
    band_out = quality.psnr(scene[border], out[border])
    interior = interior_psnr(scene, out, 16)
    assert band_out > band_in + 1.0
    assert band_out > interior - 6.0  # measured: border ≈ 26 dB, interior ≈ 29 dB


def test_gray_colour_stays_gray() -> None:
    gray = blur_linear(dead_leaves(64, seed=4), psfs.gaussian(1.2), noise=0.01, seed=1)
    k = psfs.gaussian(1.2)
    out = photomend.run("deblur", np.repeat(gray, 3, axis=2), psf=k)
    # every channel the same → no colour fringes at the edges
    assert np.abs(out[..., 0] - out[..., 1]).max() < 0.1 / 255
    assert np.abs(out[..., 0] - out[..., 2]).max() < 0.1 / 255


def test_sixteen_bit_through_run(scene: np.ndarray) -> None:
    k = psfs.disk(2.0)
    blurred16 = np.round(blur_linear(scene, k) * 65535).astype(np.uint16)
    out = photomend.run("deblur", blurred16, psf=k)
    assert out.dtype == np.uint16 and out.shape == blurred16.shape
    restored = out.astype(np.float32) / 65535
    assert interior_psnr(scene, restored, 8) > 36.0
    # 16-bit precision is kept: far more than 256 levels, fine steps preserved
    assert np.unique(out).size > 4096
    out8 = photomend.run("deblur", np.round(blurred16 / 257).astype(np.uint8), psf=k)
    assert interior_psnr(scene, restored, 8) > interior_psnr(scene, out8 / 255.0, 8)


def test_selection_uses_context_and_matches_the_whole_image(scene: np.ndarray) -> None:
    k = psfs.disk(2.5)
    blurred = blur_linear(scene, k, noise=0.005, seed=8)
    mask = np.zeros(scene.shape[:2], np.float32)
    mask[50:80, 40:90] = 1.0
    part = photomend.run("deblur", blurred, mask=mask, psf=k, noise=0.005)
    whole = photomend.run("deblur", blurred, psf=k, noise=0.005)
    np.testing.assert_array_equal(part[mask == 0], blurred[mask == 0])
    inside = mask > 0
    assert quality.psnr(whole[inside], part[inside]) > 40.0  # measured ≈ 45 dB


def test_tiles_agree_with_one_pass(big_scene: np.ndarray) -> None:
    k = psfs.gaussian(1.5)
    blurred = blur_linear(big_scene, k, noise=0.005, seed=9)
    one = photomend.run("deblur", blurred, psf=k, tile=0)
    tiled = photomend.run("deblur", blurred, psf=k, tile=96)
    assert quality.psnr(one, tiled) > 45.0


@pytest.mark.parametrize("method", ["sparse", "wiener", "richardson-lucy"])
def test_tiles_equal_one_pass_up_to_the_image_border(method: str) -> None:
    """The ring around a tile that ends at the image's edge is the one-pass ring there.

    It used to fade to the tile's own mean, over a length set by the FFT
    frame's size: a narrow last tile then differed everywhere, by up to
    0.025 next to the seam (Wiener).
    """
    y, x = np.mgrid[0:160, 0:700] / 700.0
    tex = 0.1 * np.sin(x * 700 / 3.0) * np.cos(y * 700 / 5.0)
    scene = np.stack([0.3 + 0.4 * x, 0.2 + 0.5 * y, 0.5 + 0.3 * np.sin(6 * x + 3 * y)], -1)
    k = psfs.gaussian(1.5)
    image = blur_linear(np.clip(scene + tex[..., None], 0, 1).astype(np.float32), k,
                        noise=0.01, seed=3)
    one = photomend.run("deblur", image, psf=k, method=method, tile=0)
    tiled = photomend.run("deblur", image, psf=k, method=method, tile=256)
    inner = np.abs(one - tiled)[4:-4, 4:-4]
    assert float(inner.max()) < 2e-4


@pytest.mark.parametrize("method", ["wiener", "inverse", "richardson-lucy"])
def test_tiles_share_the_fitted_regularisation(method: str) -> None:
    # Fitted per tile, the filters' balance (and Richardson–Lucy's stop)
    # followed each tile's content and the seams showed: 42.5 dB (Wiener) and
    # 43.3 dB (Richardson–Lucy) before, 47.3 and 69.7 now. (Inverse's GCV grid
    # picked the same ε in every tile of this scene: 48.4 dB both times.)
    scene = dead_leaves(256, seed=11, channels=3)
    k = psfs.disk(3.0)
    blurred = blur_linear(scene, k, noise=0.01, seed=9)
    one = photomend.run("deblur", blurred, psf=k, method=method, tile=0)
    tiled = photomend.run("deblur", blurred, psf=k, method=method, tile=96)
    assert quality.psnr(one, tiled) > 45.0


def test_the_fitted_balance_is_reported_and_reproduces_the_run(scene: np.ndarray) -> None:
    k = psfs.disk(3.0)
    blurred = blur_linear(scene, k, noise=0.01, seed=5)
    report: dict = {}
    out = photomend.run("deblur", blurred, psf=k, method="wiener", report=report)
    balance = report["params"]["balance"]
    assert balance.shape == (1,) and balance[0] > 0
    again = photomend.run("deblur", blurred, psf=k, method="wiener", balance=balance)
    np.testing.assert_array_equal(out, again)
    smoother = photomend.run("deblur", blurred, psf=k, method="wiener", balance=balance * 100)
    assert np.abs(np.diff(smoother[..., 0], axis=1)).mean() < np.abs(np.diff(out[..., 0],
                                                                              axis=1)).mean()


@pytest.mark.parametrize("balance", [[1e-3, 1e-3], [0.0], [float("nan")], [[1e-3]]])
def test_a_wrong_balance_is_refused(scene: np.ndarray, balance: list) -> None:
    with pytest.raises(ParameterError, match="balance must"):
        photomend.run("deblur", scene, psf=psfs.disk(2.0), method="inverse",
                      balance=np.array(balance))


def test_richardson_lucy_runs_the_iterations_given(scene: np.ndarray) -> None:
    k = psfs.gaussian(1.5)
    blurred = blur_linear(scene, k, noise=0.01, seed=5)
    steps = solvers.richardson_lucy_steps(blurred, k, 0.01)
    assert 1 <= steps < 60
    stopped = solvers.richardson_lucy(blurred, k, 0.01)
    np.testing.assert_array_equal(stopped, solvers.richardson_lucy(blurred, k, 0.01,
                                                                   iterations=steps))
    longer = solvers.richardson_lucy(blurred, k, 0.01, iterations=steps + 20)
    assert np.abs(longer - stopped).max() > 1e-3


def test_richardson_lucy_already_within_the_noise_takes_no_step(scene: np.ndarray) -> None:
    # The shared step count was forced to at least one, unlike a direct call.
    k = psfs.gaussian(3.0)
    blurred = blur_linear(scene, k)
    out = photomend.run("deblur", blurred, psf=k, method="richardson-lucy", noise=0.05)
    assert np.abs(out - blurred).max() < 1e-5


def test_quality_on_seeded_data_with_margin(big_scene: np.ndarray) -> None:
    """Headline numbers (full figures are in the benchmark), 1 % noise."""
    floors = {"gaussian": (psfs.gaussian(2.0), 1.5), "disk": (psfs.disk(4.0), 3.0),
              "motion": (psfs.motion(15.0, 30.0), 3.0)}
    for name, (k, gain) in floors.items():
        blurred = blur_linear(big_scene, k, noise=0.01, seed=12)
        m = max(k.shape)
        before = interior_psnr(big_scene, blurred, m)
        after = interior_psnr(big_scene, photomend.run("deblur", blurred, psf=k), m)
        assert after > before + gain, name


# ----------------------------------------------------------------------------
# Errors


def test_psf_larger_than_the_image_is_refused() -> None:
    img = np.full((20, 24, 3), 0.5, np.float32)
    with pytest.raises(ParameterError,
                       match=r"PSF is 25×25 px but the area to deblur is only 24×20 px"):
        photomend.run("deblur", img, psf=np.ones((25, 25)))
    with pytest.raises(ParameterError, match="PSF is"):
        photomend.run("deblur", img, blur="defocus", radius=15.0)


@pytest.mark.parametrize(("kernel", "text"), [
    (np.zeros((5, 5)), "sums to 0"),
    (np.zeros((0, 0)), "non-empty"),
    (-np.ones((3, 3)), "negative"),
    (np.ones((3, 3, 3)), "2-D"),
])
def test_unusable_psf_is_refused(kernel: np.ndarray, text: str) -> None:
    img = np.full((32, 32, 3), 0.5, np.float32)
    with pytest.raises(ParameterError, match=text):
        photomend.run("deblur", img, psf=kernel)


def test_estimate_needs_a_large_enough_image() -> None:
    with pytest.raises(ImageError, match="at least 16×16"):
        estimate_psf(np.zeros((10, 12)))
    with pytest.raises(ParameterError, match="kind must be"):
        estimate_psf(np.zeros((32, 32)), "blurry")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="too small to estimate"):
        photomend.run("deblur", np.full((12, 40, 3), 0.5, np.float32))


def test_progress_reaches_one_and_cancel_stops(scene: np.ndarray) -> None:
    seen: list[float] = []
    photomend.run("deblur", scene, psf=psfs.disk(2.0), progress=seen.append)
    assert seen[-1] == 1.0 and seen == sorted(seen)
    with pytest.raises(Cancelled):
        photomend.run("deblur", scene, psf=psfs.disk(2.0), progress=lambda f: f < 0.3)


def test_function_does_not_modify_its_input(scene: np.ndarray) -> None:
    lin = srgb_to_linear(np.repeat(scene, 3, axis=2))
    before = lin.copy()
    out = deblur(lin, psf=psfs.gaussian(1.0), progress=Progress())
    np.testing.assert_array_equal(lin, before)
    assert out.dtype == np.float32 and out.shape == lin.shape


# ----------------------------------------------------------------------------
# Blind estimation


@pytest.fixture(scope="module")
def blind_scene() -> np.ndarray:
    return dead_leaves(256, seed=21)


def test_blind_defocus_radius(blind_scene: np.ndarray) -> None:
    blurred = blur_linear(blind_scene, psfs.disk(4.0), noise=0.005, seed=1)
    est = estimate_psf(blurred, "defocus")
    assert isinstance(est, BlurEstimate) and est.kind == "defocus"
    assert abs(est.params["radius"] - 4.0) <= 0.5


def test_blind_motion_length_and_angle(blind_scene: np.ndarray) -> None:
    blurred = blur_linear(blind_scene, psfs.motion(15.0, 30.0), noise=0.005, seed=2)
    est = estimate_psf(blurred, "motion")
    assert abs(est.params["length"] - 15.0) <= 1.5
    assert abs(est.params["angle"] - 30.0) <= 5.0


def test_blind_gaussian_sigma(blind_scene: np.ndarray) -> None:
    blurred = blur_linear(blind_scene, psfs.gaussian(2.0), noise=0.005, seed=3)
    est = estimate_psf(blurred, "gaussian")
    assert abs(est.params["sigma"] - 2.0) <= 0.3


def test_auto_picks_the_family_and_deblurs(blind_scene: np.ndarray) -> None:
    k = psfs.motion(11.0, -50.0)
    blurred = blur_linear(blind_scene, k, noise=0.005, seed=4)
    est = estimate_psf(blurred)
    assert est.kind == "motion"
    assert abs(est.params["angle"] + 50.0) <= 5.0
    m = max(k.shape)
    known = interior_psnr(blind_scene, photomend.run("deblur", blurred, psf=k), m)
    blind = interior_psnr(blind_scene, photomend.run("deblur", blurred), m)
    assert blind > known - 1.5
    assert blind > interior_psnr(blind_scene, blurred, m) + 2.0


def test_estimate_in_perceptual_space(blind_scene: np.ndarray) -> None:
    blurred = psfs.blur(blind_scene, psfs.disk(3.0)) + np.random.default_rng(5).normal(
        0, 0.005, blind_scene.shape).astype(np.float32)
    est = estimate_psf(blurred, "auto", blur_space="perceptual")
    assert est.kind == "defocus" and abs(est.params["radius"] - 3.0) <= 0.5


@pytest.mark.parametrize("seed", [0, 2])
def test_auto_recovers_camera_shake(blind_scene: np.ndarray, seed: int) -> None:
    k = synth.kernel_blur(np.zeros((8, 8, 1), np.float32), seed, size=15).psf
    blurred = blur_linear(blind_scene, k, noise=0.01, seed=7)
    report: dict = {}
    out = photomend.run("deblur", blurred, report=report)
    assert report["params"]["blur"] == "shake"
    m = max(k.shape)
    known = interior_psnr(blind_scene, photomend.run("deblur", blurred, psf=k), m)
    blind = interior_psnr(blind_scene, out, m)
    # measured: 0.3 dB (seed 0) and 0.1 dB (seed 2) below the known PSF
    assert blind > known - 1.0
    assert blind > interior_psnr(blind_scene, blurred, m) + 6.0


def test_parametric_kind_never_returns_a_free_form_kernel(blind_scene: np.ndarray) -> None:
    k = synth.kernel_blur(np.zeros((8, 8, 1), np.float32), 0, size=15).psf
    blurred = blur_linear(blind_scene[:160, :160], k, noise=0.01, seed=7)
    assert estimate_psf(blurred, "parametric").kind in ("gaussian", "defocus", "motion")
    # under 'auto' too when the image is too small to learn a free-form kernel from
    assert estimate_psf(blurred[:100, :120]).kind in ("gaussian", "defocus", "motion", "none")


def test_blind_estimate_reports_progress_and_can_be_cancelled(blind_scene: np.ndarray) -> None:
    blurred = blur_linear(blind_scene[:160, :160], psfs.motion(9.0, 20.0), noise=0.005, seed=3)
    seen: list[float] = []
    photomend.run("deblur", blurred, progress=seen.append)
    # the estimate takes the first 80 % of the bar and reports along the way
    assert len([f for f in seen if 0.0 < f < 0.8]) >= 5 and seen[-1] == 1.0
    calls: list[float] = []

    def stop_early(f: float) -> bool:
        calls.append(f)
        return f < 0.1

    deblur_module._MEMO.clear()  # or the first run's estimate is reused
    with pytest.raises(Cancelled):
        photomend.run("deblur", blurred, progress=stop_early)
    assert max(calls) < 0.8


def test_blind_estimate_is_reused_for_the_same_pixels(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, ...]] = []
    real = blind.estimate

    def counted(plane, kinds, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(kinds)
        return real(plane, kinds, *args, **kwargs)

    monkeypatch.setattr(blind, "estimate", counted)
    img = blur_linear(dead_leaves(96, seed=8), psfs.disk(3.0), noise=0.004, seed=1)
    first = photomend.run("deblur", img, strength=0.5)
    # another strength or method, then the same again: one estimate for all
    photomend.run("deblur", img, strength=0.8, method="wiener")
    again = photomend.run("deblur", img, strength=0.5)
    assert len(calls) == 1
    np.testing.assert_array_equal(first, again)
    est = estimate_psf(img)  # the estimate deblur made: shown as a layer, say
    assert len(calls) == 1
    # what a caller does with its estimate does not reach the memo
    est.psf[:] = 0.0
    est.params.clear()
    assert estimate_psf(img).psf.sum() == pytest.approx(1.0)
    # another size, family, blur space or a single changed pixel: estimated afresh
    photomend.run("deblur", img, size=21)
    estimate_psf(img, "defocus")
    estimate_psf(img, blur_space="perceptual")
    edited = img.copy()
    edited[40, 40, 0] += 0.01
    estimate_psf(edited)
    assert len(calls) == 5


def test_auto_tries_a_free_form_kernel_from_128_px(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[tuple[str, ...]] = []

    def record(plane, kinds, size, noise, **kwargs):  # type: ignore[no-untyped-def]
        asked.append(kinds)
        return blind.Candidate("none", np.ones((1, 1)), {}, 0.0)

    monkeypatch.setattr(blind, "estimate", record)
    img = dead_leaves(128, seed=5, channels=3)
    estimate_psf(img)
    estimate_psf(img[:127])
    estimate_psf(img, "parametric")
    assert "general" in asked[0]
    assert "general" not in asked[1] and "general" not in asked[2]
    deblur_module._MEMO.clear()  # or the run reuses the estimate just made
    photomend.run("deblur", img, blur="parametric")
    assert "general" not in asked[3]


def test_general_supports_are_odd_and_within_the_size() -> None:
    assert general_supports(31) == [31, 27, 23, 19, 15]
    assert general_supports(15) == [15, 13, 11, 9, 7]
    for size in range(3, 64, 2):
        sizes = general_supports(size)
        assert sizes and all(s % 2 == 1 and s <= max(size, 5) for s in sizes)


def test_busiest_box_finds_the_textured_square() -> None:
    plane = np.zeros((300, 200))
    plane[180:260, 40:120] = np.random.default_rng(0).random((80, 80))
    y, x, h, w = _busiest_box(plane, 100)
    assert (h, w) == (100, 100)
    assert y <= 180 and y + h >= 260 and x <= 40 and x + w >= 120
    assert _busiest_box(plane[:50, :60], 100) == (0, 0, 50, 60)
    # a large scan is searched on block means; the box still covers the texture
    big = np.zeros((4100, 3000))
    big[2500:2800, 1200:1500] = np.random.default_rng(1).random((300, 300))
    y, x, h, w = _busiest_box(big, 384)
    assert (h, w) == (384, 384) and y + h <= 4100 and x + w <= 3000
    assert y <= 2500 and y + h >= 2800 and x <= 1200 and x + w >= 1500
    # texture in the far corner: the box is clamped inside the image
    big = np.zeros((4101, 3003))
    big[3900:, 2850:] = np.random.default_rng(2).random((201, 153))
    y, x, h, w = _busiest_box(big, 384)
    assert (y + h, x + w) == (4101, 3003)
    # a long thin strip is not reduced below two rows
    assert _busiest_box(np.random.default_rng(3).random((16, 16000)), 384)[2:] == (16, 384)


def test_shake_kernel_estimate_is_a_valid_psf(blind_scene: np.ndarray) -> None:
    path = np.array([[0.0, 0.0], [4.0, 2.0], [6.0, 6.0], [3.0, 9.0]])
    blurred = blur_linear(blind_scene[:160, :160], psfs.trajectory(path), noise=0.003, seed=6)
    est = estimate_psf(blurred, "shake", size=15)
    k = est.psf
    assert est.kind == "shake" and k.shape[0] % 2 == 1 and (k >= 0).all()
    assert k.sum() == pytest.approx(1.0)
    assert max(k.shape) <= 17


# ----------------------------------------------------------------------------
# Solver internals


def test_noise_estimate_tracks_white_noise() -> None:
    rng = np.random.default_rng(0)
    flat = np.full((128, 128), 0.4) + rng.normal(0, 0.02, (128, 128))
    assert solvers.estimate_noise(flat) == pytest.approx(0.02, rel=0.1)
    smooth = psfs.blur(dead_leaves(128, 1), psfs.gaussian(2.0))[..., 0]
    noisy = smooth + rng.normal(0, 0.01, smooth.shape)
    assert solvers.estimate_noise(noisy) == pytest.approx(0.01, rel=0.2)


def test_frame_extension_is_smooth_and_periodic() -> None:
    plane = np.linspace(0, 1, 40 * 30, dtype=np.float32).reshape(40, 30)
    frame = solvers.Frame.around(40, 30, psfs.disk(3.0))
    ext = frame.extend(plane)
    assert ext.shape == frame.shape and frame.shape[0] >= 40 + 2 * 7
    np.testing.assert_array_equal(ext[frame.inside], plane)
    wrap_rows = np.abs(ext[0] - ext[-1]).max()
    wrap_cols = np.abs(ext[:, 0] - ext[:, -1]).max()
    assert wrap_rows < 0.05 and wrap_cols < 0.05


def test_run_report_shows_the_estimate_and_the_psf(blind_scene: np.ndarray) -> None:
    blurred = blur_linear(blind_scene[:192, :192], psfs.disk(3.0), noise=0.005, seed=7)
    report: dict = {}
    photomend.run("deblur", blurred, report=report)
    params = report["params"]
    assert params["blur"] == "defocus" and abs(params["radius"] - 3.0) <= 0.5
    assert report["psf"].shape == params["psf"].shape and report["psf"].sum() == pytest.approx(1)
    assert 0.001 <= report["noise"] < 0.05
    direct: dict = {}
    deblur(srgb_to_linear(blurred), blur="defocus", report=direct)
    assert direct["blur"]["kind"] == "defocus"


def test_free_form_supports_run_in_parallel_with_the_same_kernel(
        blind_scene: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> None:
    kernel = synth.kernel_blur(np.zeros((8, 8, 1), np.float32), 4, size=9).psf
    blurred = blur_linear(blind_scene[:144, :144], kernel, noise=0.003, seed=2)
    monkeypatch.setattr(blind, "_cpus", lambda: 2)
    seen: list[float] = []
    photomend.run("deblur", blurred, blur="shake", size=15, progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == 1.0  # threads report in order
    parallel = estimate_psf(blurred, "shake", size=15)
    deblur_module._MEMO.clear()
    monkeypatch.setattr(blind, "_cpus", lambda: 1)
    np.testing.assert_array_equal(estimate_psf(blurred, "shake", size=15).psf, parallel.psf)


def test_a_cancel_stops_every_parallel_support(blind_scene: np.ndarray,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import threading
    import time

    kernel = synth.kernel_blur(np.zeros((8, 8, 1), np.float32), 4, size=9).psf
    blurred = blur_linear(blind_scene[:144, :144], kernel, noise=0.003, seed=2)
    monkeypatch.setattr(blind, "_cpus", lambda: 2)
    began: list[float] = []

    def stop_midway(f: float) -> bool:
        if f > 0.3 and not began:
            began.append(time.perf_counter())
        return f <= 0.3

    with pytest.raises(Cancelled):
        photomend.run("deblur", blurred, blur="shake", size=15, progress=stop_midway)
    assert time.perf_counter() - began[0] < 2.0  # not the rest of every estimate
    assert not [t for t in threading.enumerate() if t.name.startswith("photomend-psf")]
    assert not deblur_module._MEMO._items  # a cancelled estimate is not remembered


def test_a_failing_support_stops_the_others(blind_scene: np.ndarray,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    kernel = synth.kernel_blur(np.zeros((8, 8, 1), np.float32), 4, size=9).psf
    blurred = blur_linear(blind_scene, kernel, noise=0.003, seed=2)
    monkeypatch.setattr(blind, "_cpus", lambda: 2)
    real = blind.general_kernel
    failed: list[float] = []

    def fails_once_started(plane, size, noise, *, report):  # type: ignore[no-untyped-def]
        def first(f: float) -> None:
            report(f)
            if size == max(general_supports(31)) and f > 0.2:
                failed.append(time.perf_counter())
                raise MemoryError("out of memory")

        return real(plane, size, noise, report=first)

    monkeypatch.setattr(blind, "general_kernel", fails_once_started)
    with pytest.raises(MemoryError):
        estimate_psf(blurred, "shake", size=31)
    # the other supports stop at their next report instead of running on
    assert time.perf_counter() - failed[0] < 1.5
