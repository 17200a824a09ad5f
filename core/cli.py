"""The ``photomend`` command: restore photos from the command line.

Commands::

    photomend ops [OP] [--json]                  list operations and parameters
    photomend run OP INPUT... -o OUT [--PARAM VALUE ...] [options]
    photomend run --recipe FILE INPUT... -o OUT [options]
    photomend demo [-o DIR]                      restore the bundled sample
    photomend install gimp|krita [--uninstall] [--dest DIR]
    photomend docs [--check | --write] [README]  the README operation table

Every operation's flags (``--radius``, ``--channels`` ...) are generated from
the operation registry; ``photomend run OP --help`` lists them with their
ranges and defaults. Operations run through the shared host path
(:class:`~photomend.hosts.FileHost` and
:func:`~photomend.hosts.apply_operation`), exactly as in GIMP and Krita.

Files: inputs are never modified; an existing file is never replaced unless
``--overwrite`` is given; outputs keep the input's bit depth, ICC profile,
EXIF and resolution (``--depth`` changes the bit depth).

Exit status: 0 success; 1 some files failed (each reported as
``photomend: FILE: message``) or ``docs --check`` found a stale table;
2 bad usage, parameter, recipe or mask (``photomend: error: message``);
130 cancelled with Ctrl-C (no partial file is left).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib
import itertools
import json
import math
import multiprocessing
import os
import shutil
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from . import __version__, registry
from .engine import as_mask
from .errors import Cancelled, FileFormatError, ParameterError, PhotomendError
from .image import Image
from .recipe import (
    Recipe,
    check_masks,
    json_value,
    load_recipe,
    replay,
    resolved_recipe,
    save_recipe,
    split_known,
    validate_recipe,
)
from .registry import OperationSpec, ParamSpec

__all__ = ["main"]

PROG = "photomend"
#: ``--depth`` values and the storage types they select.
DEPTHS: dict[int, np.dtype] = {8: np.dtype(np.uint8), 16: np.dtype(np.uint16),
                               32: np.dtype(np.float32)}
#: Storage type of detection masks unless ``--depth`` says otherwise.
MASK_DTYPE: np.dtype = np.dtype(np.uint16)
_MASK_SUFFIXES = (".tif", ".tiff", ".png")
#: Long option names of ``run`` itself; an operation parameter with one of
#: these names gets the flag ``--param-NAME`` instead.
_RUN_FLAGS = frozenset({"output", "mask", "output-mask", "overwrite", "jobs", "depth",
                        "save-recipe", "recipe", "help", "version"})
_HOSTS = {"gimp": "GIMP", "krita": "Krita"}


# -- command line parsing ---------------------------------------------------------------
class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Keep paragraph breaks of descriptions; wrap option help."""


def _flag(param: ParamSpec) -> str:
    """Return the command-line flag of an operation parameter."""
    name = param.name.replace("_", "-")
    return f"--param-{name}" if name in _RUN_FLAGS else f"--{name}"


def _metavar(param: ParamSpec) -> str:
    if param.kind == "choice" and param.choices:
        return "{" + ",".join(param.choices) + "}"
    if param.kind in ("float", "int"):
        if param.unit.isalpha():
            return param.unit.upper()
        return "N" if param.kind == "int" else "VALUE"
    return {"point": "X,Y", "color": "COLOR", "array": "LIST"}.get(param.kind, "TEXT")


def _default_text(param: ParamSpec) -> str:
    value = param.default
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        text = f"{value:g}"
    elif isinstance(value, (tuple, list)):
        text = ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
    else:
        text = str(value)
    return f"{text} {param.unit}" if param.unit and param.kind in ("float", "int") else text


def _param_help(param: ParamSpec) -> str:
    """Return ``--help`` text: the parameter's help, range and default."""
    extra = {"point": "x,y in image pixels", "color": "#rrggbb or r,g,b in 0..1",
             "array": "numbers separated by commas (rows by ';'), a .npy file or a gray "
                      "image"}.get(param.kind)
    if param.layer:
        extra = ("numbers separated by commas (rows by ';'; a square kernel may be given "
                 "row by row in one list), a .npy file or an image (its brightest channel "
                 "times its opacity)")
    allowed = extra or param.describe_range()
    text = f"{param.help} [{allowed}; default: {_default_text(param)}]".strip()
    return text.replace("%", "%%")  # argparse formats help with %


def _add_param(group: argparse._ArgumentGroup, param: ParamSpec) -> None:
    dest = f"param:{param.name}"
    if param.kind == "bool":
        group.add_argument(_flag(param), dest=dest, action=argparse.BooleanOptionalAction,
                           default=argparse.SUPPRESS, help=_param_help(param))
        return
    group.add_argument(_flag(param), dest=dest, metavar=_metavar(param),
                       default=argparse.SUPPRESS, help=_param_help(param))


