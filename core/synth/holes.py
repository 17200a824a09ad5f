"""Missing areas, and masks for inpainting benchmarks."""

from __future__ import annotations

import math

import numpy as np

from ..errors import ParameterError
from .degradation import (
    Degradation,
    Seed,
    _check_image,
    _check_shape,
    _number,
    _rng,
)
from .noise import _smooth_noise
from .strokes import random_walk, render_polyline

__all__ = ["blob_mask", "holes", "stroke_mask"]

_MAX_STROKES = 100_000


def blob_mask(shape: tuple[int, ...], coverage: float, seed: Seed, *,
              scale: float | None = None) -> np.ndarray:
    """Draw irregular blobs covering a given fraction of the image.

    Parameters
    ----------
    shape : tuple of int
        ``(H, W)`` or ``(H, W, C)``; only ``H`` and ``W`` are used.
    coverage : float
        Fraction of pixels in the mask, in (0, 1).
    seed : int or numpy.random.Generator
        Source of randomness.
    scale : float, optional
        Typical blob radius in px; by default ``max(2, min(H, W) / 16)``.

    Returns
    -------
    ndarray
        float32 ``(H, W)`` mask of 0 and 1 with exactly
        ``round(coverage * H * W)`` ones.

    Notes
    -----
    Smooth noise (white noise low-passed at `scale`) plus a quarter-scale
    component for ragged edges is thresholded at the quantile that gives
    the requested coverage; the blobs form where the noise peaks.
    """
    h, w = _check_shape(shape)
    cov = _number("coverage", coverage, 0.0, 1.0)
    if not 0.0 < cov < 1.0:
        msg = f"coverage = {coverage!r} must lie strictly between 0 and 1"
        raise ParameterError(msg)
    rng = _rng(seed)
    s = max(2.0, min(h, w) / 16.0) if scale is None else _number("scale", scale, 0.5, 1e5)
    field = (_smooth_noise(rng, (h, w), s)
             + 0.35 * _smooth_noise(rng, (h, w), max(0.5, s / 4.0))).ravel()
    k = round(cov * h * w)
    mask = np.zeros(h * w, dtype=np.float32)
    if k > 0:
        mask[np.argpartition(field, h * w - k)[h * w - k:]] = 1.0
    return mask.reshape(h, w)


def stroke_mask(shape: tuple[int, ...], coverage: float, width: float,
                seed: Seed) -> np.ndarray:
    """Draw crease- and scratch-like strokes covering a fraction of the image.

    Parameters
    ----------
    shape : tuple of int
        ``(H, W)`` or ``(H, W, C)``; only ``H`` and ``W`` are used.
    coverage : float
        Fraction of pixels to cover, in (0, 0.5].
    width : float
        Stroke width in px, in [1, min(H, W) / 2].
    seed : int or numpy.random.Generator
        Source of randomness.

    Returns
    -------
    ndarray
        float32 ``(H, W)`` mask of 0 and 1. Strokes are added until the
        coverage is reached, the last ones shortened to fit, so it usually
        lands within a few per cent of the request; a request smaller than
        a few dots of `width` can overshoot by up to one dot.

    Notes
    -----
    Free-form strokes in the spirit of the irregular masks of Yu et al.
    (2019): gently curving random walks of constant width, starting
    anywhere, with hard edges (a pixel is in when its centre is within
    ``width / 2`` of the path).

    References
    ----------
    .. [1] J. Yu, Z. Lin, J. Yang, X. Shen, X. Lu, T. S. Huang, "Free-Form
       Image Inpainting With Gated Convolution", ICCV 2019.
    """
    h, w = _check_shape(shape)
    cov = _number("coverage", coverage, 0.0, 0.5)
    if cov <= 0.0:
        msg = f"coverage = {coverage!r} must be greater than 0"
        raise ParameterError(msg)
    wd = _number("width", width, 1.0, max(1.0, min(h, w) / 2.0))
    rng = _rng(seed)
    mask = np.zeros((h, w), dtype=bool)
    target = cov * h * w
    filled = 0
    diag = math.hypot(h, w)
    for _ in range(_MAX_STROKES):
        if filled >= target:
            break
        remaining = target - filled
        # A stroke of length L is a capsule of area L w + pi w² / 4: size the
        # last ones to what is missing so the coverage does not overshoot.
        fit = max(0.0, (remaining - math.pi * wd * wd / 4.0) / wd)
        ln = min(rng.uniform(0.15, 0.5) * diag, fit)
        start = np.array([rng.uniform(0, h), rng.uniform(0, w)])
        heading = rng.uniform(0, 2 * math.pi)
        step = max(1.0, wd / 2)
        if ln < step:  # a short dash (or a dot) in one segment
            path = np.stack([start, start + ln * np.array([math.sin(heading),
                                                           math.cos(heading)])])
        else:
            path = random_walk(rng, start, heading, ln, step, 0.12)
        drawn = render_polyline((h, w), path, wd, 1.0, softness=0.0)
        if drawn is None:
            continue
        box, cov_patch = drawn
        region = mask[box]
        added = (cov_patch > 0) & ~region
        filled += int(added.sum())
        region |= added
    return mask.astype(np.float32)


def holes(clean: np.ndarray, seed: Seed, *, coverage: float | None = None,
          fill: float | tuple[float, float, float] | None = None,
          scale: float | None = None) -> Degradation:
    """Punch missing areas into an image.

    Parameters
    ----------
    clean : ndarray
        float32 ``(H, W, C)`` image in [0, 1]; not modified.
    seed : int or numpy.random.Generator
        Source of randomness.
    coverage : float, optional
        Fraction of the image missing, in (0, 1); by default drawn in
        [0.01, 0.15].
    fill : float or (float, float, float), optional
        Value of the missing pixels; by default a paper white.
    scale : float, optional
        Typical hole radius in px, see :func:`blob_mask`.

    Returns
    -------
    Degradation
        ``masks['holes']`` and ``mask`` are the binary hole mask (from
        :func:`blob_mask`); outside it the image equals `clean` exactly.
    """
    img = _check_image(clean)
    rng = _rng(seed)
    cov = float(rng.uniform(0.01, 0.15)) if coverage is None else float(coverage)
    mask = blob_mask(img.shape, cov, rng, scale=scale)
    channels = img.shape[2]
    if fill is None:
        tint = np.array([1.0, 0.985, 0.94]) if channels == 3 else np.ones(1)
        value = (rng.uniform(0.9, 0.99) * tint).astype(np.float32)
    else:
        given = np.atleast_1d(np.asarray(fill, dtype=np.float32))
        if given.ndim != 1 or given.size not in (1, channels) or not np.isfinite(given).all():
            msg = f"fill = {fill!r} must be one finite value or one per channel ({channels})"
            raise ParameterError(msg)
        value = np.broadcast_to(given, (channels,)).copy()
    out = np.where(mask[..., None] > 0, value, img).astype(np.float32)
    return Degradation(image=out, clean=img, mask=mask.copy(), masks={"holes": mask},
                       params={"coverage": cov, "fill": value.tolist(),
                               "measured_coverage": float(mask.mean())})
