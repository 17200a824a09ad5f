"""Recipes: a saved chain of operations that can be replayed on any image.

A recipe records what was done to a photo — which operations, in which
order, with which parameter values — so the same restoration can be
repeated on another scan, on another machine, or in another host. The
command line writes one with ``photomend run ... --save-recipe FILE`` and
replays it with ``photomend run --recipe FILE ...``; the filter dialog of
the GIMP and Krita plug-ins writes the same files ("Save recipe"), for a
batch on the command line or in Python (:func:`apply_recipe`).

File format (version 1)
-----------------------
A recipe is a UTF-8 JSON object::

    {
      "format": "photomend-recipe",
      "version": 1,
      "description": "Gentle clean-up for 1950s prints",
      "steps": [
        {"op": "sharpen", "params": {"radius": 1.5, "amount": 0.3}}
      ]
    }

``format``
    Always ``"photomend-recipe"``; identifies the file.
``version``
    Integer format version. A reader refuses versions newer than its own.
``description`` (optional)
    Free text for people.
``generator`` (optional)
    Free text naming the program that wrote the file; ignored on reading.
``infrared`` (optional)
    ``"use"`` (the default) or ``"ignore"``: whether the dust finders use
    the infrared plane of RGBI scans (``"ignore"`` for black-and-white
    silver film and Kodachrome, which are opaque to infrared).
``steps``
    Non-empty list, run in order. Each step is an object with exactly
    ``op`` (an operation id as listed by ``photomend ops``) and ``params``
    (optional object of parameter values; missing ones take the
    operation's defaults). Values are JSON numbers, booleans and strings;
    points (``[x, y]``), colours (``[r, g, b]`` in 0..1) and arrays are
    JSON lists. Recipes written by photomend list every parameter with its
    value resolved, so replaying them does not depend on default values,
    which may change between releases.

Nothing in a recipe names a host, a file or a layer: the same file works in
GIMP, Krita and on the command line.

Masks
-----
A recipe is applied with an optional mask (the host's selection, or
``--mask FILE``), white = selected. Steps that *change* the image limit
their effect to that selection. Steps that *detect* damage (operations
whose output is a mask, e.g. dust detection) produce a damage mask instead
of changing the image; later steps that *repair* marked damage (operations
whose mask role is ``'damage'``) use the most recent damage mask, or the
given mask when no detection step ran before them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, overload

import numpy as np

from . import __version__, registry
from .atomic_write import write_text
from .engine import as_mask
from .errors import FileFormatError, MaskError, PhotomendError, UnknownOperationError
from .hosts import FileHost, apply_operation
from .image import Image
from .progress import ProgressLike, as_progress

__all__ = [
    "FORMAT",
    "VERSION",
    "Recipe",
    "RecipeError",
    "RecipeResult",
    "Step",
    "apply_recipe",
    "check_masks",
    "json_value",
    "load_recipe",
    "recipe_from_dict",
    "replay",
    "resolved_recipe",
    "save_recipe",
    "split_known",
    "validate_recipe",
]

#: Value of the ``format`` key identifying a recipe file.
FORMAT = "photomend-recipe"
#: The newest recipe format version this module reads and the one it writes.
VERSION = 1

PathLike = str | os.PathLike[str]


class RecipeError(PhotomendError):
    """A recipe file or object is malformed (wrong structure or version)."""


@dataclass(frozen=True)
class Step:
    """One operation of a recipe.

    Attributes
    ----------
    op : str
        Operation id, e.g. ``"sharpen"``.
    params : mapping
        Parameter values by name; missing ones take their defaults.
    """

    op: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return the step as plain JSON-ready data."""
        return {"op": self.op, "params": {k: json_value(v) for k, v in self.params.items()}}


