"""What the GIMP plug-in declares, derived from photomend's registry.

Nothing here imports GIMP, so the test suite checks it without GIMP:
procedure names, menu paths, arguments, the pixel format read for each
image precision, and how the plug-in finds the photomend package.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from collections.abc import Callable
from decimal import Decimal
from typing import Any, NamedTuple

#: Written by ``photomend install gimp`` next to the plug-in.
CONFIG_NAME = "photomend-location.json"
#: numpy/scipy for a GIMP Python without them (``pip install --target``).
VENDOR_NAME = "vendor"
PREFIX = "plug-in-photomend-"
MENU_ROOT = "<Image>/Filters/Restore"
IMAGE_TYPES = "RGB*, GRAY*"
OUTPUTS = (
    ("in-place", "Change the layer", "Write the result into the selected layer"),
    ("new-layer", "New layer", "Put the result on a new layer above the selected one"),
)
#: Names GIMP's image procedures already use, plus ours.
_TAKEN = frozenset({"run-mode", "image", "drawables", "output"})
#: Mnemonics of the procedure dialog's buttons (_Help, _Reset, _Cancel, _OK).
_BUTTON_KEYS = frozenset("hrco")
_INT_RANGE = (-(2**31) + 1, 2**31 - 1)
_FLOAT_RANGE = (-sys.float_info.max, sys.float_info.max)


class Argument(NamedTuple):
    """One procedure argument, in the terms of ``Gimp.Procedure.add_*_argument``."""

    kind: str  # 'double', 'int', 'boolean', 'choice' or 'drawable'
    name: str  # GIMP argument name (dashes)
    param: str | None  # photomend parameter it feeds; None for 'output'
    nick: str
    blurb: str
    default: Any
    min: float | None = None
    max: float | None = None
    choices: tuple[tuple[str, str, str], ...] = ()  # (nick, label, help)
    step: float | None = None  # spin step of the dialog widget
    digits: int = 0  # decimals shown in the dialog widget


class PixelFormat(NamedTuple):
    """The babl format read and written, and what its values mean."""

    encoding: str
    transfer: str  # 'perceptual' or 'linear'
    channels: int


def procedure_name(spec: Any) -> str:
    """Return the PDB name of an operation, e.g. ``plug-in-photomend-sharpen``."""
    return PREFIX + spec.id


def operation_id(name: str) -> str:
    """Return the operation id of a PDB name made by :func:`procedure_name`."""
    if not name.startswith(PREFIX):
        msg = f"{name!r} is not a photomend procedure"
        raise ValueError(msg)
    return name[len(PREFIX):]


def menu_path(spec: Any) -> str:
    """Return the menu the operation appears in."""
    return f"{MENU_ROOT}/{spec.menu}"


def menu_label(spec: Any) -> str:
    """Return the menu label; the ellipsis says that a dialog follows."""
    return spec.label + "..."


def _words(text: str) -> str:
    return text.replace("-", " ").replace("_", " ").capitalize()


def _mnemonic(label: str, used: set[str]) -> str:
    """Return `label` with ``_`` before a letter no other widget uses yet.

    Word starts are preferred, then letters of the first word, then any.
    """
    label = label.replace("_", "")
    first_word = len(label.split(" ")[0])
    starts = [i for i in range(len(label)) if i == 0 or label[i - 1] in " (-"]
    for i in [*starts, *range(first_word), *range(len(label))]:
        key = label[i].lower()
        if label[i].isalnum() and key not in used:
            used.add(key)
            return label[:i] + "_" + label[i:]
    return label


def arguments(spec: Any) -> list[Argument]:
    """Return the procedure arguments for an operation spec.

    Every parameter with a widget kind becomes an argument (names with
    dashes, as GIMP requires); parameters whose default is None ("automatic")
    cannot be expressed as a GIMP argument and keep that default. Array
    parameters that a layer can give (a damage mask, an infrared plane, a
    PSF) become drawable arguments, None by default: a layer or channel
    the plug-in reads into the array. Image operations get a final
    ``output`` choice; detection operations always add their mask as a
    new channel.
    """
    args = []
    used = set(_BUTTON_KEYS)
    for p in spec.params:
        layer = p.kind == "array" and bool(p.layer)
        if not layer and (not p.widget or p.default is None):
            continue
        name = p.name.replace("_", "-")
        if name in _TAKEN:
            msg = f"{spec.id}: parameter name {p.name!r} clashes with a GIMP argument"
            raise ValueError(msg)
        nick = _mnemonic(p.label, used) + (f" ({p.unit})" if p.unit else "")
        if layer:
            args.append(Argument("drawable", name, p.name, nick, p.help, None))
        elif p.kind == "choice":
            choices = tuple((c, _words(c), "") for c in p.choices)
            args.append(Argument("choice", name, p.name, nick, p.help, p.default,
                                 choices=choices))
        elif p.kind == "bool":
            args.append(Argument("boolean", name, p.name, nick, p.help, bool(p.default)))
        else:
            kind, (lo, hi), cast = (("int", _INT_RANGE, int) if p.kind == "int"
                                    else ("double", _FLOAT_RANGE, float))
            step = p.step if p.step else None
            digits = 0 if step is None else max(0, -int(Decimal(str(step)).as_tuple().exponent))
            args.append(Argument(kind, name, p.name, nick, p.help, cast(p.default),
                                 cast(lo if p.min is None else p.min),
                                 cast(hi if p.max is None else p.max), step=step,
                                 digits=digits))
    if spec.output != "mask":
        args.append(Argument("choice", "output", None, _mnemonic("Output", used),
                             "Change the layer, or put the result on a new layer",
                             OUTPUTS[0][0], choices=OUTPUTS))
    return args


def read_values(spec: Any, get: Callable[[str], Any]) -> tuple[dict[str, Any], str]:
    """Return ``(params, output)`` read with ``get(argument_name)`` (a config getter).

    Drawable arguments come back as they are (a drawable or None); the
    plug-in reads them into arrays.
    """
    params: dict[str, Any] = {}
    output = "in-place"
    for arg in arguments(spec):
        if arg.param is None:
            output = get(arg.name)
        else:
            params[arg.param] = get(arg.name)
    return params, output


def pixel_format(precision: str, gray: bool, alpha: bool) -> PixelFormat:
    """Return the float format to read a drawable with.

    Parameters
    ----------
    precision : str
        The image precision's nick, e.g. ``'u16-non-linear'``, ``'float-linear'``.
    gray, alpha : bool
        Whether the drawable is grayscale and has an alpha channel.

    Notes
    -----
    Float formats hold 8- and 16-bit values exactly. Linear-light images
    are read as linear values (no needless round trip through the sRGB
    curve, HDR values kept); the engine converts for the operation.
    """
    linear = precision.endswith("-linear") and not precision.endswith("non-linear")
    prime = "" if linear else "'"
    names = ["Y"] if gray else ["R", "G", "B"]
    encoding = "".join(n + prime for n in names) + ("A" if alpha else "") + " float"
    return PixelFormat(encoding, "linear" if linear else "perceptual",
                       len(names) + (1 if alpha else 0))


def _package_candidates(plugin_dir: str) -> list[str]:
    """Where photomend may be: the installer's note, then the surrounding package."""
    found = []
    config = os.path.join(plugin_dir, CONFIG_NAME)
    if os.path.isfile(config):
        with open(config, encoding="utf-8") as f:
            found.append(json.load(f)["package"])
    # Used in place: .../photomend/plugins/gimp/<this folder> (wheel) or
    # <repo>/plugins/gimp/<this folder> with the package in <repo>/core.
    top = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(plugin_dir))))
    found += [top, os.path.join(top, "core")]
    return found


