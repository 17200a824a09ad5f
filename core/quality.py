"""Image quality metrics for tests and benchmarks.

Every metric compares a `reference` (the ground truth) with a `test`
image of the same shape, ``(H, W)`` or ``(H, W, C)``, computes in float64
and never modifies its inputs. Colour metrics take sRGB-encoded values in
[0, 1].
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .convert import gray_to_rgb, srgb_to_linear
from .errors import ImageError, MaskError, ParameterError

__all__ = [
    "MaskScores",
    "ciede2000",
    "ciede2000_lab",
    "delta_e_mean",
    "mask_scores",
    "psnr",
    "srgb_to_lab",
    "ssim",
]

# sRGB (IEC 61966-2-1) primaries and D65 white, linear RGB → XYZ.
_RGB_TO_XYZ = np.array([
    [0.4124564, 0.3575761, 0.1804375],
    [0.2126729, 0.7151522, 0.0721750],
    [0.0193339, 0.1191920, 0.9503041],
])
# The white of the matrix itself, so that sRGB white is exactly L=100, a=b=0.
_WHITE = _RGB_TO_XYZ.sum(axis=1)


def _pair(reference: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return both images as float64 after checking shapes and values."""
    arrays = []
    for name, value in (("reference", reference), ("test", test)):
        a = np.asarray(value)
        if a.dtype.kind not in "fiub":
            msg = f"the {name} image must hold numbers, got dtype {a.dtype}"
            raise ImageError(msg)
        # Non-finite values are reported below with a clear message; a
        # signalling NaN must not turn the cast into a bare RuntimeWarning.
        with np.errstate(invalid="ignore"):
            a = a.astype(np.float64)
        if a.size == 0:
            msg = f"the {name} image is empty (shape {a.shape})"
            raise ImageError(msg)
        if not np.isfinite(a).all():
            bad = int(np.count_nonzero(~np.isfinite(a)))
            msg = f"the {name} image contains {bad} NaN or infinite value(s)"
            raise ImageError(msg)
        arrays.append(a)
    ref, tst = arrays
    if ref.shape != tst.shape:
        msg = f"images differ in shape: reference {ref.shape}, test {tst.shape}"
        raise ImageError(msg)
    return ref, tst


def _data_range(value: float) -> float:
    v = float(value)
    if not math.isfinite(v) or v <= 0:
        msg = f"data_range = {value!r} must be a finite number greater than 0"
        raise ParameterError(msg)
    return v


