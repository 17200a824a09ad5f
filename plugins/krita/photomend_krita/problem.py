"""Stand-in Extension when photomend cannot start (e.g. numpy missing in Krita's Python).

Imports neither photomend nor numpy: it must work exactly when they fail.
"""

from __future__ import annotations

import traceback
from typing import Any

from krita import Extension, Krita
from PyQt5.QtCore import QTimer
from PyQt5.QtWidgets import QMessageBox

from . import actions


class ProblemExtension(Extension):
    """Explains the problem once after start and from Filter ▸ "photomend: Setup Problem…"."""

    def __init__(self, parent: Any, problem: str) -> None:
        super().__init__(parent)
        self.problem = problem
        self.shown = False

    def setup(self) -> None:
        """Explain once, when the first window is up."""
        Krita.instance().notifier().windowCreated.connect(self._once)

    def _once(self) -> None:
        if not self.shown:
            self.shown = True
            QTimer.singleShot(0, self.explain)

    def createActions(self, window: Any) -> None:  # Krita's name
        """Add the menu entry where the operations would be."""
        try:
            action = window.createAction(f"{actions.PREFIX}setup_problem",
                                         "photomend: Setup Problem...", actions.MENU_PARENT)
            action.triggered.connect(self.explain)
        except Exception:  # never stop Krita's start
            traceback.print_exc()

    def explain(self, *_: Any) -> None:
        """Show the problem in a non-modal message box."""
        try:
            window = Krita.instance().activeWindow()
            box = QMessageBox(QMessageBox.Warning, "photomend", self.problem, QMessageBox.Ok,
                              None if window is None else window.qwindow())
            box.setObjectName("photomend-problem")
            box.open()
        except Exception:  # a slot must not raise inside Krita
            traceback.print_exc()
