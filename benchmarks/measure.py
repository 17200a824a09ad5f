"""Cost of one call: wall time, throughput, peak memory."""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_CLEAR_REFS = Path("/proc/self/clear_refs")
_STATUS = Path("/proc/self/status")


@dataclass
class Cost:
    seconds: float
    peak_mb: float


def _status_kb(field: str) -> int:
    for line in _STATUS.read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def _reset_peak_rss() -> int | None:
    """Reset the process's resident-set high-water mark; return the RSS (KiB).

    None where this is not possible (not Linux, or /proc not writable).
    """
    try:
        _CLEAR_REFS.write_text("5")  # Linux ≥ 4.0: VmHWM := current RSS
        return _status_kb("VmRSS")
    except (OSError, KeyError, ValueError):
        return None


def measure(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, Cost]:
    """Call ``fn`` and return its result with wall seconds and peak memory.

    On Linux, peak memory is the process's resident-set high-water mark
    during the call above its resident set at the start: everything the
    call made resident, numpy's buffers and foreign libraries' heaps
    (OpenCV's C++ allocations) alike, and the call runs at full speed.
    Elsewhere it falls back to tracemalloc (what Python and numpy
    allocated), which slows Python-level loops: the defect detector ran
    2.4 times slower under it.
    """
    base = _reset_peak_rss()
    if base is None:
        tracemalloc.start()
        tracemalloc.reset_peak()
    start = time.perf_counter()
    try:
        result = fn(*args, **kwargs)
    finally:
        seconds = time.perf_counter() - start
        if base is None:
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        else:
            peak = max(0, _status_kb("VmHWM") - base) * 1024
    return result, Cost(seconds, peak / 2**20)
