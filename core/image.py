"""The image model: working pixels plus what is needed to store them again.

An :class:`Image` holds float32 colour in [0, 1] (gray or RGB), an optional
alpha plane and infrared plane kept apart from the colour, whether the
values are perceptual (sRGB-like curve) or linear light, the storage type to
write back (so 16-bit stays 16-bit), and file metadata (ICC profile, EXIF,
resolution) that must survive a load → save round trip.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from . import convert
from .convert import Transfer
from .errors import ImageError

__all__ = ["Image", "as_color_array"]


def as_color_array(array: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Split a plain pixel array into float32 colour ``(H, W, C)`` and alpha.

    Shape rules for arrays handed to :func:`photomend.run`: ``(H, W)`` and
    ``(H, W, 1)`` are gray, ``(H, W, 2)`` gray + alpha, ``(H, W, 3)`` RGB and
    ``(H, W, 4)`` RGBA (alpha last).

    Raises
    ------
    ImageError
        For any other shape, an empty image or unsupported values.
    """
    if not isinstance(array, np.ndarray):
        msg = f"expected a numpy array of pixels, got {type(array).__name__}"
        raise ImageError(msg)
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[-1] not in (1, 2, 3, 4):
        msg = (f"image shape {array.shape} is not supported; expected (H, W) gray or "
               "(H, W, C) with C = 1 (gray), 2 (gray+alpha), 3 (RGB) or 4 (RGBA)")
        raise ImageError(msg)
    if array.shape[0] == 0 or array.shape[1] == 0:
        msg = f"the image is empty (shape {array.shape})"
        raise ImageError(msg)
    pixels = convert.to_float32(array)
    has_alpha = array.shape[-1] in (2, 4)
    color, alpha = convert.split_alpha(pixels, has_alpha)
    return np.ascontiguousarray(color), (None if alpha is None else np.ascontiguousarray(alpha))


@dataclass
class Image:
    """Pixels in working form plus what is needed to give them back.

    Attributes
    ----------
    color : ndarray
        float32 ``(H, W, C)``, ``C`` 1 or 3, nominally in [0, 1].
    alpha : ndarray or None
        float32 ``(H, W)`` opacity, never touched by operations.
    transfer : {'perceptual', 'linear'}
        Whether `color` is encoded with the sRGB curve or is linear light.
    dtype : numpy.dtype
        Storage type to write back (uint8, uint16, float16, float32, ...).
    infrared : ndarray or None
        float32 ``(H, W)`` infrared plane of a scanner's RGBI scan.
    icc_profile, exif : bytes or None
        Embedded ICC profile and raw EXIF block, kept verbatim.
    dpi : tuple of float or None
        Horizontal and vertical resolution in dots per inch.
    info : dict
        Format details (source format, compression, ...) for saving alike.
    """

    color: np.ndarray
    alpha: np.ndarray | None = None
    transfer: Transfer = "perceptual"
    dtype: np.dtype = field(default_factory=lambda: np.dtype(np.float32))
    infrared: np.ndarray | None = None
    icc_profile: bytes | None = None
    exif: bytes | None = None
    dpi: tuple[float, float] | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        c = self.color
        if not isinstance(c, np.ndarray) or c.ndim != 3 or c.shape[-1] not in (1, 3):
            shape = getattr(c, "shape", None)
            msg = f"Image.color must be float32 (H, W, 1) or (H, W, 3), got shape {shape}"
            raise ImageError(msg)
        if c.dtype != np.float32:
            msg = f"Image.color must be float32, got {c.dtype}; use Image.from_array"
            raise ImageError(msg)
        for name in ("alpha", "infrared"):
            plane = getattr(self, name)
            if plane is not None and plane.shape != c.shape[:2]:
                msg = f"Image.{name} shape {plane.shape} does not match the image {c.shape[:2]}"
                raise ImageError(msg)
        if self.transfer not in ("perceptual", "linear"):
            msg = f"transfer must be 'perceptual' or 'linear', got {self.transfer!r}"
            raise ImageError(msg)
        self.dtype = np.dtype(self.dtype)

    # -- construction -----------------------------------------------------
    @classmethod
    def from_array(cls, array: np.ndarray, *, transfer: Transfer = "perceptual",
                   **metadata: Any) -> Image:
        """Build an image from host or file pixels (shape rules of :func:`as_color_array`)."""
        color, alpha = as_color_array(array)
        return cls(color=color, alpha=alpha, transfer=transfer, dtype=array.dtype, **metadata)

    def to_array(self, dtype: np.dtype | type | None = None, *, copy: bool = True) -> np.ndarray:
        """Return pixels as ``(H, W, C[+1])`` in `dtype` (default: :attr:`dtype`).

        With ``copy=False`` float32 pixels without alpha may share memory
        with :attr:`color`.
        """
        target = self.dtype if dtype is None else np.dtype(dtype)
        return convert.from_float32(convert.merge_alpha(self.color, self.alpha), target,
                                    copy=copy)

    def with_color(self, color: np.ndarray, **changes: Any) -> Image:
        """Return a copy with new colour values (metadata and alpha kept)."""
        return replace(self, color=color.astype(np.float32, copy=False), **changes)

    def in_transfer(self, transfer: Transfer) -> Image:
        """Return a copy whose colour is encoded with `transfer`."""
        if transfer == self.transfer:
            return self
        return self.with_color(convert.to_transfer(self.color, self.transfer, transfer),
                               transfer=transfer)

    # -- shape ------------------------------------------------------------
    @property
    def height(self) -> int:
        """Number of rows."""
        return int(self.color.shape[0])

    @property
    def width(self) -> int:
        """Number of columns."""
        return int(self.color.shape[1])

    @property
    def channels(self) -> int:
        """Colour channels: 1 (gray) or 3 (RGB), alpha not counted."""
        return int(self.color.shape[2])

    @property
    def is_gray(self) -> bool:
        """Whether the colour is a single gray channel."""
        return self.channels == 1

    @property
    def bit_depth(self) -> int:
        """Bits per sample of the storage type (8, 16, 32 or 64)."""
        return self.dtype.itemsize * 8
