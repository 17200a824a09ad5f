"""The file host: photomend's host interface over an in-memory image.

Used by the command line and by tests of the shared adapter logic. Layers
are kept in :attr:`FileHost.layers`, masks in :attr:`FileHost.masks`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import replace

import numpy as np

from ..engine import as_mask
from ..image import Image
from ..progress import Progress, ProgressLike, as_progress
from .base import Box

__all__ = ["FileHost"]


class FileHost:
    """Host over an :class:`~photomend.image.Image` with an optional selection.

    Parameters
    ----------
    image : Image
        The target; :meth:`write` replaces :attr:`image` with an updated
        copy, the object passed in is never modified.
    selection : array_like, optional
        ``(H, W)`` selection in [0, 1] (e.g. a mask file).
    progress : callable or Progress, optional
        Receives progress of every operation run through this host.
    """

    blends_selection = False

    def __init__(self, image: Image, selection: np.ndarray | None = None,
                 progress: ProgressLike = None) -> None:
        self.image = image
        self._selection = (None if selection is None
                           else as_mask(selection, (image.height, image.width), what="mask file"))
        self._progress = progress
        self.layers: list[tuple[str, Image]] = []
        self.masks: dict[str, np.ndarray] = {}
        self.messages: list[str] = []
        self.undo_steps: list[str] = []

    def size(self) -> tuple[int, int]:
        """Return ``(width, height)``."""
        return self.image.width, self.image.height

    def selection_bounds(self) -> Box | None:
        """Return the bounding box of the selection (None without one)."""
        if self._selection is None:
            return None
        rows = np.flatnonzero((self._selection > 0).any(axis=1))
        cols = np.flatnonzero((self._selection > 0).any(axis=0))
        if rows.size == 0:
            return Box(0, 0, 0, 0)
        return Box(int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1),
                   int(rows[-1] - rows[0] + 1))

    def selection(self, box: Box) -> np.ndarray:
        """Return the selection inside `box` (all ones without a selection)."""
        if self._selection is None:
            return np.ones((box.height, box.width), dtype=np.float32)
        return self._selection[box.slices].copy()

    def read(self, box: Box) -> Image:
        """Return a copy of the pixels in `box`, metadata kept."""
        rows, cols = box.slices
        alpha = None if self.image.alpha is None else self.image.alpha[rows, cols].copy()
        infrared = None if self.image.infrared is None else self.image.infrared[rows, cols].copy()
        return replace(self.image, color=self.image.color[rows, cols].copy(), alpha=alpha,
                       infrared=infrared)

    def write(self, box: Box, image: Image, *, new_layer: str | None = None) -> None:
        """Paste `image` into `box` of the target (or of a new layer copy)."""
        base = self.image if new_layer is None else replace(self.image)
        color = base.color.copy()
        color[box.slices] = image.in_transfer(base.transfer).color
        updated = base.with_color(color)
        if new_layer is None:
            self.image = updated
        else:
            self.layers.append((new_layer, updated))

    def write_mask(self, box: Box, mask: np.ndarray, name: str) -> None:
        """Store a full-size mask under `name`."""
        full = np.zeros((self.image.height, self.image.width), dtype=np.float32)
        full[box.slices] = mask
        self.masks[name] = full

    def message(self, text: str) -> None:
        """Record a message (the CLI prints them)."""
        self.messages.append(text)

    @contextlib.contextmanager
    def undo_group(self, label: str) -> Iterator[None]:
        """Record one undo step per operation."""
        self.undo_steps.append(label)
        yield

    def progress(self, label: str) -> Progress:
        """Return the progress reporter given at construction."""
        return as_progress(self._progress)
