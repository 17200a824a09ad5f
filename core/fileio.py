r"""Load and save image files: PNG, JPEG, TIFF and WebP.

:func:`load` reads a file into an :class:`~photomend.image.Image` and
:func:`save` writes one back without losing what the file held: 8- and
16-bit integer pixels round-trip exactly, float TIFF values are kept as they
are, and the ICC profile, EXIF block and resolution travel with the image.

Formats and libraries
---------------------
========  ===================================  ==============================
format    pixel types                          library
========  ===================================  ==============================
TIFF      8/16/32-bit integer, 16/32/64 float  tifffile (+ imagecodecs codecs)
PNG       8 and 16 bit, gray/RGB (+ alpha)     imagecodecs (libpng) + own
                                               metadata chunk handling
JPEG      8 bit, gray or RGB                   Pillow
WebP      8 bit, RGB or RGBA                   Pillow
========  ===================================  ==============================

Pillow cannot hold 16-bit RGB, so every PNG goes through
``imagecodecs.png_decode``/``png_encode``; its ``iCCP``, ``eXIf`` and
``pHYs`` chunks are parsed and written here (libpng via imagecodecs exposes
no metadata). TIFF EXIF lives in a sub-IFD that tifffile cannot write, so it
is appended to the file after tifffile has written the image (see
:func:`_tiff_append_exif`).

Conventions
-----------
- Every loaded image is ``transfer="perceptual"``: 8/16-bit files are
  sRGB-like encoded, and float TIFFs are taken as perceptual too (there is no
  reliable tag saying otherwise). Images in linear light are converted back
  to perceptual before saving, so files are always perceptual.
- :attr:`Image.exif` holds the TIFF-structured EXIF block (starting with
  ``II*\0`` or ``MM\0*``) without JPEG's ``Exif\0\0`` prefix. PNG, JPEG and
  WebP keep it byte for byte; TIFF stores EXIF as tags of the file itself,
  so a TIFF round trip keeps every tag of IFD0 metadata, the Exif, GPS and
  Interoperability IFDs, but not the thumbnail IFD, and maker notes that use
  absolute offsets may not survive (as with every other TIFF writer).
- Four-sample TIFFs whose ExtraSamples tag says "unspecified" (0) are film
  scanner RGB + infrared scans: the extra plane goes to
  :attr:`Image.infrared`. Associated (1) or unassociated (2) extra samples
  are alpha; a missing ExtraSamples tag is read as alpha, like most readers.
  Associated (premultiplied) alpha is kept as stored and written back as
  associated.
- Only the first page of a multi-page TIFF is read. Palette TIFFs are
  expanded to RGB, bilevel and 2/4/12-bit files scaled to 8 or 16 bits;
  CMYK, CIELab and other colour models are refused.
- Saving never overwrites an existing file unless ``overwrite=True``, and
  writes to a temporary file in the target folder that is moved into place
  only when complete.
"""

from __future__ import annotations

import contextlib
import math
import os
import secrets
import struct
import warnings
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

import imagecodecs
import numpy as np
import tifffile
from PIL import Image as PILImage

from . import convert
from .errors import FileFormatError, ImageError, ParameterError, PhotomendError
from .image import Image

__all__ = ["SUPPORTED_EXTENSIONS", "format_for", "load", "save"]

_FORMAT_BY_SUFFIX = {
    ".tif": "tiff",
    ".tiff": "tiff",
    ".png": "png",
    ".jpg": "jpeg",
    ".jpeg": "jpeg",
    ".webp": "webp",
}
#: File name extensions :func:`load` and :func:`save` understand (any case).
SUPPORTED_EXTENSIONS: tuple[str, ...] = tuple(_FORMAT_BY_SUFFIX)

_FORMAT_LABEL = {"tiff": "TIFF", "png": "PNG", "jpeg": "JPEG", "webp": "WebP"}

_U8, _U16 = np.dtype(np.uint8), np.dtype(np.uint16)
_WRITABLE_DTYPES: dict[str, tuple[np.dtype, ...]] = {
    "tiff": convert.SUPPORTED_DTYPES,
    "png": (_U8, _U16),
    "jpeg": (_U8,),
    "webp": (_U8,),
}
_DEPTH_NAMES = {
    np.dtype(np.uint8): "8-bit",
    np.dtype(np.uint16): "16-bit",
    np.dtype(np.uint32): "32-bit integer",
    np.dtype(np.float16): "16-bit float",
    np.dtype(np.float32): "32-bit float",
    np.dtype(np.float64): "64-bit float",
}

# Our compression names → tifffile's; "deflate" is Adobe Deflate (code 8).
_TIFF_COMPRESSION = {"none": None, "lzw": "lzw", "deflate": "adobe_deflate"}
_TIFF_COMPRESSION_ALIASES = {"zip": "deflate", "adobe_deflate": "deflate",
                             "uncompressed": "none"}
_DEFAULT_TIFF_COMPRESSION = "deflate"
_WEBP_COMPRESSION = ("lossy", "lossless")

# What Pillow, tifffile, imagecodecs and zlib raise for damaged data or
# failed I/O. Only code that calls those libraries sits under these handlers.
_LIBRARY_ERRORS: tuple[type[BaseException], ...] = (
    OSError, ValueError, RuntimeError, SyntaxError, EOFError, KeyError, IndexError,
    struct.error, zlib.error, PILImage.DecompressionBombError,
)

_EXIF_PREFIX = b"Exif\x00\x00"


# -- public API ---------------------------------------------------------------


