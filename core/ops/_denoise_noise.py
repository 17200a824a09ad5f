"""Noise level estimation for :mod:`photomend.ops.denoise`.

The level comes from the statistics of small patches: in a natural image
most patch variation lies in a few directions (edges, gradients), while
white noise adds the same variance in every direction. The smallest
eigenvalue of the covariance of weakly textured patches therefore measures
the noise (Liu, Tanaka and Okutomi 2013); its known downward sampling bias,
the lower edge of the Marchenko–Pastur law, is divided out. Image content
only ever raises eigenvalues (Weyl's inequality), so the smallest one is the
least biased by fine texture or grain. Signal-dependent (photon shot) noise
is detected by repeating the measurement on patches grouped by brightness.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = ["level_model", "patch_sigma"]

#: Patch edge for the covariance; 7×7 gives 49 directions, so that even in
#: textured images some direction carries (almost) nothing but noise.
PATCH = 7
#: At most this many patches enter one covariance (a regular subsample).
MAX_PATCHES = 40_000
#: Below this many patches the covariance is too noisy to trust.
MIN_PATCHES = 300
#: Share of pure-noise patches kept by the weak-texture test.
KEEP = 0.99
#: The weak-texture selection stops when the level changes less than this.
TOLERANCE = 1e-3


def _patches(plane: np.ndarray, limit: int = MAX_PATCHES) -> np.ndarray:
    """Return a regular subsample of the ``PATCH×PATCH`` patches as rows (float64)."""
    h, w = plane.shape
    count = max(0, h - PATCH + 1) * max(0, w - PATCH + 1)
    if count == 0:
        return np.empty((0, PATCH * PATCH))
    stride = max(1, int(np.ceil(np.sqrt(count / limit))))
    win = sliding_window_view(plane, (PATCH, PATCH))[::stride, ::stride]
    return win.reshape(-1, PATCH * PATCH).astype(np.float64)


def _covariance(patches: np.ndarray) -> np.ndarray:
    """Return the sample covariance of patch rows."""
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
    return cov / max(1, len(centred) - 1)


def _min_eigen_variance(patches: np.ndarray) -> float:
    """Return the noise variance of patch rows from their smallest covariance eigenvalue.

    For ``n`` rows of ``d`` white-noise values of variance ``s²`` the
    smallest sample eigenvalue sits at the lower edge of the
    Marchenko–Pastur law, ``s² (1 - sqrt(d / n))²``; dividing by that factor
    removes the bias (under 1 % in σ from 10⁴ rows on).
    """
    n, d = patches.shape
    smallest = max(float(np.linalg.eigvalsh(_covariance(patches))[0]), 0.0)
    return smallest / (1.0 - np.sqrt(d / max(n, d + 1))) ** 2


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


def patch_sigma(plane: np.ndarray, iterations: int = 8) -> float:
    """Return the white-noise standard deviation of a 2-D plane (same units).

    Parameters
    ----------
    plane : ndarray
        2-D array of values.
    iterations : int
        At most this many rounds of weak-texture selection.

    Returns
    -------
    float
        The noise standard deviation; for planes with fewer than
        `MIN_PATCHES` patches a robust estimate from neighbour differences.
    """
    patches = _patches(plane)
    if len(patches) < MIN_PATCHES:
        return _difference_sigma(plane)
    return float(np.sqrt(_weak_texture_variance(patches, iterations)))


def _weak_texture_variance(patches: np.ndarray, iterations: int = 8) -> float:
    """Return the noise variance of patch rows, measured on weakly textured ones.

    Starts from the smallest eigenvalue over all patches (an upper bound:
    texture only adds variance), then keeps the patches whose gradient
    energy stays below the `KEEP` quantile of pure noise at the current
    level and measures again, until the level settles (Liu, Tanaka and
    Okutomi 2013). The sequence decreases towards the noise level from
    above.
    """
    var = _min_eigen_variance(patches)
    texture = _texture(patches)
    limit = _texture_quantile(KEEP)
    for _ in range(iterations):
        weak = texture < limit * var
        if weak.sum() < MIN_PATCHES:
            break
        new = _min_eigen_variance(patches[weak])
        done = abs(new - var) <= TOLERANCE * var
        var = new
        if done:
            break
    return var


def level_model(planes: Sequence[np.ndarray], brightness: np.ndarray,
                bins: int = 6) -> tuple[float, float, float, float] | None:
    """Fit the noise variance as a line in brightness, ``var = a * x + b``.

    Patches are split into `bins` classes of equal count by the mean of
    `brightness` over the patch; each class gets its own weak-texture
    estimate on every plane of `planes` (their variances averaged), and a
    least-squares line goes through the (mean brightness, variance)
    points.

    Parameters
    ----------
    planes : sequence of ndarray
        2-D planes of equal shape whose noise variances are averaged (for
        colour, the orthonormal opponent planes: with independent channel
        noise of variance ``a·x + b`` each has about that variance too).
    brightness : ndarray
        2-D plane of the same shape giving the brightness (0–1) per pixel.
    bins : int
        Number of brightness classes.

    Returns
    -------
    tuple of float or None
        ``(a, b, spread, misfit)`` with ``spread`` the brightness range
        covered and ``misfit`` the RMS deviation from the line relative to
        the mean variance (texture that differs between dark and bright
        areas shows up as a step, not a line), or None when the image has
        too few patches.
    """
    limit = MAX_PATCHES * 2
    level = _patches(brightness, limit).mean(axis=1)
    if len(level) < MIN_PATCHES * bins:
        return None
    stacks = [_patches(p, limit) for p in planes]
    order = np.argsort(level, kind="stable")
    xs, vs = [], []
    for part in np.array_split(order, bins):
        xs.append(float(level[part].mean()))
        vs.append(float(np.mean([_weak_texture_variance(s[part]) for s in stacks])))
    x, v = np.array(xs), np.array(vs)
    design = np.stack([x, np.ones_like(x)], axis=1)
    (a, b), *_ = np.linalg.lstsq(design, v, rcond=None)
    misfit = float(np.sqrt(np.mean((design @ (a, b) - v) ** 2)) / max(v.mean(), 1e-20))
    return float(a), float(b), float(x[-1] - x[0]), misfit