def _add_io_options(parser: argparse.ArgumentParser) -> None:
    """Add the input/output options every form of ``run`` takes."""
    parser.add_argument("inputs", nargs="+", metavar="INPUT", type=Path,
                        help="image files to process (PNG, TIFF, JPEG, WebP); never modified")
    io = parser.add_argument_group("input and output")
    # Kept as text: a trailing "/" (lost by Path) asks for a folder.
    io.add_argument("-o", "--output", metavar="OUT",
                    help="output file for one input, or folder for several (created if "
                         "missing); output names are the input names")
    io.add_argument("--mask", type=Path, metavar="FILE",
                    help="selection / damage mask image (8 or 16 bit; its brightest "
                         "channel times its opacity: white = selected); pixels outside it "
                         "are left unchanged")
    io.add_argument("--output-mask", metavar="FILE",
                    help="where to write the mask a detection operation finds (file or "
                         "folder, like -o)")
    io.add_argument("--no-infrared", action="store_true",
                    help="do not find dust in the infrared plane of RGBI scans (it is "
                         "used by default, as Digital ICE does); for black-and-white "
                         "silver film and Kodachrome, which are opaque to infrared. "
                         "Saved in --save-recipe recipes (\"infrared\": \"ignore\")")
    io.add_argument("--overwrite", action="store_true",
                    help="replace existing output files (never done otherwise)")
    io.add_argument("--jobs", "-j", type=int, default=1, metavar="N",
                    help="process N files in parallel (0 = one per CPU; default: 1)")
    io.add_argument("--depth", type=int, choices=sorted(DEPTHS),
                    help="bits per sample of the output: 8, 16 (integer) or 32 (float, "
                         "TIFF only); default: that of the input")
    io.add_argument("--report", type=Path, metavar="DIR",
                    help="also write what each step estimated (noise level, blur, defect "
                         "mask, parameters chosen automatically) into DIR: a JSON file and "
                         "16-bit PNG masks per input")
    io.add_argument("--save-recipe", type=Path, metavar="FILE",
                    help="also write the steps as they ran on the first input — every "
                         "parameter resolved, estimates included, one-click operations "
                         "such as restore-photo expanded into their steps — as a JSON "
                         "recipe that `photomend run --recipe FILE` replays")


def op_parser(spec: OperationSpec) -> argparse.ArgumentParser:
    """Return the parser of ``photomend run OP`` for one operation."""
    description = spec.summary + (f"\n\n{spec.description}" if spec.description else "")
    if spec.output == "mask":
        description += "\n\nWrites the mask it finds (16-bit gray) to -o or --output-mask."
    if spec.mask_role == "damage":
        description += "\n\nNeeds --mask FILE marking the damage to repair (white = damage)."
    parser = argparse.ArgumentParser(
        prog=f"{PROG} run {spec.id}", description=description, formatter_class=_Formatter,
        usage="%(prog)s INPUT... -o OUT [--PARAM VALUE ...] [options]")
    group = parser.add_argument_group(f"{spec.id} parameters")
    for param in spec.params:
        _add_param(group, param)
    _add_io_options(parser)
    return parser


def run_parser() -> argparse.ArgumentParser:
    """Return the parser of ``photomend run --recipe FILE`` (and ``run --help``)."""
    ops = "\n".join(f"  {s.id:<20} {s.summary}" for s in registry.operations())
    parser = argparse.ArgumentParser(
        prog=f"{PROG} run", formatter_class=_Formatter,
        usage=(f"{PROG} run OP INPUT... -o OUT [--PARAM VALUE ...] [options]\n"
               f"       {PROG} run --recipe FILE INPUT... -o OUT [options]"),
        description="Run one operation, or replay a recipe, on image files.",
        epilog=f"operations (photomend run OP --help shows their parameters):\n{ops}")
    parser.add_argument("--recipe", type=Path, metavar="FILE",
                        help="JSON recipe to replay (written by --save-recipe, GIMP or Krita)")
    _add_io_options(parser)
    return parser


def build_parser() -> argparse.ArgumentParser:
    """Return the top-level parser (``run`` is parsed by :func:`op_parser`)."""
    parser = argparse.ArgumentParser(
        prog=PROG, formatter_class=_Formatter,
        description="Photo restoration for GIMP 3, Krita 5 and the command line.",
        epilog="`photomend COMMAND --help` describes each command.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    ops = sub.add_parser("ops", help="list operations and their parameters",
                         description="List operations with their parameters.")
    ops.add_argument("op", nargs="?", metavar="OP", help="show only this operation")
    ops.add_argument("--json", action="store_true", help="machine-readable output")

    sub.add_parser("run", help="run an operation or a recipe on image files", add_help=False)

    demo = sub.add_parser("demo", help="restore the bundled sample photo",
                          description="Run the default restoration recipe on the sample "
                                      "damaged photo and write a before/after comparison.")
    demo.add_argument("-o", "--output", type=Path, default=Path("photomend-demo"),
                      metavar="DIR", help="folder for the results (default: ./photomend-demo)")
    demo.add_argument("--overwrite", action="store_true", help="replace earlier results")

    install = sub.add_parser("install", help="install the GIMP or Krita plug-in",
                             description="Install (or remove) the photomend plug-in.")
    install.add_argument("host", choices=sorted(_HOSTS), help="which application")
    install.add_argument("--uninstall", action="store_true", help="remove the plug-in")
    install.add_argument("--dest", type=Path, metavar="DIR",
                         help="plug-in folder (default: the application's user folder)")

    docs = sub.add_parser("docs", help="regenerate the README operation table",
                          description="Print, check or rewrite the README's operation table.")
    mode = docs.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="exit 1 if the table is stale")
    mode.add_argument("--write", action="store_true", help="rewrite the table in place")
    docs.add_argument("readme", nargs="?", type=Path, default=Path("README.md"),
                      metavar="README", help="the README file (default: ./README.md)")
    return parser