@dataclass(kw_only=True)
class Recipe:
    """A chain of operations to replay.

    Attributes
    ----------
    version : int
        Format version the recipe follows.
    steps : list of Step
        Operations run in order. Plain ``{"op": ..., "params": ...}``
        mappings are accepted and converted.
    description : str
        Free text for people.
    use_infrared : bool
        Whether the dust finders use an RGBI scan's own infrared plane.
    """

    version: int = VERSION
    steps: list[Step] = field(default_factory=list)
    description: str = ""
    use_infrared: bool = True

    def __post_init__(self) -> None:
        self.steps = [s if isinstance(s, Step) else _step_from_data(s, i + 1)
                      for i, s in enumerate(self.steps)]

    @classmethod
    def single(cls, op: str, params: Mapping[str, Any] | None = None) -> Recipe:
        """Return a one-step recipe running `op` with `params`."""
        return cls(steps=[Step(op, dict(params or {}))])

    def to_dict(self) -> dict[str, Any]:
        """Return the recipe as plain JSON-ready data (see the module docs)."""
        data: dict[str, Any] = {"format": FORMAT, "version": self.version}
        if self.description:
            data["description"] = self.description
        if not self.use_infrared:
            data["infrared"] = "ignore"
        data["generator"] = f"photomend {__version__}"
        data["steps"] = [s.to_dict() for s in self.steps]
        return data

    def to_json(self) -> str:
        """Return the recipe as JSON text (ends with a newline)."""
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False, allow_nan=False) + "\n"

    @property
    def makes_image(self) -> bool:
        """Whether some step changes the image (rather than only detecting)."""
        return any(registry.get(s.op).output == "image" for s in self.steps)

    @property
    def makes_mask(self) -> bool:
        """Whether some step detects damage and so produces a mask."""
        return any(registry.get(s.op).output == "mask" for s in self.steps)


@dataclass
class RecipeResult:
    """What replaying a recipe produced.

    Attributes
    ----------
    image : Image
        The image after every step.
    mask : ndarray or None
        The last damage mask a detection step produced (float32
        ``(H, W)`` in [0, 1]), None if the recipe has no detection step.
    """

    image: Image
    mask: np.ndarray | None = None
    reports: list[dict[str, Any]] = field(default_factory=list)


# -- reading and writing --------------------------------------------------
def recipe_from_dict(data: Any, *, source: str = "recipe") -> Recipe:
    """Build a :class:`Recipe` from parsed JSON, checking its structure.

    Operations and parameters are not checked here; see
    :func:`validate_recipe`.

    Parameters
    ----------
    data : object
        The parsed JSON document.
    source : str
        What to call the recipe in error messages (usually its file name).

    Raises
    ------
    RecipeError
        When `data` is not a recipe of a version this module reads.
    """
    if not isinstance(data, dict):
        msg = f"{source}: a recipe must be a JSON object, got {type(data).__name__}"
        raise RecipeError(msg)
    if data.get("format") != FORMAT:
        msg = f'{source}: not a photomend recipe (expected "format": "{FORMAT}")'
        raise RecipeError(msg)
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        msg = f"{source}: the recipe version must be a whole number ≥ 1, got {version!r}"
        raise RecipeError(msg)
    if version > VERSION:
        msg = (f"{source}: recipe version {version} was written by a newer photomend; "
               f"this one ({__version__}) reads versions up to {VERSION}")
        raise RecipeError(msg)
    unknown = sorted(set(data) - {"format", "version", "description", "generator", "steps",
                                  "infrared"})
    if unknown:
        msg = f"{source}: unknown recipe key {unknown[0]!r}"
        raise RecipeError(msg)
    steps = data.get("steps")
    if not isinstance(steps, list) or not steps:
        msg = f"{source}: the recipe needs a non-empty list of \"steps\""
        raise RecipeError(msg)
    description = data.get("description", "")
    if not isinstance(description, str):
        msg = f"{source}: the recipe description must be text"
        raise RecipeError(msg)
    infrared = data.get("infrared", "use")
    if infrared not in ("use", "ignore"):
        msg = f'{source}: "infrared" must be "use" or "ignore", got {infrared!r}'
        raise RecipeError(msg)
    try:
        parsed = [_step_from_data(s, i + 1) for i, s in enumerate(steps)]
    except RecipeError as err:
        raise RecipeError(f"{source}: {err}") from None
    return Recipe(version=version, steps=parsed, description=description,
                  use_infrared=infrared == "use")


