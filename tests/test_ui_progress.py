"""photomend.ui.run_with_progress: a worker thread behind a progress dialog that cancels."""

from __future__ import annotations

import os
import threading
import time

import pytest

os.environ["QT_QPA_PLATFORM"] = "offscreen"  # before any QApplication exists
pytest.importorskip("PyQt5.QtWidgets")
pytest.importorskip("pytestqt")

from PyQt5.QtCore import QTimer
from PyQt5.QtWidgets import QProgressDialog, QPushButton, QWidget

import photomend
from photomend import Cancelled
from photomend.ui import ensure_app, run_with_progress


@pytest.fixture
def window(qtbot):
    widget = QWidget()
    qtbot.addWidget(widget)
    return widget


def test_run_with_progress_returns_the_result(window):
    seen = []

    def job(progress):
        for i in range(5):
            progress.update(i / 5)
        seen.append(threading.current_thread() is threading.main_thread())
        return 42

    assert run_with_progress(window, "Working", job, delay_ms=0) == 42
    assert seen == [False]  # ran on a worker thread
    assert not [d for d in window.findChildren(QProgressDialog) if d.isVisible()]


def test_progress_dialog_cancel_really_cancels(window):
    steps = []

    def job(progress):
        for i in range(400):  # 2 s unless cancelled
            time.sleep(0.005)
            steps.append(i)
            progress.update(i / 400)
        return "finished"

    def press_cancel():
        dialog = window.findChild(QProgressDialog, "photomend-progress")
        assert dialog is not None and dialog.isVisible()
        assert dialog.value() > 0  # progress arrives while the job runs
        dialog.findChild(QPushButton).click()

    QTimer.singleShot(150, press_cancel)
    t0 = time.perf_counter()
    with pytest.raises(Cancelled):
        run_with_progress(window, "Working", job, delay_ms=0)
    assert time.perf_counter() - t0 < 1.5
    assert len(steps) < 400


def test_run_with_progress_reraises_job_errors(window):
    def job(progress):
        raise photomend.ParameterError("radius must be 0.1 to 100 px, got 0 px")

    with pytest.raises(photomend.ParameterError, match="got 0 px"):
        run_with_progress(window, "Working", job)


def test_ensure_app_returns_the_running_application(qapp):
    assert ensure_app() is qapp


def test_a_job_that_never_reports_still_finishes(window):
    def job(progress):
        time.sleep(0.05)
        return threading.current_thread().name

    assert run_with_progress(window, "Quiet", job, delay_ms=0) != threading.main_thread().name
