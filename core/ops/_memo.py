"""A small memo of results computed from an image's pixels.

Private helper of the operations. Some image-wide estimates take seconds
and are asked for again with the same pixels: a dialog's preview and then
its final run, or a change of a parameter the estimate does not depend on.
:class:`PixelMemo` keeps the last few, keyed by a BLAKE2 digest of every
byte of the pixels (so any edited pixel computes afresh) and by whatever
else the result depends on.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

import numpy as np

__all__ = ["PixelMemo"]

T = TypeVar("T")


def _digest(pixels: np.ndarray) -> str:
    h = hashlib.blake2b(digest_size=20)
    if pixels.flags.c_contiguous:
        h.update(pixels.data)
    else:  # a crop of a larger image: hash row by row, without a copy of it all
        for row in pixels:
            h.update(np.ascontiguousarray(row).data)
    return h.hexdigest()


class PixelMemo(Generic[T]):
    """The last `capacity` results, keyed by pixels and other arguments.

    Parameters
    ----------
    capacity : int
        How many results are kept (least recently used go first).
    copy : callable, optional
        Applied to a result as it is stored and as it is handed out, so a
        caller changing what it got cannot change the memo.

    Notes
    -----
    Thread-safe. Two threads asking at once for the same new result both
    compute it; the memo only saves repeated work, it does not serialise.
    """

    def __init__(self, capacity: int, copy: Callable[[T], T] | None = None) -> None:
        self._capacity = capacity
        self._copy = copy if copy is not None else (lambda value: value)
        self._items: OrderedDict[tuple[Hashable, ...], T] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def key(pixels: np.ndarray, *args: Hashable) -> tuple[Hashable, ...]:
        """Return the key of `pixels` (by content) and `args`."""
        return (_digest(pixels), pixels.shape, pixels.dtype.str, *args)

    def get(self, key: tuple[Hashable, ...]) -> T | None:
        """Return the result stored under `key`, or None."""
        with self._lock:
            found = self._items.get(key)
            if found is None:
                return None
            self._items.move_to_end(key)
        return self._copy(found)

    def put(self, key: tuple[Hashable, ...], value: T) -> None:
        """Store `value` under `key`, dropping the least recently used beyond capacity."""
        value = self._copy(value)
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._capacity:
                self._items.popitem(last=False)

    def clear(self) -> None:
        """Forget every result."""
        with self._lock:
            self._items.clear()
