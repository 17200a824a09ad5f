"""The operation registry: every operation declared once, with its parameters.

An operation is a plain function ``f(image, *, param=default, ...)`` taking
and returning float32 ``(H, W, C)`` pixels. The :func:`operation` decorator
records it: the id, label and menu group come from the decorator, a
parameter's name, type and default from the signature, and its range, step,
unit, choices and help from :class:`Param` metadata in ``Annotated[...]``.
GIMP procedures, Krita dialogs, CLI flags and the README table are all
generated from these records.

Some keyword names are reserved and filled in by the engine, never shown as
parameters: ``mask`` (float32 ``(H, W)`` selection or damage mask),
``progress`` (a :class:`~photomend.progress.Progress`), ``report`` (a dict
the operation may fill with what it estimated: numbers, a PSF, a defect
mask shaped like its input) and ``keep`` (when tiling, the ``(rows, cols)``
slices of the tile whose output is used; the rest is context, so the
operation may skip work there).
"""

from __future__ import annotations

import inspect
import math
import re
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Union

import numpy as np

from .errors import ParameterError, UnknownOperationError

__all__ = [
    "RESERVED",
    "OperationSpec",
    "Param",
    "ParamSpec",
    "get",
    "operation",
    "operations",
]

RESERVED = frozenset({"image", "mask", "progress", "tile", "report", "blend", "keep"})

ParamKind = Literal["float", "int", "bool", "choice", "str", "array", "point", "color"]
#: Parameter kinds every host can show as a widget; others are API-only.
WIDGET_KINDS = frozenset({"float", "int", "bool", "choice"})
#: What a host layer can stand for (``Param(layer=...)``): an image-sized
#: plane, or a small kernel cropped to what is painted.
LAYER_ROLES = ("plane", "kernel")


@dataclass(frozen=True)
class Param:
    """Metadata for one parameter, placed in ``Annotated[type, Param(...)]``.

    Parameters
    ----------
    help : str
        One or two sentences for tooltips, ``--help`` and the docs.
    min, max : float, optional
        Inclusive range for numbers.
    step : float, optional
        Widget step (and spin-box precision) for numbers.
    unit : str
        Unit shown after the value, e.g. ``"px"``, ``"%"``, ``"°"``.
    choices : tuple of str, optional
        Allowed values of a text parameter (shown as a drop-down).
    label : str, optional
        Widget label; defaults to the name in words.
    kind : str, optional
        Override the kind derived from the annotation (``"point"``,
        ``"color"``, ``"array"``).
    advanced : bool
        Hide behind an "advanced" toggle in dialogs.
    layer : str, optional
        For ``"array"`` parameters that hosts may fill from a layer the
        user picks (see :mod:`photomend.hosts.layers`): ``"plane"`` for an
        image-sized plane (a mask, an infrared plane), ``"kernel"`` for a
        small picture such as a PSF, cropped to what is painted.
    """

    help: str = ""
    min: float | None = None
    max: float | None = None
    step: float | None = None
    unit: str = ""
    choices: tuple[str, ...] | None = None
    label: str | None = None
    kind: str | None = None
    advanced: bool = False
    layer: str | None = None


