from __future__ import annotations

import math
import re

import numpy as np
import pytest

from photomend import psf
from photomend.errors import ImageError, ParameterError


def centroid(k: np.ndarray) -> tuple[float, float]:
    ys, xs = np.indices(k.shape)
    return float((k * ys).sum() / k.sum()), float((k * xs).sum() / k.sum())


def assert_valid_psf(k: np.ndarray) -> None:
    assert k.ndim == 2
    assert k.shape[0] % 2 == 1 and k.shape[1] % 2 == 1
    assert (k >= 0).all()
    assert k.sum() == pytest.approx(1.0, abs=1e-12)
    cy, cx = centroid(k)
    assert cy == pytest.approx(k.shape[0] // 2, abs=1e-9)
    assert cx == pytest.approx(k.shape[1] // 2, abs=1e-9)


def covariance(k: np.ndarray) -> np.ndarray:
    """Weighted covariance of (x, y) positions, y pointing down."""
    ys, xs = np.indices(k.shape).astype(float)
    cy, cx = centroid(k)
    dx, dy = xs - cx, ys - cy
    return np.array([[(k * dx * dx).sum(), (k * dx * dy).sum()],
                     [(k * dx * dy).sum(), (k * dy * dy).sum()]]) / k.sum()


BUILT = [
    psf.gaussian(0.5), psf.gaussian(1.5), psf.gaussian(2.0, size=7),
    psf.disk(0.4), psf.disk(1.0), psf.disk(3.7), psf.disk(2.0, softness=0.0),
    psf.motion(1.0, 0.0), psf.motion(9.0, 0.0), psf.motion(12.3, 33.0), psf.motion(7.0, 90.0),
    psf.motion(15.0, -120.0), psf.compose(psf.motion(9.0, 20.0), psf.disk(2.0)),
    psf.center(np.array([[0.0, 1.0, 2.0, 3.0]])),
    psf.trajectory(np.array([[0.0, 0.0], [3.0, 1.0], [4.0, 5.0]])),
]


@pytest.mark.parametrize("k", BUILT)
def test_builders_give_odd_nonnegative_normalised_centred_kernels(k: np.ndarray) -> None:
    assert_valid_psf(k)


def test_gaussian_known_values() -> None:
    k = psf.gaussian(1.0, size=3)
    g = np.array([math.exp(-0.5), 1.0, math.exp(-0.5)])
    expected = np.outer(g, g) / np.outer(g, g).sum()
    np.testing.assert_allclose(k, expected, rtol=1e-12)
    assert psf.gaussian(1.5).shape == (11, 11)  # 2 * ceil(3 * 1.5) + 1
    assert psf.gaussian(0.1).shape == (3, 3)


def test_gaussian_variance_is_sigma_squared() -> None:
    cov = covariance(psf.gaussian(2.0, size=31))
    np.testing.assert_allclose(cov, np.diag([4.0, 4.0]), atol=1e-6)


def test_disk_is_round_with_soft_edge() -> None:
    k = psf.disk(4.0, softness=1.0)
    np.testing.assert_allclose(k, k.T, atol=1e-15)
    np.testing.assert_allclose(k, k[::-1, ::-1], atol=1e-15)
    c = k.shape[0] // 2
    ys, xs = np.indices(k.shape)
    r = np.hypot(ys - c, xs - c)
    assert (k[r > 4.5] == 0).all()
    inner = k[r <= 3.5]
    assert np.ptp(inner) == pytest.approx(0.0, abs=1e-15)
    # Anti-aliased area ≈ π r² (before normalisation the inner value is 1).
    assert 1.0 / inner[0] == pytest.approx(math.pi * 16.0, rel=0.02)


def test_motion_follows_the_documented_angle_convention() -> None:
    horizontal = psf.motion(9.0, 0.0)
    vertical = psf.motion(9.0, 90.0)
    assert horizontal.shape[0] == 1 and vertical.shape[1] == 1
    diagonal = psf.motion(10.0, 45.0)
    n = diagonal.shape[0] - 1
    # Counter-clockwise from x with y down: 45° runs bottom-left to top-right.
    assert diagonal[0, n] + diagonal[1, n - 1] > 0.01
    assert diagonal[0, 0] == 0.0 and diagonal[n, n] == 0.0
    for length, angle in ((12.0, 30.0), (20.0, 135.0), (8.0, -60.0)):
        cov = covariance(psf.motion(length, angle))
        vals, vecs = np.linalg.eigh(cov)
        vx, vy = vecs[:, 1]
        measured = math.degrees(math.atan2(-vy, vx)) % 180.0
        assert measured == pytest.approx(angle % 180.0, abs=1.0)
        # Uniform over the length: variance L²/12 plus the bilinear splat's 1/6 at most.
        assert length**2 / 12 <= vals[1] <= length**2 / 12 + 0.2


def test_normalize_and_errors() -> None:
    k = psf.normalize(np.array([[1.0, 3.0]]))
    np.testing.assert_allclose(k, [[0.25, 0.75]])
    with pytest.raises(ParameterError, match="negative"):
        psf.normalize(np.array([[1.0, -1.0, 1.0]]))
    with pytest.raises(ParameterError, match="NaN"):
        psf.normalize(np.array([[np.nan]]))
    with pytest.raises(ParameterError, match="empty"):
        psf.normalize(np.zeros((0, 3)))
    with pytest.raises(ParameterError, match="sums to 0"):
        psf.normalize(np.zeros((3, 3)))
    with pytest.raises(ParameterError, match="2-D"):
        psf.normalize(np.ones((3, 3, 3)))


def test_center_moves_the_centroid_to_the_middle() -> None:
    k = np.zeros((5, 5))
    k[0, 0] = 1.0
    out = psf.center(k)
    assert_valid_psf(out)
    assert out.shape == (1, 1)
    frac = np.array([[0.0, 0.0, 0.3, 0.7]])  # centroid at x = 2.7, even width
    out = psf.center(frac)
    assert_valid_psf(out)
    before = covariance(frac)[0, 0]
    assert covariance(out)[0, 0] <= before + 0.25 + 1e-12  # linear shift blurs a little


def test_compose_adds_variances_and_keeps_identity() -> None:
    delta = np.ones((1, 1))
    k = psf.motion(9.0, 20.0)
    np.testing.assert_allclose(psf.compose(delta, k), k, atol=1e-15)
    a, b = psf.gaussian(1.0, size=9), psf.motion(7.0, 0.0)
    combined = psf.compose(a, b)
    np.testing.assert_allclose(covariance(combined), covariance(a) + covariance(b), atol=1e-9)
    with pytest.raises(ParameterError, match="at least one"):
        psf.compose()


def test_blur_of_a_point_is_the_psf_itself() -> None:
    k = psf.trajectory(np.array([[0.0, 0.0], [4.0, -2.0], [5.0, 3.0]]))  # asymmetric
    image = np.zeros((31, 31, 1), dtype=np.float32)
    image[15, 15] = 1.0
    out = psf.blur(image, k)
    hy, hx = k.shape[0] // 2, k.shape[1] // 2
    np.testing.assert_allclose(out[15 - hy:16 + hy, 15 - hx:16 + hx, 0], k, atol=1e-7)
    assert out.sum() == pytest.approx(1.0, abs=1e-5)


def test_blur_keeps_constants_and_matches_circular_convolution() -> None:
    rng = np.random.default_rng(0)
    const = np.full((16, 20, 3), 0.37, dtype=np.float32)
    for mode in ("reflect", "nearest", "wrap"):
        np.testing.assert_allclose(psf.blur(const, psf.disk(3.0), mode=mode), const, atol=1e-6)
    image = rng.random((16, 20, 1)).astype(np.float32)
    before = image.copy()
    k = psf.motion(5.0, 30.0)
    out = psf.blur(image, k, mode="wrap")
    np.testing.assert_array_equal(image, before)
    # Circular convolution by hand: the kernel's centre sits at index (0, 0).
    padded = np.zeros((16, 20))
    padded[:k.shape[0], :k.shape[1]] = k
    padded = np.roll(padded, (-(k.shape[0] // 2), -(k.shape[1] // 2)), axis=(0, 1))
    ref = np.real(np.fft.ifft2(np.fft.fft2(image[..., 0]) * np.fft.fft2(padded)))
    np.testing.assert_allclose(out[..., 0], ref, atol=1e-6)
    assert out.dtype == np.float32
    assert psf.blur(image[..., 0], k).shape == (16, 20)


def test_blur_errors() -> None:
    image = np.zeros((8, 8, 1), dtype=np.float32)
    with pytest.raises(ParameterError, match="odd"):
        psf.blur(image, np.ones((2, 2)) / 4)
    with pytest.raises(ParameterError, match="mode"):
        psf.blur(image, psf.gaussian(1.0), mode="mirror")  # type: ignore[arg-type]
    with pytest.raises(ImageError, match="NaN"):
        psf.blur(np.full((8, 8, 1), np.nan, dtype=np.float32), psf.gaussian(1.0))
    with pytest.raises(ParameterError, match="NaN"):
        psf.blur(image, np.array([[np.nan]]))


@pytest.mark.parametrize(("call", "text"), [
    (lambda: psf.gaussian(0.0), "sigma = 0.0 must be"),
    (lambda: psf.gaussian(-1.0), "sigma"),
    (lambda: psf.gaussian(float("nan")), "sigma"),
    (lambda: psf.gaussian(1.0, size=4), "odd"),
    (lambda: psf.gaussian(1.0, size=0), "odd"),
    (lambda: psf.disk(0.0), "radius"),
    (lambda: psf.disk(2.0, softness=-1.0), "softness"),
    (lambda: psf.motion(0.0, 10.0), "length"),
    (lambda: psf.motion(5.0, float("nan")), "angle_deg"),
    (lambda: psf.trajectory(np.zeros((0, 2))), "points"),
])
def test_builder_errors(call, text: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ParameterError, match=text):
        call()


# ----------------------------------------------------------------------------
# from_point_source


def _star_crop(kernel: np.ndarray, at: tuple[float, float] = (20.0, 21.0), n: int = 41,
               amplitude: float = 0.6, background: float = 0.1, noise: float = 0.002,
               seed: int = 0) -> np.ndarray:
    """A dark crop with one point at `at` (y, x; sub-pixel allowed) blurred by `kernel`."""
    point = psf.trajectory(np.array([[at[1], at[0]]]))  # bilinear splat of the sub-pixel offset
    canvas = np.zeros((n, n))
    iy, ix = int(at[0]), int(at[1])
    ph, pw = point.shape
    canvas[iy - ph // 2:iy + ph // 2 + 1, ix - pw // 2:ix + pw // 2 + 1] = point
    image = psf.blur(canvas, kernel, mode="constant").astype(np.float64)
    rng = np.random.default_rng(seed)
    return background + amplitude * image / image.max() + rng.normal(0.0, noise, (n, n))


@pytest.mark.parametrize("kernel", [psf.disk(3.0), psf.motion(9.0, 30.0), psf.gaussian(1.5),
                                    psf.compose(psf.motion(7.0, -60.0), psf.disk(1.5))])
def test_point_source_recovers_the_psf(kernel: np.ndarray) -> None:
    est = psf.from_point_source(_star_crop(kernel))
    assert_valid_psf(est)
    n = max(est.shape[0], kernel.shape[0], est.shape[1], kernel.shape[1])
    a = np.pad(est, [((n - s) // 2, (n - s) // 2) for s in est.shape])
    b = np.pad(kernel, [((n - s) // 2, (n - s) // 2) for s in kernel.shape])
    assert np.abs(a - b).sum() < 0.12  # L1 distance of two unit-mass kernels


def test_point_source_sub_pixel_rgb_and_16_bit() -> None:
    k = psf.motion(11.0, 45.0)
    crop = _star_crop(k, at=(19.4, 22.7))
    rgb = np.repeat(crop[..., None], 3, axis=2)
    est = psf.from_point_source(np.round(rgb * 65535).astype(np.uint16))
    assert_valid_psf(est)
    cov_est, cov_true = covariance(est), covariance(k)
    np.testing.assert_allclose(cov_est, cov_true, atol=1.0)  # same streak: length and angle
    fixed = psf.from_point_source(crop, size=21)
    assert fixed.shape == (21, 21) and fixed.sum() == pytest.approx(1.0)


@pytest.mark.parametrize(("build", "text"), [
    (lambda: psf.disk(1e6), "radius = 1000000.0 px makes a PSF wider than 2048 px"),
    (lambda: psf.gaussian(1e5), "sigma = 100000.0 px makes a PSF wider"),
    (lambda: psf.motion(1e7, 0.0), "length = 10000000.0 px makes a PSF wider"),
    (lambda: psf.disk(3.0, softness=1e9), "softness = 1000000000.0 must be a finite number"),
    (lambda: psf.gaussian(1.0, size=1_000_001), "up to 4097"),
    (lambda: psf.from_point_source(np.zeros((9, 9)), threshold="x"), "threshold = 'x'"),
    (lambda: psf.from_point_source(np.zeros((9, 9)), threshold=float("nan")), "threshold"),
])
def test_unbuildable_psfs_are_refused_before_any_memory_is_spent(build, text) -> None:
    with pytest.raises(ParameterError, match=re.escape(text)):
        build()


def test_point_source_errors() -> None:
    rng = np.random.default_rng(3)
    flat = 0.2 + rng.normal(0.0, 0.01, (31, 31))
    with pytest.raises(ParameterError, match="no point source"):
        psf.from_point_source(flat)
    edge = flat.copy()
    edge[:, 16:] += 0.5
    with pytest.raises(ParameterError, match="reaches the edge"):
        psf.from_point_source(edge)
    two = _star_crop(psf.disk(2.0), at=(12.0, 12.0)) + _star_crop(
        psf.disk(2.0), at=(28.0, 28.0), background=0.0, noise=0.0)
    with pytest.raises(ParameterError, match="comparable bright spots"):
        psf.from_point_source(two)
    clipped = np.clip(_star_crop(psf.disk(3.0), amplitude=2.0), 0.0, 1.0)
    with pytest.raises(ParameterError, match="clipped"):
        psf.from_point_source(clipped)
    with pytest.raises(ImageError, match="at least 5×5"):
        psf.from_point_source(np.zeros((3, 9)))
    with pytest.raises(ImageError, match="array of numbers"):
        psf.from_point_source(np.array([["a"]]))
