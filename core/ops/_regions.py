"""Per-region statistics of labelled masks.

Private helper of the operations that work on connected regions.
"""

from __future__ import annotations

import numpy as np

__all__ = ["region_max"]


def region_max(values: np.ndarray, labels: np.ndarray, count: int,
               where: np.ndarray | None = None) -> np.ndarray:
    """Return the largest of `values` in each labelled region.

    Parameters
    ----------
    values : ndarray
        Numbers, same shape as `labels`.
    labels : ndarray
        Integer region ids, 0 for the background, 1 to `count` for regions.
    count : int
        Number of regions.
    where : ndarray of bool, optional
        Pixels to look at (default: every labelled pixel).

    Returns
    -------
    ndarray
        float64 ``(count + 1,)``: entry ``i`` is the maximum over region
        ``i``, 0 for index 0 and for regions with no pixel in `where`
        (so `values` should be non-negative).

    Notes
    -----
    One pass over the image picks the region pixels and one over those
    takes the maxima: no sorting, whereas ``scipy.ndimage.maximum`` sorts
    the whole image by label.
    """
    out = np.zeros(count + 1)
    pick = labels > 0 if where is None else where
    np.maximum.at(out, labels[pick], values[pick])
    out[0] = 0.0
    return out
