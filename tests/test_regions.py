"""Per-region statistics (photomend.ops._regions)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from photomend.ops._regions import region_max


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