@dataclass(frozen=True)
class RunRequest:
    """A parsed ``photomend run``: what to run and on which files."""

    recipe: Recipe
    inputs: tuple[Path, ...]
    output: str | None
    mask: Path | None
    output_mask: str | None
    overwrite: bool
    jobs: int
    depth: int | None
    save_recipe: Path | None
    report: Path | None = None
    #: Files read besides the inputs (the mask, the recipe, parameters given
    #: as files): no output may replace them.
    reads: tuple[Path, ...] = ()


def parse_run(argv: Sequence[str]) -> RunRequest:
    """Parse the arguments after ``run`` into a validated request.

    Raises
    ------
    PhotomendError
        For an unknown operation, bad parameter values or an invalid recipe.
    SystemExit
        For usage errors and ``--help`` (from argparse).
    """
    args = list(argv)
    if args and not args[0].startswith("-"):
        spec = _lookup_op(args[0])
        ns = op_parser(spec).parse_intermixed_args(args[1:])
        raw = {k.split(":", 1)[1]: v for k, v in vars(ns).items() if k.startswith("param:")}
        # Bound here, not via the recipe, so errors read "sharpen: radius ...".
        recipe = Recipe.single(spec.id, spec.bind(_convert_params(spec, raw)))
        reads = [Path(v) for v in raw.values() if isinstance(v, str) and Path(v).is_file()]
    else:
        ns = run_parser().parse_intermixed_args(args)
        if ns.recipe is None:
            msg = "name an operation (photomend run OP ...) or a recipe (--recipe FILE)"
            raise PhotomendError(msg)
        recipe = load_recipe(ns.recipe)
        reads = [Path(ns.recipe)]
    if ns.mask is not None:
        reads.append(Path(ns.mask))
    if ns.no_infrared:
        recipe = replace(recipe, use_infrared=False)
    if ns.jobs < 0:
        msg = f"--jobs must be 0 (one per CPU) or more, got {ns.jobs}"
        raise ParameterError(msg)
    jobs = ns.jobs if ns.jobs > 0 else (os.cpu_count() or 1)
    return RunRequest(recipe=recipe, inputs=tuple(ns.inputs), output=ns.output, mask=ns.mask,
                      output_mask=ns.output_mask, overwrite=ns.overwrite, jobs=jobs,
                      depth=ns.depth, save_recipe=ns.save_recipe, report=ns.report,
                      reads=tuple(reads))


def _lookup_op(name: str) -> OperationSpec:
    try:
        return registry.get(name)
    except PhotomendError as err:
        if name.lower().endswith(".json"):
            msg = f"{err} (to replay a recipe use: photomend run --recipe {name} ...)"
            raise type(err)(msg) from None
        raise


def _convert_params(spec: OperationSpec, raw: dict[str, Any]) -> dict[str, Any]:
    """Turn command-line text into values the registry validates."""
    values = dict(raw)
    for name, value in raw.items():
        if spec.param(name).kind == "array" and isinstance(value, str):
            values[name] = _parse_array(spec.id, spec.param(name), value)
    return values


def _parse_array(op: str, param: ParamSpec, text: str) -> np.ndarray:
    """Read an array parameter: a .npy file, an image or numbers.

    An image is read as a layer would be in a host
    (:func:`photomend.hosts.layers.layer_array`) when the parameter can
    come from a layer, else as gray.
    """
    from .fileio import SUPPORTED_EXTENSIONS, load
    from .hosts.layers import layer_array

    name = param.name
    if text.lower().endswith(".npy"):
        try:
            return np.asarray(np.load(text, allow_pickle=False), dtype=np.float32)
        except (OSError, ValueError) as err:
            msg = f"{op}: {name}: cannot read {text}: {err}"
            raise ParameterError(msg) from None
    if text.lower().endswith(SUPPORTED_EXTENSIONS):
        if param.layer:
            return layer_array(param, load(text), name=text, whole_layer=False)
        return _read_mask(text)
    try:
        rows = [[float(v) for v in row.replace(",", " ").split()]
                for row in text.split(";") if row.strip()]
    except ValueError:
        rows = []
    if rows and len({len(r) for r in rows}) == 1 and rows[0]:
        values = np.array(rows, dtype=np.float32)
        if len(rows) == 1:
            values = values[0]
            side = math.isqrt(values.size)
            if param.layer == "kernel" and side > 1 and side * side == values.size:
                values = values.reshape(side, side)  # a square kernel, row by row
        return values
    msg = (f"{op}: {name} must be numbers separated by commas (rows separated by ';'), "
           f"a .npy file or an image, got {text!r}")
    raise ParameterError(msg)


# -- planning a batch ------------------------------------------------------------------
@dataclass(frozen=True)
class Job:
    """One input file and where its results go."""

    index: int
    source: Path
    output: Path | None
    mask_output: Path | None


