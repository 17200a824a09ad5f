"""Qt dialogs shared by the Krita and GIMP plug-ins and other Qt hosts.

This is the only place in photomend that imports PyQt5, and it does so
lazily: importing :mod:`photomend.ui` costs nothing and needs no Qt; the Qt
modules load when one of the names below is first used. Nothing here knows
a host: dialogs receive pixels (an :class:`~photomend.image.Image` and an
optional mask) and callbacks, never a GIMP or Krita object.

A host uses it like this (in Krita ``parent`` is
``Krita.instance().activeWindow().qwindow()``; a GIMP plug-in needs no
parent, :func:`ensure_app` creates the QApplication)::

    from photomend import ui

    def write(result, box, output):           # GUI thread, after the run
        with host.undo_group(spec.plain_label):
            host.write(box, result, new_layer=spec.plain_label
                       if output == "new-layer" else None)

    ui.ask_and_apply(spec, image, mask, write, parent=parent,
                     blends_selection=host.blends_selection)

or step by step::

    dialog = ui.FilterDialog(spec, image, mask, parent)
    if dialog.exec_() == dialog.Accepted:
        params, output = dialog.values(), dialog.output
        result = ui.run_with_progress(        # raises Cancelled on Cancel
            parent, spec.plain_label,
            lambda progress: photomend.run(spec.id, image, mask, progress, **params))

The job given to :func:`run_with_progress` runs on a worker thread: read
pixels before and write the result after, never call the host from it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .dialog import FilterDialog, ask_and_apply
    from .messages import show_error
    from .preview import PreviewCanvas, PreviewController
    from .progress import ensure_app, run_with_progress
    from .settings import Settings, default_settings_path

__all__ = [
    "FilterDialog",
    "PreviewCanvas",
    "PreviewController",
    "Settings",
    "ask_and_apply",
    "default_settings_path",
    "ensure_app",
    "run_with_progress",
    "show_error",
]

_WHERE = {
    "FilterDialog": "dialog",
    "ask_and_apply": "dialog",
    "show_error": "messages",
    "PreviewCanvas": "preview",
    "PreviewController": "preview",
    "ensure_app": "progress",
    "run_with_progress": "progress",
    "Settings": "settings",
    "default_settings_path": "settings",
}


def __getattr__(name: str) -> Any:
    # PEP 562: import the (Qt-using) submodule only when a name is used.
    module = _WHERE.get(name)
    if module is None:
        msg = f"module 'photomend.ui' has no attribute {name!r}"
        raise AttributeError(msg)
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


def __dir__() -> list[str]:
    return sorted(__all__)
