"""Layers as parameter arrays: what a layer the user picks stands for.

Some array parameters can come from a layer (``Param(layer=...)``): the
damage mask of remove-defects, the infrared plane of a film scan, the
region inpaint may copy from, deblur's PSF. Every host, and the command
line for image files, turns a layer into the array here, the same way:

- a pixel's value is its brightest colour channel, in encoded (sRGB-like)
  values, times its opacity. White or any full colour counts as 1, black
  or transparent as 0, so a detection layer (one colour, opacity = mask),
  white strokes on a transparent layer and a grey mask all read as painted;
- a ``"plane"`` parameter takes the layer over the whole target, clipped
  to [0, 1];
- a ``"kernel"`` parameter (a PSF) takes what is painted: the layer
  cropped to the bounding box of its non-zero pixels, values kept. When,
  on a host layer, that box is a piece of photo rather than a drawing (a
  lit rim without a black pixel: a star or glint copied and pasted as a
  new layer), the PSF is measured from it instead (:func:`photomend.psf.from_point_source`, in
  linear light): background subtracted, the spot isolated and centred.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .. import psf as psfs
from ..errors import ParameterError
from ..image import Image
from ..registry import ParamSpec

__all__ = ["LayerSource", "layer_array", "painted"]

#: A kernel painted over more than this share of a layer's width or height
#: is taken for a picked-by-mistake picture, not a PSF.
_KERNEL_SHARE = 0.5
#: A painted box whose rim is brighter than this share of its peak (median)
#: is a photo of a point source, to be measured, not a drawn kernel.
_PHOTO_RIM = 0.05


@dataclass(frozen=True)
class LayerSource:
    """A layer (or channel) a host offers for layer parameters.

    Attributes
    ----------
    key : str
        Identifies the layer within the document (host-specific).
    name : str
        What the user sees, e.g. the layer's name.
    read : callable
        ``read()`` returns the layer's pixels over the target's whole area,
        in the target's coordinates (so an image-sized plane lines up with
        the image), alpha kept; outside the layer is transparent.
    """

    key: str
    name: str
    read: Callable[[], Image]


def painted(layer: Image) -> np.ndarray:
    """Return how strongly each pixel of `layer` is painted, float32 in [0, 1]+.

    The brightest colour channel in encoded values, times the opacity.
    """
    color = layer.in_transfer("perceptual").color
    value = color.max(axis=-1) if color.shape[-1] > 1 else color[..., 0].copy()
    value = np.asarray(value, dtype=np.float32)
    if layer.alpha is not None:
        value *= np.clip(layer.alpha, 0.0, 1.0)
    return np.maximum(value, 0.0, out=value)


def layer_array(param: ParamSpec, layer: Image, *, name: str = "the layer",
                whole_layer: bool = True) -> np.ndarray:
    """Return the array parameter `param` read from `layer`.

    Parameters
    ----------
    param : ParamSpec
        An array parameter declaring a layer role (``"plane"`` or
        ``"kernel"``).
    layer : Image
        The layer's pixels (:attr:`LayerSource.read`), or an image file's.
    name : str
        The layer's (or file's) name, for messages.
    whole_layer : bool
        Whether `layer` spans the whole target (a host layer) rather than
        being the kernel's own picture (a file): only then is a kernel
        painted over most of it refused as a picture picked by mistake, and
        a pasted photo crop measured as a point source.

    Returns
    -------
    ndarray
        float32: ``(H, W)`` in [0, 1] for a plane; for a kernel the painted
        part, or the PSF measured from a photo crop of a point source.

    Raises
    ------
    ParameterError
        For a parameter without a layer role, a kernel layer that is empty
        or painted all over, or a photo crop without an isolated point.
    """
    if param.kind != "array" or not param.layer:
        msg = f"{param.name} cannot be read from a layer"
        raise ParameterError(msg)
    value = painted(layer)
    if param.layer == "plane":
        return np.minimum(value, 1.0, out=value)
    rows = np.flatnonzero(value.any(axis=1))
    cols = np.flatnonzero(value.any(axis=0))
    what = f"{param.label} ({name})"
    if rows.size == 0:
        msg = (f"{what} is empty (black or transparent everywhere); paint the blur's "
               "shape in white on black or on transparency")
        raise ParameterError(msg)
    height, width = value.shape
    h, w = rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1
    if whole_layer and (h > _KERNEL_SHARE * height or w > _KERNEL_SHARE * width):
        msg = (f"{what} is painted over {w}×{h} of its {width}×{height} px, which is a "
               "picture rather than a PSF; paint only the blur's shape, on black or "
               "transparency")
        raise ParameterError(msg)
    box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    kernel = value[box]
    if whole_layer and min(h, w) >= 5 and _is_photo(kernel):
        # a photo of a point source: measure it (its channels averaged, linear light)
        crop = layer.in_transfer("linear").color[box]
        try:
            return psfs.from_point_source(crop).astype(np.float32)
        except ParameterError as err:
            msg = f"{what} is a photo crop, read as a point source: {err}"
            raise ParameterError(msg) from None
    return np.ascontiguousarray(kernel)


def _is_photo(painted_box: np.ndarray) -> bool:
    """Whether a painted box is a piece of photo (a lit rim with no black pixel).

    A drawn kernel, or a PSF layer photomend added, fades to black at its
    corners; a crop of a photo has background all around.
    """
    rim = np.concatenate([painted_box[0], painted_box[-1], painted_box[1:-1, 0],
                          painted_box[1:-1, -1]])
    return bool(rim.min() > 0.0
                and float(np.median(rim)) > _PHOTO_RIM * float(painted_box.max()))