@dataclass(frozen=True)
class Plan:
    """What every job of a batch shares (sent to worker processes)."""

    recipe: Recipe
    mask: Path | None
    depth: int | None
    overwrite: bool
    report: Path | None = None
    #: Where the first input's job writes the recipe as it ran (--save-recipe).
    save_recipe: Path | None = None


def _is_folder(path: str, count: int) -> bool:
    return count > 1 or Path(path).is_dir() or path.endswith(("/", os.sep))


def _mask_name(source: Path) -> str:
    """Return the file name of a detected mask written into a folder."""
    suffix = source.suffix if source.suffix.lower() in _MASK_SUFFIXES else ".png"
    return source.stem + suffix


def _destinations(request: RunRequest) -> tuple[str | None, str | None]:
    """Return where images and where masks go (files or folders).

    Raises
    ------
    PhotomendError
        When the outputs asked for do not fit what the recipe produces.
    """
    recipe, out, out_mask = request.recipe, request.output, request.output_mask
    if not recipe.makes_image:
        if out is not None and out_mask is not None:
            msg = ("the steps run here write a mask, not an image: give -o OUT or "
                   "--output-mask FILE, not both")
            raise PhotomendError(msg)
        if out is None and out_mask is None:
            msg = "give the output with -o OUT"
            raise PhotomendError(msg)
        return None, out if out is not None else out_mask
    if out is None:
        msg = "give the output with -o OUT"
        raise PhotomendError(msg)
    if out_mask is not None and not recipe.makes_mask:
        msg = ("--output-mask needs a detection operation (one that finds damage); "
               "nothing here produces a mask")
        raise PhotomendError(msg)
    return out, out_mask


def _target(dest: Path | None, folder: bool, name: str) -> Path | None:
    if dest is None:
        return None
    return dest / name if folder else dest


def _prepare(dest: str | None, count: int) -> tuple[Path | None, bool]:
    """Return `dest` as a path and whether it is a folder, creating folders."""
    if dest is None:
        return None, False
    path = Path(dest)
    if not _is_folder(dest, count):
        from .fileio import format_for

        format_for(path, "write")  # found now, not after a long restoration
        if not path.resolve().parent.is_dir():
            msg = f"cannot write {dest}: its folder does not exist"
            raise FileFormatError(msg)
        return path, False
    if path.exists() and not path.is_dir():
        msg = f"{dest} is a file, but several inputs need an output folder"
        raise PhotomendError(msg)
    path.mkdir(parents=True, exist_ok=True)
    return path, True


def plan_jobs(request: RunRequest) -> list[Job]:
    """Work out every input's output paths, creating output folders.

    Raises
    ------
    PhotomendError
        When several inputs should go to something that is not a folder, or
        the outputs asked for do not fit what the recipe produces.
    """
    # a file listed twice (a shell glob and a name, say) is processed once
    inputs: list[Path] = []
    seen: set[Path] = set()
    for src in request.inputs:
        key = src.resolve()
        if key not in seen:
            seen.add(key)
            inputs.append(src)
    count = len(inputs)
    out, out_mask = _destinations(request)
    out_path, out_folder = _prepare(out, count)
    mask_path, mask_folder = _prepare(out_mask, count)
    return [Job(i, src, _target(out_path, out_folder, src.name),
                _target(mask_path, mask_folder, _mask_name(src)))
            for i, src in enumerate(inputs)]


def _originals(jobs: Sequence[Job], reads: Sequence[Path]) -> set[Path]:
    """Return the resolved paths of every file a batch reads: its inputs and `reads`."""
    return {p.resolve() for p in (*(job.source for job in jobs), *reads)}


def precheck(jobs: Sequence[Job], overwrite: bool, *, protected: Sequence[Path] = (),
             report: Path | None = None) -> dict[int, str]:
    """Return per-job problems found before any work: clashes and existing files.

    No output may land on an input (any job's source, or a `protected` file
    such as the selection mask or an infrared scan given as a parameter),
    not even with `overwrite`: originals are
    never replaced. With a `report` folder, an existing report of the same
    name is a problem unless `overwrite` is given.
    """
    problems: dict[int, str] = {}
    claimed: dict[Path, Path] = {}
    originals = _originals(jobs, protected)
    for job in jobs:
        targets = [job.output, job.mask_output]
        if report is not None:
            targets.append(report / f"{job.source.stem}-report.json")
        for target in targets:
            if target is None:
                continue
            key = target.resolve()
            if key in originals:
                problems[job.index] = (f"{target} is one of the inputs; photomend never "
                                       "writes over an original, so give another output")
            elif key in claimed:
                problems[job.index] = (f"{target} would also be written from "
                                       f"{claimed[key]}; rename one of the inputs")
            elif target.exists() and not overwrite:
                problems[job.index] = (f"{target} already exists; use --overwrite to "
                                       "replace it")
            claimed.setdefault(key, job.source)
    return problems


# -- processing one file ---------------------------------------------------------------
@functools.lru_cache(maxsize=4)
def _read_mask(path: str) -> np.ndarray:
    """Load a mask image as float32 ``(H, W)``, read as a layer would be in a host.

    Its brightest channel times its opacity (:func:`photomend.hosts.layers.painted_plane`),
    so a gray mask, white on transparency and a coloured detection layer
    saved from a host all mean what they show.
    """
    from .fileio import load
    from .hosts.layers import painted_plane

    return painted_plane(load(path))


