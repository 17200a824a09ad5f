"""Per-pixel evidence maps for the defect detector.

Private helper of :mod:`photomend.ops.defects`. Every map is written for
*dark* defects; bright defects are found by running the same code on the
inverted image, so one classifier serves both polarities. All maps are
built from separable or shifted-sum filters with a bounded reach
(:data:`REACH` px), which keeps the detector local: overlapping tiles give
the same result as one pass.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = [
    "CONTEXT_REACH",
    "REACH",
    "context_features",
    "estimate_noise",
    "line_contrast",
    "pixel_features",
    "plane",
]

#: Floor added before taking logarithms of non-negative residuals.
_EPS = np.float32(1e-3)
#: Closing sizes (px) of the multi-scale top-hats; the largest bounds the
#: speck diameter (with its soft edge) seen at full resolution.
TOPHAT_SIZES = (3, 9, 17, 25)
#: Window (px) of the local texture level (mean log top-hat).
TEXTURE_WINDOW = 21
#: ``(ring radius px, pre-smoothing sigma px)`` of the spot detectors.
SPOT_RINGS = ((2, 0.7), (4, 1.2), (7, 2.0), (10, 3.0))
#: ``(length px, orientations, side distances px)`` of full-resolution
#: line detectors (hairs, thin scratches).
FINE_LINES: tuple[tuple[int, int, tuple[int, ...]], ...] = ((11, 12, (2, 3)),)
#: Line detectors run on the 2x2-averaged image: long straight scratches.
COARSE_LINES: tuple[tuple[int, int, tuple[int, ...]], ...] = (
    (13, 24, (1, 2, 3)), (31, 32, (1, 2)))
#: Context reach (px) of :func:`pixel_features`.
REACH = 40
#: Context reach (px) of :func:`context_features` on top of :data:`REACH`.
CONTEXT_REACH = 24


def plane(image: np.ndarray, dark: bool) -> np.ndarray:
    """Return the channel mean as ``(H, W)``, inverted for bright defects."""
    mean = image.mean(axis=-1, dtype=np.float32)
    return mean if dark else np.float32(1.0) - mean


def estimate_noise(values: np.ndarray) -> float:
    """Return a robust estimate of the white-noise standard deviation.

    Parameters
    ----------
    values : ndarray
        float ``(H, W)`` plane.

    Returns
    -------
    float
        Standard deviation in the units of `values` (at least 1e-5).

    Notes
    -----
    Immerkær's operator [1]_ (the difference of two Laplacians, which
    cancels linear ramps) is scaled so that white noise of deviation σ
    gives a response of deviation σ. Its robust deviation (1.4826 MAD) is
    taken in 8 × 8 blocks and the 10th percentile of the blocks is kept,
    so edges, texture and the defects themselves, which raise the
    response in some blocks, do not inflate the estimate. The factor 1.2
    corrects the downward bias of a low percentile of small-sample
    estimates (calibrated on pure Gaussian noise).

    References
    ----------
    .. [1] J. Immerkær, "Fast noise variance estimation", Computer Vision
       and Image Understanding 64(2), 1996.
    """
    kernel = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32) / 6.0
    resp = np.abs(ndimage.correlate(values.astype(np.float32, copy=False), kernel,
                                    mode="reflect"))
    h, w = resp.shape
    b = 8
    if h < b or w < b:
        return max(float(np.median(resp)) * 1.4826, 1e-5)
    hb, wb = h // b, w // b
    blocks = resp[: hb * b, : wb * b].reshape(hb, b, wb, b).transpose(0, 2, 1, 3)
    mads = np.median(blocks.reshape(hb * wb, b * b), axis=1) * 1.4826
    return max(float(np.percentile(mads, 10)) * 1.2, 1e-5)


def _shifted(padded: np.ndarray, pad: int, shape: tuple[int, int], dy: int,
             dx: int) -> np.ndarray:
    """Return ``a[y + dy, x + dx]`` from `a` padded by `pad` on every side."""
    h, w = shape
    return padded[pad + dy: pad + dy + h, pad + dx: pad + dx + w]


def _spot_contrast(smooth: np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray]:
    """Return the smallest and second-smallest ring-minus-centre differences."""
    pad = radius
    padded = np.pad(smooth, pad, mode="edge")
    first = np.full(smooth.shape, np.inf, np.float32)
    second = np.full(smooth.shape, np.inf, np.float32)
    for k in range(8):
        angle = np.pi * k / 4
        dy, dx = round(radius * np.sin(angle)), round(radius * np.cos(angle))
        v = _shifted(padded, pad, smooth.shape, dy, dx)
        np.minimum(second, np.maximum(first, v), out=second)
        np.minimum(first, v, out=first)
    return first - smooth, second - smooth


def line_contrast(values: np.ndarray, length: int, count: int,
                  sides: tuple[int, ...]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Return the best and second-best oriented line contrasts.

    Parameters
    ----------
    values : ndarray
        float32 ``(H, W)`` plane (dark lines sought).
    length : int
        Length of the averaging segment in px (odd).
    count : int
        Number of orientations over 180°.
    sides : tuple of int
        Distances of the two parallel flanking segments, px.

    Returns
    -------
    list of (ndarray, ndarray)
        Per side distance, the largest and second-largest contrast over the
        orientations.

    Notes
    -----
    For each orientation the mean of `values` along a centred segment is
    compared with the means along the two parallel segments at distance
    `d` on either side; the contrast is ``min(side1, side2) - centre``.
    A dark line gives a large positive value in its own orientation only;
    a step edge gives about zero because one side is not brighter, and
    texture averages out along the segment [1]_.

    References
    ----------
    .. [1] E. Ricci, R. Perfetti, "Retinal blood vessel segmentation using
       line operators and support vector classification", IEEE TMI 26(10),
       2007.
    """
    half = length // 2
    shape = (values.shape[0], values.shape[1])
    padded = np.pad(values, half, mode="reflect")
    reach = max(sides)
    best = [np.full(shape, -np.inf, np.float32) for _ in sides]
    second = [np.full(shape, -np.inf, np.float32) for _ in sides]
    acc = np.empty(shape, np.float32)
    for i in range(count):
        angle = np.pi * i / count
        sy, sx = np.sin(angle), np.cos(angle)
        acc[...] = 0.0
        for k in range(-half, half + 1):
            acc += _shifted(padded, half, shape, round(k * sy), round(k * sx))
        acc *= np.float32(1.0 / (2 * half + 1))
        acc_pad = np.pad(acc, reach, mode="edge")
        for j, d in enumerate(sides):
            oy, ox = round(d * sx), -round(d * sy)
            a = _shifted(acc_pad, reach, shape, oy, ox)
            b = _shifted(acc_pad, reach, shape, -oy, -ox)
            g = np.minimum(a, b) - acc
            np.maximum(second[j], np.minimum(best[j], g), out=second[j])
            np.maximum(best[j], g, out=best[j])
    return list(zip(best, second, strict=True))


