"""The host interface: the few things a host must do for photomend."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import NamedTuple, Protocol

import numpy as np

from ..image import Image
from ..progress import Progress

__all__ = ["Box", "Host", "grow_box"]


class Box(NamedTuple):
    """A rectangle in the target's pixel coordinates: origin and size."""

    x: int
    y: int
    width: int
    height: int

    @property
    def slices(self) -> tuple[slice, slice]:
        """Row and column slices of the box."""
        return slice(self.y, self.y + self.height), slice(self.x, self.x + self.width)


def grow_box(box: Box, margin: int | None, width: int, height: int, grid: int = 1) -> Box:
    """Grow `box` by `margin` px on every side, clipped to ``width × height``.

    ``margin=None`` means the whole target (operations that need it all).
    The grown box starts on a multiple of `grid` (an operation's sampling
    grid, :attr:`~photomend.registry.OperationSpec.grid`).
    """
    if margin is None:
        return Box(0, 0, width, height)
    x0 = max(0, box.x - margin) // grid * grid
    y0 = max(0, box.y - margin) // grid * grid
    x1 = min(width, box.x + box.width + margin)
    y1 = min(height, box.y + box.height + margin)
    return Box(x0, y0, x1 - x0, y1 - y0)


class Host(Protocol):
    """What a host provides to :func:`~photomend.hosts.apply.apply_operation`.

    Coordinates are those of the target (drawable / layer) pixels.
    """

    #: True when the host's write path already blends through the
    #: selection (GIMP's shadow-buffer merge); the core then writes raw
    #: results and the host blends, so feathering is not applied twice.
    blends_selection: bool

    def size(self) -> tuple[int, int]:
        """Return the target's ``(width, height)``."""
        ...

    def selection_bounds(self) -> Box | None:
        """Return the selection's bounding box, None when nothing is selected.

        A selection that exists but covers no pixel of the target returns a
        box of zero size.
        """
        ...

    def selection(self, box: Box) -> np.ndarray:
        """Return the selection inside `box` as float32 ``(h, w)`` in [0, 1]."""
        ...

    def read(self, box: Box) -> Image:
        """Return the target's pixels inside `box`, alpha split off."""
        ...

    def write(self, box: Box, image: Image, *, new_layer: str | None = None) -> None:
        """Write `image` into `box`, in place or on a new layer named `new_layer`."""
        ...

    def write_mask(self, box: Box, mask: np.ndarray, name: str) -> None:
        """Put a detection mask (float32 ``(h, w)``) on a new layer/channel."""
        ...

    def message(self, text: str) -> None:
        """Show `text` to the user."""
        ...

    def undo_group(self, label: str) -> AbstractContextManager[None]:
        """Group every change made inside the block into one undo step."""
        ...

    def progress(self, label: str) -> Progress:
        """Return a progress reporter bound to the host's progress display."""
        ...