def _mask_image(mask: np.ndarray, like: Image) -> Image:
    """Wrap a detected mask as a gray image keeping the source's resolution."""
    return Image(color=mask[..., None].astype(np.float32), dtype=MASK_DTYPE, dpi=like.dpi)


def process(job: Job, plan: Plan, progress: Callable[[float], Any] | None = None) -> None:
    """Load one input, replay the recipe, and write its outputs.

    Raises
    ------
    PhotomendError, OSError
        Problems with this file (reported, the batch goes on).
    Cancelled
        When `progress` asks to stop; nothing is written.
    """
    from .fileio import load, save

    image = load(job.source)
    mask = None
    if plan.mask is not None:
        mask = as_mask(_read_mask(str(plan.mask)), (image.height, image.width),
                       what=f"mask {plan.mask.name}")
    result = replay(image, plan.recipe, mask, progress)
    depth = None if plan.depth is None else DEPTHS[plan.depth]
    if job.output is not None:
        save(result.image, job.output, like=image, dtype=depth, overwrite=plan.overwrite)
    if job.mask_output is not None:
        assert result.mask is not None, "recipes without detection were refused in planning"
        save(_mask_image(result.mask, image), job.mask_output, dtype=depth or MASK_DTYPE,
             overwrite=plan.overwrite)
    if plan.report is not None:
        write_report(result.reports, job.source, plan.report, image, plan.overwrite)
    if plan.save_recipe is not None and job.index == 0:
        save_recipe(resolved_recipe(plan.recipe, result.reports), plan.save_recipe,
                    overwrite=True)  # checked before the batch started


def _json_safe(value: Any, image: Image, save_mask: Callable[[np.ndarray], str]) -> Any:
    """Make a report value JSON-ready; image-sized masks become PNG files."""
    if isinstance(value, np.ndarray):
        if value.ndim == 2 and value.shape == (image.height, image.width):
            return {"mask": save_mask(value)}
        return value.tolist()
    if isinstance(value, dict):
        return {str(k): _json_safe(v, image, save_mask) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v, image, save_mask) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def write_report(reports: Sequence[dict[str, Any]], source: Path, folder: Path,
                 image: Image, overwrite: bool) -> Path:
    """Write each step's report for `source` into `folder`; return the JSON path.

    Masks the size of the image (e.g. the dust found) are written as 16-bit
    gray PNGs next to ``<name>-report.json``, which names them.
    """
    from .atomic_write import write_text
    from .fileio import save

    folder.mkdir(parents=True, exist_ok=True)
    steps = []
    for number, report in enumerate(reports, start=1):
        op = report.get("op", "step")
        counter = itertools.count(1)

        def save_mask(mask: np.ndarray, number: int = number, op: str = op,
                      counter: Iterator[int] = counter) -> str:
            name = f"{source.stem}-step{number}-{op}-mask{next(counter)}.png"
            save(_mask_image(mask, image), folder / name, dtype=MASK_DTYPE,
                 overwrite=overwrite)
            return name

        steps.append(_json_safe(report, image, save_mask))
    target = folder / f"{source.stem}-report.json"
    if target.exists() and not overwrite:
        msg = f"{target} exists; pass --overwrite to replace it"
        raise FileFormatError(msg)
    return write_text(target, json.dumps({"source": str(source), "steps": steps}, indent=1))


def describe_error(err: BaseException, source: Path) -> str:
    """Return one line describing a per-file failure."""
    if isinstance(err, OSError) and err.strerror:
        where = err.filename if err.filename and Path(err.filename) != source else None
        return f"{where}: {err.strerror}" if where else err.strerror
    return str(err) or type(err).__name__


# -- worker processes ------------------------------------------------------------------
_worker_cancel: Any = None
_worker_queue: Any = None


def _init_worker(cancel: Any, queue: Any) -> None:
    """Set up a worker: Ctrl-C is handled by the parent, which sets `cancel`."""
    global _worker_cancel, _worker_queue
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _worker_cancel, _worker_queue = cancel, queue


def _work(job: Job, plan: Plan) -> tuple[int, str | None, bool]:
    """Process `job` in a worker; return ``(index, error or None, cancelled)``."""
    last = [0.0]

    def report(fraction: float) -> bool:
        now = time.monotonic()
        if _worker_queue is not None and (fraction >= 1.0 or now - last[0] > 0.1):
            last[0] = now
            _worker_queue.put((job.index, fraction))
        return not (_worker_cancel is not None and _worker_cancel.is_set())

    try:
        process(job, plan, report)
    except Cancelled:
        return job.index, None, True
    except (PhotomendError, OSError) as err:
        return job.index, describe_error(err, job.source), False
    except MemoryError:
        return job.index, "it does not fit in this machine's memory", False
    return job.index, None, False


# -- the progress bar ------------------------------------------------------------------
def _clock(seconds: float) -> str:
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes = f"{rest // 60:02d}" if hours else f"{rest // 60}"
    return (f"{hours}:" if hours else "") + f"{minutes}:{rest % 60:02d}"