def load_photomend(plugin_dir: str) -> Any:
    """Import the photomend package this plug-in belongs to.

    Only the package folder itself is loaded, never the site-packages it was
    installed in: their numpy may be built for another Python than GIMP's.
    The plug-in's ``vendor`` folder, if any, is appended to ``sys.path``.

    Raises
    ------
    ImportError
        When no photomend package is found, or it cannot be imported (e.g.
        numpy or scipy are missing in GIMP's Python).
    """
    if "photomend" in sys.modules:
        return sys.modules["photomend"]
    vendor = os.path.join(plugin_dir, VENDOR_NAME)
    if os.path.isdir(vendor) and vendor not in sys.path:
        sys.path.append(vendor)
    for folder in _package_candidates(plugin_dir):
        init = os.path.join(folder, "__init__.py")
        if not os.path.isfile(os.path.join(folder, "registry.py")) or not os.path.isfile(init):
            continue
        spec = importlib.util.spec_from_file_location(
            "photomend", init, submodule_search_locations=[folder])
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["photomend"] = module
        try:
            spec.loader.exec_module(module)
            module.operations()  # imports every operation: fail now, not in a menu
        except BaseException:
            for name in [n for n in sys.modules if n == "photomend" or
                         n.startswith("photomend.")]:
                del sys.modules[name]
            raise
        return module
    msg = (f"the photomend package was not found (looked for {CONFIG_NAME} in "
           f"{plugin_dir}); reinstall the plug-in with 'photomend install gimp'")
    raise ImportError(msg)


def startup_problem(exc: BaseException, plugin_dir: str) -> str:
    """Explain to the user why photomend could not start inside GIMP."""
    version = "{}.{}".format(*sys.version_info[:2])
    where = f"GIMP's Python ({sys.executable}, {sys.version.split()[0]})"
    if isinstance(exc, ModuleNotFoundError) and exc.name in ("numpy", "scipy"):
        vendor = os.path.join(plugin_dir, VENDOR_NAME)
        return (f"photomend needs numpy and scipy, but {exc.name} is missing in {where}. "
                "On Linux install them from the distribution (e.g. sudo apt install "
                "python3-numpy python3-scipy); otherwise, with a Python "
                f"{version} from python.org, run: python{version} -m pip install "
                f'--target "{vendor}" numpy scipy. Then restart GIMP.')
    return f"photomend could not start in {where}: {exc}"