def load(path: str | os.PathLike[str]) -> Image:
    """Read a PNG, JPEG, TIFF or WebP file into an image.

    Parameters
    ----------
    path : str or path-like
        The file to read. Its extension must be one of
        :data:`SUPPORTED_EXTENSIONS`; the format itself is recognised from
        the file's content, so a misnamed file still loads.

    Returns
    -------
    Image
        Float32 colour in [0, 1] (float TIFFs keep their values),
        ``transfer="perceptual"``, :attr:`Image.dtype` the file's storage
        type, alpha and infrared planes split off, ICC profile, EXIF and
        resolution filled in when the file has them, and ``info`` holding
        ``format`` plus, for TIFF, ``compression``, ``alpha``
        ("associated"/"unassociated") and ``pages``.

    Raises
    ------
    FileFormatError
        If the extension is not supported, the file is missing, unreadable,
        damaged, or uses a layout photomend does not handle (CMYK, ...).
    """
    source = Path(path)
    if source.is_dir():
        msg = f"cannot read {source}: it is a folder, not an image file"
        raise FileFormatError(msg)
    fmt = format_for(source, "read")
    try:
        with open(source, "rb") as fh:
            head = fh.read(16)
    except FileNotFoundError:
        msg = f"cannot read {source}: the file does not exist"
        raise FileFormatError(msg) from None
    except OSError as exc:
        msg = f"cannot read {source}: {_reason(exc)}"
        raise FileFormatError(msg) from exc
    found = _sniff(head)
    if found is None:
        what = ("the file is empty" if not head else
                f"it is not a valid {_FORMAT_LABEL[fmt]} file (it may be damaged)")
        msg = f"cannot read {source}: {what}"
        raise FileFormatError(msg)
    label = _FORMAT_LABEL[found]
    try:
        image = _LOADERS[found](source)
    except PhotomendError as exc:
        msg = f"cannot read {source}: {exc}"
        raise FileFormatError(msg) from exc
    except PILImage.DecompressionBombError as exc:
        msg = f"cannot read {source}: the image is too large to decode safely ({exc})"
        raise FileFormatError(msg) from exc
    except MemoryError:
        msg = f"cannot read {source}: the image does not fit in this machine's memory"
        raise FileFormatError(msg) from None
    except Exception as exc:  # any decoder failure on a damaged file
        msg = (f"cannot read {source}: the {label} file is damaged or uses a feature "
               f"photomend cannot read ({_reason(exc)})")
        raise FileFormatError(msg) from exc
    image.info["format"] = found
    return image


def save(image: Image, path: str | os.PathLike[str], *, like: Image | None = None,
         dtype: np.dtype | type | str | None = None, overwrite: bool = False,
         quality: int = 95, compression: str | None = None) -> Path:
    """Write an image to a PNG, JPEG, TIFF or WebP file.

    The format follows the file name's extension. The file is written to a
    temporary file in the same folder and moved into place when complete,
    so a failure never leaves a half-written output or touches an existing
    file.

    Parameters
    ----------
    image : Image
        The pixels and metadata to write. Linear-light images are converted
        to perceptual values first.
    path : str or path-like
        Target file; its extension picks the format.
    like : Image, optional
        An image to save alike, typically the one the result came from: its
        storage type is the default bit depth, its ICC profile, EXIF and
        resolution fill in what `image` lacks, and its TIFF compression is
        the default compression.
    dtype : numpy dtype or str, optional
        Storage type to write (``'uint8'``, ``'uint16'``, ``'float32'``...).
        Defaults to ``like.dtype`` or else ``image.dtype``. The bit depth is
        reduced (16-bit to 8-bit, say) only when asked for through `dtype`
        or `like`; a format that cannot hold the depth raises instead.
    overwrite : bool
        Replace an existing file. Off by default.
    quality : int
        JPEG and WebP quality from 1 to 100. JPEG uses full-resolution
        colour (4:4:4) from quality 90 up.
    compression : str, optional
        TIFF: ``'none'``, ``'lzw'`` or ``'deflate'`` (default: the source
        TIFF's compression if it is one of those, else ``'deflate'``).
        WebP: ``'lossy'`` or ``'lossless'`` (default: lossless for a
        lossless WebP source, else lossy). PNG is always
        lossless and JPEG uses `quality`; they take no compression.

    Returns
    -------
    pathlib.Path
        The path of the written file.

    Raises
    ------
    FileFormatError
        If the extension is unsupported, the file exists and `overwrite` is
        false, the format cannot hold the bit depth, alpha or compression
        asked for (16-bit JPEG, for instance), or writing fails.
    ParameterError
        For a `quality` or `dtype` that is not valid at all.
    ImageError
        If `image` is not an :class:`Image` or holds NaN or infinity.

    Notes
    -----
    The infrared plane of an RGBI scan is written to TIFF only, as an extra
    sample marked "unspecified" so it loads back as infrared; PNG, JPEG and
    WebP have no place for it and leave it out. Gray images are written as
    RGB to WebP, which has no gray mode. PNG resolution is stored in pixels
    per metre, so it reads back rounded to 0.1 dpi; JPEG stores whole dpi.
    """
    target = Path(path)
    fmt = format_for(target, "write")
    label = _FORMAT_LABEL[fmt]
    if not isinstance(image, Image):
        msg = (f"save expects a photomend Image, got {type(image).__name__}; "
               "build one with Image.from_array")
        raise ImageError(msg)
    if like is not None and not isinstance(like, Image):
        msg = f"like must be a photomend Image or None, got {type(like).__name__}"
        raise ParameterError(msg)
    if isinstance(quality, bool) or not isinstance(quality, int | np.integer) \
            or not 1 <= quality <= 100:
        msg = f"quality must be a whole number from 1 to 100, got {quality!r}"
        raise ParameterError(msg)
    out_dtype = _target_dtype(image, like, dtype, fmt)
    method = _target_compression(fmt, compression, image, like)
    if fmt == "jpeg" and image.alpha is not None:
        msg = ("JPEG cannot store transparency; flatten the alpha channel first, "
               "or save as PNG, TIFF or WebP")
        raise FileFormatError(msg)
    for name in ("color", "alpha", "infrared"):
        plane = getattr(image, name)
        if plane is not None:
            convert.check_finite(plane, "image" if name == "color" else f"{name} plane")

    meta_source = like if like is not None else image
    icc = image.icc_profile if image.icc_profile is not None else meta_source.icc_profile
    exif = image.exif if image.exif is not None else meta_source.exif
    dpi = image.dpi if image.dpi is not None else meta_source.dpi
    exif = None if exif is None else _strip_exif_prefix(bytes(exif))
    work = image.in_transfer("perceptual")

    def write(fh: IO[bytes]) -> None:
        if fmt == "tiff":
            _save_tiff(fh, work, out_dtype, method, icc, exif, dpi)
        elif fmt == "png":
            _save_png(fh, work, out_dtype, icc, exif, dpi)
        else:
            _save_pillow(fh, work, fmt, int(quality), method, icc, exif, dpi)

    _write_atomically(target, label, overwrite, write)
    return target