def _step_from_data(data: Any, number: int) -> Step:
    if not isinstance(data, Mapping):
        msg = f"step {number}: expected an object with \"op\" and \"params\", got {data!r}"
        raise RecipeError(msg)
    unknown = sorted(set(data) - {"op", "params"})
    if unknown:
        msg = f"step {number}: unknown key {unknown[0]!r} (a step has \"op\" and \"params\")"
        raise RecipeError(msg)
    op = data.get("op")
    if not isinstance(op, str) or not op.strip():
        msg = f"step {number}: \"op\" must name an operation, got {op!r}"
        raise RecipeError(msg)
    params = data.get("params", {})
    if not isinstance(params, Mapping):
        msg = f"step {number} ({op}): \"params\" must be an object, got {params!r}"
        raise RecipeError(msg)
    return Step(op, dict(params))


def validate_recipe(recipe: Recipe, *, source: str = "") -> Recipe:
    """Check every step against the registry and resolve all parameters.

    Parameters
    ----------
    recipe : Recipe
        The recipe to check.
    source : str
        Prefix for error messages (usually the file name).

    Returns
    -------
    Recipe
        A copy whose steps carry canonical operation ids and every
        parameter value, defaults filled in.

    Raises
    ------
    RecipeError
        For an empty recipe.
    UnknownOperationError, ParameterError
        Naming the step (1-based), its operation, and the problem.
    """
    where = f"{source}: " if source else ""
    if not recipe.steps:
        msg = f"{where}the recipe has no steps"
        raise RecipeError(msg)
    resolved = []
    for number, step in enumerate(recipe.steps, start=1):
        try:
            spec = registry.get(step.op)
            values = spec.bind(step.params)
        except PhotomendError as err:
            detail = _strip_op(err, step.op)
            raise type(err)(f"{where}step {number} ({step.op}): {detail}") from None
        resolved.append(Step(spec.id, values))
    return Recipe(version=VERSION, steps=resolved, description=recipe.description,
                  use_infrared=recipe.use_infrared)


def _strip_op(err: Exception, op: str) -> str:
    """Drop a leading ``'op: '`` from a registry message (the step names it)."""
    text = str(err)
    return text[len(op) + 2:] if text.startswith(f"{op}: ") else text


def split_known(recipe: Recipe) -> tuple[Recipe, list[Step]]:
    """Separate steps whose operation is registered from those that are not.

    Useful for recipes shipped with photomend that name operations a given
    installation may not have yet.

    Returns
    -------
    known : Recipe
        The recipe without the unknown steps.
    skipped : list of Step
        The steps left out, in order.
    """
    known: list[Step] = []
    skipped: list[Step] = []
    for step in recipe.steps:
        try:
            registry.get(step.op)
        except UnknownOperationError:
            skipped.append(step)
        else:
            known.append(step)
    return Recipe(version=recipe.version, steps=known, description=recipe.description), skipped


def load_recipe(path: PathLike, *, validate: bool = True) -> Recipe:
    """Read a recipe file.

    Parameters
    ----------
    path : str or path-like
        A JSON recipe (see the module docs for the format).
    validate : bool
        Also check operations and parameters (:func:`validate_recipe`) and
        return the recipe with every parameter resolved.

    Raises
    ------
    RecipeError
        When the file is not valid JSON or not a recipe.
    UnknownOperationError, ParameterError
        When a step names an unknown operation or a bad value; the message
        names the file and the step.
    OSError
        When the file cannot be read.
    """
    source = Path(path).name
    if Path(path).is_dir():
        msg = f"{source}: is a folder, not a recipe file"
        raise RecipeError(msg)
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        msg = f"{source}: no such recipe file"
        raise RecipeError(msg) from None
    try:
        # a byte-order mark (Notepad, PowerShell) is fine; other encodings are not
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        kind = ("UTF-16 text" if raw[:2] in (b"\xff\xfe", b"\xfe\xff")
                else "not a text file")
        msg = f"{source}: not a recipe: it is {kind}; recipes are JSON saved as UTF-8"
        raise RecipeError(msg) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        msg = f"{source}: not valid JSON (line {err.lineno}, column {err.colno}: {err.msg})"
        raise RecipeError(msg) from None
    recipe = recipe_from_dict(data, source=source)
    return validate_recipe(recipe, source=source) if validate else recipe


