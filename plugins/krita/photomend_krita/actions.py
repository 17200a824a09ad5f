"""What the Krita plug-in declares, derived from photomend's registry.

Nothing here imports Krita or Qt, so the tests check it without Krita:
action ids, menu texts, the menu tree, and the ``.action`` file giving
Krita the texts, tooltips and activation rule of those actions. The
checked-in ``photomend_krita.action`` is generated, never edited::

    python -m photomend.plugins.krita.photomend_krita.actions --write
    python -m photomend.plugins.krita.photomend_krita.actions --check   # CI
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NamedTuple
from xml.sax.saxutils import escape

PREFIX = "photomend_"
#: The "Photo Restoration" submenu, placed in Krita's Filter menu.
MENU_ID = "photomend_menu"
MENU_TEXT = "Photo &Restoration"
MENU_PARENT = "Filter"
ACTION_FILE = "photomend_krita.action"
#: Enabled like Krita's own filters: when there is an active paint device
#: (``KisAction::ACTIVE_DEVICE``; the file holds the flags in binary).
ACTIVATION_FLAGS = "10000"


class MenuGroup(NamedTuple):
    """A submenu of "Photo Restoration" and the operations in it."""

    id: str
    text: str
    location: str  # Window.createAction menu path of the submenu itself
    specs: tuple[Any, ...]


def action_id(spec: Any) -> str:
    """Return the Krita action id of an operation, e.g. ``photomend_remove_dust``."""
    return PREFIX + spec.name


def operation_id(action: str) -> str:
    """Return the operation id of an action id made by :func:`action_id`."""
    if not action.startswith(PREFIX) or action.startswith(MENU_ID):
        msg = f"{action!r} is not a photomend action"
        raise ValueError(msg)
    return action[len(PREFIX):].replace("_", "-")


def qt_text(label: str) -> str:
    """Turn a registry label (``_`` before the mnemonic) into Qt's ``&`` form."""
    return label.replace("&", "&&").replace("_", "&", 1)


def plain_text(text: str) -> str:
    """Remove Qt mnemonic markers (``&``; ``&&`` is a literal ampersand)."""
    return "&".join(part.replace("&", "") for part in text.split("&&"))


def action_text(spec: Any) -> str:
    """Return the menu text; the ellipsis says that a dialog follows."""
    return qt_text(spec.label) + "..."


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "other"


def menu_groups(specs: Iterable[Any]) -> list[MenuGroup]:
    """Return the submenus (one per registry menu group) in registry order."""
    groups: dict[str, list[Any]] = {}
    for spec in specs:
        groups.setdefault(spec.menu, []).append(spec)
    return [MenuGroup(f"{MENU_ID}_{_slug(menu)}", menu, f"{MENU_PARENT}/{MENU_ID}",
                      tuple(members)) for menu, members in groups.items()]


def action_location(group: MenuGroup) -> str:
    """Return the createAction menu path of the operations in `group`."""
    return f"{group.location}/{group.id}"


def _action_xml(spec: Any) -> list[str]:
    text, tip = action_text(spec), escape(spec.summary)
    return [
        f'    <Action name="{action_id(spec)}">',
        "      <icon></icon>",
        f"      <text>{escape(text)}</text>",
        f"      <whatsThis>{tip}</whatsThis>",
        f"      <toolTip>{tip}</toolTip>",
        f"      <iconText>{escape(plain_text(text))}</iconText>",
        f"      <activationFlags>{ACTIVATION_FLAGS}</activationFlags>",
        "      <activationConditions>0</activationConditions>",
        "      <shortcut></shortcut>",
        "      <isCheckable>false</isCheckable>",
        f"      <statusTip>{tip}</statusTip>",
        "    </Action>",
    ]


def action_file(specs: Iterable[Any]) -> str:
    """Return the ``.action`` file for `specs` (texts, tooltips, activation).

    Krita reads it from ``<resource folder>/actions/``; its shortcut editor
    lists the actions under "Photo Restoration".
    """
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        "<!-- Generated from photomend's operation registry by",
        "     photomend_krita.actions.action_file(); do not edit. -->",
        '<ActionCollection version="2" name="Scripts">',
        '  <Actions category="Photo Restoration">',
        "    <text>Photo Restoration</text>",
    ]
    for spec in specs:
        lines += _action_xml(spec)
    lines += ["  </Actions>", "</ActionCollection>", ""]
    return "\n".join(lines)


def checked_in_path() -> Path:
    """Return the path of the checked-in ``.action`` file (next to this package)."""
    return Path(__file__).resolve().parent.parent / ACTION_FILE


def main(argv: list[str] | None = None) -> int:
    """Write (``--write``) or verify (``--check``) the checked-in ``.action`` file."""
    import photomend

    args = sys.argv[1:] if argv is None else argv
    path = checked_in_path()
    text = action_file(photomend.operations())
    if args == ["--write"]:
        path.write_text(text, encoding="utf-8", newline="\n")
        print(f"wrote {path}")
        return 0
    if args == ["--check"]:
        current = path.read_text(encoding="utf-8") if path.exists() else ""
        if current == text:
            return 0
        print(f"{path} is stale: regenerate it with --write", file=sys.stderr)
        return 1
    print("usage: python -m photomend.plugins.krita.photomend_krita.actions --write|--check",
          file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
