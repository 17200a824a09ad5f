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

from .. import convert
from .. import psf as psfs
from ..errors import ImageError, ParameterError, PhotomendError
from ..image import Image
from ..registry import ParamSpec

__all__ = ["OWN_ALPHA", "LayerSource", "layer_array", "own_alpha", "painted", "painted_plane",
           "read_param"]

#: A kernel painted over more than this share of a layer's width or height
#: is taken for a picked-by-mistake picture, not a PSF.
_KERNEL_SHARE = 0.5
#: A pasted photo crop has a lit background along its edge (median above
#: this share of the peak) and values that vary by more than this share of
#: the peak; a drawn kernel has black there, or is one flat colour (a disk
#: painted on transparency).
_PHOTO_RIM = 0.05
_PHOTO_VARIES = 0.01


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
    planes_only : bool
        Offered only for image-sized planes, not for kernels (a PSF).
    """

    key: str
    name: str
    read: Callable[[], Image]
    planes_only: bool = False


#: Key of the source :func:`own_alpha` makes.
OWN_ALPHA = "photomend:own-alpha"


def own_alpha(target: Image) -> LayerSource | None:
    """Return the target layer's own alpha as a source of planes, or None.

    GIMP and Krita open a scanner's RGBI TIFF with its infrared plane as the
    layer's alpha (an extra sample they take for transparency; checked with
    GIMP 3.0.4 and Krita 5.2), so this is where a film scan's infrared is
    found in a host. None when the layer has no alpha or is opaque everywhere.
    """
    alpha = target.alpha
    if alpha is None or float(alpha.min()) >= 1.0:
        return None

    def read() -> Image:  # a view of the alpha, made when chosen
        return Image(color=np.asarray(alpha, dtype=np.float32)[..., None],
                     dtype=np.dtype(np.float32))

    return LayerSource(OWN_ALPHA, "Alpha of this layer (an RGBI scan's infrared)", read,
                       planes_only=True)


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


def painted_plane(layer: Image) -> np.ndarray:
    """Return :func:`painted` clipped to [0, 1]: a mask, an infrared plane."""
    value = painted(layer)
    return np.minimum(value, 1.0, out=value)


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
    if param.layer == "plane":
        return painted_plane(layer)
    value = painted(layer)
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
    crop = _photo_crop(layer, box) if whole_layer and min(h, w) >= 5 else None
    if crop is not None:
        try:
            return psfs.from_point_source(crop).astype(np.float32)
        except ParameterError as err:
            msg = f"{what} is a photo crop, read as a point source: {err}"
            raise ParameterError(msg) from None
    return np.ascontiguousarray(value[box])


def _photo_crop(layer: Image, box: tuple[slice, slice]) -> np.ndarray | None:
    """Return the linear pixels to measure a PSF from, or None for a drawn kernel.

    A piece of photo pasted as a layer (a star with its sky, cut with any
    selection shape) has lit background all along the edge of its opaque
    part, and its values vary. A drawn kernel fades to black there, or is
    one flat colour (a disk or bar painted on transparency, or a PSF layer
    photomend added: one colour, opacity = kernel). A photo crop without a
    point in it is refused by :func:`~photomend.psf.from_point_source`.
    Transparent pixels of a photo crop get the background level.
    """
    from scipy import ndimage

    color = layer.color[box]  # converted for the box alone, not the whole layer
    bright = convert.to_transfer(color, layer.transfer, "perceptual").max(axis=-1)
    inside = (np.ones(bright.shape, dtype=bool) if layer.alpha is None
              else layer.alpha[box] >= 0.5)
    if inside.sum() < 25:
        return None
    edge = inside & ~ndimage.binary_erosion(inside, border_value=0)
    rim = bright[edge]
    peak = float(bright[inside].max())
    varies = peak - float(bright[inside].min()) > _PHOTO_VARIES * peak
    if not (rim.min() > 0.0 and float(np.median(rim)) > _PHOTO_RIM * peak and varies):
        return None
    linear = convert.to_transfer(color, layer.transfer, "linear")
    linear[~inside] = np.median(linear[edge], axis=0)
    return linear


def read_param(param: ParamSpec, source: LayerSource,
               size: tuple[int, int]) -> np.ndarray:
    """Read `source` as parameter `param` of an operation on a ``(h, w)`` target.

    Parameters
    ----------
    param : ParamSpec
        An array parameter with a layer role.
    source : LayerSource
        The layer chosen.
    size : tuple of int
        ``(height, width)`` of the target: an image-sized plane must match.

    Raises
    ------
    ParameterError
        As :func:`layer_array`.
    ImageError
        When the layer cannot be read, or a plane is not the target's size.
    """
    name = f"layer “{source.name}”"
    try:
        pixels = source.read()
    except PhotomendError:
        raise
    except Exception as err:  # a host's own error: say which layer, keep the cause
        msg = f"{param.label}: {name} could not be read ({err})"
        raise ImageError(msg) from err
    array = layer_array(param, pixels, name=name)
    if param.layer == "plane" and array.shape != size:
        msg = (f"{param.label}: {name} was read as {array.shape[1]}×{array.shape[0]} px, "
               f"not the image's {size[1]}×{size[0]}")
        raise ImageError(msg)
    return array