# -- shared helpers -------------------------------------------------------------


def format_for(path: Path, action: str) -> str:
    """Return the format named by `path`'s extension; raise :class:`FileFormatError` for others.

    `action` ("read", "write") goes into the message.
    """
    fmt = _FORMAT_BY_SUFFIX.get(path.suffix.lower())
    if fmt is None:
        problem = (f"{path.suffix} is not a supported image type" if path.suffix
                   else "the file name has no extension")
        msg = f"cannot {action} {path}: {problem}; use one of {', '.join(SUPPORTED_EXTENSIONS)}"
        raise FileFormatError(msg)
    return fmt


def _sniff(head: bytes) -> str | None:
    """Recognise the format from the first bytes of a file."""
    if head.startswith(_PNG_SIGNATURE):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiff"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return None


def _reason(exc: BaseException) -> str:
    """Return the human part of a library exception."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc).strip() or type(exc).__name__


def _depth_name(dtype: np.dtype) -> str:
    return _DEPTH_NAMES.get(np.dtype(dtype), str(dtype))


def _strip_exif_prefix(exif: bytes) -> bytes:
    return exif[len(_EXIF_PREFIX):] if exif.startswith(_EXIF_PREFIX) else exif


def _target_dtype(image: Image, like: Image | None,
                  dtype: np.dtype | type | str | None, fmt: str) -> np.dtype:
    """Pick the storage type and refuse one the format cannot hold."""
    if dtype is not None:
        try:
            target = np.dtype(dtype)
        except TypeError as exc:
            msg = f"dtype {dtype!r} is not a pixel type; use 'uint8', 'uint16' or 'float32'"
            raise ParameterError(msg) from exc
    else:
        target = like.dtype if like is not None else image.dtype
    allowed = _WRITABLE_DTYPES[fmt]
    if target in allowed:
        return target
    label = _FORMAT_LABEL[fmt]
    holds = " or ".join(_depth_name(d) for d in allowed)
    if target in _WRITABLE_DTYPES["tiff"]:
        deepest = allowed[-1]
        keep = "TIFF or PNG" if target in _WRITABLE_DTYPES["png"] else "TIFF"
        hint = (f"save as {keep} to keep {_depth_name(target)} values, or ask for "
                f"dtype='{deepest}' (--depth {deepest.itemsize * 8} on the command line) "
                f"to store {_depth_name(deepest)}")
    else:
        hint = "choose dtype 'uint8', 'uint16' or 'float32'"
    msg = f"{label} cannot store {_depth_name(target)} images (only {holds}); {hint}"
    raise FileFormatError(msg)


def _target_compression(fmt: str, compression: str | None, image: Image,
                        like: Image | None) -> str | None:
    """Resolve the `compression` argument for the target format."""
    if fmt == "tiff":
        if compression is None:
            for source in (like, image):
                if source is not None and source.info.get("format") == "tiff" \
                        and source.info.get("compression") in _TIFF_COMPRESSION:
                    return str(source.info["compression"])
            return _DEFAULT_TIFF_COMPRESSION
        name = str(compression).lower()
        name = _TIFF_COMPRESSION_ALIASES.get(name, name)
        if name not in _TIFF_COMPRESSION:
            msg = (f"TIFF compression {compression!r} is not supported; "
                   f"use {', '.join(repr(c) for c in _TIFF_COMPRESSION)}")
            raise FileFormatError(msg)
        return name
    if fmt == "webp":
        if compression is None:
            # a lossless WebP stays lossless (as a TIFF keeps its compression)
            for source in (like, image):
                if source is not None and source.info.get("format") == "webp" \
                        and source.info.get("compression") == "lossless":
                    return "lossless"
            return "lossy"
        if compression not in _WEBP_COMPRESSION:
            msg = f"WebP compression {compression!r} is not supported; use 'lossy' or 'lossless'"
            raise FileFormatError(msg)
        return compression
    if compression is not None:
        msg = (f"{_FORMAT_LABEL[fmt]} files take no compression setting "
               "(PNG is always lossless; JPEG uses quality)")
        raise FileFormatError(msg)
    return None


def _write_atomically(target: Path, label: str, overwrite: bool,
                      write: Callable[[IO[bytes]], None]) -> None:
    """Run `write` on a temporary file beside `target`, then move it into place.

    The temporary file is created exclusively (mode "x", so the umask
    applies as for any new file), fsynced, then renamed over the target. On
    any failure, including KeyboardInterrupt, it is removed and the target
    is untouched.
    """
    folder = target.parent
    if target.is_dir():
        msg = f"cannot save to {target}: it is a folder"
        raise FileFormatError(msg)
    if not folder.is_dir():
        msg = f"cannot save {target}: the folder {folder} does not exist"
        raise FileFormatError(msg)
    if not overwrite and target.exists():
        raise FileFormatError(_exists_message(target))
    temp = folder / f".{target.name}.{secrets.token_hex(6)}.tmp"
    try:
        fh = open(temp, "x+b")  # "x": exclusive create; closed by the with below
    except OSError as exc:
        msg = f"cannot save {target}: {_reason(exc)}"
        raise FileFormatError(msg) from exc
    done = False
    try:
        with fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        _move_into_place(temp, target, overwrite)
        done = True
    except PhotomendError:
        raise
    except _LIBRARY_ERRORS as exc:
        msg = f"could not write the {label} file {target}: {_reason(exc)}"
        raise FileFormatError(msg) from exc
    finally:
        if not done:
            with contextlib.suppress(OSError):
                os.unlink(temp)


def _move_into_place(temp: Path, target: Path, overwrite: bool) -> None:
    if overwrite:
        os.replace(temp, target)
        return
    # A hard link fails if the target appeared meanwhile, closing the gap
    # between the exists() check and the rename; fall back to os.replace
    # where links are not supported (FAT, some network shares).
    try:
        os.link(temp, target)
    except FileExistsError:
        raise FileFormatError(_exists_message(target)) from None
    except OSError:
        if target.exists():
            raise FileFormatError(_exists_message(target)) from None
        os.replace(temp, target)
    else:
        with contextlib.suppress(OSError):  # the output is in place already
            os.unlink(temp)


def _exists_message(target: Path) -> str:
    return (f"{target} already exists; pass overwrite=True (--overwrite on the "
            "command line) to replace it")


# -- TIFF ---------------------------------------------------------------------

_TIFF_COMPRESSION_NAMES = {1: "none", 5: "lzw", 8: "deflate", 32946: "deflate"}
_UNSUPPORTED_PHOTOMETRIC = {5: "CMYK", 8: "CIELab", 9: "ICCLab", 10: "ITULab",
                            32844: "LogL", 32845: "LogLuv", 32803: "raw sensor (CFA)"}
_JPEG_COMPRESSIONS = (6, 7)


def _load_tiff(path: Path) -> Image:
    with tifffile.TiffFile(path) as tif:
        page = tif.pages.first
        pages = len(tif.pages)
        samples, base = _tiff_samples(page)
        extras = tuple(int(code) for code in page.extrasamples)
        icc = page.iccprofile
        dpi = _tiff_dpi(page)
        code = int(page.compression)
        name = getattr(page.compression, "name", str(code))
        compression = _TIFF_COMPRESSION_NAMES.get(code, str(name).lower())
        bigtiff = tif.is_bigtiff
    n_extra = samples.shape[-1] - base
    if n_extra < 0:
        msg = "the TIFF has fewer samples per pixel than its colour model needs"
        raise FileFormatError(msg)
    # A missing ExtraSamples tag is read as unassociated alpha.
    codes = list(extras[:n_extra]) + [2] * (n_extra - len(extras))
    alpha_at = next((base + i for i, c in enumerate(codes) if c in (1, 2)), None)
    infrared_at = next((base + i for i, c in enumerate(codes) if c == 0), None)
    info: dict[str, Any] = {"format": "tiff", "compression": compression, "pages": pages}
    pixels = samples[..., :base]
    if alpha_at is not None:
        pixels = np.concatenate([pixels, samples[..., alpha_at:alpha_at + 1]], axis=-1)
        info["alpha"] = "associated" if codes[alpha_at - base] == 1 else "unassociated"
    infrared = (None if infrared_at is None
                else convert.to_float32(np.ascontiguousarray(samples[..., infrared_at])))
    return Image.from_array(
        np.ascontiguousarray(pixels), transfer="perceptual", infrared=infrared,
        icc_profile=icc or None, exif=None if bigtiff else _tiff_read_exif(path),
        dpi=dpi, info=info)


def _memory_bytes() -> int | None:
    """Return this machine's physical memory in bytes, None if unknown."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return None


