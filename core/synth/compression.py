"""JPEG compression artefacts."""

from __future__ import annotations

import io
from typing import Literal

import numpy as np
from PIL import Image as PILImage

from ..convert import from_float32, to_float32
from ..errors import ParameterError
from .degradation import Degradation, Seed, _check_image, _rng

__all__ = ["jpeg"]

Subsampling = Literal["4:4:4", "4:2:2", "4:2:0"]


def jpeg(clean: np.ndarray, seed: Seed, *, quality: int | None = None,
         subsampling: Subsampling = "4:2:0") -> Degradation:
    """Compress an image as a JPEG in memory and decode it again.

    Parameters
    ----------
    clean : ndarray
        float32 ``(H, W, C)`` image in [0, 1]; not modified.
    seed : int or numpy.random.Generator
        Draws `quality` when it is None.
    quality : int, optional
        Pillow/libjpeg quality, 1 (worst) to 95; drawn in [10, 90].
    subsampling : {'4:2:0', '4:2:2', '4:4:4'}, optional
        Chroma subsampling of colour images; libjpeg's default 4:2:0.

    Returns
    -------
    Degradation
        ``params['quality']``, ``params['subsampling']`` and the
        compressed size in bytes.

    Notes
    -----
    The image is first rounded to 8 bits (clipped to [0, 1]), so the
    result also carries 8-bit quantisation. Baseline JPEG, no optimised
    Huffman tables: the same settings give the same bytes every time.
    """
    img = _check_image(clean)
    rng = _rng(seed)
    if quality is None:
        q = int(rng.integers(10, 91))
    elif isinstance(quality, bool) or not isinstance(quality, (int, np.integer)) or not (
            1 <= quality <= 95):
        msg = f"quality = {quality!r} must be a whole number in [1, 95]"
        raise ParameterError(msg)
    else:
        q = int(quality)
    if subsampling not in ("4:4:4", "4:2:2", "4:2:0"):
        msg = f"subsampling = {subsampling!r} must be '4:4:4', '4:2:2' or '4:2:0'"
        raise ParameterError(msg)
    pixels = from_float32(img, np.uint8)
    gray = img.shape[2] == 1
    pil = PILImage.fromarray(pixels[..., 0] if gray else pixels)  # uint8: "L" or "RGB"
    buffer = io.BytesIO()
    pil.save(buffer, format="JPEG", quality=q, subsampling=subsampling, optimize=False)
    size = buffer.tell()
    buffer.seek(0)
    with PILImage.open(buffer) as decoded:
        back = np.asarray(decoded.convert("L" if gray else "RGB"))
    out = to_float32(back.reshape(img.shape))
    return Degradation(image=out, clean=img,
                       params={"quality": q, "subsampling": subsampling, "bytes": int(size)})
