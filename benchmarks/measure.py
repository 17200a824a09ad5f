"""Cost of one call: wall time, throughput, peak memory."""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class Cost:
    seconds: float
    peak_mb: float


def measure(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, Cost]:
    """Call ``fn`` and return its result with wall seconds and peak memory.

    Peak memory is what Python and numpy allocated during the call
    (tracemalloc; numpy reports its buffers to it). Memory allocated inside
    foreign libraries that bypass it (OpenCV's C++ heap) is not counted.
    """
    tracemalloc.start()
    tracemalloc.reset_peak()
    start = time.perf_counter()
    try:
        result = fn(*args, **kwargs)
    finally:
        seconds = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return result, Cost(seconds, peak / 2**20)
