"""Run a registered operation on an image: the one path every host uses.

:func:`run` validates parameters, converts pixels to the operation's working
form (float32, perceptual or linear light, alpha set aside), limits the work
to the selection plus the operation's context margin, tiles large images,
reports progress, and blends the result back through the mask so nothing
outside the selection changes. The caller's arrays are never modified.
"""

from __future__ import annotations

from typing import Any, overload

import numpy as np

from . import convert, registry, tiles
from .errors import ImageError, MaskError, ParameterError
from .image import Image
from .progress import ProgressLike, as_progress

__all__ = ["as_mask", "context_box", "run"]


def as_mask(mask: Any, shape: tuple[int, int], *, what: str = "mask") -> np.ndarray:
    """Convert a selection or user mask to float32 ``(H, W)`` in [0, 1].

    Accepts bool, uint8, uint16 (full range = 1) or float arrays shaped
    ``(H, W)`` or ``(H, W, 1)``.

    Raises
    ------
    MaskError
        For a wrong shape, non-numeric data or NaN.
    """
    arr = np.asarray(mask)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim != 2 or arr.shape != tuple(shape):
        msg = f"the {what} has shape {arr.shape}, but the image is {shape[0]}×{shape[1]} (H×W)"
        raise MaskError(msg)
    if arr.dtype == np.bool_:
        return arr.astype(np.float32)
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        msg = f"the {what} contains NaN or infinite values"
        raise MaskError(msg)
    try:
        values = convert.to_float32(arr) if arr.dtype.kind in "uf" else None
    except ImageError:
        values = None
    if values is None:
        msg = f"the {what} must hold numbers in [0, 1] (or 8/16-bit levels), got {arr.dtype}"
        raise MaskError(msg)
    return np.clip(values, 0.0, 1.0, out=values)  # `values` is a fresh copy


def context_box(mask: np.ndarray, halo: int | None, grid: int = 1) -> tuple[slice, slice]:
    """Return the bounding box of ``mask > 0`` grown by `halo`, clipped.

    With ``halo=None`` (the operation needs the whole image) the whole image
    is returned. The box starts on a multiple of `grid` (an operation's
    sampling grid, :attr:`~photomend.registry.OperationSpec.grid`).
    """
    h, w = mask.shape
    if halo is None:
        return slice(0, h), slice(0, w)
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    y0, y1 = max(0, rows[0] - halo) // grid * grid, min(h, rows[-1] + 1 + halo)
    x0, x1 = max(0, cols[0] - halo) // grid * grid, min(w, cols[-1] + 1 + halo)
    return slice(int(y0), int(y1)), slice(int(x0), int(x1))


@overload
def run(op_id: str, image: np.ndarray, mask: Any = ..., progress: ProgressLike = ..., *,
        tile: int | None = ..., blend: bool = ..., report: dict[str, Any] | None = ...,
        **params: Any) -> np.ndarray: ...
@overload
def run(op_id: str, image: Image, mask: Any = ..., progress: ProgressLike = ..., *,
        tile: int | None = ..., blend: bool = ..., report: dict[str, Any] | None = ...,
        **params: Any) -> Image | np.ndarray: ...


