"""Per-region statistics (photomend.ops._regions)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from photomend.ops._regions import hole_areas, region_extents, region_max


def test_region_max_matches_scipy_and_honours_where():
    rng = np.random.default_rng(0)
    found = rng.random((60, 80)) < 0.3
    labels, count = ndimage.label(found)
    values = rng.random((60, 80))
    got = region_max(values, labels, count)
    want = ndimage.maximum(values, labels, np.arange(1, count + 1))
    np.testing.assert_array_equal(got[1:], want)
    assert got[0] == 0.0
    only_first = labels == 1
    got = region_max(values, labels, count, only_first)
    assert got[1] == values[only_first].max() and not got[2:].any()


def test_hole_areas_belong_to_the_enclosing_region():
    # A speck inside a loop once took the loop's hole as its own.
    y, x = np.mgrid[0:41, 0:41]
    r = np.hypot(y - 20, x - 20)
    ring = (r >= 14) & (r <= 16)
    speck = r <= 1.5
    found = ring | speck
    found[2:5, 2:5] = True  # a plain speck elsewhere
    labels, count = ndimage.label(found, structure=np.ones((3, 3), bool))
    holes = hole_areas(labels, count)
    ring_id, speck_id = labels[20, 4], labels[20, 20]
    enclosed = ndimage.binary_fill_holes(ring).sum() - ring.sum()
    assert holes[ring_id] == enclosed and holes[speck_id] == 0.0
    assert holes.sum() == enclosed and holes[0] == 0.0


def test_region_extents_are_the_longer_box_sides():
    found = np.zeros((20, 30), bool)
    found[2:5, 3:10] = True
    found[10:19, 20:22] = True
    labels, count = ndimage.label(found)
    np.testing.assert_array_equal(region_extents(labels, count), [7.0, 9.0])
