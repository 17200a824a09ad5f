"""Generate the README's table of operations from the registry.

The block between ``<!-- ops:start -->`` and ``<!-- ops:end -->`` in
``README.md`` is written by this module, never by hand::

    photomend docs --write README.md   # regenerate after adding an operation
    photomend docs --check README.md   # CI: exit 1 if the table is stale
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable
from pathlib import Path

from . import registry
from .errors import PhotomendError
from .registry import OperationSpec, ParamSpec

__all__ = [
    "END",
    "START",
    "check_readme",
    "operations_table",
    "param_text",
    "update_block",
    "write_readme",
]

START = "<!-- ops:start -->"
END = "<!-- ops:end -->"
_NOTE = ("<!-- Generated from the operation registry by `photomend docs --write`; "
         "do not edit by hand. -->")


def _cell(text: str) -> str:
    """Escape text for a markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|")


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    if value is None:
        return "none"
    return str(value)


def param_text(param: ParamSpec) -> str:
    """Describe one parameter for the docs table.

    Examples
    --------
    >>> from photomend.registry import ParamSpec
    >>> param_text(ParamSpec("radius", "float", 2.0, min=0.1, max=100.0, unit="px"))
    '`radius` (float, default 2 px, 0.1 to 100 px)'
    """
    unit = f" {param.unit}" if param.unit and param.kind in ("float", "int") else ""
    default = f"default {_value(param.default)}{unit if param.default is not None else ''}"
    if param.kind == "choice" and param.choices:
        allowed = " / ".join(param.choices)
    elif param.min is not None and param.max is not None:
        allowed = param.describe_range()
    else:
        allowed = ""
    kind = f"{param.kind} or a layer" if param.layer else param.kind
    details = ", ".join(x for x in (kind, default, allowed) if x)
    return f"`{param.name}` ({details})"


def _row(spec: OperationSpec) -> str:
    params = "<br>".join(_cell(param_text(p)) for p in spec.params) or "—"
    kind = " Writes a mask." if spec.output == "mask" else ""
    needs = " Needs a damage mask." if spec.mask_role == "damage" else ""
    cells = [f"`{spec.id}`", _cell(spec.plain_label), _cell(spec.menu),
             _cell(spec.summary + kind + needs), params]
    return "| " + " | ".join(cells) + " |"


def operations_table(specs: Iterable[OperationSpec] | None = None) -> str:
    """Return the markdown table of operations (ends with a newline).

    Parameters
    ----------
    specs : iterable of OperationSpec, optional
        Operations to list; default: every registered operation.
    """
    rows = [
        "| Operation | Label | Menu | What it does | Parameters |",
        "|---|---|---|---|---|",
    ]
    rows += [_row(s) for s in (registry.operations() if specs is None else specs)]
    return "\n".join(rows) + "\n"


def update_block(text: str, table: str | None = None) -> str:
    """Return `text` with the block between the markers replaced by the table.

    Raises
    ------
    PhotomendError
        When the markers are missing or out of order.
    """
    start, end = text.find(START), text.find(END)
    if start < 0 or end < 0 or end < start:
        msg = f"the README needs the markers {START} and {END} (in that order)"
        raise PhotomendError(msg)
    body = operations_table() if table is None else table
    head = text[:start + len(START)]
    return f"{head}\n{_NOTE}\n\n{body}{text[end:]}"


def check_readme(path: str | os.PathLike[str]) -> str:
    """Return a unified diff of the stale table in `path`, or ``''`` when in sync."""
    current = Path(path).read_text(encoding="utf-8")
    wanted = update_block(current)
    if wanted == current:
        return ""
    diff = difflib.unified_diff(current.splitlines(keepends=True),
                                wanted.splitlines(keepends=True),
                                fromfile=f"{path} (current)", tofile=f"{path} (generated)")
    return "".join(diff)


def write_readme(path: str | os.PathLike[str]) -> bool:
    """Regenerate the table in `path`; return whether the file changed."""
    target = Path(path)
    current = target.read_text(encoding="utf-8")
    wanted = update_block(current)
    if wanted == current:
        return False
    target.write_text(wanted, encoding="utf-8")
    return True