def _check_decoded_size(page: tifffile.TiffPage) -> None:
    """Refuse a page whose decoded pixels would not fit in half the machine's memory.

    A damaged header can claim billions of rows; decoding it would take the
    machine's memory (or minutes) before failing.
    """
    itemsize = np.dtype(page.dtype).itemsize if page.dtype is not None else 8
    needed = math.prod(int(n) for n in page.shape) * itemsize
    memory = _memory_bytes()
    if memory is not None and needed > memory // 2:
        msg = (f"the TIFF claims {page.imagewidth}×{page.imagelength} px "
               f"({needed / 2**30:.1f} GiB decoded), more than half of this machine's "
               f"{memory / 2**30:.1f} GiB of memory; the file may be damaged")
        raise FileFormatError(msg)


def _tiff_samples(page: tifffile.TiffPage) -> tuple[np.ndarray, int]:
    """Decode the page to ``(H, W, S)`` in a supported dtype; return it and colour count."""
    photometric = int(page.photometric)
    if photometric in _UNSUPPORTED_PHOTOMETRIC:
        name = _UNSUPPORTED_PHOTOMETRIC[photometric]
        msg = f"{name} TIFF files are not supported; convert the image to RGB or grayscale first"
        raise FileFormatError(msg)
    if photometric == 6 and int(page.compression) not in _JPEG_COMPRESSIONS:
        msg = ("YCbCr TIFF files are supported only with JPEG compression; convert the "
               "image to RGB first")
        raise FileFormatError(msg)
    if photometric not in (0, 1, 2, 3, 6):
        name = getattr(page.photometric, "name", str(photometric))
        msg = (f"TIFF colour model {name} is not supported; "
               "convert the image to RGB or grayscale first")
        raise FileFormatError(msg)
    _check_decoded_size(page)
    data = page.asarray()
    axes = page.axes
    if axes == "YX":
        data = data[..., None]
    elif axes == "SYX":
        data = np.moveaxis(data, 0, -1)
    elif axes != "YXS":
        msg = (f"TIFF pages laid out as {axes!r} (volumes or stacks in one page) are not "
               "supported; export a plain 2-D image")
        raise FileFormatError(msg)
    if photometric == 3:  # palette: expand to RGB; any extra samples are dropped
        return _tiff_palette(data[..., 0], page.colormap), 3
    data = _tiff_full_range(data, int(page.bitspersample))
    if photometric == 0:  # MinIsWhite
        data = (np.iinfo(data.dtype).max - data if data.dtype.kind == "u"
                else (1.0 - data).astype(data.dtype))
    return data, (1 if photometric in (0, 1) else 3)