def render_bar(fraction: float, elapsed: float, label: str, width: int = 80) -> str:
    """Return one status line: bar, percentage, ETA and `label`.

    Examples
    --------
    >>> render_bar(0.5, 10.0, "scan1.tif 50%", width=60)
    '[##########----------]  50% ETA 0:10  scan1.tif 50%'
    """
    fraction = min(max(fraction, 0.0), 1.0)
    cells = 20
    filled = int(fraction * cells)
    eta = _clock(elapsed * (1 - fraction) / fraction) if fraction > 0.01 else "-:--"
    line = f"[{'#' * filled}{'-' * (cells - filled)}] {fraction:4.0%} ETA {eta}  {label}"
    return line[:max(width - 1, 10)]


class StatusLine:
    """Progress of a batch on a terminal: per file and overall, with ETA.

    Parameters
    ----------
    stream : text stream
        Where to draw (stderr); nothing is drawn unless it is a terminal.
    names : sequence of str
        The input names, in job order.
    """

    def __init__(self, stream: TextIO, names: Sequence[str]) -> None:
        self.stream = stream
        self.enabled = bool(getattr(stream, "isatty", lambda: False)())
        self.names = list(names)
        self.fractions = [0.0] * len(names)
        self.done = 0
        self.current = 0
        self.start = time.monotonic()
        self._drawn = 0.0
        self._visible = False

    def update(self, index: int, fraction: float) -> None:
        """Record that job `index` is `fraction` done and redraw (throttled)."""
        self.fractions[index] = max(self.fractions[index], fraction)
        self.current = index
        self._draw(force=False)

    def finish(self, index: int) -> None:
        """Record that job `index` is over (done or failed)."""
        self.fractions[index] = 1.0
        self.done += 1
        self._draw(force=True)

    def print(self, text: str) -> None:
        """Print a message line without garbling the bar."""
        self.clear()
        print(text, file=self.stream, flush=True)

    def clear(self) -> None:
        """Erase the bar."""
        if self._visible:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._visible = False

    def _draw(self, force: bool) -> None:
        now = time.monotonic()
        if not self.enabled or (not force and now - self._drawn < 0.1):
            return
        self._drawn = now
        total = len(self.names)
        overall = sum(self.fractions) / max(total, 1)
        label = (f"{min(self.done + 1, total)}/{total} {self.names[self.current]} "
                 f"{self.fractions[self.current]:.0%}")
        width = shutil.get_terminal_size((80, 24)).columns
        self.stream.write("\r" + render_bar(overall, now - self.start, label, width) + "\x1b[K")
        self.stream.flush()
        self._visible = True


# -- running a batch -------------------------------------------------------------------
def _run_serial(jobs: Sequence[Job], plan: Plan, status: StatusLine,
                failed: dict[int, str]) -> None:
    for job in jobs:
        if job.index in failed:
            status.finish(job.index)
            continue

        def report(fraction: float, index: int = job.index) -> None:
            status.update(index, fraction)

        try:
            process(job, plan, report)
        except (PhotomendError, OSError) as err:
            failed[job.index] = describe_error(err, job.source)
            status.print(f"{PROG}: {job.source}: {failed[job.index]}")
        except MemoryError:
            failed[job.index] = "it does not fit in this machine's memory"
            status.print(f"{PROG}: {job.source}: {failed[job.index]}")
        status.finish(job.index)


def _run_parallel(jobs: Sequence[Job], plan: Plan, workers: int, status: StatusLine,
                  failed: dict[int, str]) -> None:
    # "spawn" everywhere: forking a process that runs tile threads can deadlock.
    ctx = multiprocessing.get_context("spawn")
    cancel = ctx.Event()
    queue = ctx.Queue() if status.enabled else None
    todo = [job for job in jobs if job.index not in failed]
    with ProcessPoolExecutor(max_workers=min(workers, len(todo)) or 1, mp_context=ctx,
                             initializer=_init_worker, initargs=(cancel, queue)) as pool:
        futures = {pool.submit(_work, job, plan): job for job in todo}
        try:
            _collect(futures, status, queue, failed)
        except KeyboardInterrupt:
            cancel.set()
            pool.shutdown(wait=True, cancel_futures=True)
            raise Cancelled("cancelled by the user") from None


def _collect(futures: dict[Future[tuple[int, str | None, bool]], Job], status: StatusLine,
             queue: Any, failed: dict[int, str]) -> None:
    pending = set(futures)
    cancelled = False
    while pending:
        done, pending = wait(pending, timeout=0.1, return_when=FIRST_COMPLETED)
        while queue is not None and not queue.empty():
            index, fraction = queue.get_nowait()
            status.update(index, fraction)
        for future in done:
            job = futures[future]
            try:
                _, error, was_cancelled = future.result()
            except BrokenProcessPool:
                error, was_cancelled = "the worker process died (out of memory?)", False
            cancelled = cancelled or was_cancelled
            if error is not None:
                failed[job.index] = error
                status.print(f"{PROG}: {job.source}: {error}")
            status.finish(job.index)
    if cancelled:
        raise Cancelled("cancelled by the user")


