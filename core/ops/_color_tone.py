"""Continuous tone curves and contrast-limited adaptive equalisation (CLAHE).

Curves are sampled on a fine uniform grid and evaluated by linear
interpolation in float, never through an 8-bit lookup table: a smooth
16-bit gradient stays smooth, and values outside [0, 1] are extended along
the end segments instead of being clamped.
"""

from __future__ import annotations

import numpy as np

__all__ = ["CURVE_SAMPLES", "apply_curves", "clahe_luma", "weighted_percentile"]

#: Samples per curve over [0, 1] (the interpolation error of the smooth
#: restoration curves is far below a 16-bit step).
CURVE_SAMPLES = 4096


def apply_curves(image: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Evaluate per-channel curves on an ``(H, W, C)`` float image.

    Parameters
    ----------
    image : ndarray
        float32 ``(H, W, C)`` values.
    table : ndarray
        ``(K, C)`` curve outputs at ``K`` inputs evenly spaced over [0, 1].

    Returns
    -------
    ndarray
        float32 ``(H, W, C)``: piecewise-linear interpolation of the table,
        linear extrapolation beyond [0, 1].
    """
    samples = table.shape[0]
    tab = np.ascontiguousarray(np.asarray(table, dtype=np.float32).T)
    base = np.ascontiguousarray(tab[:, :-1])
    slope = np.ascontiguousarray(tab[:, 1:] - tab[:, :-1])
    out = np.empty(image.shape, dtype=np.float32)
    scale = np.float32(samples - 1)
    rows = max(1, _CHUNK // max(1, image.shape[1]))
    for y0 in range(0, image.shape[0], rows):
        block = image[y0:y0 + rows]
        for c in range(image.shape[-1]):
            x = block[..., c] * scale
            # Truncation is the floor for x >= 0; below 0 and past the last
            # knot the clipped index extrapolates the end segment.
            idx = x.astype(np.int32)
            np.clip(idx, 0, samples - 2, out=idx)
            x -= idx
            value = np.take(slope[c], idx)
            value *= x
            value += np.take(base[c], idx)
            out[y0:y0 + rows, :, c] = value
    return out


#: Pixels per block in :func:`apply_curves` (keeps temporaries in cache).
_CHUNK = 1 << 16


def weighted_percentile(values: np.ndarray, weights: np.ndarray | None,
                        q: float | list[float] | np.ndarray) -> np.ndarray:
    """Return percentile(s) `q` (0–100) of `values` weighted by `weights`."""
    v = np.asarray(values, dtype=np.float64).ravel()
    qs = np.atleast_1d(np.asarray(q, dtype=np.float64)) / 100.0
    if weights is None:
        return np.quantile(v, qs)
    w = np.asarray(weights, dtype=np.float64).ravel()
    keep = w > 0
    v, w = v[keep], w[keep]
    order = np.argsort(v, kind="stable")
    v, w = v[order], w[order]
    cum = np.cumsum(w) - 0.5 * w
    cum /= w.sum()
    return np.interp(qs, cum, v)


def clahe_luma(luma: np.ndarray, *, tiles: int, clip_limit: float,
               weights: np.ndarray | None = None, bins: int = 256) -> np.ndarray:
    """Contrast-limited adaptive histogram equalisation of a [0, 1] plane.

    Parameters
    ----------
    luma : ndarray
        float ``(H, W)`` values in [0, 1].
    tiles : int
        Tiles along the longer side (the other side gets as many as keep
        tiles roughly square).
    clip_limit : float
        Histogram counts are capped at ``clip_limit`` times the mean count
        per bin (≥ 1; 1 gives the identity) and the excess spread evenly.
    weights : ndarray, optional
        ``(H, W)`` pixel weights for the histograms (a selection mask).
    bins : int
        Histogram bins; the mappings are piecewise linear between bin
        edges, so the output stays continuous whatever the bin count.

    Returns
    -------
    ndarray
        float32 ``(H, W)`` equalised values.

    Notes
    -----
    Vectorised after Zuiderveld [1]_: one ``bincount`` builds every tile's
    histogram; each tile's clipped, redistributed cumulative histogram is
    its mapping; every pixel evaluates the mappings of the four tiles whose
    centres surround it (linear interpolation between bin edges) and blends
    them bilinearly by its position between those centres.

    References
    ----------
    .. [1] K. Zuiderveld, "Contrast Limited Adaptive Histogram
       Equalization", Graphics Gems IV, 1994, pp. 474-485.
    """
    h, w = luma.shape
    if h >= w:
        ty = max(1, tiles)
        tx = max(1, round(tiles * w / h))
    else:
        tx = max(1, tiles)
        ty = max(1, round(tiles * h / w))
    ty, tx = min(ty, h), min(tx, w)
    v = np.clip(luma, 0.0, 1.0).astype(np.float32)
    pos = v * np.float32(bins)
    b = np.minimum(pos.astype(np.intp), bins - 1)
    row_tile = (np.arange(h) * ty) // h
    col_tile = (np.arange(w) * tx) // w
    tile_id = row_tile[:, None] * tx + col_tile[None, :]
    wts = None if weights is None else np.asarray(weights, dtype=np.float64).ravel()
    hist = np.bincount((tile_id * bins + b).ravel(), weights=wts,
                       minlength=ty * tx * bins).reshape(ty * tx, bins).astype(np.float64)
    total = hist.sum(axis=1, keepdims=True)
    limit = max(1.0, clip_limit) * total / bins
    excess = np.maximum(hist - limit, 0.0).sum(axis=1, keepdims=True)
    hist = np.minimum(hist, limit) + excess / bins
    cdf = np.concatenate([np.zeros((ty * tx, 1)), np.cumsum(hist, axis=1)], axis=1)
    empty = total[:, 0] <= 0
    cdf = cdf / np.where(total > 0, total, 1.0)
    # Tiles without weight (outside a selection) keep the identity.
    cdf[empty] = np.linspace(0.0, 1.0, bins + 1)
    maps = cdf.astype(np.float32)

    frac_bin = pos - b.astype(np.float32)
    # Position relative to tile centres, for the bilinear blend.
    cy = (np.arange(h) + 0.5) * ty / h - 0.5
    cx = (np.arange(w) + 0.5) * tx / w - 0.5
    y0 = np.clip(np.floor(cy), 0, ty - 1).astype(np.intp)
    x0 = np.clip(np.floor(cx), 0, tx - 1).astype(np.intp)
    y1 = np.minimum(y0 + 1, ty - 1)
    x1 = np.minimum(x0 + 1, tx - 1)
    fy = np.clip(cy - y0, 0.0, 1.0).astype(np.float32)[:, None]
    fx = np.clip(cx - x0, 0.0, 1.0).astype(np.float32)[None, :]

    def lookup(tr: np.ndarray, tc: np.ndarray) -> np.ndarray:
        t = tr[:, None] * tx + tc[None, :]
        lo = maps[t, b]
        hi = maps[t, b + 1]
        return lo + frac_bin * (hi - lo)

    top = lookup(y0, x0) * (1 - fx) + lookup(y0, x1) * fx
    bottom = lookup(y1, x0) * (1 - fx) + lookup(y1, x1) * fx
    return (top * (1 - fy) + bottom * fy).astype(np.float32)