@dataclass(frozen=True)
class ParamSpec:
    """A parameter as the hosts see it: everything needed to build a widget."""

    name: str
    kind: str
    default: Any
    help: str = ""
    min: float | None = None
    max: float | None = None
    step: float | None = None
    unit: str = ""
    choices: tuple[str, ...] | None = None
    label: str = ""
    optional: bool = False
    advanced: bool = False
    layer: str = ""  # "plane" or "kernel": hosts may fill it from a layer

    @property
    def widget(self) -> bool:
        """Whether hosts show this parameter as a widget / procedure argument."""
        return self.kind in WIDGET_KINDS

    def describe_range(self) -> str:
        """Return the allowed values in words, e.g. ``'0.1 to 100 px'``."""
        if self.kind == "choice" and self.choices:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        if self.kind == "bool":
            return "true or false"
        if self.min is not None and self.max is not None:
            unit = f" {self.unit}" if self.unit else ""
            return f"{_fmt(self.min)} to {_fmt(self.max)}{unit}"
        return self.kind

    def validate(self, value: Any, op_id: str = "") -> Any:
        """Return `value` coerced to this parameter's type, or raise.

        Raises
        ------
        ParameterError
            Naming the operation, the parameter, the value and what is allowed.
        """
        where = f"{op_id}: " if op_id else ""
        if value is None:
            if self.optional:
                return None
            msg = f"{where}{self.name} needs a value ({self.describe_range()})"
            raise ParameterError(msg)
        kind = self.kind
        if kind == "bool":
            return _to_bool(value, self, where)
        if kind in ("float", "int"):
            return self._validate_number(value, where)
        if kind == "choice":
            text = str(value).strip().lower()
            assert self.choices is not None
            if text not in self.choices:
                msg = f"{where}{self.name} must be {self.describe_range()}, got {value!r}"
                raise ParameterError(msg)
            return text
        if kind == "str":
            return str(value)
        if kind == "point":
            return _to_point(value, self, where)
        if kind == "color":
            return _to_color(value, self, where)
        if kind == "array":
            raw = np.asarray(value)
            if raw.dtype.kind not in "biuf":  # text, objects, complex numbers
                msg = (f"{where}{self.name} must be an array of real numbers, got "
                       f"{type(value).__name__} of {raw.dtype}")
                raise ParameterError(msg)
            arr = raw.astype(np.float32)
            if arr.size == 0 or not np.isfinite(arr).all():
                msg = f"{where}{self.name} must be a non-empty array of finite numbers"
                raise ParameterError(msg)
            return arr
        return value

    def _validate_number(self, value: Any, where: str) -> float | int:
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number, str)):
            msg = f"{where}{self.name} must be a number ({self.describe_range()}), got {value!r}"
            raise ParameterError(msg)
        try:
            number = float(value)
        except ValueError:
            msg = f"{where}{self.name} must be a number ({self.describe_range()}), got {value!r}"
            raise ParameterError(msg) from None
        except OverflowError:  # a whole number too large for a float
            msg = f"{where}{self.name} must be {self.describe_range()}, got a number too large"
            raise ParameterError(msg) from None
        if not math.isfinite(number):
            msg = f"{where}{self.name} must be a finite number, got {value!r}"
            raise ParameterError(msg)
        if self.kind == "int":
            if number != round(number):
                msg = f"{where}{self.name} must be a whole number, got {value!r}"
                raise ParameterError(msg)
            number = round(number)
        lo, hi = self.min, self.max
        if (lo is not None and number < lo) or (hi is not None and number > hi):
            msg = (f"{where}{self.name} must be {self.describe_range()}, "
                   f"got {_fmt(number)}{(' ' + self.unit) if self.unit else ''}")
            raise ParameterError(msg)
        return int(number) if self.kind == "int" else float(number)


def _fmt(x: float) -> str:
    if float(x).is_integer() and abs(x) < 1e15:
        return str(int(x))
    return f"{x:g}"


def _to_bool(value: Any, spec: ParamSpec, where: str) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "yes", "on", "1"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("false", "no", "off", "0"):
        return False
    msg = f"{where}{spec.name} must be true or false, got {value!r}"
    raise ParameterError(msg)


def _numbers(value: Any, count: int, spec: ParamSpec, where: str, what: str) -> tuple[float, ...]:
    if isinstance(value, str):
        value = [v for v in re.split(r"[,\s]+", value.strip()) if v]
    try:
        nums = tuple(float(v) for v in value)
    except (TypeError, ValueError, OverflowError):
        nums = ()
    if len(nums) != count or not all(math.isfinite(n) for n in nums):
        msg = f"{where}{spec.name} must be {what}, got {value!r}"
        raise ParameterError(msg)
    return nums


def _to_point(value: Any, spec: ParamSpec, where: str) -> tuple[float, float]:
    x, y = _numbers(value, 2, spec, where, "a point 'x,y' in image pixels")
    return (x, y)


def _to_color(value: Any, spec: ParamSpec, where: str) -> tuple[float, float, float]:
    if isinstance(value, str) and value.startswith("#") and len(value) == 7:
        try:
            return tuple(int(value[i:i + 2], 16) / 255.0 for i in (1, 3, 5))  # type: ignore[return-value]
        except ValueError:
            pass
    r, g, b = _numbers(value, 3, spec, where, "a colour '#rrggbb' or 'r,g,b' in 0..1")
    if not all(0.0 <= v <= 1.0 for v in (r, g, b)):
        msg = (f"{where}{spec.name} components must be in 0..1, got {r:g}, {g:g}, {b:g}; "
               f"for 8-bit values write '#rrggbb' (e.g. '#a08070') or divide by 255")
        raise ParameterError(msg)
    return (r, g, b)