def run_batch(request: RunRequest, stderr: TextIO) -> int:
    """Process every input of `request`; return the exit status."""
    jobs = plan_jobs(request)
    if request.mask is not None:
        _read_mask.cache_clear()
        _read_mask(str(request.mask))  # a bad mask file is one error, not one per input
    check_masks(request.recipe, request.mask is not None)
    plan = Plan(recipe=request.recipe, mask=request.mask, depth=request.depth,
                overwrite=request.overwrite, report=request.report,
                save_recipe=request.save_recipe)
    if request.save_recipe is not None:
        # Written as run by the first input's job; refuse an existing file now.
        if request.save_recipe.resolve() in _originals(jobs, request.reads):
            msg = (f"{request.save_recipe} is one of the inputs; photomend never writes "
                   "over an original, so give the recipe another name")
            raise PhotomendError(msg)
        target = request.save_recipe.resolve()
        clash = next((j for j in jobs for out in (j.output, j.mask_output)
                      if out is not None and out.resolve() == target), None)
        if clash is not None:
            msg = (f"{request.save_recipe} is also where the result of {clash.source} goes; "
                   "give the recipe another name")
            raise PhotomendError(msg)
        if not target.parent.is_dir():
            msg = f"cannot save the recipe as {request.save_recipe}: its folder does not exist"
            raise FileFormatError(msg)
        if request.save_recipe.exists() and not request.overwrite:
            msg = f"{request.save_recipe} exists; pass --overwrite to replace it"
            raise FileFormatError(msg)
        validate_recipe(request.recipe)
    status = StatusLine(stderr, [str(j.source) for j in jobs])
    if request.report is not None and request.report.exists() and not request.report.is_dir():
        msg = f"--report takes a folder, but {request.report} is a file"
        raise PhotomendError(msg)
    if request.report is not None:
        # before any image is written: a run must not replace outputs, then fail on its report
        try:
            request.report.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            msg = f"cannot make the --report folder {request.report}: {err.strerror}"
            raise PhotomendError(msg) from None
        if not os.access(request.report, os.W_OK | os.X_OK):
            msg = f"cannot write reports into {request.report}: permission denied"
            raise PhotomendError(msg)
    failed = precheck(jobs, request.overwrite, protected=request.reads, report=request.report)
    for index, message in sorted(failed.items()):
        status.print(f"{PROG}: {jobs[index].source}: {message}")
    try:
        if request.jobs > 1 and len(jobs) - len(failed) > 1:
            _run_parallel(jobs, plan, request.jobs, status, failed)
        else:
            _run_serial(jobs, plan, status, failed)
    finally:
        status.clear()
    if request.save_recipe is not None and 0 in failed:
        # The first input failed: keep the recipe as asked for (unresolved).
        save_recipe(request.recipe, request.save_recipe, overwrite=True)
    if failed:
        print(f"{PROG}: {len(failed)} of {len(jobs)} file(s) failed", file=stderr)
        return 1
    return 0


# -- other commands --------------------------------------------------------------------
def _param_record(param: ParamSpec) -> dict[str, Any]:
    return {"name": param.name, "flag": _flag(param), "kind": param.kind,
            "default": json_value(param.default), "min": param.min, "max": param.max,
            "step": param.step, "unit": param.unit,
            "choices": list(param.choices) if param.choices else None,
            "optional": param.optional, "advanced": param.advanced, "label": param.label,
            "help": param.help}


def op_record(spec: OperationSpec) -> dict[str, Any]:
    """Return an operation as plain data (``photomend ops --json``)."""
    return {"id": spec.id, "label": spec.plain_label, "menu": spec.menu,
            "summary": spec.summary, "description": spec.description,
            "output": spec.output, "mask_role": spec.mask_role,
            "params": [_param_record(p) for p in spec.params]}


def format_op(spec: OperationSpec) -> str:
    """Return an operation and its parameters as text for ``photomend ops``."""
    lines = [f"{spec.id} — {spec.summary}",
             f"    {spec.menu} › {spec.plain_label}"
             + ("; writes a mask" if spec.output == "mask" else "")
             + ("; needs --mask (damage)" if spec.mask_role == "damage" else "")]
    for p in spec.params:
        flag = (f"{_flag(p)}/--no-{_flag(p)[2:]}" if p.kind == "bool"
                else f"{_flag(p)} {_metavar(p)}")
        allowed = "see help" if p.kind == "array" else p.describe_range()
        facts = f"{p.kind}, default {_default_text(p)}, {allowed}"
        if len(flag) >= 28:
            lines.append(f"    {flag}")
            flag = ""
        lines.append(f"    {flag:<28} {facts}")
        if p.help:
            lines.append(f"    {'':<28} {' '.join(p.help.split())}")
    return "\n".join(lines)


def cmd_ops(ns: argparse.Namespace) -> int:
    """List operations (``photomend ops``)."""
    specs = [registry.get(ns.op)] if ns.op else registry.operations()
    if ns.json:
        print(json.dumps([op_record(s) for s in specs], indent=2, ensure_ascii=False))
    else:
        print("\n\n".join(format_op(s) for s in specs))
    return 0


def cmd_docs(ns: argparse.Namespace) -> int:
    """Print, check or rewrite the README table (``photomend docs``)."""
    from . import docs

    if ns.check:
        diff = docs.check_readme(ns.readme)
        if diff:
            sys.stdout.write(diff)
            print(f"{PROG}: {ns.readme}: the operation table is out of date; "
                  f"run `photomend docs --write {ns.readme}`", file=sys.stderr)
            return 1
        print(f"{ns.readme}: operation table up to date")
        return 0
    if ns.write:
        changed = docs.write_readme(ns.readme)
        print(f"{ns.readme}: {'operation table updated' if changed else 'already up to date'}")
        return 0
    sys.stdout.write(docs.operations_table())
    return 0