def _pixel_mask(mask: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Return a boolean ``(H, W)`` mask; float masks are cut at 0.5."""
    m = np.asarray(mask)
    if m.ndim == 3 and m.shape[-1] == 1:
        m = m[..., 0]
    if m.shape != tuple(shape[:2]):
        msg = f"mask shape {np.asarray(mask).shape} does not match image size {shape[:2]}"
        raise MaskError(msg)
    if m.dtype == bool:
        return m
    if m.dtype.kind == "f" and not np.isfinite(m).all():
        msg = "the mask contains NaN or infinite values"
        raise MaskError(msg)
    return m > 0.5


def psnr(reference: np.ndarray, test: np.ndarray, data_range: float = 1.0,
         mask: np.ndarray | None = None) -> float:
    """Return the peak signal-to-noise ratio in dB.

    Parameters
    ----------
    reference, test : ndarray
        Images of the same shape, ``(H, W)`` or ``(H, W, C)``.
    data_range : float
        Peak value (1 for [0, 1] images, 255 for 8-bit).
    mask : ndarray, optional
        ``(H, W)`` region to measure (bool, or float cut at 0.5); all
        channels of those pixels count. By default the whole image.

    Returns
    -------
    float
        ``10 log10(data_range² / MSE)``; ``inf`` when the images are equal
        in the measured region.

    Raises
    ------
    ImageError
        For different shapes, empty images or NaN.
    MaskError
        For a mask of the wrong size or an empty mask.
    """
    ref, tst = _pair(reference, test)
    peak = _data_range(data_range)
    err = (ref - tst) ** 2
    if mask is not None:
        m = _pixel_mask(mask, ref.shape)
        if not m.any():
            msg = "the mask selects no pixels; nothing to measure"
            raise MaskError(msg)
        err = err[m]
    mse = float(err.mean())
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(peak * peak / mse)


def ssim(reference: np.ndarray, test: np.ndarray, data_range: float = 1.0) -> float:
    r"""Return the mean structural similarity index (SSIM).

    Parameters
    ----------
    reference, test : ndarray
        Images of the same shape, ``(H, W)`` or ``(H, W, C)``, at least
        11 × 11 pixels.
    data_range : float
        Peak value (1 for [0, 1] images).

    Returns
    -------
    float
        Mean SSIM, 1 for identical images; colour images give the mean of
        the per-channel values.

    Notes
    -----
    Wang et al. [1]_ with their parameters: local statistics under an
    11 × 11 circular-symmetric Gaussian window with sigma 1.5 (truncated at
    3.5 sigma), ``K1 = 0.01``, ``K2 = 0.03``, ``C1 = (K1 L)²``,
    ``C2 = (K2 L)²``, population (not sample) variances, and

    .. math:: \mathrm{SSIM} = \frac{(2\mu_x\mu_y + C_1)(2\sigma_{xy} + C_2)}
              {(\mu_x^2 + \mu_y^2 + C_1)(\sigma_x^2 + \sigma_y^2 + C_2)}

    averaged over the pixels whose window lies inside the image (a 5-px
    border is left out), as the paper's ``'valid'`` filtering does. This
    equals scikit-image's ``structural_similarity(..., gaussian_weights=True,
    sigma=1.5, use_sample_covariance=False, data_range=...)`` on float64
    data (we always compute in float64). The automatic downsampling of the
    authors' MATLAB script is not applied.

    References
    ----------
    .. [1] Z. Wang, A. C. Bovik, H. R. Sheikh, E. P. Simoncelli, "Image
       Quality Assessment: From Error Visibility to Structural
       Similarity", IEEE TIP 13(4), 600–612, 2004.
    """
    ref, tst = _pair(reference, test)
    peak = _data_range(data_range)
    if ref.ndim == 2:
        ref, tst = ref[..., None], tst[..., None]
    if ref.ndim != 3:
        msg = f"images must be (H, W) or (H, W, C), got shape {ref.shape}"
        raise ImageError(msg)
    pad = 5  # (11 - 1) / 2
    if ref.shape[0] < 2 * pad + 1 or ref.shape[1] < 2 * pad + 1:
        msg = f"SSIM needs images of at least 11 × 11 pixels, got {ref.shape[:2]}"
        raise ImageError(msg)
    c1 = (0.01 * peak) ** 2
    c2 = (0.03 * peak) ** 2

    def smooth(a: np.ndarray) -> np.ndarray:
        return ndimage.gaussian_filter(a, sigma=(1.5, 1.5, 0.0), truncate=3.5, mode="reflect")

    mx, my = smooth(ref), smooth(tst)
    vx = smooth(ref * ref) - mx * mx
    vy = smooth(tst * tst) - my * my
    vxy = smooth(ref * tst) - mx * my
    s = ((2 * mx * my + c1) * (2 * vxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    inner = s[pad:-pad, pad:-pad]
    return float(inner.mean(axis=(0, 1)).mean())


@dataclass(frozen=True)
class MaskScores:
    """Agreement of a predicted mask with the true one.

    Attributes
    ----------
    precision : float
        Share of predicted pixels lying within the tolerance of a true one.
    recall : float
        Share of true pixels lying within the tolerance of a predicted one.
    f1 : float
        Harmonic mean of precision and recall.
    """

    precision: float
    recall: float
    f1: float


def _binary_mask(name: str, mask: np.ndarray, threshold: float) -> np.ndarray:
    m = np.asarray(mask)
    if m.ndim == 3 and m.shape[-1] == 1:
        m = m[..., 0]
    if m.ndim != 2 or m.size == 0:
        msg = f"the {name} mask must be (H, W), got shape {np.asarray(mask).shape}"
        raise MaskError(msg)
    if m.dtype == bool:
        return m
    if m.dtype.kind not in "fiu":
        msg = f"the {name} mask must be bool or numbers, got dtype {m.dtype}"
        raise MaskError(msg)
    if m.dtype.kind == "f" and not np.isfinite(m).all():
        msg = f"the {name} mask contains NaN or infinite values"
        raise MaskError(msg)
    return m > threshold


def mask_scores(truth: np.ndarray, predicted: np.ndarray, tolerance: float = 1,
                threshold: float = 0.5) -> MaskScores:
    """Score a detected damage mask against the true one, with a tolerance.

    Parameters
    ----------
    truth, predicted : ndarray
        ``(H, W)`` masks, bool or numbers (cut at `threshold`).
    tolerance : float
        Distance in px within which a pixel still counts as a hit; 0 asks
        for exact overlap.
    threshold : float
        Value above which a numeric mask pixel is "damaged".

    Returns
    -------
    MaskScores
        Precision, recall and F1. With nothing predicted, precision is 1
        (no false alarms); with nothing true, recall is 1; both empty give
        a perfect score.

    Notes
    -----
    A predicted pixel is correct if a true pixel lies within `tolerance`
    (Euclidean), i.e. it falls inside the truth dilated by a disk of that
    radius, and a true pixel is found if it falls inside the dilated
    prediction. The dilation is taken from the exact Euclidean distance
    transform. Tolerant matching forgives the 1-px disagreements about
    soft edges that say nothing about a detector's quality, as in
    boundary-detection benchmarks [1]_.

    References
    ----------
    .. [1] D. Martin, C. Fowlkes, J. Malik, "Learning to Detect Natural
       Image Boundaries Using Local Brightness, Color, and Texture Cues",
       IEEE TPAMI 26(5), 2004.
    """
    tol = float(tolerance)
    if not math.isfinite(tol) or tol < 0:
        msg = f"tolerance = {tolerance!r} must be a finite number of px ≥ 0"
        raise ParameterError(msg)
    thr = float(threshold)
    if not math.isfinite(thr):
        msg = f"threshold = {threshold!r} must be finite"
        raise ParameterError(msg)
    t = _binary_mask("true", truth, thr)
    p = _binary_mask("predicted", predicted, thr)
    if t.shape != p.shape:
        msg = f"masks differ in shape: truth {t.shape}, predicted {p.shape}"
        raise MaskError(msg)

    def near(m: np.ndarray) -> np.ndarray:
        if not m.any():
            return np.zeros_like(m)
        return ndimage.distance_transform_edt(~m) <= tol + 1e-9

    n_pred, n_true = int(p.sum()), int(t.sum())
    precision = float((p & near(t)).sum()) / n_pred if n_pred else 1.0
    recall = float((t & near(p)).sum()) / n_true if n_true else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return MaskScores(precision=precision, recall=recall, f1=f1)


def _rgb(name: str, rgb: np.ndarray) -> np.ndarray:
    a = np.asarray(rgb)
    if a.ndim < 1 or a.shape[-1] not in (1, 3):
        msg = f"{name} must end in 3 (RGB) or 1 (gray) channels, got shape {a.shape}"
        raise ImageError(msg)
    if a.dtype.kind not in "fiub":
        msg = f"{name} must hold numbers, got dtype {a.dtype}"
        raise ImageError(msg)
    if not np.isfinite(a).all():
        msg = f"{name} contains NaN or infinite values"
        raise ImageError(msg)
    return gray_to_rgb(a) if a.shape[-1] == 1 and a.ndim == 3 else a


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """Convert sRGB-encoded values in [0, 1] to CIE L*a*b* (D65).

    Parameters
    ----------
    rgb : ndarray
        ``(..., 3)`` sRGB values (gray ``(H, W, 1)`` is repeated to RGB).

    Returns
    -------
    ndarray
        float64 ``(..., 3)`` with L* in [0, 100].

    Notes
    -----
    sRGB decoding (:func:`photomend.convert.srgb_to_linear`), the
    IEC 61966-2-1 matrix to XYZ, normalisation by the D65 white of that
    matrix, then CIE 1976 L*a*b*.
    """
    a = _rgb("rgb", rgb)
    if a.shape[-1] != 3:
        msg = f"rgb must have 3 channels, got shape {a.shape}"
        raise ImageError(msg)
    lin = srgb_to_linear(a).astype(np.float64)
    xyz = lin @ _RGB_TO_XYZ.T / _WHITE
    delta = 6.0 / 29.0
    f = np.where(xyz > delta**3, np.cbrt(xyz), xyz / (3 * delta**2) + 4.0 / 29.0)
    lab = np.empty_like(f)
    lab[..., 0] = 116.0 * f[..., 1] - 16.0
    lab[..., 1] = 500.0 * (f[..., 0] - f[..., 1])
    lab[..., 2] = 200.0 * (f[..., 1] - f[..., 2])
    return lab


def ciede2000_lab(lab_a: np.ndarray, lab_b: np.ndarray) -> np.ndarray:
    """Return the CIEDE2000 colour difference of L*a*b* values.

    Parameters
    ----------
    lab_a, lab_b : ndarray
        ``(..., 3)`` arrays of L*, a*, b* (broadcastable).

    Returns
    -------
    ndarray
        float64 ΔE00 with the broadcast shape minus the last axis
        (``kL = kC = kH = 1``).

    Notes
    -----
    Follows the equations as written out by Sharma, Wu and Dalal [1]_,
    including their conventions for zero chroma (hue 0, hue difference 0,
    mean hue = sum of hues) and for hue differences across 180°; it
    reproduces their published test data to 1e-4.

    References
    ----------
    .. [1] G. Sharma, W. Wu, E. N. Dalal, "The CIEDE2000 Color-Difference
       Formula: Implementation Notes, Supplementary Test Data, and
       Mathematical Observations", Color Research & Application 30(1),
       21–30, 2005.
    """
    la, lb = (np.asarray(x, dtype=np.float64) for x in (lab_a, lab_b))
    for name, x in (("lab_a", la), ("lab_b", lb)):
        if x.ndim < 1 or x.shape[-1] != 3:
            msg = f"{name} must end in 3 values (L*, a*, b*), got shape {x.shape}"
            raise ImageError(msg)
        if not np.isfinite(x).all():
            msg = f"{name} contains NaN or infinite values"
            raise ImageError(msg)
    try:
        la, lb = np.broadcast_arrays(la, lb)
    except ValueError:
        msg = f"colour arrays do not match: {la.shape} and {lb.shape}"
        raise ImageError(msg) from None
    l1, a1, b1 = la[..., 0], la[..., 1], la[..., 2]
    l2, a2, b2 = lb[..., 0], lb[..., 1], lb[..., 2]
    c_mean = (np.hypot(a1, b1) + np.hypot(a2, b2)) / 2.0
    c7 = c_mean**7
    g = 0.5 * (1.0 - np.sqrt(c7 / (c7 + 25.0**7)))
    a1p, a2p = (1.0 + g) * a1, (1.0 + g) * a2
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.degrees(np.arctan2(b1, a1p)) % 360.0
    h2p = np.degrees(np.arctan2(b2, a2p)) % 360.0
    chroma_zero = (c1p * c2p) == 0

    dl = l2 - l1
    dc = c2p - c1p
    dh = h2p - h1p
    dh = np.where(dh > 180.0, dh - 360.0, np.where(dh < -180.0, dh + 360.0, dh))
    dh = np.where(chroma_zero, 0.0, dh)
    d_big_h = 2.0 * np.sqrt(c1p * c2p) * np.sin(np.radians(dh) / 2.0)

    l_mean = (l1 + l2) / 2.0
    cp_mean = (c1p + c2p) / 2.0
    h_sum = h1p + h2p
    h_mean = np.where(
        chroma_zero, h_sum,
        np.where(np.abs(h1p - h2p) <= 180.0, h_sum / 2.0,
                 np.where(h_sum < 360.0, (h_sum + 360.0) / 2.0, (h_sum - 360.0) / 2.0)))
    t = (1.0 - 0.17 * np.cos(np.radians(h_mean - 30.0))
         + 0.24 * np.cos(np.radians(2.0 * h_mean))
         + 0.32 * np.cos(np.radians(3.0 * h_mean + 6.0))
         - 0.20 * np.cos(np.radians(4.0 * h_mean - 63.0)))
    d_theta = 30.0 * np.exp(-(((h_mean - 275.0) / 25.0) ** 2))
    cp7 = cp_mean**7
    r_c = 2.0 * np.sqrt(cp7 / (cp7 + 25.0**7))
    lm50 = (l_mean - 50.0) ** 2
    s_l = 1.0 + 0.015 * lm50 / np.sqrt(20.0 + lm50)
    s_c = 1.0 + 0.045 * cp_mean
    s_h = 1.0 + 0.015 * cp_mean * t
    r_t = -np.sin(np.radians(2.0 * d_theta)) * r_c
    tl, tc, th = dl / s_l, dc / s_c, d_big_h / s_h
    return np.sqrt(np.maximum(tl * tl + tc * tc + th * th + r_t * tc * th, 0.0))


def ciede2000(rgb_a: np.ndarray, rgb_b: np.ndarray) -> np.ndarray:
    """Return the per-pixel CIEDE2000 difference of two sRGB images.

    Parameters
    ----------
    rgb_a, rgb_b : ndarray
        sRGB-encoded ``(..., 3)`` values in [0, 1] of the same shape (gray
        ``(H, W, 1)`` is repeated to RGB).

    Returns
    -------
    ndarray
        float64 ΔE00 per pixel, shape ``rgb_a.shape[:-1]``.

    Notes
    -----
    sRGB (D65) → linear → XYZ → L*a*b* (:func:`srgb_to_lab`), then
    :func:`ciede2000_lab`. A ΔE00 of about 1 is a just-noticeable
    difference.
    """
    a, b = _pair(_rgb("rgb_a", rgb_a), _rgb("rgb_b", rgb_b))
    return ciede2000_lab(srgb_to_lab(a), srgb_to_lab(b))


def delta_e_mean(rgb_a: np.ndarray, rgb_b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Return the mean CIEDE2000 difference of two sRGB images.

    Parameters
    ----------
    rgb_a, rgb_b : ndarray
        sRGB ``(H, W, 3)`` (or gray ``(H, W, 1)``) images in [0, 1].
    mask : ndarray, optional
        ``(H, W)`` region to average over (bool, or float cut at 0.5).

    Returns
    -------
    float
        Mean ΔE00.
    """
    de = ciede2000(rgb_a, rgb_b)
    if mask is None:
        return float(de.mean())
    m = _pixel_mask(mask, de.shape)
    if not m.any():
        msg = "the mask selects no pixels; nothing to measure"
        raise MaskError(msg)
    return float(de[m].mean())
