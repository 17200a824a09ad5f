"""Per-region statistics of labelled masks.

Private helper of the operations that work on connected regions.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["hole_areas", "region_extents", "region_max"]


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


def hole_areas(labels: np.ndarray, count: int) -> np.ndarray:
    """Return the area (px) each labelled region encloses.

    Parameters
    ----------
    labels : ndarray
        Integer region ids, 0 for the background, 1 to `count` for regions
        (8-connected, so their holes are 4-connected).
    count : int
        Number of regions.

    Returns
    -------
    ndarray
        float64 ``(count + 1,)``: entry ``i`` is the area region ``i``
        encloses (a pupil's catch-light, a loop's inside, with whatever
        lies in it), 0 for index 0.
    """
    out = np.zeros(count + 1)
    hole_px = ndimage.binary_fill_holes(labels > 0) & (labels == 0)
    if not hole_px.any():
        return out
    # Each hole with what lies inside it (a speck within a loop): the
    # region just around it is the one that encloses it.
    inside, n = ndimage.label(ndimage.binary_fill_holes(hole_px))
    around = ndimage.grey_dilation(inside, size=(3, 3)) * (inside == 0)
    owner = np.asarray(ndimage.maximum(labels, around, index=np.arange(1, n + 1)),
                       dtype=np.intp)
    np.add.at(out, owner, np.bincount(inside.ravel(), minlength=n + 1)[1:])
    out[0] = 0.0
    return out


def region_extents(labels: np.ndarray, count: int) -> np.ndarray:
    """Return the longer side (px) of each labelled region's bounding box, ``(count,)``."""
    boxes = ndimage.find_objects(labels, count)
    return np.array([max(b[0].stop - b[0].start, b[1].stop - b[1].start)
                     if b is not None else 0 for b in boxes], np.float64)
