from __future__ import annotations

import math

import numpy as np
import pytest

from photomend import quality
from photomend.errors import ImageError, MaskError, ParameterError

# Sharma, Wu & Dalal (2005), "The CIEDE2000 Color-Difference Formula:
# Implementation Notes, Supplementary Test Data, and Mathematical
# Observations", Table 1: (L1, a1, b1), (L2, a2, b2), published ΔE00.
SHARMA = [
    ((50.0000, 2.6772, -79.7751), (50.0000, 0.0000, -82.7485), 2.0425),
    ((50.0000, 3.1571, -77.2803), (50.0000, 0.0000, -82.7485), 2.8615),
    ((50.0000, 2.8361, -74.0200), (50.0000, 0.0000, -82.7485), 3.4412),
    ((50.0000, -1.3802, -84.2814), (50.0000, 0.0000, -82.7485), 1.0000),
    ((50.0000, -1.1848, -84.8006), (50.0000, 0.0000, -82.7485), 1.0000),
    ((50.0000, -0.9009, -85.5211), (50.0000, 0.0000, -82.7485), 1.0000),
    ((50.0000, 0.0000, 0.0000), (50.0000, -1.0000, 2.0000), 2.3669),
    ((50.0000, -1.0000, 2.0000), (50.0000, 0.0000, 0.0000), 2.3669),
    ((50.0000, 2.4900, -0.0010), (50.0000, -2.4900, 0.0009), 7.1792),
    ((50.0000, 2.4900, -0.0010), (50.0000, -2.4900, 0.0010), 7.1792),
    ((50.0000, 2.4900, -0.0010), (50.0000, -2.4900, 0.0011), 7.2195),
    ((50.0000, 2.4900, -0.0010), (50.0000, -2.4900, 0.0012), 7.2195),
    ((50.0000, -0.0010, 2.4900), (50.0000, 0.0009, -2.4900), 4.8045),
    ((50.0000, -0.0010, 2.4900), (50.0000, 0.0010, -2.4900), 4.8045),
    ((50.0000, -0.0010, 2.4900), (50.0000, 0.0011, -2.4900), 4.7461),
    ((50.0000, 2.5000, 0.0000), (50.0000, 0.0000, -2.5000), 4.3065),
    ((50.0000, 2.5000, 0.0000), (73.0000, 25.0000, -18.0000), 27.1492),
    ((50.0000, 2.5000, 0.0000), (61.0000, -5.0000, 29.0000), 22.8977),
    ((50.0000, 2.5000, 0.0000), (56.0000, -27.0000, -3.0000), 31.9030),
    ((50.0000, 2.5000, 0.0000), (58.0000, 24.0000, 15.0000), 19.4535),
    ((50.0000, 2.5000, 0.0000), (50.0000, 3.1736, 0.5854), 1.0000),
    ((50.0000, 2.5000, 0.0000), (50.0000, 3.2972, 0.0000), 1.0000),
    ((50.0000, 2.5000, 0.0000), (50.0000, 1.8634, 0.5757), 1.0000),
    ((50.0000, 2.5000, 0.0000), (50.0000, 3.2592, 0.3350), 1.0000),
    ((60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644),
    ((63.0109, -31.0961, -5.8663), (62.8187, -29.7946, -4.0864), 1.2630),
    ((61.2901, 3.7196, -5.3901), (61.4292, 2.2480, -4.9620), 1.8731),
    ((35.0831, -44.1164, 3.7933), (35.0232, -40.0716, 1.5901), 1.8645),
    ((22.7233, 20.0904, -46.6940), (23.0331, 14.9730, -42.5619), 2.0373),
    ((36.4612, 47.8580, 18.3852), (36.2715, 50.5065, 21.2231), 1.4146),
    ((90.8027, -2.0831, 1.4410), (91.1528, -1.6435, 0.0447), 1.4441),
    ((90.9257, -0.5406, -0.9208), (88.6381, -0.8985, -0.7239), 1.5381),
    ((6.7747, -0.2908, -2.4247), (5.8714, -0.0985, -2.2286), 0.6377),
    ((2.0776, 0.0795, -1.1350), (0.9033, -0.0636, -0.5514), 0.9082),
]


# --- PSNR -------------------------------------------------------------------

def test_psnr_of_a_known_mse() -> None:
    ref = np.zeros((8, 8, 3), dtype=np.float32)
    assert quality.psnr(ref, ref + 0.1) == pytest.approx(20.0, abs=1e-5)  # MSE 0.01
    assert quality.psnr(ref, ref + 1.0, data_range=255.0) == pytest.approx(
        20 * math.log10(255.0), abs=1e-9)
    test = ref.copy()
    test[0, 0, 0] = 0.5  # MSE = 0.25 / 192
    assert quality.psnr(ref, test) == pytest.approx(10 * math.log10(192 / 0.25), abs=1e-9)


def test_psnr_is_infinite_for_identical_images_and_respects_the_mask() -> None:
    rng = np.random.default_rng(1)
    ref = rng.random((10, 12, 3)).astype(np.float32)
    assert quality.psnr(ref, ref.copy()) == math.inf
    test = ref.copy()
    test[:5] += 0.1
    mask = np.zeros((10, 12), dtype=bool)
    mask[5:] = True
    assert quality.psnr(ref, test, mask=mask) == math.inf
    assert quality.psnr(ref, test, mask=~mask) == pytest.approx(20.0, abs=1e-4)
    assert quality.psnr(ref, test, mask=(~mask).astype(np.float32)) == pytest.approx(
        20.0, abs=1e-4)


def test_psnr_errors() -> None:
    a = np.zeros((4, 4, 3))
    with pytest.raises(ImageError, match="differ in shape"):
        quality.psnr(a, np.zeros((4, 4, 1)))
    with pytest.raises(ImageError, match="NaN"):
        quality.psnr(a, np.full((4, 4, 3), np.nan))
    with pytest.raises(ParameterError, match="data_range"):
        quality.psnr(a, a, data_range=0)
    with pytest.raises(MaskError, match="selects no pixels"):
        quality.psnr(a, a, mask=np.zeros((4, 4), dtype=bool))
    with pytest.raises(MaskError, match="does not match"):
        quality.psnr(a, a, mask=np.ones((3, 4), dtype=bool))


# --- SSIM -------------------------------------------------------------------

def test_ssim_identical_is_one_and_noise_lowers_it() -> None:
    rng = np.random.default_rng(2)
    ref = rng.random((32, 32, 3))
    assert quality.ssim(ref, ref.copy()) == pytest.approx(1.0, abs=1e-12)
    light = quality.ssim(ref, ref + rng.normal(0, 0.05, ref.shape))
    heavy = quality.ssim(ref, ref + rng.normal(0, 0.2, ref.shape))
    assert 0 < heavy < light < 1


def test_ssim_of_constant_images_has_the_closed_form() -> None:
    a, b = 0.3, 0.6
    c1 = 0.01**2
    expected = (2 * a * b + c1) / (a * a + b * b + c1)  # no variance: structure terms = 1
    got = quality.ssim(np.full((16, 16), a), np.full((16, 16), b))
    assert got == pytest.approx(expected, abs=1e-12)


def test_ssim_matches_a_brute_force_window() -> None:
    # An 11 × 11 image has exactly one valid window: the whole image.
    rng = np.random.default_rng(3)
    x, y = rng.random((11, 11)), rng.random((11, 11))
    r = np.arange(-5, 6)
    g = np.exp(-(r**2) / (2 * 1.5**2))
    w = np.outer(g, g) / np.outer(g, g).sum()
    mx, my = (w * x).sum(), (w * y).sum()
    vx, vy = (w * (x - mx) ** 2).sum(), (w * (y - my) ** 2).sum()
    vxy = (w * (x - mx) * (y - my)).sum()
    c1, c2 = 0.01**2, 0.03**2
    expected = ((2 * mx * my + c1) * (2 * vxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    assert quality.ssim(x, y) == pytest.approx(expected, abs=1e-10)
    assert quality.ssim(x * 255, y * 255, data_range=255) == pytest.approx(expected, abs=1e-10)


def test_ssim_colour_is_the_mean_over_channels() -> None:
    rng = np.random.default_rng(4)
    ref = rng.random((20, 20, 3))
    test = ref.copy()
    test[..., 0] = rng.random((20, 20))
    one = quality.ssim(ref[..., 0], test[..., 0])
    assert quality.ssim(ref, test) == pytest.approx((one + 2.0) / 3.0, abs=1e-12)


def test_ssim_errors() -> None:
    with pytest.raises(ImageError, match="at least 11"):
        quality.ssim(np.zeros((10, 20)), np.zeros((10, 20)))
    with pytest.raises(ImageError, match="differ in shape"):
        quality.ssim(np.zeros((12, 12)), np.zeros((12, 13)))


# --- mask scores --------------------------------------------------------------

def line_mask(col: int) -> np.ndarray:
    m = np.zeros((20, 20), dtype=bool)
    m[2:18, col] = True
    return m


def test_mask_scores_equal_masks_score_one() -> None:
    m = line_mask(8)
    s = quality.mask_scores(m, m.copy(), tolerance=0)
    assert (s.precision, s.recall, s.f1) == (1.0, 1.0, 1.0)


def test_mask_scores_tolerance_forgives_a_one_pixel_shift() -> None:
    truth, shifted = line_mask(8), line_mask(9)
    assert quality.mask_scores(truth, shifted, tolerance=1).f1 == 1.0
    assert quality.mask_scores(truth, shifted, tolerance=0).f1 == 0.0
    assert quality.mask_scores(truth, line_mask(11), tolerance=1).f1 == 0.0
    assert quality.mask_scores(truth, line_mask(11), tolerance=3).f1 == 1.0


def test_mask_scores_precision_and_recall_known_answer() -> None:
    truth = line_mask(5)  # 16 px
    predicted = line_mask(5) | line_mask(15)  # 32 px, half false alarms
    s = quality.mask_scores(truth, predicted, tolerance=1)
    assert s.precision == pytest.approx(0.5)
    assert s.recall == pytest.approx(1.0)
    assert s.f1 == pytest.approx(2 * 0.5 / 1.5)
    soft = predicted.astype(np.float32) * 0.7
    assert quality.mask_scores(truth, soft).precision == pytest.approx(0.5)
    assert quality.mask_scores(truth, soft, threshold=0.8).recall == 0.0


def test_mask_scores_empty_cases_and_errors() -> None:
    empty = np.zeros((20, 20), dtype=bool)
    assert quality.mask_scores(empty, empty).f1 == 1.0
    s = quality.mask_scores(line_mask(3), empty)
    assert (s.precision, s.recall, s.f1) == (1.0, 0.0, 0.0)
    s = quality.mask_scores(empty, line_mask(3))
    assert (s.precision, s.recall, s.f1) == (0.0, 1.0, 0.0)
    with pytest.raises(MaskError, match="differ in shape"):
        quality.mask_scores(empty, np.zeros((20, 21), dtype=bool))
    with pytest.raises(MaskError, match="NaN"):
        quality.mask_scores(empty, np.full((20, 20), np.nan))
    with pytest.raises(ParameterError, match="tolerance"):
        quality.mask_scores(empty, empty, tolerance=-1)


# --- colour difference ----------------------------------------------------------

@pytest.mark.parametrize(("lab1", "lab2", "expected"), SHARMA)
def test_ciede2000_matches_sharma_test_data(lab1, lab2, expected) -> None:  # type: ignore[no-untyped-def]
    assert float(quality.ciede2000_lab(np.array(lab1), np.array(lab2))) == pytest.approx(
        expected, abs=1e-4)
    assert float(quality.ciede2000_lab(np.array(lab2), np.array(lab1))) == pytest.approx(
        expected, abs=1e-4)


def test_ciede2000_is_vectorised() -> None:
    a = np.array([p[0] for p in SHARMA]).reshape(2, 17, 3)
    b = np.array([p[1] for p in SHARMA]).reshape(2, 17, 3)
    expected = np.array([p[2] for p in SHARMA]).reshape(2, 17)
    np.testing.assert_allclose(quality.ciede2000_lab(a, b), expected, atol=1e-4)


def test_srgb_to_lab_known_colours() -> None:
    lab = quality.srgb_to_lab(np.array([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [0.5, 0.5, 0.5],
                                        [1.0, 0.0, 0.0]]))
    np.testing.assert_allclose(lab[0], [100.0, 0.0, 0.0], atol=1e-3)
    np.testing.assert_allclose(lab[1], [0.0, 0.0, 0.0], atol=1e-9)
    np.testing.assert_allclose(lab[2], [53.389, 0.0, 0.0], atol=1e-2)
    np.testing.assert_allclose(lab[3], [53.2408, 80.0925, 67.2032], atol=1e-2)


def test_ciede2000_on_images() -> None:
    rng = np.random.default_rng(5)
    a = rng.random((6, 7, 3)).astype(np.float32)
    before = a.copy()
    de = quality.ciede2000(a, a.copy())
    assert de.shape == (6, 7)
    np.testing.assert_allclose(de, 0.0, atol=1e-6)
    np.testing.assert_array_equal(a, before)
    b = a.copy()
    b[0, 0] = [0.5, 0.5, 0.5]
    a[0, 0] = [0.52, 0.5, 0.5]
    de = quality.ciede2000(a, b)
    assert de[0, 0] > 0.5 and de[1:, :].max() < 1e-6
    mask = np.zeros((6, 7), dtype=bool)
    mask[0, 0] = True
    assert quality.delta_e_mean(a, b, mask=mask) == pytest.approx(float(de[0, 0]))
    assert quality.delta_e_mean(a, b) == pytest.approx(float(de.mean()))
    gray = a[..., :1]
    assert quality.ciede2000(gray, gray + 0.1).shape == (6, 7)


def test_ciede2000_errors() -> None:
    a = np.zeros((4, 4, 3))
    with pytest.raises(ImageError, match="differ in shape"):
        quality.ciede2000(a, np.zeros((4, 5, 3)))
    with pytest.raises(ImageError, match="NaN"):
        quality.ciede2000(a, np.full((4, 4, 3), np.nan))
    with pytest.raises(ImageError, match="channels"):
        quality.ciede2000(np.zeros((4, 4, 2)), np.zeros((4, 4, 2)))
