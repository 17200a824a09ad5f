"""The Krita Extension: one action per photomend operation, each opening its dialog.

Actions and menus come from the registry (:mod:`.actions`); the dialog,
preview, progress and error boxes from :mod:`photomend.ui`; pixels move
through :class:`~.host.KritaHost`. An exception leaving a Qt slot would
open Krita's blocking error window, so every slot catches everything.
"""

from __future__ import annotations

import functools
import traceback
from typing import Any

from krita import Extension, Krita
from PyQt5.QtWidgets import QMenu, QMessageBox

from photomend import registry, ui
from photomend.errors import ImageError, PhotomendError
from photomend.hosts.apply import plan_region, write_result
from photomend.hosts.base import Box

from . import actions
from .host import KritaHost


def _window() -> Any:
    window = Krita.instance().activeWindow()
    return None if window is None else window.qwindow()


def _submenu(window: Any, action_id: str, text: str, location: str) -> None:
    # Window.createAction only finds existing menus; give the action one so
    # the operations below can be placed in it.
    action = window.createAction(action_id, text, location)
    action.setMenu(QMenu(text, window.qwindow()))


def open_dialog(op_id: str) -> Any:
    """Run `op_id` on the active layer: dialog, preview, progress, undoable write.

    Returns what was written (None when cancelled or refused); core errors
    are shown in a message box, never raised.
    """
    spec = registry.get(op_id)
    parent = _window()
    try:
        doc = Krita.instance().activeDocument()
        if doc is None:
            msg = "open an image first"
            raise ImageError(msg)
        host = KritaHost(doc, notify=lambda text: QMessageBox.information(parent, "photomend",
                                                                          text))
        plan_region(host, spec, spec.defaults())  # refuses a missing or empty selection
        width, height = host.size()
        whole = Box(0, 0, width, height)
        image = host.read(whole)
        mask = host.selection(whole) if host.selection_bounds() is not None else None
    except PhotomendError as error:
        ui.show_error(parent, error, title=spec.plain_label)
        return None

    def write(changed: Any, box: Box, output: Any) -> None:
        write_result(host, spec, box, changed, output)

    return ui.ask_and_apply(spec, image, mask, write, parent=parent,
                            blends_selection=host.blends_selection)


class PhotomendExtension(Extension):
    """Adds Filter ▸ Photo Restoration ▸ <group> ▸ <operation>… to every window."""

    def __init__(self, parent: Any) -> None:
        super().__init__(parent)

    def setup(self) -> None:
        """Nothing to prepare: actions are created per window."""

    def createActions(self, window: Any) -> None:  # Krita's name
        """Create the menu tree and one action per registered operation."""
        try:
            _submenu(window, actions.MENU_ID, actions.MENU_TEXT, actions.MENU_PARENT)
            for group in actions.menu_groups(registry.operations()):
                _submenu(window, group.id, group.text, group.location)
                for spec in group.specs:
                    action = window.createAction(actions.action_id(spec),
                                                 actions.action_text(spec),
                                                 actions.action_location(group))
                    action.setToolTip(spec.summary)
                    action.triggered.connect(functools.partial(self.run, spec.id))
        except Exception:  # a failure here must not stop Krita's start
            traceback.print_exc()

    def run(self, op_id: str, *_: Any) -> None:
        """Slot of every action: open the dialog, never let an exception escape."""
        try:
            open_dialog(op_id)
        except Exception as error:  # see the module notes
            try:
                ui.show_error(_window(), error)
            except Exception:
                traceback.print_exc()