def _half(values: np.ndarray) -> np.ndarray:
    """2 × 2 block mean (odd last rows/columns are repeated)."""
    h, w = values.shape
    v = np.pad(values, ((0, h % 2), (0, w % 2)), mode="edge")
    return v.reshape(v.shape[0] // 2, 2, v.shape[1] // 2, 2).mean(axis=(1, 3))


def _double(values: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour 2× upsampling cropped to `shape`."""
    up = np.repeat(np.repeat(values, 2, axis=0), 2, axis=1)
    return up[: shape[0], : shape[1]]


def pixel_features(image: np.ndarray, sigma: float, dark: bool) -> np.ndarray:
    """Return the stage-1 features ``(F, H, W)`` for dark (or bright) defects.

    Parameters
    ----------
    image : ndarray
        float32 ``(H, W, C)`` perceptual pixels.
    sigma : float
        Noise standard deviation of the channel mean (see
        :func:`estimate_noise`).
    dark : bool
        Seek dark defects (True) or bright ones (False: the image is
        inverted first).

    Returns
    -------
    ndarray
        float32 features; contrasts are divided by `sigma` and compressed
        with ``asinh`` or ``log`` so the classifier sees noise-relative
        evidence.
    """
    lum = plane(image, dark)
    shape = (lum.shape[0], lum.shape[1])
    sig = np.float32(max(sigma, 1e-5))
    log_sig = np.float32(np.log(sig))
    feats: list[np.ndarray] = []

    residual = lum
    for size in TOPHAT_SIZES:
        residual = ndimage.grey_closing(lum, size=size, mode="reflect") - lum
        log_r = np.log(residual + _EPS)
        texture = ndimage.uniform_filter(log_r, TEXTURE_WINDOW, mode="reflect")
        feats += [log_r - log_sig, texture - log_sig]
    background = lum + residual
    feats += [lum, background, np.log(residual + _EPS) - np.log(background + _EPS)]

    for radius, smooth_sigma in SPOT_RINGS:
        smooth = ndimage.gaussian_filter(lum, smooth_sigma, mode="reflect", truncate=3.0)
        first, second = _spot_contrast(smooth, radius)
        feats += [np.arcsinh(first / sig), np.arcsinh(second / sig)]

    for length, count, sides in FINE_LINES:
        for best, second in line_contrast(lum, length, count, sides):
            feats += [np.arcsinh(best / sig), np.arcsinh((best - second) / sig)]
    small = _half(lum)
    for length, count, sides in COARSE_LINES:
        for best, second in line_contrast(small, length, count, sides):
            # Averaging 2×2 halves the noise: compare with sigma / 2.
            b = ndimage.maximum_filter(_double(best, shape), 3, mode="nearest")
            s = ndimage.maximum_filter(_double(second, shape), 3, mode="nearest")
            feats += [np.arcsinh(2 * b / sig), np.arcsinh(2 * (b - s) / sig)]

    for window in (7, 15):
        mean = ndimage.uniform_filter(lum, window, mode="reflect")
        var = ndimage.uniform_filter(lum * lum, window, mode="reflect") - mean * mean
        feats.append(0.5 * np.log(np.maximum(var, 0.0) + sig * sig) - log_sig)

    if image.shape[-1] == 3:
        chroma = image.max(axis=-1) - image.min(axis=-1)
    else:
        chroma = np.zeros(shape, np.float32)
    feats += [np.log(chroma + 0.01), np.log(ndimage.maximum_filter(chroma, 9) + 0.01),
              np.full(shape, log_sig, np.float32)]
    return np.stack(feats).astype(np.float32, copy=False)


def _line_means_max(values: np.ndarray, length: int, count: int) -> tuple[np.ndarray,
                                                                         np.ndarray]:
    """Return the largest oriented segment mean and its excess over the median."""
    half = length // 2
    shape = (values.shape[0], values.shape[1])
    padded = np.pad(values, half, mode="reflect")
    stack = np.empty((count, *shape), np.float32)
    for i in range(count):
        angle = np.pi * i / count
        sy, sx = np.sin(angle), np.cos(angle)
        acc = stack[i]
        acc[...] = 0.0
        for k in range(-half, half + 1):
            acc += _shifted(padded, half, shape, round(k * sy), round(k * sx))
        acc *= np.float32(1.0 / (2 * half + 1))
    top = stack.max(axis=0)
    return top, top - np.median(stack, axis=0)


def context_features(prob: np.ndarray, other: np.ndarray, stage1: np.ndarray) -> np.ndarray:
    """Return the stage-2 (auto-context) features.

    Parameters
    ----------
    prob : ndarray
        Stage-1 defect probability of this polarity, ``(H, W)``.
    other : ndarray
        Stage-1 probability of the opposite polarity.
    stage1 : ndarray
        The stage-1 features ``(F, H, W)``.

    Returns
    -------
    ndarray
        float32 ``(F2, H, W)``: neighbourhood statistics of the probability
        maps (how much is detected around, and whether detections line up
        along a direction) followed by the stage-1 features.

    Notes
    -----
    Auto-context [1]_: a second classifier sees the first one's output in
    a neighbourhood, so it learns, e.g., that an isolated weak response
    continuing a confident line is a scratch, and that a patch where half
    the pixels respond is texture.

    References
    ----------
    .. [1] Z. Tu, X. Bai, "Auto-context and its application to high-level
       vision tasks and 3D brain image segmentation", IEEE TPAMI 32(10),
       2010.
    """
    shape = (prob.shape[0], prob.shape[1])
    logit = np.log(prob + 1e-3) - np.log(1.0 - prob + 1e-3)
    feats = [logit, ndimage.maximum_filter(prob, 3, mode="nearest"),
             ndimage.uniform_filter(prob, 5, mode="reflect"),
             ndimage.uniform_filter(prob, 15, mode="reflect"),
             ndimage.uniform_filter(prob, 31, mode="reflect"),
             ndimage.maximum_filter(other, 5, mode="nearest")]
    h, w = shape
    pooled = np.pad(prob, ((0, h % 2), (0, w % 2)), mode="edge")
    pooled = pooled.reshape(pooled.shape[0] // 2, 2, pooled.shape[1] // 2, 2).max(axis=(1, 3))
    for length in (11, 21):
        top, excess = _line_means_max(pooled, length, 12)
        feats += [_double(top, shape), _double(excess, shape)]
    return np.concatenate([np.stack(feats), stage1]).astype(np.float32, copy=False)
