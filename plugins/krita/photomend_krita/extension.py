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
from PyQt5.QtCore import QTimer
from PyQt5.QtWidgets import QMenu, QMessageBox

from photomend import registry, ui
from photomend.errors import ImageError, PhotomendError
from photomend.hosts.apply import plan_region, write_report, write_result
from photomend.hosts.base import Box

from . import actions
from .host import KritaHost, find_helper


def _window() -> Any:
    window = Krita.instance().activeWindow()
    return None if window is None else window.qwindow()


def _submenu(window: Any, action_id: str, text: str, location: str) -> None:
    # Window.createAction only finds existing menus; give the action one so
    # the operations below can be placed in it.
    action = window.createAction(action_id, text, location)
    action.setMenu(QMenu(text, window.qwindow()))


class UndoCompanion:
    """Make one Undo or Redo take back (or redo) a whole in-place change.

    An in-place write is two undo steps, "Add Layer" (a hidden helper) and
    "Merge Down" (see :mod:`.host`). After Krita's Undo or Redo has run, the
    companion looks for the hidden helper: if it is there, the document
    sits between the two steps, and the same action runs once more. It
    watches the window's ``edit_undo``/``edit_redo`` actions, which the
    menu entries, toolbar buttons and shortcuts all trigger.

    It steps again only when the helper has just appeared, never twice in
    a row, so a helper reached another way (the Undo History docker) costs
    the user no extra steps.
    """

    ACTIONS = ("edit_undo", "edit_redo")

    def __init__(self) -> None:
        self._watched: list[Any] = []
        self._helper_seen: dict[str, bool] = {}

    def watch(self) -> None:
        """Follow the current window's Undo and Redo actions (once each)."""
        for name in self.ACTIONS:
            action = Krita.instance().action(name)
            if action is None or any(action is seen for seen in self._watched):
                continue
            action.triggered.connect(functools.partial(self._after, name))
            self._watched.append(action)

    def forget(self, document: Any) -> None:
        """Note that `document` has no helper now (after a write)."""
        self._helper_seen[document.rootNode().uniqueId().toString()] = False

    def _after(self, name: str, *_: Any) -> None:
        # Krita's own slot ran first (it was connected first); its strokes
        # may still be running, so look once the event loop is back.
        QTimer.singleShot(0, functools.partial(self._complete, name))

    @staticmethod
    def _step_over(doc: Any, helper: Any, name: str) -> None:
        # The helper sits just above the layer it merges into; that layer
        # (the original after Undo, the merged one after Redo) ends up at
        # the helper's place minus one and becomes the active layer again,
        # which Krita leaves unset after removing the active helper.
        parent = helper.parentNode()
        below = [child.uniqueId() for child in parent.childNodes()].index(helper.uniqueId()) - 1
        Krita.instance().action(name).trigger()
        doc.waitForDone()
        target = parent.childNodes()[below] if below >= 0 else None
        if target is not None:
            doc.setActiveNode(target)
            QTimer.singleShot(0, functools.partial(doc.setActiveNode, target))

    def _complete(self, name: str) -> None:
        try:
            doc = Krita.instance().activeDocument()
            if doc is None:
                return
            doc.waitForDone()
            key = doc.rootNode().uniqueId().toString()
            present = find_helper(doc.rootNode()) is not None
            seen, self._helper_seen[key] = self._helper_seen.get(key, False), present
            if present and not seen:
                self._step_over(doc, find_helper(doc.rootNode()), name)
        except Exception:  # see the module notes
            traceback.print_exc()


#: The one companion of this Krita process.
UNDO = UndoCompanion()


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
        layers = host.layer_sources()
    except PhotomendError as error:
        ui.show_error(parent, error, title=spec.plain_label)
        return None

    def write(changed: Any, box: Box, output: Any) -> None:
        UNDO.watch()
        write_result(host, spec, box, changed, output)
        UNDO.forget(host.document)

    def add_report(report: Any, box: Box) -> None:
        write_report(host, spec, box, report)  # each mask layer: one Add Layer

    return ui.ask_and_apply(spec, image, mask, write, parent=parent,
                            blends_selection=host.blends_selection, write_report=add_report,
                            layers=layers)


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
