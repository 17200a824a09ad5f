"""Run long jobs off the GUI thread behind a progress dialog that cancels.

Krita has no progress API for plug-ins (``docs/hosts.md``), and a job run on
the GUI thread freezes the window; :func:`run_with_progress` runs the job on
a worker thread, shows a :class:`QProgressDialog`, keeps the interface
responsive with a local event loop, and turns Cancel into
:meth:`Progress.cancel <photomend.progress.Progress.cancel>`, which the core
honours at its next progress report.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar

from PyQt5.QtCore import QEventLoop, Qt, QThread, pyqtSignal
from PyQt5.QtWidgets import QApplication, QProgressDialog, QWidget

from ..progress import Progress

__all__ = ["ensure_app", "run_with_progress"]

T = TypeVar("T")

#: Steps of the progress bar.
_STEPS = 1000
_app: QApplication | None = None


def ensure_app() -> QApplication:
    """Return the running QApplication, creating one if there is none.

    Krita has one; a GIMP plug-in process or a script does not, and Qt
    widgets need one.
    """
    global _app
    app = QApplication.instance()
    if app is None:
        _app = QApplication([sys.argv[0] if sys.argv and sys.argv[0] else "photomend"])
        return _app
    assert isinstance(app, QApplication)
    return app


class _Worker(QThread):
    """Runs ``fn(progress)`` and keeps its result or exception."""

    fraction = pyqtSignal(float)

    def __init__(self, fn: Callable[[Progress], Any]) -> None:
        super().__init__()
        self.fn = fn
        self.result: Any = None
        self.error: BaseException | None = None
        self._last = -1
        self.progress = Progress(self._report)

    def _report(self, fraction: float) -> None:
        # Called on the worker thread; the signal is queued to the GUI.
        step = int(fraction * _STEPS)
        if step != self._last:
            self._last = step
            self.fraction.emit(fraction)

    def run(self) -> None:
        """Run the job; never let an exception leave the thread."""
        try:
            self.result = self.fn(self.progress)
        except BaseException as error:  # re-raised on the caller's thread
            self.error = error


def run_with_progress(parent: QWidget | None, label: str, fn: Callable[[Progress], T], *,
                      delay_ms: int = 400, cancel_text: str = "Cancel") -> T:
    """Run ``fn(progress)`` on a worker thread behind a progress dialog.

    Parameters
    ----------
    parent : QWidget or None
        Window the progress dialog belongs to (in Krita
        ``Krita.instance().activeWindow().qwindow()``).
    label : str
        Text above the bar, e.g. the operation's label.
    fn : callable
        The job: receives a :class:`~photomend.progress.Progress` to pass
        to :func:`photomend.run` (or to report through). It runs on a worker
        thread, so it must not touch widgets or host objects: read pixels
        before, write the result after.
    delay_ms : int
        The dialog appears only if the job takes longer than this.
    cancel_text : str
        Text of the cancel button.

    Returns
    -------
    object
        What `fn` returned.

    Raises
    ------
    Cancelled
        When the user pressed Cancel (or closed the dialog) and the job
        stopped.
    Exception
        Whatever `fn` raised, with its traceback.
    """
    ensure_app()
    dialog = QProgressDialog(label, cancel_text, 0, _STEPS, parent)
    dialog.setObjectName("photomend-progress")
    dialog.setWindowTitle(label)
    dialog.setWindowModality(Qt.WindowModality.WindowModal if parent is not None
                             else Qt.WindowModality.ApplicationModal)
    dialog.setAutoClose(False)
    dialog.setAutoReset(False)
    dialog.setMinimumDuration(max(0, int(delay_ms)))
    worker = _Worker(fn)
    progress = worker.progress
    dialog.canceled.connect(progress.cancel)
    loop = QEventLoop()
    worker.finished.connect(loop.quit)
    worker.fraction.connect(lambda fraction: dialog.setValue(round(fraction * _STEPS)))
    dialog.setValue(0)
    worker.start()
    try:
        if not worker.isFinished():
            loop.exec_()
    finally:
        if not worker.isFinished():  # left the loop early (application quitting)
            progress.cancel()
        worker.wait()
        dialog.canceled.disconnect(progress.cancel)
        dialog.hide()
        dialog.deleteLater()
    if worker.error is not None:
        raise worker.error
    return worker.result
