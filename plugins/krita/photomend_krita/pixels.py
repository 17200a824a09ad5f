"""Krita's pixel layouts ↔ photomend images: which layers, which bytes.

Nothing here imports Krita: the tests check every depth and byte order
without it. Facts (docs/hosts.md, verified on Krita 5.2): ``pixelData``
returns U8/U16 RGBA as B,G,R,A and F16/F32 RGBA as R,G,B,A; GRAYA is
gray, alpha; selections are one byte per pixel, 0..255. Every dtype and
channel-order change goes through :mod:`photomend.convert`.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from photomend import convert
from photomend.errors import ImageError
from photomend.image import Image

DTYPES = {"U8": np.dtype(np.uint8), "U16": np.dtype(np.uint16),
          "F16": np.dtype(np.float16), "F32": np.dtype(np.float32)}
CHANNELS = {"RGBA": 4, "GRAYA": 2}
_MODEL_NAMES = {"CMYKA": "CMYK", "LABA": "L*a*b*", "XYZA": "XYZ", "YCbCrA": "YCbCr",
                "A": "an alpha-only colour space"}
_LAYER_NAMES = {"grouplayer": "a group layer", "filelayer": "a file layer",
                "clonelayer": "a clone layer", "vectorlayer": "a vector layer",
                "filterlayer": "a filter layer", "filllayer": "a fill layer",
                "referenceimageslayer": "a reference images layer"}
#: Colour of detection masks put on a layer: alpha carries the mask, so
#: Select ▸ Select Opaque turns it into a selection.
MASK_COLOR = {"RGBA": (1.0, 0.0, 0.0), "GRAYA": (1.0,)}


class Layout(NamedTuple):
    """How one Krita pixel is stored."""

    model: str
    depth: str
    dtype: np.dtype
    channels: int

    @property
    def swapped(self) -> bool:
        """Whether the colour comes as B,G,R (Krita's 8- and 16-bit RGBA)."""
        return self.model == "RGBA" and self.dtype.kind == "u"


def check_layer(kind: str, name: str) -> None:
    """Refuse anything but a paint layer, saying what to do instead.

    Group, file and clone layers silently ignore pixel writes in Krita, and
    vector, filter and fill layers have no pixels of their own.
    """
    if kind == "paintlayer":
        return
    if kind.endswith("mask"):
        what = kind[:-4] + " mask"
        msg = f"“{name}” is a {what}; select the paint layer it belongs to"
        raise ImageError(msg)
    what = _LAYER_NAMES.get(kind, f"a {kind or 'non-paint'} layer")
    msg = (f"photomend works on paint layers, but “{name}” is {what}. Select a paint "
           "layer, or convert this one (Layer ▸ Convert ▸ to Paint Layer)")
    raise ImageError(msg)


def layout(model: str, depth: str, name: str = "the layer") -> Layout:
    """Return the layout of `model`/`depth`, or refuse it with what to do."""
    if model not in CHANNELS:
        what = _MODEL_NAMES.get(model, model)
        msg = (f"photomend works on RGB and grayscale layers, but “{name}” is {what} "
               f"({depth}). Convert it first (Image ▸ Convert Image Color Space… to "
               "RGB/Alpha or Grayscale/Alpha)")
        raise ImageError(msg)
    if depth not in DTYPES:
        allowed = ", ".join(DTYPES)
        msg = (f"photomend cannot read {depth} layers (“{name}”); convert the image "
               f"to one of {allowed} (Image ▸ Convert Image Color Space…)")
        raise ImageError(msg)
    return Layout(model, depth, DTYPES[depth], CHANNELS[model])


def transfer_of(profile: str) -> convert.Transfer:
    """Return whether a profile's values are linear light or perceptual.

    Krita's linear profiles say so in their names: the elle-V2 ``g10`` set
    (``sRGB-elle-V2-g10.icc``, the default of new 16-bit and float images)
    and the ``scRGB (linear)`` / ``… linear`` profiles.
    """
    name = profile.lower()
    return "linear" if ("g10" in name or "linear" in name) else "perceptual"


def to_image(data: bytes, width: int, height: int, lay: Layout,
             transfer: convert.Transfer) -> Image:
    """Return the Image held by Krita ``pixelData`` bytes."""
    expected = width * height * lay.channels * lay.dtype.itemsize
    if len(data) != expected:
        msg = f"Krita returned {len(data)} bytes for {width}×{height} {lay.model} {lay.depth}"
        raise ImageError(msg)
    array = np.frombuffer(data, dtype=lay.dtype).reshape(height, width, lay.channels)
    if lay.swapped:
        array = convert.bgra_to_rgba(array)
    return Image.from_array(array, transfer=transfer)


def from_image(image: Image, lay: Layout, transfer: convert.Transfer) -> bytes:
    """Return `image` as bytes for Krita ``setPixelData`` in `lay`."""
    if image.channels != lay.channels - 1 or image.alpha is None:
        msg = f"cannot store a {image.channels}-channel image in a {lay.model} layer"
        raise ImageError(msg)
    array = image.in_transfer(transfer).to_array(lay.dtype)
    if lay.swapped:
        array = convert.rgba_to_bgra(array)
    return np.ascontiguousarray(array).tobytes()


def selection_from_bytes(data: bytes, width: int, height: int) -> np.ndarray:
    """Return a Krita selection (1 byte per pixel) as float32 ``(h, w)`` in [0, 1]."""
    levels = np.frombuffer(data, dtype=np.uint8, count=width * height).reshape(height, width)
    return convert.to_float32(levels)


def mask_to_bytes(mask: np.ndarray, lay: Layout) -> bytes:
    """Return a detection mask as layer bytes: :data:`MASK_COLOR`, alpha = mask."""
    h, w = mask.shape
    color = np.broadcast_to(np.array(MASK_COLOR[lay.model], np.float32),
                            (h, w, lay.channels - 1)).copy()
    alpha = np.clip(mask, 0.0, 1.0).astype(np.float32)
    image = Image(color=color, alpha=alpha, dtype=lay.dtype)
    return from_image(image, lay, "perceptual")