Space = Literal["perceptual", "linear"]
Output = Literal["image", "mask"]
MaskRole = Literal["selection", "damage"]
Halo = int | Callable[[Mapping[str, Any]], int] | None


@dataclass(frozen=True)
class OperationSpec:
    """Everything known about one operation.

    Attributes
    ----------
    id : str
        Kebab-case id, family first (``"remove-dust"``); hosts derive their
        procedure, action and flag names from it.
    label : str
        Menu label with an ``_`` before the mnemonic letter.
    menu : str
        Menu group under the host's restoration menu (e.g. ``"Enhance"``).
    summary : str
        One imperative line (the docstring's first line): blurb and tooltip.
    description : str
        The docstring's extended summary, for help pages.
    space : {'perceptual', 'linear'}
        Transfer the operation needs its pixels in; the engine converts.
    output : {'image', 'mask'}
        An image like the input, or a float32 ``(H, W)`` mask (detection).
    mask_role : {'selection', 'damage'}
        ``'selection'``: an optional mask limits where the result applies.
        ``'damage'``: the mask marks what to repair and is required.
    local : bool
        Each output pixel depends only on inputs within :meth:`halo` pixels,
        so the image may be processed in overlapping tiles.
    grid : int
        Period in pixels of the operation's own sampling grid (blocks laid
        from the top-left corner every few pixels, as in block-matching
        denoisers). Tiles, selections' context boxes and hosts' read boxes
        start on multiples of it, so a part is processed on the same grid
        as the whole image. 1: any start.
    """

    id: str
    func: Callable[..., np.ndarray]
    label: str
    menu: str
    summary: str
    description: str
    params: tuple[ParamSpec, ...]
    space: Space = "perceptual"
    output: Output = "image"
    mask_role: MaskRole = "selection"
    local: bool = False
    halo_rule: Halo = None
    grid: int = 1
    prepare: Callable[..., dict[str, Any]] | None = None
    prepare_share: Callable[[Mapping[str, Any]], float] | None = None
    #: Whether `prepare` takes the selection (``mask=``) to estimate from.
    prepare_takes_mask: bool = False
    takes_mask: bool = False
    takes_progress: bool = False
    takes_report: bool = False
    takes_keep: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The id in snake_case (Python function and identifier form)."""
        return self.id.replace("-", "_")

    @property
    def plain_label(self) -> str:
        """The label without its mnemonic marker."""
        return self.label.replace("_", "")

    def param(self, name: str) -> ParamSpec:
        """Return the spec of parameter `name`."""
        for p in self.params:
            if p.name == name:
                return p
        known = ", ".join(p.name for p in self.params) or "none"
        msg = f"{self.id} has no parameter {name!r} (parameters: {known})"
        raise ParameterError(msg)

    def defaults(self) -> dict[str, Any]:
        """Return every parameter's default value."""
        return {p.name: p.default for p in self.params}

    def bind(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Validate `values`, fill in defaults, and return the full parameter set.

        Raises
        ------
        ParameterError
            For unknown names or invalid values.
        """
        names = {p.name for p in self.params}
        unknown = [k for k in values if k not in names]
        if unknown:
            known = ", ".join(sorted(names)) or "none"
            msg = f"{self.id} has no parameter {unknown[0]!r} (parameters: {known})"
            raise ParameterError(msg)
        out: dict[str, Any] = {}
        for p in self.params:
            out[p.name] = p.validate(values.get(p.name, p.default), self.id)
        return out

    def portable(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Return `params` without image-sized planes (a damage mask, an infrared plane).

        They belong to one image, so recipes and step reports leave them
        out; kernels such as a PSF stay.
        """
        return {k: v for k, v in params.items() if k not in self.plane_names}

    @property
    def plane_names(self) -> tuple[str, ...]:
        """Names of the parameters that are image-sized planes (``layer="plane"``)."""
        return tuple(p.name for p in self.params if p.layer == "plane")

    def crop_planes(self, params: Mapping[str, Any], shape: tuple[int, int],
                    rows: slice, cols: slice) -> dict[str, Any]:
        """Return `params` with their image-sized planes cut to ``[rows, cols]``.

        Planes (a damage mask, an infrared plane) are given for the whole
        image of `shape` ``(H, W)``; whoever hands the operation a part of
        that image (the engine's selection box and tiles, a host's read box,
        a preview) hands it the same part of each plane.

        Raises
        ------
        ParameterError
            When a plane is not ``(H, W)`` or ``(H, W, 1)``.
        """
        out = dict(params)
        for p in self.params:
            value = out.get(p.name)
            if p.layer != "plane" or not isinstance(value, np.ndarray):
                continue
            if value.shape[:2] != tuple(shape) or value.ndim not in (2, 3) or (
                    value.ndim == 3 and value.shape[2] != 1):
                msg = (f"{self.id}: the {p.name} plane has shape {value.shape}, but the "
                       f"image is {shape[0]}×{shape[1]}; give one value per pixel of the "
                       "whole image")
                raise ParameterError(msg)
            out[p.name] = value[rows, cols]
        return out

    def halo(self, params: Mapping[str, Any]) -> int | None:
        """Return the context margin in pixels, or None if the whole image is needed."""
        rule = self.halo_rule
        if rule is None:
            return None
        value = rule(params) if callable(rule) else rule
        return max(0, math.ceil(value))


_REGISTRY: dict[str, OperationSpec] = {}
_ID = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


def _kind_of(annotation: Any, meta: Param, name: str) -> tuple[str, bool]:
    """Return the parameter kind and whether None is allowed."""
    optional = False
    origin = typing.get_origin(annotation)
    if origin is Union or (origin is not None and str(origin) == "<class 'types.UnionType'>"):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        optional = len(args) < len(typing.get_args(annotation))
        annotation = args[0] if len(args) == 1 else annotation
        origin = typing.get_origin(annotation)
    if meta.kind:
        return meta.kind, optional
    if meta.choices or origin is Literal:
        return "choice", optional
    if annotation is bool:
        return "bool", optional
    if annotation is int:
        return "int", optional
    if annotation is float:
        return "float", optional
    if annotation is str:
        return "str", optional
    msg = f"parameter {name!r}: cannot derive a kind from {annotation!r}; set Param(kind=...)"
    raise TypeError(msg)


def _spec_params(func: Callable[..., Any]
                 ) -> tuple[tuple[ParamSpec, ...], bool, bool, bool, bool]:
    hints = typing.get_type_hints(func, include_extras=True)
    sig = inspect.signature(func)
    specs: list[ParamSpec] = []
    takes_mask = "mask" in sig.parameters
    takes_progress = "progress" in sig.parameters
    takes_report = "report" in sig.parameters
    takes_keep = "keep" in sig.parameters
    for i, (name, par) in enumerate(sig.parameters.items()):
        if i == 0 or name in RESERVED:
            continue
        if par.kind is not inspect.Parameter.KEYWORD_ONLY:
            msg = f"{func.__name__}: parameter {name!r} must be keyword-only (after *)"
            raise TypeError(msg)
        if par.default is inspect.Parameter.empty:
            msg = f"{func.__name__}: parameter {name!r} needs a default"
            raise TypeError(msg)
        hint = hints.get(name, type(par.default))
        meta = Param()
        if typing.get_origin(hint) is typing.Annotated:
            base, *extras = typing.get_args(hint)
            for extra in extras:
                if isinstance(extra, Param):
                    meta = extra
        else:
            base = hint
        kind, optional = _kind_of(base, meta, name)
        if meta.layer is not None and (kind != "array" or meta.layer not in LAYER_ROLES):
            roles = " or ".join(repr(r) for r in LAYER_ROLES)
            msg = (f"{func.__name__}: parameter {name!r}: layer= is for array parameters "
                   f"and must be {roles}, got {meta.layer!r} on a {kind} parameter")
            raise TypeError(msg)
        choices = meta.choices
        if kind == "choice" and choices is None:
            choices = tuple(str(a) for a in typing.get_args(base))
        specs.append(ParamSpec(
            name=name, kind=kind, default=par.default, help=meta.help, min=meta.min,
            max=meta.max, step=meta.step, unit=meta.unit, choices=choices,
            label=meta.label or name.replace("_", " ").capitalize(),
            optional=optional or par.default is None, advanced=meta.advanced,
            layer=meta.layer or "",
        ))
    return tuple(specs), takes_mask, takes_progress, takes_report, takes_keep


def _doc_parts(func: Callable[..., Any]) -> tuple[str, str]:
    doc = inspect.getdoc(func) or ""
    paras = doc.split("\n\n")
    summary = paras[0].strip().replace("\n", " ") if paras else ""
    rest = []
    for para in paras[1:]:
        if re.match(r"^[A-Z][a-z]+( [A-Z][a-z]+)?\n-+", para.strip()):
            break
        rest.append(para.strip())
    return summary, "\n\n".join(rest)


def operation(
    id: str,
    *,
    label: str,
    menu: str,
    space: Space = "perceptual",
    output: Output = "image",
    mask_role: MaskRole = "selection",
    local: bool = False,
    halo: Halo = None,
    grid: int = 1,
    prepare: Callable[..., dict[str, Any]] | None = None,
    prepare_share: Callable[[Mapping[str, Any]], float] | None = None,
    **extra: Any,
) -> Callable[[Callable[..., np.ndarray]], Callable[..., np.ndarray]]:
    """Register a function as a photomend operation.

    Parameters
    ----------
    id : str
        Kebab-case operation id, family first.
    label : str
        Menu label, ``_`` before the mnemonic letter.
    menu : str
        Menu group.
    space : {'perceptual', 'linear'}
        Transfer the function expects.
    output : {'image', 'mask'}
        What the function returns.
    mask_role : {'selection', 'damage'}
        Meaning of the mask (see :class:`OperationSpec`).
    local : bool
        Whether overlapping tiles give the same result as one pass.
    halo : int or callable, optional
        Context margin in px (or ``f(params) -> px``); None = whole image.
    grid : int
        Period of the operation's sampling grid in px (see
        :class:`OperationSpec`); 1 for none.
    prepare : callable, optional
        ``prepare(image, params) -> params`` run once on the whole image
        before tiling, to fix image-wide estimates (e.g. the noise level).
    prepare_share : callable, optional
        ``prepare_share(params) -> fraction`` of the progress bar that
        `prepare` takes for these parameters. When it is above 0, `prepare`
        is called with ``progress=`` a :class:`~photomend.progress.Progress`
        for that share (and can be cancelled); for slow estimates.
    **extra
        Kept in :attr:`OperationSpec.extra` for hosts and the engine:
        ``report_layers`` (report keys hosts may add as layers),
        ``report_kernels`` (those of them that are kernels, drawn at the
        centre), ``scan_infrared`` (the parameter that receives an input
        Image's own infrared plane) and ``scan_infrared_unless`` (parameters
        that, when given, keep it from doing so).

    Returns
    -------
    callable
        The function itself, unchanged.
    """
    if not _ID.match(id):
        msg = f"operation id {id!r} must be kebab-case, e.g. 'remove-dust'"
        raise ValueError(msg)

    def register(func: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
        params, takes_mask, takes_progress, takes_report, takes_keep = _spec_params(func)
        summary, description = _doc_parts(func)
        if not summary:
            msg = f"{func.__name__}: an operation needs a docstring summary line"
            raise TypeError(msg)
        if local and halo is None:
            msg = f"{id}: a local operation must declare its halo"
            raise TypeError(msg)
        if isinstance(grid, bool) or not isinstance(grid, int) or grid < 1:
            msg = f"{id}: grid must be a whole number of pixels ≥ 1, got {grid!r}"
            raise TypeError(msg)
        _REGISTRY[id] = OperationSpec(
            id=id, func=func, label=label, menu=menu, summary=summary,
            description=description, params=params, space=space, output=output,
            mask_role=mask_role, local=local, halo_rule=halo, grid=grid, prepare=prepare,
            prepare_share=prepare_share,
            prepare_takes_mask=prepare is not None
            and "mask" in inspect.signature(prepare).parameters,
            takes_mask=takes_mask, takes_progress=takes_progress, takes_report=takes_report,
            takes_keep=takes_keep, extra=dict(extra),
        )
        return func

    return register


def _load_builtin() -> None:
    from . import ops  # noqa: F401 - importing registers the built-in operations


def operations() -> list[OperationSpec]:
    """Return the specs of all registered operations, sorted by menu then id."""
    _load_builtin()
    return sorted(_REGISTRY.values(), key=lambda s: (s.menu, s.id))


def get(op_id: str) -> OperationSpec:
    """Return the spec registered under `op_id`.

    Raises
    ------
    UnknownOperationError
        Listing the known ids.
    """
    _load_builtin()
    key = op_id.strip().lower().replace("_", "-")
    try:
        return _REGISTRY[key]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        msg = f"unknown operation {op_id!r}; available: {known}"
        raise UnknownOperationError(msg) from None