def run(
    op_id: str,
    image: np.ndarray | Image,
    mask: Any = None,
    progress: ProgressLike = None,
    *,
    tile: int | None = None,
    blend: bool = True,
    report: dict[str, Any] | None = None,
    **params: Any,
) -> np.ndarray | Image:
    """Run operation `op_id` on `image` and return the result.

    Parameters
    ----------
    op_id : str
        A registered operation id (see :func:`photomend.operations`).
    image : ndarray or Image
        Pixels: ``(H, W)`` / ``(H, W, 1)`` gray, ``(H, W, 2)`` gray+alpha,
        ``(H, W, 3)`` RGB or ``(H, W, 4)`` RGBA, as uint8, uint16, uint32,
        float16 or float32 (arrays are taken as perceptual, sRGB-encoded);
        or an :class:`~photomend.image.Image`, which carries its transfer
        and, from an RGBI scan, an infrared plane: operations that declare
        ``scan_infrared`` (the dust finders) use it unless their infrared
        parameter, or one declared in ``scan_infrared_unless`` (a damage
        mask), is given; pass ``dataclasses.replace(image, infrared=None)``
        to stop that.
    mask : array_like, optional
        ``(H, W)`` selection or damage mask in [0, 1] (bool and 8/16-bit
        levels accepted). Pixels where it is 0 never change; partial values
        blend the result with the original.
    progress : callable or Progress, optional
        Receives the completed fraction; returning ``False`` (or calling
        :meth:`Progress.cancel`) cancels with
        :class:`~photomend.errors.Cancelled`, leaving the input untouched.
    tile : int, optional
        Tile edge for local operations: None chooses automatically (large
        images only), 0 disables tiling.
    blend : bool
        Blend the result through the mask (default). Hosts whose own write
        path already blends through the selection (GIMP's shadow merge) pass
        False to avoid blending twice.
    report : dict, optional
        Filled with what the run estimated: ``report["params"]`` holds every
        parameter as used (automatic values resolved), and operations that
        report more add entries (numbers, a PSF, full-size float32 masks).
    **params
        The operation's parameters; defaults fill the rest.

    Returns
    -------
    ndarray or Image
        For image operations, the same kind, shape and type as `image`
        (alpha untouched). For detection operations, a float32 ``(H, W)``
        mask in [0, 1].

    Raises
    ------
    PhotomendError
        Subclasses name the problem: unknown operation, bad parameter,
        unsupported image, unusable mask.
    """
    spec = registry.get(op_id)
    values = spec.bind(params)
    if tile is not None and (isinstance(tile, bool) or not isinstance(tile, (int, np.integer))
                             or tile < 0):
        msg = (f"tile must be a whole number of pixels ≥ 0 (0: no tiles) or None "
               f"(automatic), got {tile!r}")
        raise ParameterError(msg)
    if isinstance(image, Image):
        img = image
        convert.check_finite(img.color)  # (Image.from_array checks an array's own values)
    elif isinstance(image, np.ndarray):
        img = Image.from_array(image)
    else:
        msg = f"expected a numpy array or photomend.Image, got {type(image).__name__}"
        raise ImageError(msg)
    height, width = img.height, img.width
    scan_ir = str(spec.extra.get("scan_infrared") or "")
    # (not where a parameter that replaces detection is given, e.g. a damage mask)
    instead = [values.get(name) for name in spec.extra.get("scan_infrared_unless", ())]
    injected = bool(scan_ir and img.infrared is not None and values.get(scan_ir) is None
                    and all(v is None for v in instead))
    if injected:
        # An RGBI scan's own infrared plane (Digital ICE) unless one is given.
        values[scan_ir] = img.infrared

    m = None if mask is None else as_mask(mask, (height, width))
    if m is not None and not (m > 0).any():
        what = "mask marks no damage" if spec.mask_role == "damage" else "selection is empty"
        msg = f"{spec.id}: the {what}; nothing to do"
        raise MaskError(msg)
    if spec.mask_role == "damage" and m is None:
        msg = f"{spec.id} needs a mask (or selection) marking what to repair"
        raise MaskError(msg)

    prog = as_progress(progress)
    prog.update(0.0)
    rows, cols = (slice(0, height), slice(0, width)) if m is None else context_box(
        m, spec.halo(values), spec.grid)
    # Planes (a damage mask, an infrared plane) come for the whole image.
    work_values = spec.crop_planes(values, (height, width), rows, cols)
    work = img.color[rows, cols]
    if img.transfer != spec.space:
        work = convert.to_transfer(work, img.transfer, spec.space)
    work_mask = None if m is None else m[rows, cols]

    if spec.prepare is not None:
        share = 0.0 if spec.prepare_share is None else float(spec.prepare_share(values))
        # An estimate made from the selection only, where the operation wants it.
        selection = {"mask": work_mask} if spec.prepare_takes_mask else {}
        if share > 0.0:
            # A slow estimate reports progress and can be cancelled.
            found = spec.prepare(work, dict(work_values), progress=prog.span(0.0, share),
                                 **selection)
            prog = prog.span(share, 1.0)
        else:
            found = spec.prepare(work, dict(work_values), **selection)
        values = {**values, **found}
        work_values = {**work_values, **found}

    op_report: dict[str, Any] | None = {} if spec.takes_report else None
    result = _execute(spec, work, work_mask, work_values, prog, tile, op_report)
    prog.update(1.0)
    if report is not None:
        # (not the scan's own infrared plane: a recipe saved as run must not carry it)
        report["params"] = {k: v for k, v in values.items() if not (injected and k == scan_ir)}
        for key, value in (op_report or {}).items():
            if isinstance(value, np.ndarray) and value.shape == work.shape[:2]:
                full = np.zeros((height, width), dtype=np.float32)
                full[rows, cols] = value
                value = full
            report[key] = value

    if spec.output == "mask":
        out_mask = np.zeros((height, width), dtype=np.float32)
        res = np.clip(result, 0.0, 1.0)
        out_mask[rows, cols] = res if work_mask is None else res * work_mask
        return out_mask

    if img.transfer != spec.space:
        result = convert.to_transfer(result, spec.space, img.transfer)
    # An Image made here from the caller's array is ours to write into.
    color = img.color if not isinstance(image, Image) else img.color.copy()
    if work_mask is not None and blend:
        _blend_into(color[rows, cols], result, work_mask)
    else:
        color[rows, cols] = result
    out = img.with_color(color)
    if isinstance(image, Image):
        return out
    pixels = out.to_array(image.dtype, copy=False)  # `color` is ours alone
    if m is not None and image.dtype in _WIDER_THAN_WORK:
        # float32 holds these types' values only approximately: put the
        # caller's own values back where nothing was to change.
        keep = m <= 0.0
        pixels[keep] = image.reshape(pixels.shape)[keep]
    return pixels[..., 0] if image.ndim == 2 else pixels