def cmd_install(ns: argparse.Namespace) -> int:
    """Install or remove a host plug-in (``photomend install``)."""
    name = f"photomend.hosts.install_{ns.host}"
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as err:
        if err.name != name:
            raise
        msg = (f"installing the {_HOSTS[ns.host]} plug-in is not supported by this "
               f"photomend yet ({name} is missing)")
        raise PhotomendError(msg) from None
    print(module.install(dest=ns.dest, uninstall=ns.uninstall))
    return 0


@contextlib.contextmanager
def _data_file(name: str) -> Iterator[Path]:
    from importlib import resources

    with resources.as_file(resources.files("photomend") / "data" / name) as path:
        yield path


def demo_recipe(path: Path) -> tuple[Recipe | None, list[str]]:
    """Load the demo recipe, leaving out steps this installation cannot run.

    Returns
    -------
    recipe : Recipe or None
        The runnable steps, None if none are left.
    skipped : list of str
        Operation ids left out.
    """
    known, skipped = split_known(load_recipe(path, validate=False))
    recipe = validate_recipe(known, source=path.name) if known.steps else None
    return recipe, [s.op for s in skipped]


def comparison(before: Image, after: Image, labels: tuple[str, str] = ("before", "after"),
               gap: int = 8) -> np.ndarray:
    """Return an 8-bit RGB side-by-side picture of two images with small labels."""
    from PIL import Image as PILImage
    from PIL import ImageDraw, ImageFont

    halves = [_rgb8(before), _rgb8(after)]
    height, width = halves[0].shape[:2]
    canvas = np.full((height, 2 * width + gap, 3), 255, dtype=np.uint8)
    canvas[:, :width], canvas[:, width + gap:] = halves
    picture = PILImage.fromarray(canvas)
    draw = ImageDraw.Draw(picture)
    font = ImageFont.load_default()
    for x, text in ((6, labels[0]), (width + gap + 6, labels[1])):
        left, top, right, bottom = draw.textbbox((x, 6), text, font=font)
        draw.rectangle((left - 3, top - 3, right + 3, bottom + 3), fill=(0, 0, 0))
        draw.text((x, 6), text, fill=(255, 255, 255), font=font)
    return np.asarray(picture)


def _rgb8(image: Image) -> np.ndarray:
    from .convert import from_float32, gray_to_rgb

    color = image.in_transfer("perceptual").color
    if color.shape[-1] == 1:
        color = gray_to_rgb(color)
    return from_float32(np.clip(color, 0.0, 1.0), np.dtype(np.uint8))


def cmd_demo(ns: argparse.Namespace) -> int:
    """Restore the bundled sample photo (``photomend demo``)."""
    from .fileio import load, save

    with _data_file("default-recipe.json") as recipe_path:
        recipe, skipped = demo_recipe(recipe_path)
    for op in skipped:
        print(f"note: skipping step {op!r}: this photomend has no such operation yet")
    with _data_file("sample-aged.png") as sample:
        before = load(sample)
    status = StatusLine(sys.stderr, ["sample-aged.png"])
    try:
        after = before if recipe is None else replay(
            before, recipe, progress=lambda f: status.update(0, f)).image
    finally:
        status.clear()
    out = ns.output
    out.mkdir(parents=True, exist_ok=True)
    targets = out / "sample-restored.png", out / "before-after.png"
    for target in targets:
        if target.exists() and not ns.overwrite:
            msg = f"{target} already exists; use --overwrite to replace it"
            raise FileFormatError(msg)
    restored = save(after, targets[0], like=before, overwrite=ns.overwrite)
    pair = Image.from_array(comparison(before, after))
    side = save(replace(pair, dpi=before.dpi), targets[1], overwrite=ns.overwrite)
    print(f"restored:   {restored}")
    print(f"comparison: {side}")
    return 0


def cmd_run(argv: Sequence[str]) -> int:
    """Run an operation or a recipe on files (``photomend run``)."""
    return run_batch(parse_run(argv), sys.stderr)


# -- entry point -----------------------------------------------------------------------
_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "ops": cmd_ops, "demo": cmd_demo, "install": cmd_install, "docs": cmd_docs,
}


def _dispatch(argv: list[str]) -> int:
    if argv and argv[0] == "run":
        return cmd_run(argv[1:])
    ns = build_parser().parse_args(argv)
    return _COMMANDS[ns.command](ns)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``photomend`` command and return its exit status.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name; default ``sys.argv[1:]``.

    Returns
    -------
    int
        0 success, 1 some files failed, 2 usage or input error, 130
        cancelled.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        return _dispatch(args)
    except SystemExit as done:  # argparse: --help, --version, usage errors
        code = done.code
        return code if isinstance(code, int) else (0 if code is None else 2)
    except (Cancelled, KeyboardInterrupt):
        print(f"{PROG}: cancelled", file=sys.stderr)
        return 130
    except PhotomendError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        where = f"{err.filename}: " if err.filename else ""
        print(f"{PROG}: error: {where}{err.strerror or err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
