"""Error reporting: core errors in the core's words, nothing escapes a slot.

An exception leaving a Qt slot aborts a plain PyQt5 application and, inside
Krita, opens a blocking modal error window (see ``docs/hosts.md``). Every
slot and event handler in :mod:`photomend.ui` is therefore wrapped in
:func:`guarded`, which shows the error instead.
"""

from __future__ import annotations

import functools
import sys
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

from PyQt5.QtCore import Qt
from PyQt5.QtWidgets import QMessageBox, QWidget

from ..errors import Cancelled, PhotomendError

__all__ = ["guarded", "note_unexpected", "show_error", "unexpected_error_hooks"]

F = TypeVar("F", bound=Callable[..., Any])

#: Called with every unexpected (non-core) exception the dialogs catch so
#: that it cannot escape a slot. The user sees a message box; tests append a
#: recorder here, so a bug swallowed for the user still fails them.
unexpected_error_hooks: list[Callable[[BaseException], None]] = []


def note_unexpected(error: BaseException) -> None:
    """Pass an unexpected exception to :data:`unexpected_error_hooks`."""
    for hook in list(unexpected_error_hooks):
        hook(error)


def show_error(parent: QWidget | None, error: BaseException, *, wait: bool = True,
               title: str = "photomend") -> QMessageBox:
    """Show `error` in a message box and return the box.

    A :class:`~photomend.errors.PhotomendError` is shown with the core's
    own wording, which is written for the user. Anything else is a bug: it
    is shown as an unexpected error with its traceback under "Show
    Details…", and the traceback is also printed to standard error.

    Parameters
    ----------
    parent : QWidget or None
        Window the box belongs to.
    error : BaseException
        What went wrong.
    wait : bool
        Run the box modally and return when the user closes it (default);
        False opens it window-modal and returns at once (used from slots,
        so a running preview keeps running).
    title : str
        Window title.
    """
    box = QMessageBox(parent)
    box.setObjectName("photomend-error")
    box.setWindowTitle(title)
    if isinstance(error, PhotomendError):
        box.setIcon(QMessageBox.Warning)
        box.setText(str(error))
    else:
        details = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        print(details, file=sys.stderr, end="")
        box.setIcon(QMessageBox.Critical)
        box.setText(f"Unexpected error: {type(error).__name__}: {error}")
        box.setInformativeText("This is a bug in photomend; please report it with the details.")
        box.setDetailedText(details)
    box.setStandardButtons(QMessageBox.Ok)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
    if wait:
        box.exec_()
    else:
        box.setWindowModality(Qt.WindowModality.WindowModal)
        box.open()
    return box


def guarded(method: F) -> F:
    """Wrap a slot or event handler of a widget so no exception escapes it.

    :class:`~photomend.errors.Cancelled` is ignored (the user asked for
    it); other errors go to the widget's ``report_error(error)`` if it has
    one, else to :func:`show_error` without waiting.
    """

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except Cancelled:
            return None
        except Exception as error:
            try:
                if not isinstance(error, PhotomendError):
                    note_unexpected(error)
                report = getattr(self, "report_error", None)
                if callable(report):
                    report(error)
                else:
                    show_error(self if isinstance(self, QWidget) else None, error, wait=False)
            except Exception:
                traceback.print_exc()
            return None

    return wrapper  # type: ignore[return-value]