def _tiff_full_range(data: np.ndarray, bits: int) -> np.ndarray:
    """Scale bilevel and 2/4/12-bit (etc.) integer samples to a full 8/16/32-bit range."""
    if data.dtype == np.bool_:
        return data.astype(np.uint8) * np.uint8(255)
    if data.dtype.kind != "u" or bits in (8, 16, 32) or not 0 < bits < 32:
        return data
    target = np.dtype(np.uint8 if bits < 8 else np.uint16 if bits < 16 else np.uint32)
    scale = np.iinfo(target).max / float(2**bits - 1)
    return np.rint(data.astype(np.float64) * scale).astype(target)


def _tiff_palette(indices: np.ndarray, colormap: np.ndarray | None) -> np.ndarray:
    if colormap is None:
        msg = "the palette TIFF has no colour map"
        raise FileFormatError(msg)
    lut = np.ascontiguousarray(np.asarray(colormap, dtype=np.uint16).T)
    if not np.any(lut % 257):  # an 8-bit palette scaled to 16 bits
        lut = (lut // 257).astype(np.uint8)
    if indices.dtype == np.bool_:
        indices = indices.astype(np.uint8)
    if int(indices.max(initial=0)) >= lut.shape[0]:
        msg = "the palette TIFF uses colours missing from its colour map"
        raise FileFormatError(msg)
    return lut[indices]


def _tiff_dpi(page: tifffile.TiffPage) -> tuple[float, float] | None:
    tags = page.tags
    x, y, unit_tag = tags.get(282), tags.get(283), tags.get(296)
    if x is None or y is None:
        return None
    unit = 2 if unit_tag is None else int(unit_tag.value)  # TIFF default: inch
    if unit not in (2, 3):
        return None
    values = []
    for tag in (x, y):
        num, den = (tag.value if isinstance(tag.value, tuple) else (tag.value, 1))[:2]
        if not den or num <= 0:
            return None
        values.append(num / den if unit == 2 else round(num / den * 2.54, 1))
    return float(values[0]), float(values[1])


def _save_tiff(fh: IO[bytes], image: Image, dtype: np.dtype, compression: str | None,
               icc: bytes | None, exif: bytes | None,
               dpi: tuple[float, float] | None) -> None:
    planes = [image.to_array(dtype)]
    extrasamples: list[int] = []
    if image.alpha is not None:
        extrasamples.append(1 if image.info.get("alpha") == "associated" else 2)
    if image.infrared is not None:
        planes.append(convert.from_float32(image.infrared, dtype)[..., None])
        extrasamples.append(0)  # "unspecified": an infrared plane, not alpha
    data = np.concatenate(planes, axis=-1) if len(planes) > 1 else planes[0]
    exif_ifd: _Ifd | None = None
    byteorder: Literal["<", ">"] = "<"
    if exif is not None:
        byteorder, exif_ifd = _exif_parse(exif)
    kwargs: dict[str, Any] = {}
    if data.shape[-1] == 1:
        data = data[..., 0]
    else:
        kwargs.update(planarconfig="contig", extrasamples=extrasamples)
    method = _TIFF_COMPRESSION[compression or "none"]
    if method is not None:
        kwargs["compression"] = method
        if dtype.kind == "u":  # horizontal differencing; the float predictor is less portable
            kwargs["predictor"] = True
    if dpi is not None:
        kwargs.update(resolution=(float(dpi[0]), float(dpi[1])), resolutionunit="INCH")
    bigtiff = data.nbytes > 2**32 - 2**28
    with tifffile.TiffWriter(fh, byteorder=byteorder, bigtiff=bigtiff) as writer:
        writer.write(np.ascontiguousarray(data),
                     photometric="rgb" if image.channels == 3 else "minisblack",
                     iccprofile=icc, metadata=None, software=False, **kwargs)
    if exif_ifd is not None and not bigtiff:
        _tiff_append_exif(fh, exif_ifd, byteorder)


# -- EXIF as TIFF tags ----------------------------------------------------------

# Bytes per value of each TIFF field type.
_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8,
               13: 4}
