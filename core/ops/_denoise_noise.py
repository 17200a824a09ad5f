"""Noise level estimation for :mod:`photomend.ops.denoise`.

The level comes from the covariance of small patches: image content
occupies a few patch directions, white noise adds the same variance to
every direction, and content only ever raises eigenvalues (Weyl's
inequality). Two readings of the eigenvalues are used, each on weakly
textured patches chosen iteratively (Liu, Tanaka and Okutomi 2013): the
smallest eigenvalue with its Marchenko–Pastur sampling bias divided out
(exact for white noise, least raised by fine texture and grain), and the
mean-equals-median rule of Chen, Zhu and Heng (2015) (the noise power also
when compression or demosaicking has correlated the noise). Colour images
are measured in the opponent planes, where texture sits mostly in luma and
independent channel noise reaches all planes alike; which reading luma
gets follows from that. Signal-dependent (photon shot) noise is detected by
repeating the measurement on patches grouped by brightness.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy import stats

__all__ = ["difference_sigma", "image_variance", "level_model", "noise_variance", "patch_rows",
           "plane_variances", "texture", "unclipped"]

#: Patch edge for the covariance; 7×7 gives 49 directions, so that even in
#: textured images some direction carries (almost) nothing but noise.
PATCH = 7
#: At most this many patches are sampled (a regular grid).
MAX_PATCHES = 80_000
#: Below this many patches the covariance is too noisy to trust.
MIN_PATCHES = 300
#: Quantiles of the energy (:func:`texture`) of pure-noise patches between
#: which a patch counts as noise-like: above, texture; below, noise that has
#: been removed or cut off (clipped, flattened by compression).
BAND = (0.01, 0.99)
#: Patches with more than this share of clipped values (exactly 0 or 1) in
#: a channel are left out: at most 4 of 49.
CLIPPED = 0.1
#: The smallest eigenvalue is trusted from this many patches per direction
#: on (fewer: images under about 37×37 pixels, where it is too unsteady).
FLOOR_ROWS = 20
#: The weak-texture selection stops when the variance changes less than this.
TOLERANCE = 1e-3
#: At most this many rounds of weak-texture selection.
ITERATIONS = 8


def patch_rows(pixels: np.ndarray, limit: int = MAX_PATCHES) -> np.ndarray:
    """Return a regular subsample of the ``PATCH×PATCH`` patches of every channel.

    Parameters
    ----------
    pixels : ndarray
        ``(H, W)`` or ``(H, W, C)`` values.
    limit : int
        At most about this many patches (the grid step grows until they fit).

    Returns
    -------
    ndarray
        float32 ``(C, n, PATCH²)``: the same ``n`` patch positions in every
        channel (``C = 1`` for a 2-D input); ``n`` is 0 when the image is
        smaller than a patch.
    """
    arr = pixels[..., None] if pixels.ndim == 2 else pixels
    h, w, c = arr.shape
    count = max(0, h - PATCH + 1) * max(0, w - PATCH + 1)
    if count == 0:
        return np.empty((c, 0, PATCH * PATCH), np.float32)
    stride = max(1, int(np.ceil(np.sqrt(count / limit))))
    win = sliding_window_view(arr, (PATCH, PATCH), axis=(0, 1))[::stride, ::stride]
    rows = win.reshape(-1, c, PATCH * PATCH).astype(np.float32)
    return np.ascontiguousarray(rows.transpose(1, 0, 2))


def unclipped(rows: np.ndarray, share: float = CLIPPED) -> np.ndarray:
    """Return the patches without clipped areas, if enough are left.

    Values exactly at 0 or 1 are taken as clipped: there the noise is cut
    off, and flat black or white areas would read as noise-free (and, being
    flat, would be picked first as weakly textured). Noise added without
    clipping essentially never lands on these exact values.

    Parameters
    ----------
    rows : ndarray
        ``(C, n, PATCH²)`` patches from :func:`patch_rows`.
    share : float
        Patches with more than this share of clipped values in a channel
        are dropped; a few isolated clipped values censor little.

    Returns
    -------
    ndarray
        ``(C, m, PATCH²)``: the patches kept, or all of them when fewer than
        `MIN_PATCHES` would be left.
    """
    clipped = ((rows == 0.0) | (rows == 1.0)).mean(axis=2, dtype=np.float32)
    keep = (clipped <= share).all(axis=0)
    if keep.all() or int(keep.sum()) < MIN_PATCHES:
        return rows
    return rows[:, keep]


def texture(rows: np.ndarray) -> np.ndarray:
    """Return each patch's energy about its mean (sum of squared deviations).

    For white noise of variance ``s²`` alone this is ``s²`` times a
    chi-square variable with ``PATCH² - 1`` degrees of freedom. It weighs
    every patch direction alike, so choosing patches by it barely biases
    the noise in any one direction (a gradient energy, which weighs the
    finest directions most, would lower exactly the one the floor is read
    from).

    Parameters
    ----------
    rows : ndarray
        ``(n, PATCH²)`` patches.

    Returns
    -------
    ndarray
        ``(n,)`` energies.
    """
    return np.square(rows - rows.mean(axis=1, keepdims=True)).sum(axis=1)


def _texture_quantile(q: float) -> float:
    """Return the `q` quantile of :func:`texture` for unit white noise."""
    return float(stats.chi2.ppf(q, PATCH * PATCH - 1))


def _gram(rows: np.ndarray) -> np.ndarray:
    """Return ``rows.T @ rows`` in float64."""
    d = rows.shape[1]
    out = np.zeros((d, d))
    # stacked products of 32 rows keep OpenBLAS single-threaded (see _denoise_bm3d._gemm)
    cut = len(rows) - len(rows) % 32
    for i in range(0, cut, 8192):
        part = rows[i:min(i + 8192, cut)].reshape(-1, 32, d)
        out += np.matmul(part.transpose(0, 2, 1), part).sum(axis=0)
    rest = rows[cut:]
    return out + rest.T @ rest


def _ac_basis(d: int) -> np.ndarray:
    """Return an orthonormal ``(d, d - 1)`` basis of the vectors with zero sum."""
    q, _ = np.linalg.qr(np.column_stack([np.ones(d), np.eye(d)[:, :d - 1]]))
    return q[:, 1:]


#: Patch directions without the mean (DC): grouping patches by brightness
#: narrows the spread of their noise along the mean, so that direction is
#: left out of the covariance.
_AC = _ac_basis(PATCH * PATCH)


def _spectrum(n: int, total: np.ndarray, gram: np.ndarray) -> np.ndarray:
    """Return the ascending eigenvalues of the covariance of `n` patches.

    `total` and `gram` are the sum and the sum of outer products of the
    (centred) rows; the covariance is taken in the directions orthogonal to
    the patch mean.
    """
    cov = _AC.T @ ((gram - np.outer(total, total) / n) / max(1, n - 1)) @ _AC
    return np.clip(np.linalg.eigvalsh(cov), 0.0, None)


def _floor(eig: np.ndarray, n: int) -> float:
    """Return the white-noise variance from the smallest eigenvalue of `n` patches.

    For ``n`` rows of ``d`` white-noise values of variance ``s²`` the
    smallest sample eigenvalue sits at the lower edge of the
    Marchenko–Pastur law, ``s² (1 - sqrt(d / n))²``; dividing by that factor
    removes the bias (under 1 % in σ from 10⁴ rows on).
    """
    d = len(eig)
    return float(eig[0]) / (1.0 - np.sqrt(d / max(n, d + 1))) ** 2


def _total(eig: np.ndarray, n: int) -> float:
    """Return the mean of the largest set of smallest eigenvalues whose mean is at most its median.

    The rule of Chen, Zhu and Heng (2015): the eigenvalues of pure noise
    spread symmetrically about their mean, image content adds a tail of
    large ones. For spatially correlated noise it measures the noise power
    averaged over the patch directions it keeps.
    """
    for k in range(len(eig), 0, -1):
        head = eig[:k]
        mean = float(head.mean())
        if mean <= float(np.median(head)):
            return mean
    return float(eig[0])


#: How the variance is read from the eigenvalues (see :func:`noise_variance`).
RULES = {"floor": _floor, "total": _total}


def noise_variance(rows: np.ndarray, energy: np.ndarray | None = None,
                   rules: tuple[str, ...] = ("floor",),
                   iterations: int = ITERATIONS) -> tuple[float, ...]:
    """Return the noise variance of patches, measured on weakly textured ones.

    For each rule, starts from the variance over all patches (an upper
    bound: texture only adds variance), then keeps the patches whose
    :func:`texture` energy lies between the `BAND` quantiles of pure noise at the
    current level and measures again, until the level settles (Liu, Tanaka
    and Okutomi 2013). The covariance is updated with the patches that
    leave or join the selection only.

    Parameters
    ----------
    rows : ndarray
        ``(n, PATCH²)`` patches of one plane, ``n >= MIN_PATCHES``.
    energy : ndarray, optional
        Their :func:`texture` (computed when None).
    rules : tuple of str
        ``'floor'``: the smallest eigenvalue, corrected for its sampling
        bias [Liu et al.]: exact for white noise and least raised by fine
        texture, but only the weakest direction of correlated noise.
        ``'total'``: the mean-equals-median rule [Chen et al.]: the noise
        power even when it is correlated (compressed, demosaicked), but
        raised by fine texture.
    iterations : int
        At most this many rounds of selection.

    Returns
    -------
    tuple of float
        One noise variance per rule, in the squared units of `rows`.
    """
    energy = texture(rows) if energy is None else energy
    x = rows.astype(np.float64)
    x -= x.mean(axis=0)
    start = (x.sum(axis=0), _gram(x))
    first = _spectrum(len(x), *start)
    low, high = (_texture_quantile(q) for q in BAND)
    out = []
    for rule in rules:
        measure = RULES[rule]
        n, total, gram = len(x), start[0].copy(), start[1].copy()
        var = measure(first, n)
        inside = np.ones(len(x), bool)
        for _ in range(iterations):
            weak = (energy < high * var) & (energy > low * var)
            count = int(weak.sum())
            if count < MIN_PATCHES:
                break
            for change, sign in ((inside & ~weak, -1.0), (weak & ~inside, 1.0)):
                if change.any():
                    part = x[change]
                    total += sign * part.sum(axis=0)
                    gram += sign * _gram(part)
            inside, n = weak, count
            new = measure(_spectrum(n, total, gram), n)
            settled = abs(new - var) <= TOLERANCE * var
            var = new
            if settled:
                break
        out.append(var)
    return tuple(out)


def _white_share(ratio: float) -> float:
    """Return the weight of the white-noise reading for a variance `ratio` (see `WHITE`)."""
    return float(np.clip((ratio - WHITE[0]) / (WHITE[1] - WHITE[0]), 0.0, 1.0))


def plane_variances(planes: np.ndarray, energies: np.ndarray | None = None) -> np.ndarray:
    """Return the noise variance of each plane of a gray or opponent-colour image.

    Parameters
    ----------
    planes : ndarray
        ``(1, n, PATCH²)`` patches of a gray image, or ``(3, n, PATCH²)``
        of the orthonormal opponent planes (luma, red–blue, green–magenta)
        of a colour one.
    energies : ndarray, optional
        ``(P, n)`` :func:`texture` of the patches (computed when None).

    Returns
    -------
    ndarray
        ``(P,)`` variances: the colour-difference planes by the ``'total'``
        rule (they carry little texture), luma (or gray) by a blend of the
        ``'floor'`` and the ``'total'`` of :func:`noise_variance`.

    Notes
    -----
    The floor is right for white noise and is raised least by fine luma
    texture and grain; the total is right for spatially correlated noise
    (demosaicked, resized, JPEG-compressed), whose floor is only its
    weakest direction. The floor gets the weight of the stronger of two
    pieces of evidence for white noise, each a variance ratio mapped
    linearly from 0 at ``WHITE[0]`` to 1 at ``WHITE[1]``:

    * the floor over the total of the same plane: texture raises the total
      a little, correlation sinks the floor many times over;
    * (colour) the white level of the colour-difference planes (their
      floors) over the luma floor: independent white noise in R, G and B
      puts the same white noise into every opponent plane, while texture
      and grain sit mostly in luma. Gray noise in a colour file,
      chroma-subsampled JPEG and in-camera chroma smoothing leave the
      colour planes (nearly) noise-free.

    With fewer than `FLOOR_ROWS` patches per direction the floor is too
    unsteady and the total alone is used.
    """
    if energies is None:
        energies = np.stack([texture(p) for p in planes])
    floor, total = noise_variance(planes[0], energies[0], ("floor", "total"))
    weight = _white_share(floor / total) if total > 0 else 1.0
    colour = [noise_variance(p, e, ("floor", "total")) for p, e in
              zip(planes[1:], energies[1:], strict=True)]
    if colour and floor > 0:
        white = float(np.mean([c[0] for c in colour]))
        weight = max(weight, _white_share(white / floor))
    if planes.shape[1] < FLOOR_ROWS * _AC.shape[1]:
        weight = 0.0
    luma = weight * floor + (1.0 - weight) * total
    return np.array([luma] + [c[1] for c in colour])


def image_variance(planes: np.ndarray, energies: np.ndarray | None = None) -> float:
    """Return the mean noise variance per channel of a gray or opponent-colour image.

    Parameters
    ----------
    planes : ndarray
        ``(P, n, PATCH²)`` patches as for :func:`plane_variances`.
    energies : ndarray, optional
        ``(P, n)`` :func:`texture` of the patches (computed when None).

    Returns
    -------
    float
        The mean of :func:`plane_variances`: for orthonormal opponent
        planes, the mean noise variance of R, G and B (also for gray noise
        in a colour file, which sits in luma alone).
    """
    return float(plane_variances(planes, energies).mean())


#: Variance ratios mapped to the weight 0 and 1 of the white-noise reading
#: in :func:`image_variance`.
WHITE = (0.25, 0.75)


def difference_sigma(plane: np.ndarray) -> float:
    """Return a robust noise std from neighbour differences (for tiny images).

    Parameters
    ----------
    plane : ndarray
        2-D values.

    Returns
    -------
    float
        1.4826 × the median absolute deviation of the neighbour differences,
        divided by √2.
    """
    diffs = [np.diff(plane, axis=a).ravel() for a in (0, 1) if plane.shape[a] > 1]
    if not diffs:
        return 0.0
    d = np.concatenate(diffs)
    return float(1.4826 * np.median(np.abs(d - np.median(d))) / np.sqrt(2.0))


#: Planes whose noise variance is below this share of the noisiest plane's
#: carry no usable noise for :func:`level_model` (gray noise leaves about
#: 0.001 in the colour planes; texture can make luma several times noisier
#: than the colour planes, which must still agree).
NEGLIGIBLE = 0.05


def level_model(planes: np.ndarray, level: np.ndarray, energies: np.ndarray | None = None,
                bins: int = 6) -> tuple[float, float, float, float] | None:
    """Fit the noise variance as a line in brightness, ``var = a * x + b``.

    Patches are split into `bins` classes of equal count by `level`; each
    class gets its own :func:`plane_variances`. Noise that
    grows with brightness in independent channels, or in a gray image
    stored as colour, changes the variance of every opponent plane by the
    same factor, so the planes share one curve up to a scale (a plane's
    mean variance over the mean of all planes). The line is fitted to the
    points of all planes divided by their scales; planes carrying under
    `NEGLIGIBLE` of the largest scale (the colour planes of gray noise or
    of chroma-subsampled JPEG) are left out. Texture growing with
    brightness in luma alone does not fit.

    Parameters
    ----------
    planes : ndarray
        ``(P, n, PATCH²)`` patches of ``P`` planes (for colour, the
        orthonormal opponent planes; the model is then the mean variance
        per RGB channel).
    level : ndarray
        ``(n,)`` brightness (0–1) of each patch.
    energies : ndarray, optional
        ``(P, n)`` :func:`texture` of the patches (computed when None).
    bins : int
        Number of brightness classes.

    Returns
    -------
    tuple of float or None
        ``(a, b, spread, misfit)`` for the mean variance of the planes, with
        ``spread`` the brightness range covered and ``misfit`` the RMS
        deviation of the scaled points from the line relative to their mean
        (texture that differs between dark and bright areas shows up as a
        step, not a line, or in one plane only), or None when the image has
        too few patches.
    """
    if len(level) < MIN_PATCHES * bins:
        return None
    if energies is None:
        energies = np.stack([texture(p) for p in planes])
    order = np.argsort(level, kind="stable")
    parts = np.array_split(order, bins)
    x = np.array([float(level[part].mean()) for part in parts])
    v = np.stack([plane_variances(planes[:, part], energies[:, part])
                  for part in parts], axis=1)  # (P, bins)
    scale = v.mean(axis=1) / max(float(v.mean()), 1e-30)
    used = scale >= NEGLIGIBLE * scale.max()
    points = (v[used] / scale[used, None]).ravel()
    xs = np.tile(x, int(used.sum()))
    design = np.stack([xs, np.ones_like(xs)], axis=1)
    (a, b), *_ = np.linalg.lstsq(design, points, rcond=None)
    misfit = float(np.sqrt(np.mean((design @ (a, b) - points) ** 2))
                   / max(points.mean(), 1e-30))
    return float(a), float(b), float(x[-1] - x[0]), misfit
