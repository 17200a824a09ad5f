"""The brightness plane and noise level the defect detector works from.

Private helper of :mod:`photomend.ops.defects` and of its training script.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["estimate_noise", "plane"]


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