_EXIF_IFD, _GPS_IFD, _INTEROP_IFD = 34665, 34853, 40965
_SUB_IFD_TAGS = (_EXIF_IFD, _GPS_IFD, _INTEROP_IFD)
# IFD0 tags that describe the photo rather than the pixel layout; they move
# between an EXIF block's IFD0 and a TIFF's own first IFD.
_EXIF_IFD0_TAGS = frozenset({269, 270, 271, 272, 274, 285, 305, 306, 315, 316, 318, 319,
                             33432})
_MAX_TAG_BYTES = 1 << 24
_TOOL_DESCRIPTIONS = (b'{"shape":', b"ImageJ=")


@dataclass
class _Ifd:
    """One TIFF image file directory: tag → (type, count, value bytes)."""

    entries: dict[int, tuple[int, int, bytes]] = field(default_factory=dict)
    subs: dict[int, _Ifd] = field(default_factory=dict)
    # Entries copied from an existing file: their 4-byte value field, which
    # may point at data elsewhere in that file, is written back verbatim.
    fixed: dict[int, tuple[int, int, bytes]] = field(default_factory=dict)
    next: int = 0


def _read_ifd(read: Callable[[int, int], bytes], offset: int, bo: str,
              keep: frozenset[int] | None = None, depth: int = 0) -> _Ifd:
    """Parse the IFD at `offset`, following Exif/GPS/Interop pointers (two levels)."""
    ifd = _Ifd()
    head = read(offset, 2)
    if len(head) != 2:
        msg = "IFD offset beyond the end of the data"
        raise ValueError(msg)
    (count,) = struct.unpack(bo + "H", head)
    table = read(offset + 2, 12 * count)
    if len(table) != 12 * count:
        msg = "truncated IFD"
        raise ValueError(msg)
    for i in range(count):
        tag, typ, n = struct.unpack_from(bo + "HHI", table, 12 * i)
        value = table[12 * i + 8:12 * i + 12]
        size = _TYPE_SIZES.get(typ)
        if size is None or size * n > _MAX_TAG_BYTES:
            continue
        if tag in _SUB_IFD_TAGS and depth < 2 and n == 1 and typ in (4, 13):
            if keep is None or tag in keep:
                try:
                    sub = _read_ifd(read, struct.unpack(bo + "I", value)[0], bo, None, depth + 1)
                except (ValueError, struct.error):
                    continue  # a dangling pointer: leave that directory out
                ifd.subs[tag] = sub
            continue
        if keep is not None and tag not in keep:
            continue
        nbytes = size * n
        data = (value[:nbytes] if nbytes <= 4
                else read(struct.unpack(bo + "I", value)[0], nbytes))
        if len(data) == nbytes:
            ifd.entries[tag] = (typ, n, data)
    return ifd


def _pack_ifd(ifd: _Ifd, start: int, bo: str) -> bytes:
    """Serialise `ifd` (and its sub-IFDs after it) to sit at file offset `start`."""
    fixed = ifd.fixed
    subs = {t: s for t, s in ifd.subs.items() if t not in fixed}
    entries = {t: e for t, e in ifd.entries.items() if t not in fixed and t not in subs}
    count = len(fixed) + len(subs) + len(entries)
    heap_start = start + 2 + 12 * count + 4
    heap = bytearray()
    rows: list[tuple[int, int, int, bytes]] = [(t, *v) for t, v in fixed.items()]
    for tag, (typ, n, data) in entries.items():
        if len(data) <= 4:
            value = data.ljust(4, b"\x00")
        else:
            value = struct.pack(bo + "I", heap_start + len(heap))
            heap += data
            heap += b"\x00" * (len(heap) % 2)  # values start on word boundaries
        rows.append((tag, typ, n, value))
    for tag in sorted(subs):
        at = heap_start + len(heap)
        heap += _pack_ifd(subs[tag], at, bo)
        rows.append((tag, 4, 1, struct.pack(bo + "I", at)))
    rows.sort()
    table = b"".join(struct.pack(bo + "HHI", t, typ, n) + v for t, typ, n, v in rows)
    return struct.pack(bo + "H", count) + table + struct.pack(bo + "I", ifd.next) + bytes(heap)


def _exif_parse(exif: bytes) -> tuple[Literal["<", ">"], _Ifd]:
    """Parse a TIFF-structured EXIF block into its byte order and IFD0."""
    if exif[:4] not in (b"II*\x00", b"MM\x00*"):
        msg = ("the EXIF metadata is not a TIFF-structured block and cannot be stored in a "
               "TIFF file")
        raise FileFormatError(msg)
    bo: Literal["<", ">"] = "<" if exif[:2] == b"II" else ">"

    def read(offset: int, n: int) -> bytes:
        return exif[offset:offset + n]

    try:
        return bo, _read_ifd(read, struct.unpack(bo + "I", exif[4:8])[0], bo)
    except (ValueError, struct.error) as exc:
        msg = f"the EXIF metadata is damaged and cannot be stored in a TIFF file ({exc})"
        raise FileFormatError(msg) from exc


def _exif_pack(ifd0: _Ifd, bo: str) -> bytes:
    header = (b"II*\x00" if bo == "<" else b"MM\x00*") + struct.pack(bo + "I", 8)
    return header + _pack_ifd(ifd0, 8, bo)


