"""Apply a registered operation through a host: the shared adapter logic."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import numpy as np

from .. import engine, registry
from ..errors import MaskError
from ..image import Image
from ..progress import Progress
from .base import Box, Host, grow_box

__all__ = ["apply_operation", "kernel_plane", "plan_region", "write_report", "write_result"]

Output = Literal["in-place", "new-layer"]


def plan_region(host: Host, spec: registry.OperationSpec,
                params: Mapping[str, Any]) -> tuple[Box, bool]:
    """Return the box to read (selection + context margin) and whether a selection exists.

    Raises
    ------
    MaskError
        When a selection exists but covers nothing of the target, or the
        operation needs a selection (damage mask) and there is none.
    """
    width, height = host.size()
    bounds = host.selection_bounds()
    if bounds is None:
        if spec.mask_role == "damage":
            msg = f"{spec.plain_label}: select the damage to repair first (the selection is empty)"
            raise MaskError(msg)
        return Box(0, 0, width, height), False
    if bounds.width <= 0 or bounds.height <= 0:
        msg = f"{spec.plain_label}: the selection is empty on this layer; nothing to do"
        raise MaskError(msg)
    return grow_box(bounds, spec.halo(params), width, height, spec.grid), True


def apply_operation(
    host: Host,
    op_id: str,
    params: Mapping[str, Any] | None = None,
    *,
    output: Output = "in-place",
    progress: Progress | None = None,
    report: dict[str, Any] | None = None,
) -> Image | np.ndarray:
    """Run `op_id` on the host's target and write the result back.

    Parameters
    ----------
    host : Host
        The adapter for the running application (or files).
    op_id : str
        Registered operation id.
    params : mapping, optional
        Parameter values; defaults fill the rest. Validated before any pixel
        is read.
    output : {'in-place', 'new-layer'}
        Change the target, or put the result on a new layer above it.
        Detection operations always add their mask as a new layer/channel.
    progress : Progress, optional
        Overrides ``host.progress(...)``.
    report : dict, optional
        Receives the run's report (see :func:`photomend.run`); pass it to
        :func:`write_report` to show its masks as layers.

    Returns
    -------
    Image or ndarray
        What was written (for tests and previews).

    Notes
    -----
    Everything is computed before the first write, inside one undo group,
    so an error or a cancel leaves the target exactly as it was.
    """
    spec = registry.get(op_id)
    values = spec.bind(params or {})
    box, selected = plan_region(host, spec, values)
    width, height = host.size()
    # Planes (a damage mask, an infrared plane) come for the whole layer.
    whole = values
    values = spec.crop_planes(values, (height, width), *box.slices)
    image = host.read(box)
    mask = host.selection(box) if selected else None
    if mask is not None and not (mask > 0).any():
        msg = f"{spec.plain_label}: the selection is empty on this layer; nothing to do"
        raise MaskError(msg)
    prog = progress if progress is not None else host.progress(spec.plain_label)
    new_layer = output == "new-layer"
    # GIMP's merge blends through the selection itself; new layers never do.
    blend = new_layer or not host.blends_selection
    result = engine.run(spec.id, image, mask, prog, blend=blend, report=report, **values)
    if report is not None and isinstance(report.get("params"), dict):
        # the parameters as given: whole planes, not their part in the box
        report["params"].update({name: whole[name] for name in spec.plane_names
                                 if isinstance(whole.get(name), np.ndarray)})
    write_result(host, spec, box, result, output)
    return result


def write_result(host: Host, spec: registry.OperationSpec, box: Box,
                 result: Image | np.ndarray, output: Output) -> None:
    """Write an operation's result to the host as one undo step.

    Detection masks go to a new layer/channel named for the operation;
    images go in place or onto a new layer, as `output` asks.
    """
    with host.undo_group(spec.plain_label):
        if isinstance(result, np.ndarray):
            host.write_mask(box, result, spec.plain_label)
        else:
            host.write(box, result,
                       new_layer=spec.plain_label if output == "new-layer" else None)


def write_report(host: Host, spec: registry.OperationSpec, box: Box,
                 report: Mapping[str, Any]) -> list[str]:
    """Put the masks of a run's report on new layers/channels; return their names.

    Every ``(h, w)`` float array in `report` (e.g. the defect mask that
    Restore Old Photo found), and every kernel the operation declares among
    its ``report_kernels`` (deblur's PSF, drawn at the centre by
    :func:`kernel_plane`, whatever its size), becomes a layer named
    ``"<label>: <key>"``,
    followed by the report's ``summary`` of its estimates when it has one,
    e.g. ``"Restore Old Photo: defects (noise σ 3.2, blur gaussian sigma 0.8)"``.
    """
    names = []
    found = report.get("summary") or ""
    kernels = spec.extra.get("report_kernels", ())
    for key, value in report.items():
        if not isinstance(value, np.ndarray) or value.ndim != 2:
            continue
        if key in kernels:  # even one the size of the area: drawn, peak at 1
            value = kernel_plane(value, box)
        elif value.shape != (box.height, box.width):
            continue
        name = f"{spec.plain_label}: {key}" + (f" ({found})" if found else "")
        host.write_mask(box, value.astype(np.float32, copy=False), name)
        names.append(name)
    return names


def kernel_plane(kernel: np.ndarray, box: Box) -> np.ndarray:
    """Return a small kernel (a PSF) drawn at the centre of `box`, its peak at 1.

    So it shows as a layer, and reads back as the same kernel (up to its
    scale, which a PSF does not have) when chosen for a layer parameter.
    A kernel larger than the box is cut to the box around its centre.
    """
    plane = np.zeros((box.height, box.width), dtype=np.float32)
    peak = float(kernel.max()) if kernel.size else 0.0
    if peak <= 0.0:
        return plane
    kh, kw = kernel.shape
    h, w = min(kh, box.height), min(kw, box.width)
    ky, kx = (kh - h) // 2, (kw - w) // 2
    y, x = (box.height - h) // 2, (box.width - w) // 2
    plane[y:y + h, x:x + w] = kernel[ky:ky + h, kx:kx + w] / peak
    return plane
