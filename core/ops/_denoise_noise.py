"""Noise level estimation for :mod:`photomend.ops.denoise`.

The level comes from the statistics of small patches: in a natural image
most patch variation lies in a few directions (edges, gradients), while
white noise adds the same variance in every direction. The smallest
eigenvalues of the patch covariance therefore measure the noise; which ones
are "small enough" is decided by the mean-equals-median test of Chen, Zhu
and Heng (2015). Signal-dependent (photon shot) noise is detected by
repeating the measurement on patches grouped by brightness.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = ["level_model", "patch_sigma"]

#: Patch edge for the covariance; 7×7 gives 49 directions, enough to leave
#: dozens of noise-only eigenvalues even in textured images.
PATCH = 7
#: At most this many patches enter one covariance (a regular subsample).
MAX_PATCHES = 40_000
#: Below this many patches the covariance is too noisy to trust.
MIN_PATCHES = 300


def _patches(plane: np.ndarray, limit: int = MAX_PATCHES) -> np.ndarray:
    """Return a regular subsample of the ``PATCH×PATCH`` patches as rows (float64)."""
    h, w = plane.shape
    count = max(0, h - PATCH + 1) * max(0, w - PATCH + 1)
    if count == 0:
        return np.empty((0, PATCH * PATCH))
    stride = max(1, int(np.ceil(np.sqrt(count / limit))))
    win = sliding_window_view(plane, (PATCH, PATCH))[::stride, ::stride]
    return win.reshape(-1, PATCH * PATCH).astype(np.float64)


def _eigen_sigma(patches: np.ndarray) -> float:
    """Return the noise std of patch rows by the mean-equals-median rule."""
    centred = patches - patches.mean(axis=0)
    d = patches.shape[1]
    cov = np.zeros((d, d))
    # stacked products of 32 rows keep OpenBLAS single-threaded (see _denoise_bm3d._gemm)
    cut = len(centred) - len(centred) % 32
    for i in range(0, cut, 8192):
        part = centred[i:min(i + 8192, cut)].reshape(-1, 32, d)
        cov += np.matmul(part.transpose(0, 2, 1), part).sum(axis=0)
    rest = centred[cut:]
    cov += rest.T @ rest
    cov /= max(1, len(centred) - 1)
    eig = np.sort(np.clip(np.linalg.eigvalsh(cov), 0.0, None))
    for k in range(len(eig), 0, -1):
        head = eig[:k]
        tau = head.mean()
        if tau <= np.median(head):
            return float(np.sqrt(tau))
    return float(np.sqrt(eig[0]))


def _difference_sigma(plane: np.ndarray) -> float:
    """Return a robust noise std from neighbour differences (for tiny images)."""
    diffs = [np.diff(plane, axis=a).ravel() for a in (0, 1) if plane.shape[a] > 1]
    if not diffs:
        return 0.0
    d = np.concatenate(diffs)
    return float(1.4826 * np.median(np.abs(d - np.median(d))) / np.sqrt(2.0))


def _texture(patches: np.ndarray) -> np.ndarray:
    """Return each patch's gradient energy (sum of squared neighbour differences)."""
    p = patches.reshape(-1, PATCH, PATCH)
    return (np.square(np.diff(p, axis=1)).sum(axis=(1, 2))
            + np.square(np.diff(p, axis=2)).sum(axis=(1, 2)))


def _texture_quantile(q: float) -> float:
    """Return the `q` quantile of `_texture` for unit white noise (simulated once)."""
    if q not in _QUANTILES:
        noise = np.random.default_rng(0).standard_normal((256, 256))
        _QUANTILES[q] = float(np.quantile(_texture(_patches(noise)), q))
    return _QUANTILES[q]


_QUANTILES: dict[float, float] = {}


def patch_sigma(plane: np.ndarray, iterations: int = 3) -> float:
    """Return the white-noise standard deviation of a 2-D plane (same units).

    Starts from the eigenvalue estimate over all patches, then keeps only
    weakly textured patches (gradient energy below the 99th percentile of
    pure noise at the current level, after Liu, Tanaka and Okutomi 2013)
    and re-estimates, a few times.
    """
    patches = _patches(plane)
    if len(patches) < MIN_PATCHES:
        return _difference_sigma(plane)
    return _weak_texture_sigma(patches, iterations)


def _weak_texture_sigma(patches: np.ndarray, iterations: int = 3) -> float:
    sigma = _eigen_sigma(patches)
    texture = _texture(patches)
    limit = _texture_quantile(0.99)
    for _ in range(iterations):
        weak = texture < limit * sigma * sigma
        if weak.sum() < MIN_PATCHES:
            break
        sigma = _eigen_sigma(patches[weak])
    return sigma


def level_model(plane: np.ndarray, bins: int = 6) -> tuple[float, float, float, float] | None:
    """Fit the noise variance as a line in brightness, ``var = a * x + b``.

    Patches are split into `bins` brightness classes of equal count; each
    class gets its own weak-texture estimate, and a least-squares line goes
    through the (mean brightness, variance) points. Returns ``(a, b,
    spread, misfit)`` with ``spread`` the brightness range covered and
    ``misfit`` the RMS deviation from the line relative to the mean
    variance (texture that differs between dark and bright areas shows up
    as a step, not a line), or None when the image has too few patches.
    """
    patches = _patches(plane, limit=MAX_PATCHES * 2)
    if len(patches) < MIN_PATCHES * bins:
        return None
    level = patches.mean(axis=1)
    order = np.argsort(level, kind="stable")
    xs, vs = [], []
    for part in np.array_split(order, bins):
        xs.append(float(level[part].mean()))
        vs.append(_weak_texture_sigma(patches[part]) ** 2)
    x, v = np.array(xs), np.array(vs)
    design = np.stack([x, np.ones_like(x)], axis=1)
    (a, b), *_ = np.linalg.lstsq(design, v, rcond=None)
    misfit = float(np.sqrt(np.mean((design @ (a, b) - v) ** 2)) / max(v.mean(), 1e-20))
    return float(a), float(b), float(x[-1] - x[0]), misfit