def _tiff_read_exif(path: Path) -> bytes | None:
    """Collect a classic TIFF's photo metadata tags into a standalone EXIF block.

    Unreadable metadata is left out rather than refusing the pixels.
    """
    with open(path, "rb") as fh:

        def read(offset: int, n: int) -> bytes:
            fh.seek(offset)
            return fh.read(n)

        header = read(0, 8)
        bo = "<" if header[:2] == b"II" else ">"
        try:
            if struct.unpack(bo + "H", header[2:4])[0] != 42:
                return None
            keep = _EXIF_IFD0_TAGS | {_EXIF_IFD, _GPS_IFD}
            ifd0 = _read_ifd(read, struct.unpack(bo + "I", header[4:8])[0], bo, keep)
        except (ValueError, struct.error):
            return None
    description = ifd0.entries.get(270)
    if description is not None and description[2].startswith(_TOOL_DESCRIPTIONS):
        del ifd0.entries[270]  # tifffile's / ImageJ's layout notes, not a caption
    if not ifd0.entries and not ifd0.subs:
        return None
    return _exif_pack(ifd0, bo)


def _tiff_append_exif(fh: IO[bytes], exif: _Ifd, bo: str) -> None:
    """Add EXIF tags to the first IFD of the TIFF just written to `fh`.

    tifffile cannot write the Exif and GPS sub-IFD pointers, so the first IFD
    is rewritten at the end of the file with the photo tags and pointers
    added, its other entries copied verbatim, and the header pointed at it.
    """
    fh.flush()
    fh.seek(0)
    header = fh.read(8)
    (first,) = struct.unpack(bo + "I", header[4:8])
    fh.seek(first)
    (count,) = struct.unpack(bo + "H", fh.read(2))
    table = fh.read(12 * count)
    (next_ifd,) = struct.unpack(bo + "I", fh.read(4))
    fixed = {}
    for i in range(count):
        tag, typ, n = struct.unpack_from(bo + "HHI", table, 12 * i)
        fixed[tag] = (typ, n, table[12 * i + 8:12 * i + 12])
    ifd0 = _Ifd(entries={t: e for t, e in exif.entries.items() if t in _EXIF_IFD0_TAGS},
                subs={t: s for t, s in exif.subs.items() if t in (_EXIF_IFD, _GPS_IFD)},
                fixed=fixed, next=next_ifd)
    end = fh.seek(0, os.SEEK_END)
    if end % 2:
        fh.write(b"\x00")
        end += 1
    packed = _pack_ifd(ifd0, end, bo)
    if end + len(packed) >= 2**32:
        msg = "the image is too large to add EXIF metadata to a classic TIFF file"
        raise FileFormatError(msg)
    fh.write(packed)
    fh.seek(4)
    fh.write(struct.pack(bo + "I", end))


# -- PNG ----------------------------------------------------------------------

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Chunks libpng needs for the pixels; metadata chunks are read here instead
# (libpng would print warnings to stderr for odd ones).
_PNG_PIXEL_CHUNKS = frozenset({b"IHDR", b"PLTE", b"tRNS", b"IDAT", b"IEND"})
_PNG_METADATA_CHUNKS = frozenset({b"iCCP", b"sRGB", b"gAMA", b"cHRM", b"pHYs", b"eXIf"})
_INCH = 0.0254  # metres


def _png_chunks(data: bytes) -> list[tuple[bytes, int, int]]:
    """List ``(type, start, end)`` of each chunk, ``end`` after its CRC."""
    if not data.startswith(_PNG_SIGNATURE):
        msg = "not a PNG file"
        raise FileFormatError(msg)
    chunks: list[tuple[bytes, int, int]] = []
    pos = len(_PNG_SIGNATURE)
    while pos + 12 <= len(data):
        (length,) = struct.unpack_from(">I", data, pos)
        kind = data[pos + 4:pos + 8]
        end = pos + 12 + length
        if end > len(data):
            break
        chunks.append((kind, pos, end))
        pos = end
        if kind == b"IEND":
            break
    if not chunks or chunks[0][0] != b"IHDR":
        msg = "the PNG file has no image header"
        raise FileFormatError(msg)
    if chunks[-1][0] != b"IEND":
        msg = "the PNG file is truncated"
        raise FileFormatError(msg)
    return chunks


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload)
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def _png_metadata(data: bytes, chunks: list[tuple[bytes, int, int]]
                  ) -> tuple[bytes | None, bytes | None, tuple[float, float] | None]:
    """Read ICC profile, EXIF and dpi; damaged metadata chunks are skipped like libpng does."""
    icc = exif = None
    dpi = None
    for kind, start, end in chunks:
        if kind not in (b"iCCP", b"eXIf", b"pHYs"):
            continue
        payload = data[start + 8:end - 4]
        if zlib.crc32(data[start + 4:end - 4]) != struct.unpack(">I", data[end - 4:end])[0]:
            continue
        if kind == b"iCCP":
            _name, sep, rest = payload.partition(b"\x00")
            if sep and rest[:1] == b"\x00":
                try:
                    icc = zlib.decompress(rest[1:])
                except zlib.error:
                    icc = None
        elif kind == b"eXIf":
            exif = _strip_exif_prefix(payload) or None
        elif len(payload) == 9 and payload[8] == 1:  # pHYs in pixels per metre
            x, y = struct.unpack(">II", payload[:8])
            if x and y:
                dpi = (round(x * _INCH, 1), round(y * _INCH, 1))
    return icc, exif, dpi