#: Pixel types the float32 working values cannot hold exactly.
_WIDER_THAN_WORK = (np.dtype(np.uint32), np.dtype(np.float64))


#: Below this share of selected pixels the blend touches only those pixels.
_SPARSE_BLEND = 0.25


def _blend_into(orig: np.ndarray, result: np.ndarray, weight: np.ndarray) -> None:
    """Set ``orig += weight · (result − orig)`` in place, per pixel.

    Sparse masks (thin defects over a whole scan) touch only their pixels;
    dense ones go through one temporary.
    """
    count = int(np.count_nonzero(weight))
    if count < _SPARSE_BLEND * weight.size:
        ys, xs = np.nonzero(weight)  # `orig` may be a strided view: index in 2-D
        old = orig[ys, xs]
        orig[ys, xs] = old + weight[ys, xs, None] * (result[ys, xs] - old)
        return
    diff = np.subtract(result, orig, dtype=np.float32)
    diff *= weight[..., None]
    orig += diff


def _execute(spec: registry.OperationSpec, work: np.ndarray, mask: np.ndarray | None,
             values: dict[str, Any], prog: Any, tile: int | None,
             report: dict[str, Any] | None) -> np.ndarray:
    height, width, channels = work.shape
    halo = spec.halo(values)
    big = ((tile is not None and tile > 0 and (height > tile or width > tile))
           or (tile is None and height * width > tiles.TILE_THRESHOLD))
    # A halo as large as the image would make every tile read all of it.
    use_tiles = (spec.local and halo is not None and halo < max(height, width)
                 and tile != 0 and big)
    if use_tiles:
        assert halo is not None
        result = tiles.run_tiled(
            spec.func, work, mask, values, halo=halo, grid=spec.grid,
            tile=tile if tile else tiles.DEFAULT_TILE, progress=prog,
            pass_mask=spec.takes_mask, pass_progress=spec.takes_progress,
            pass_keep=spec.takes_keep, planes=spec.plane_names,
            out_channels=None if spec.output == "mask" else channels,
            report=(report if report is not None else {}) if spec.takes_report else None)
    else:
        kwargs = dict(values)
        if spec.takes_mask:
            kwargs["mask"] = mask
        if spec.takes_progress:
            kwargs["progress"] = prog
        if spec.takes_report:
            kwargs["report"] = report if report is not None else {}
        result = spec.func(work, **kwargs)
    expected = (height, width) if spec.output == "mask" else (height, width, channels)
    if not isinstance(result, np.ndarray) or result.shape != expected:
        shape = getattr(result, "shape", None)
        msg = f"operation {spec.id} returned shape {shape}, expected {expected}"
        raise RuntimeError(msg)
    return result.astype(np.float32, copy=False)