def save_recipe(recipe: Recipe, path: PathLike, *, overwrite: bool = False) -> Path:
    """Validate `recipe` and write it, every parameter resolved, as JSON.

    The file is written to a temporary name and renamed, so a reader never
    sees half a recipe.

    Parameters
    ----------
    recipe : Recipe
        The steps to save.
    path : str or path-like
        Destination file.
    overwrite : bool
        Replace an existing file; otherwise refuse.

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    FileFormatError
        When `path` exists and `overwrite` is false.
    UnknownOperationError, ParameterError, RecipeError
        When the recipe is invalid (nothing is written).
    """
    target = Path(path)
    text = validate_recipe(recipe).to_json()
    if target.exists() and not overwrite:
        msg = f"{target} already exists; use --overwrite (overwrite=True) to replace it"
        raise FileFormatError(msg)
    return write_text(target, text)


def json_value(value: Any) -> Any:
    """Return a parameter value as plain JSON data (numpy and tuples to lists)."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (tuple, list)):
        return [json_value(v) for v in value]
    return value


def resolved_recipe(recipe: Recipe, reports: Sequence[Mapping[str, Any]]) -> Recipe:
    """Return `recipe` as it ran: every parameter fixed, one-click steps expanded.

    Parameters
    ----------
    recipe : Recipe
        The recipe that was replayed.
    reports : sequence of mapping
        :attr:`RecipeResult.reports` of that replay: per step the resolved
        ``params`` and, for steps made of other operations (such as
        ``restore-photo``), the ``steps`` they ran with theirs.

    Returns
    -------
    Recipe
        Steps that repeat exactly what was done — estimates such as the noise
        level included — so a batch gets the parameters chosen on one scan.
        Per-scan planes (a damage mask, an infrared plane) are left out
        (:meth:`~photomend.registry.OperationSpec.portable`): each scan's
        own RGBI infrared plane is used again.
    """
    steps: list[Step] = []
    for step, report in zip(recipe.steps, reports, strict=True):
        inner = report.get("steps")
        if isinstance(inner, list) and inner and all(
                isinstance(s, Mapping) and "op" in s for s in inner):
            steps += [Step(str(s["op"]), registry.get(str(s["op"])).portable(s.get("params", {})))
                      for s in inner]
        else:
            steps.append(Step(step.op, registry.get(step.op).portable(
                report.get("params", step.params))))
    text = "as run" if not recipe.description else f"{recipe.description} (as run)"
    return Recipe(steps=steps, description=text, use_infrared=recipe.use_infrared)


# -- running -------------------------------------------------------------
def check_masks(recipe: Recipe, has_mask: bool) -> None:
    """Check that every repair step will have a damage mask to work from.

    Parameters
    ----------
    recipe : Recipe
        A validated recipe.
    has_mask : bool
        Whether a mask (selection) is given when the recipe runs.

    Raises
    ------
    MaskError
        Naming the first repair step without a mask.
    """
    detected = has_mask
    for number, step in enumerate(recipe.steps, start=1):
        spec = registry.get(step.op)
        if spec.mask_role == "damage" and not detected:
            who = spec.id if len(recipe.steps) == 1 else f"step {number} ({spec.id})"
            msg = (f"{who} repairs marked damage and needs a mask: give a mask "
                   "(--mask FILE) or add a detection step before it")
            raise MaskError(msg)
        detected = detected or spec.output == "mask"


def replay(image: Image, recipe: Recipe, mask: Any = None,
           progress: ProgressLike = None) -> RecipeResult:
    """Run every step of `recipe` on `image` and return the image and last mask.

    Each step goes through the shared host path
    (:func:`~photomend.hosts.apply_operation` on a
    :class:`~photomend.hosts.FileHost`), exactly as the command line runs
    a single operation.

    Parameters
    ----------
    image : Image
        The image to restore; never modified.
    recipe : Recipe
        Steps to run (validated here).
    mask : array_like, optional
        ``(H, W)`` selection in [0, 1] (bool and 8/16-bit levels accepted).
    progress : callable or Progress, optional
        Receives the overall fraction; each step gets an equal share.

    Returns
    -------
    RecipeResult
        The final image and the last detected damage mask.

    Raises
    ------
    PhotomendError
        For an invalid recipe, image or mask; messages of multi-step
        recipes name the step.
    Cancelled
        When `progress` requests it; `image` is untouched.
    """
    steps = validate_recipe(recipe).steps
    check_masks(Recipe(steps=steps), mask is not None)
    selection = None if mask is None else as_mask(mask, (image.height, image.width))
    damage = selection
    prog = as_progress(progress)
    # infrared "ignore": the plane is not used, but kept in the result
    current = image if recipe.use_infrared else replace(image, infrared=None)
    reports: list[dict[str, Any]] = []
    for number, step in enumerate(steps, start=1):
        spec = registry.get(step.op)
        part = prog.span((number - 1) / len(steps), number / len(steps))
        host = FileHost(current, damage if spec.mask_role == "damage" else selection)
        report: dict[str, Any] = {}
        try:
            apply_operation(host, step.op, step.params, progress=part, report=report)
        except PhotomendError as err:
            if len(steps) == 1:
                raise
            raise type(err)(f"step {number} ({spec.id}): {err}") from None
        reports.append({"op": spec.id, **report})
        if spec.output == "mask":
            damage = host.masks[spec.plain_label]
        else:
            current = host.image
    if not recipe.use_infrared:
        current = replace(current, infrared=image.infrared)
    return RecipeResult(current, None if damage is selection else damage, reports)


@overload
def apply_recipe(image: np.ndarray, recipe: Recipe, mask: Any = ...,
                 progress: ProgressLike = ...) -> np.ndarray: ...
@overload
def apply_recipe(image: Image, recipe: Recipe, mask: Any = ...,
                 progress: ProgressLike = ...) -> Image: ...


def apply_recipe(image: np.ndarray | Image, recipe: Recipe, mask: Any = None,
                 progress: ProgressLike = None) -> np.ndarray | Image:
    """Run every step of `recipe` on `image` and return the restored image.

    Parameters
    ----------
    image : ndarray or Image
        Pixels (shape rules of :func:`photomend.run`) or an Image; never
        modified.
    recipe : Recipe
        Steps to run; validated first.
    mask : array_like, optional
        ``(H, W)`` selection in [0, 1]; see the module docs for how
        detection and repair steps use masks.
    progress : callable or Progress, optional
        Receives the overall completed fraction; returning ``False``
        cancels.

    Returns
    -------
    ndarray or Image
        The same kind, shape and type as `image`.

    Raises
    ------
    PhotomendError
        For an invalid recipe, image or mask.
    Cancelled
        When `progress` requests it.

    Examples
    --------
    >>> import numpy as np
    >>> pixels = np.full((8, 8, 3), 0.5, dtype=np.float32)
    >>> out = apply_recipe(pixels, Recipe.single("sharpen", {"radius": 1.0}))
    >>> out.shape, out.dtype
    ((8, 8, 3), dtype('float32'))
    """
    img = image if isinstance(image, Image) else Image.from_array(np.asarray(image))
    result = replay(img, recipe, mask, progress).image
    if isinstance(image, Image):
        return result
    return result.to_array(np.asarray(image).dtype)