def _load_png(path: Path) -> Image:
    data = path.read_bytes()
    chunks = _png_chunks(data)
    icc, exif, dpi = _png_metadata(data, chunks)
    pixel_data = _PNG_SIGNATURE + b"".join(
        data[start:end] for kind, start, end in chunks if kind in _PNG_PIXEL_CHUNKS)
    pixels = imagecodecs.png_decode(pixel_data)
    return Image.from_array(np.ascontiguousarray(pixels), transfer="perceptual",
                            icc_profile=icc, exif=exif, dpi=dpi, info={"format": "png"})


def _save_png(fh: IO[bytes], image: Image, dtype: np.dtype, icc: bytes | None,
              exif: bytes | None, dpi: tuple[float, float] | None) -> None:
    pixels = image.to_array(dtype)
    if pixels.shape[-1] == 1:
        pixels = pixels[..., 0]
    encoded = bytes(imagecodecs.png_encode(np.ascontiguousarray(pixels)))
    chunks = _png_chunks(encoded)
    extra = []
    if icc:
        extra.append(_png_chunk(b"iCCP", b"ICC Profile\x00\x00" + zlib.compress(icc)))
    if dpi is not None:
        ppm = [min(max(round(float(d) / _INCH), 1), 2**31 - 1) for d in dpi]
        extra.append(_png_chunk(b"pHYs", struct.pack(">IIB", ppm[0], ppm[1], 1)))
    if exif:
        extra.append(_png_chunk(b"eXIf", exif))
    # Ours go right after IHDR (iCCP must precede PLTE and IDAT); drop any
    # the encoder wrote so there is one of each and no sRGB beside iCCP.
    _, _, header_end = chunks[0]
    rest = [encoded[s:e] for kind, s, e in chunks[1:] if kind not in _PNG_METADATA_CHUNKS]
    fh.write(b"".join([encoded[:header_end], *extra, *rest]))


# -- JPEG and WebP (Pillow) ---------------------------------------------------------


def _load_pillow(path: Path, fmt: str) -> Image:
    formats = ["JPEG", "MPO"] if fmt == "jpeg" else ["WEBP"]
    with warnings.catch_warnings():
        # These files are opened on purpose, so no decompression-bomb warning;
        # Pillow's "possibly corrupt EXIF" warnings concern its dpi guess
        # only, and the EXIF block is kept verbatim anyway.
        warnings.simplefilter("ignore", PILImage.DecompressionBombWarning)
        warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")
        with PILImage.open(path, formats=formats) as im:
            im.load()
            info = dict(im.info)
            if im.mode == "CMYK":
                msg = ("CMYK JPEG files are not supported; convert the image to RGB "
                       "first")
                raise FileFormatError(msg)
            frame = im if im.mode in ("L", "LA", "RGB", "RGBA") else im.convert("RGB")
            pixels = np.asarray(frame)
    exif = _strip_exif_prefix(info.get("exif") or b"")
    dpi = info.get("dpi")
    if isinstance(dpi, tuple) and len(dpi) == 2 and all(float(v) > 0 for v in dpi):
        dpi = (float(dpi[0]), float(dpi[1]))
    else:
        dpi = None
    extra = {"compression": _webp_compression(path)} if fmt == "webp" else {}
    return Image.from_array(
        np.ascontiguousarray(pixels), transfer="perceptual",
        icc_profile=info.get("icc_profile") or None, exif=exif or None, dpi=dpi,
        info={"format": fmt, **extra})


def _webp_compression(path: Path) -> str:
    """Return 'lossless' if the WebP's image data is VP8L, else 'lossy'."""
    with open(path, "rb") as fh:
        data = fh.read(1 << 20)  # the image chunk follows the small header chunks
    pos = 12
    while pos + 8 <= len(data):
        kind = data[pos:pos + 4]
        if kind in (b"VP8L", b"VP8 "):
            return "lossless" if kind == b"VP8L" else "lossy"
        size = int.from_bytes(data[pos + 4:pos + 8], "little")
        pos += 8 + size + (size & 1)
    return "lossy"


def _save_pillow(fh: IO[bytes], image: Image, fmt: str, quality: int, method: str | None,
                 icc: bytes | None, exif: bytes | None,
                 dpi: tuple[float, float] | None) -> None:
    if fmt == "webp" and image.is_gray:  # WebP has no gray mode
        image = image.with_color(convert.gray_to_rgb(image.color))
    pixels = image.to_array(np.uint8)
    frame = PILImage.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels)
    params: dict[str, Any] = {"quality": quality}
    if icc:
        params["icc_profile"] = icc
    if fmt == "jpeg":
        params["subsampling"] = 0 if quality >= 90 else 2  # 4:4:4 or 4:2:0
        if exif:
            params["exif"] = _EXIF_PREFIX + exif  # the APP1 segment carries the prefix
        if dpi is not None:
            params["dpi"] = (float(dpi[0]), float(dpi[1]))
        frame.save(fh, format="JPEG", **params)
    else:
        if exif:
            params["exif"] = exif
        if method == "lossless":
            # exact: keep the colour under fully transparent pixels as well
            params.update(lossless=True, exact=True)
        frame.save(fh, format="WEBP", **params)


def _load_jpeg(path: Path) -> Image:
    return _load_pillow(path, "jpeg")


def _load_webp(path: Path) -> Image:
    return _load_pillow(path, "webp")


_LOADERS: dict[str, Callable[[Path], Image]] = {
    "tiff": _load_tiff,
    "png": _load_png,
    "jpeg": _load_jpeg,
    "webp": _load_webp,
}
