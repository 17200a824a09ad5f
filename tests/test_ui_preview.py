"""photomend.ui live preview, and ask_and_apply (what the preview showed is written)."""

from __future__ import annotations

import os
import threading
import time
from typing import Annotated

import numpy as np
import pytest
from scipy import ndimage

os.environ["QT_QPA_PLATFORM"] = "offscreen"  # before any QApplication exists
pytest.importorskip("PyQt5.QtWidgets")
pytest.importorskip("pytestqt")

from PyQt5.QtCore import QPoint, QPointF, Qt, QTimer
from PyQt5.QtGui import QMouseEvent, QWheelEvent
from PyQt5.QtWidgets import (
    QApplication,
    QMessageBox,
)

import photomend
from photomend import Cancelled, Param, Progress, registry
from photomend.hosts.base import Box
from photomend.ui import FilterDialog, ask_and_apply, messages
from photomend.ui.preview import crop, same_values

SLOW_STEPS = 100
SLOW_STEP_S = 0.005


@pytest.fixture(autouse=True)
def fail_on_swallowed_errors():
    """Slots show unexpected errors instead of raising; a test must still fail on them."""
    caught: list[BaseException] = []
    messages.unexpected_error_hooks.append(caught.append)
    yield
    messages.unexpected_error_hooks.remove(caught.append)
    assert not caught, f"unexpected errors caught in slots: {caught!r}"


def _photo(height, width, seed=3):
    rng = np.random.default_rng(seed)
    noise = rng.random((height, width, 3), dtype=np.float32)
    smooth = ndimage.gaussian_filter(noise, sigma=(3, 3, 0))
    smooth = (smooth - smooth.min()) / (smooth.max() - smooth.min())
    return photomend.Image.from_array(smooth.astype(np.float32))


@pytest.fixture
def image():
    return _photo(96, 128)


@pytest.fixture
def big_image():
    return _photo(300, 400)


@pytest.fixture
def make_dialog(qtbot, tmp_path):
    made = []

    def make(op_id, image, mask=None, *, show=True):
        dialog = FilterDialog(photomend.get_operation(op_id), image, mask,
                              settings_path=tmp_path / "ui.json")
        dialog.preview.delay_ms = 5
        qtbot.addWidget(dialog)
        made.append(dialog)
        if show:
            dialog.show()
            qtbot.waitExposed(dialog)
        return dialog

    yield make
    for dialog in made:
        dialog.preview.shutdown()


@pytest.fixture
def fake_ops():
    """Register throw-away operations; the registry is restored afterwards."""
    photomend.operations()
    saved = dict(registry._REGISTRY)
    yield photomend.operation
    registry._REGISTRY.clear()
    registry._REGISTRY.update(saved)


def wait_for_preview(qtbot, dialog, timeout=5000):
    qtbot.waitUntil(lambda: not dialog.preview.busy and dialog.preview.result is not None,
                    timeout=timeout)
    return dialog.preview.result


def assert_wysiwyg(dialog):
    """The preview equals photomend.run on its region, and the final result seen there."""
    result = dialog.preview.result
    values = dialog.values()
    assert same_values(result.values, values)
    source, box = result.source_box, result.box
    mask = dialog.image_mask
    same_call = photomend.run(dialog.spec.id, crop(dialog.image, source),
                              None if mask is None else mask[source.slices], **values)
    inner = Box(box.x - source.x, box.y - source.y, box.width, box.height)
    np.testing.assert_array_equal(result.data.color, crop(same_call, inner).color)
    final = photomend.run(dialog.spec.id, dialog.image, mask, **values)
    np.testing.assert_allclose(result.data.color, crop(final, box).color, atol=1e-6)


# -- preview --------------------------------------------------------------------
def test_preview_follows_parameters_and_equals_run(make_dialog, image, qtbot):
    dialog = make_dialog("sharpen", image)
    result = wait_for_preview(qtbot, dialog)
    assert result.box == Box(0, 0, 128, 96)  # fits the canvas: the whole image
    assert_wysiwyg(dialog)
    with qtbot.waitSignal(dialog.preview.updated, timeout=5000):
        dialog.editors["radius"].slider.setValue(39)  # 4.0 px
    assert dialog.preview.result.values["radius"] == pytest.approx(4.0)
    assert_wysiwyg(dialog)
    assert dialog.preview.result.data.color.shape == (96, 128, 3)


def test_preview_of_a_zoomed_region_with_a_feathered_mask(make_dialog, big_image, qtbot):
    mask = np.zeros((300, 400), dtype=np.float32)
    mask[60:240, 80:330] = 1.0
    mask = ndimage.gaussian_filter(mask, 4.0)
    dialog = make_dialog("sharpen", big_image, mask)
    dialog.set_values({"radius": 3.0, "amount": 1.5})
    dialog.set_zoom(4.0)
    dialog.canvas.center_on(200, 150)
    wait_for_preview(qtbot, dialog)
    result = dialog.preview.result
    view = dialog.canvas.visible_box()
    assert (result.box.width, result.box.height) < (400, 300)  # a region, not everything
    assert result.box.x <= view.x and result.box.x + result.box.width >= view.x + view.width
    halo = dialog.spec.halo(dialog.values())
    assert result.source_box.x == max(0, result.box.x - halo)
    assert_wysiwyg(dialog)

    # drag to pan far enough that a new region is computed
    canvas = dialog.canvas
    start, end = QPointF(200, 200), QPointF(470, 330)
    before = canvas.visible_box()
    jobs = dialog.preview.jobs_started
    QApplication.sendEvent(canvas, QMouseEvent(
        QMouseEvent.MouseButtonPress, start, Qt.MouseButton.LeftButton,
        Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier))
    QApplication.sendEvent(canvas, QMouseEvent(
        QMouseEvent.MouseMove, end, Qt.MouseButton.NoButton,
        Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier))
    QApplication.sendEvent(canvas, QMouseEvent(
        QMouseEvent.MouseButtonRelease, end, Qt.MouseButton.LeftButton,
        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier))
    after = canvas.visible_box()
    assert after.x < before.x and after.y < before.y  # content follows the pointer
    qtbot.waitUntil(lambda: dialog.preview.jobs_started > jobs and not dialog.preview.busy,
                    timeout=5000)
    assert dialog.preview.result.box.x <= after.x
    assert_wysiwyg(dialog)

    # the wheel zooms around the pointer
    wheel = QWheelEvent(QPointF(100, 100), QPointF(100, 100), QPoint(0, 0), QPoint(0, 120),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
                        Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(canvas, wheel)
    assert canvas.zoom == pytest.approx(5.0)
    assert dialog.zoom_label.text() == "500%"
    dialog.zoom_buttons["Fit"].click()
    assert canvas.is_fit
    assert canvas.visible_box() == Box(0, 0, 400, 300)
    dialog.zoom_buttons["100%"].click()
    assert canvas.zoom == 1.0


def test_before_after_and_split_view(make_dialog, fake_ops, qtbot):
    @fake_ops("test-ui-white", label="White", menu="Test", local=True, halo=0)
    def white(image: np.ndarray, *,
              level: Annotated[float, Param("Grey level.", min=0.0, max=1.0)] = 1.0,
              ) -> np.ndarray:
        """Paint everything one grey level."""
        return np.full_like(image, level)

    black = photomend.Image.from_array(np.zeros((96, 128, 3), dtype=np.float32))
    dialog = make_dialog("test-ui-white", black)
    wait_for_preview(qtbot, dialog)
    canvas = dialog.canvas
    w, h = canvas.width(), canvas.height()

    def grey_at(fraction_x):
        shot = canvas.grab().toImage()
        scale = shot.width() / w
        return shot.pixelColor(int(fraction_x * w * scale), int(h / 2 * scale)).red()

    assert grey_at(0.25) == 255 and grey_at(0.75) == 255  # after
    dialog.view_combo.setCurrentIndex(dialog.view_combo.findData("before"))
    assert canvas.mode == "before"
    assert grey_at(0.25) == 0 and grey_at(0.75) == 0
    dialog.view_combo.setCurrentIndex(dialog.view_combo.findData("split"))
    assert grey_at(0.25) == 0 and grey_at(0.75) == 255
    canvas.set_split(0.9)
    assert grey_at(0.75) == 0


def test_busy_indicator_while_computing(make_dialog, image, qtbot):
    dialog = make_dialog("sharpen", image)
    wait_for_preview(qtbot, dialog)
    assert not dialog.busy_bar.isVisible()
    with qtbot.waitSignal(dialog.preview.updated, timeout=5000):
        dialog.set_values({"amount": 2.0})
        assert dialog.preview.busy
        assert dialog.busy_bar.isVisible()
        assert dialog.status_label.text() == "Computing preview…"
    assert not dialog.preview.busy
    assert not dialog.busy_bar.isVisible()


def test_changing_parameters_cancels_the_running_preview(make_dialog, image, fake_ops,
                                                         qtbot):
    log = []
    started = threading.Event()

    @fake_ops("test-ui-slow", label="Slow", menu="Test", local=True, halo=0)
    def slow(image: np.ndarray, *,
             level: Annotated[float, Param("Output level.", min=0.0, max=1.0, step=0.1)] = 0.5,
             progress: Progress | None = None) -> np.ndarray:
        """Take a while, reporting progress."""
        log.append(("start", level))
        started.set()
        try:
            for i in range(SLOW_STEPS):
                time.sleep(SLOW_STEP_S)
                progress.update(i / SLOW_STEPS)
        except Cancelled:
            log.append(("cancelled", level))
            raise
        log.append(("done", level))
        return np.full_like(image, level)

    dialog = make_dialog("test-ui-slow", image)
    qtbot.waitUntil(started.is_set, timeout=5000)
    t0 = time.perf_counter()
    with qtbot.waitSignal(dialog.preview.updated, timeout=5000):
        dialog.editors["level"].spin.setValue(0.9)
    assert ("cancelled", 0.5) in log
    assert ("done", 0.5) not in log
    assert log[-1] == ("done", 0.9)
    assert dialog.preview.jobs_cancelled >= 1
    np.testing.assert_array_equal(dialog.preview.result.data.color, np.float32(0.9))
    # the stale job stopped early instead of running to its end first
    assert time.perf_counter() - t0 < 2 * SLOW_STEPS * SLOW_STEP_S + 1.0


def test_results_of_stale_jobs_are_discarded(make_dialog, image, fake_ops, qtbot):
    entered, gate = threading.Event(), threading.Event()

    @fake_ops("test-ui-level", label="Level", menu="Test", local=True, halo=0)
    def level_op(image: np.ndarray, *,
                 level: Annotated[float, Param("Output level.", min=0.0, max=1.0,
                                               step=0.1)] = 0.5) -> np.ndarray:
        """Fill with one level."""
        if level == 0.2:
            entered.set()
            gate.wait(5)
        return np.full_like(image, level)

    dialog = make_dialog("test-ui-level", image)
    wait_for_preview(qtbot, dialog)
    shown = []
    dialog.preview.updated.connect(lambda: shown.append(dialog.preview.result.values["level"]))
    dialog.set_values({"level": 0.2})
    qtbot.waitUntil(entered.is_set, timeout=5000)
    # The job finishes while the GUI thread is busy, so its result waits in
    # the event queue; a newer request comes before it is delivered.
    gate.set()
    deadline = time.monotonic() + 5
    while dialog.preview._pool.activeThreadCount() and time.monotonic() < deadline:
        time.sleep(0.005)
    dialog.set_values({"level": 0.7})
    with qtbot.waitSignal(dialog.preview.updated, timeout=5000):
        pass
    assert dialog.preview.jobs_discarded == 1
    assert shown == [0.7]
    np.testing.assert_array_equal(dialog.preview.result.data.color, np.float32(0.7))


def test_big_images_open_at_100_percent_on_the_selection(make_dialog, qtbot):
    big = photomend.Image.from_array(np.zeros((700, 1000, 3), dtype=np.float32))
    mask = np.zeros((700, 1000), dtype=bool)
    mask[600:650, 800:900] = True
    dialog = make_dialog("sharpen", big, mask)
    assert dialog.canvas.zoom == 1.0
    view = dialog.canvas.visible_box()
    assert view.width < 1000
    assert view.x <= 850 <= view.x + view.width and view.y <= 625 <= view.y + view.height
    result = wait_for_preview(qtbot, dialog)
    assert result.box.width < 1000  # the visible region, not the whole image


def test_preview_resumes_when_the_dialog_is_shown_again(make_dialog, image, qtbot):
    dialog = make_dialog("sharpen", image)
    wait_for_preview(qtbot, dialog)
    dialog.reject()
    assert dialog.preview.stopped
    dialog.set_values({"radius": 6.0})
    with qtbot.waitSignal(dialog.preview.updated, timeout=5000):
        dialog.show()
    assert dialog.preview.result.values["radius"] == 6.0


def test_preview_can_be_turned_off(make_dialog, image, qtbot):
    dialog = make_dialog("sharpen", image)
    wait_for_preview(qtbot, dialog)
    dialog.preview_check.setChecked(False)
    jobs = dialog.preview.jobs_started
    assert dialog.preview.result is None
    dialog.set_values({"radius": 5.0})
    qtbot.wait(30)
    assert dialog.preview.jobs_started == jobs
    with qtbot.waitSignal(dialog.preview.updated, timeout=5000):
        dialog.preview_check.setChecked(True)
    assert dialog.preview.result.values["radius"] == 5.0


def test_core_errors_in_the_preview_are_shown_in_place(make_dialog, image, qtbot):
    dialog = make_dialog("inpaint", image)  # a repair operation without damage mask
    qtbot.waitUntil(lambda: dialog.preview.error is not None, timeout=5000)
    expected = "inpaint needs a mask (or selection) marking what to repair"
    assert dialog.status_label.text() == expected
    assert not [b for b in dialog.findChildren(QMessageBox) if b.isVisible()]


def test_non_local_operations_preview_the_whole_context(make_dialog, big_image, qtbot):
    damage = np.zeros((300, 400), dtype=bool)
    damage[140:146, 150:260] = True  # a scratch crossing the edge of the view
    dialog = make_dialog("inpaint", big_image, damage)
    dialog.set_values({"method": "diffusion"})
    dialog.set_zoom(2.0)
    dialog.canvas.center_on(100, 150)
    wait_for_preview(qtbot, dialog, timeout=10000)
    result = dialog.preview.result
    assert result.source_box == Box(0, 0, 400, 300)
    assert_wysiwyg(dialog)


def test_detection_operations_preview_their_mask(make_dialog, image, fake_ops, qtbot):
    @fake_ops("test-ui-detect", label="Detect", menu="Test", output="mask", local=True, halo=1)
    def detect(image: np.ndarray, *,
               threshold: Annotated[float, Param("Brightness above which.", min=0.0,
                                                 max=1.0)] = 0.5) -> np.ndarray:
        """Find bright pixels."""
        return (image.mean(axis=-1) > threshold).astype(np.float32)

    dialog = make_dialog("test-ui-detect", image)
    result = wait_for_preview(qtbot, dialog)
    expected = photomend.run("test-ui-detect", image, threshold=0.5)
    np.testing.assert_array_equal(result.data, expected[result.box.slices])
    assert dialog.output == "new-layer" and not dialog.output_combo.isEnabled()


# -- ask_and_apply ---------------------------------------------------------------------
def _accept_when_previewed(dialog, previews: list) -> None:
    """Press OK once the live preview has finished; keep the preview shown in `previews`."""

    def accept() -> None:
        if dialog.preview.busy or dialog.preview.result is None:
            QTimer.singleShot(10, accept)
            return
        previews.append(dialog.preview.result)
        dialog.accept()

    QTimer.singleShot(0, accept)


def test_ask_and_apply_writes_what_the_preview_showed(qtbot, image, tmp_path):
    mask = np.zeros((96, 128), dtype=np.float32)
    mask[20:60, 30:90] = 1.0
    written = []
    previews = []

    def hook(dialog):
        dialog.preview.delay_ms = 5
        dialog.set_values({"radius": 1.5, "amount": 1.0})
        dialog.output = "new-layer"
        _accept_when_previewed(dialog, previews)

    result = ask_and_apply(photomend.get_operation("sharpen"), image, mask,
                           lambda res, box, output: written.append((res, box, output)),
                           settings_path=tmp_path / "ui.json", dialog_hook=hook)
    (changed, box, output), = written
    assert output == "new-layer"
    assert changed is result
    halo = photomend.get_operation("sharpen").halo({"radius": 1.5})
    assert box == Box(30 - halo, 20 - halo, 60 + 2 * halo, 40 + 2 * halo)
    full = photomend.run("sharpen", image, mask, radius=1.5, amount=1.0)
    np.testing.assert_array_equal(changed.color, crop(full, box).color)
    shown = previews[0]
    np.testing.assert_allclose(shown.data.color, crop(full, shown.box).color, atol=1e-6)


def _message_closer(seen: list[str]):
    """Return a timer callback that answers the next message box, keeping its text in `seen`."""

    def close() -> None:
        for widget in QApplication.topLevelWidgets():
            if isinstance(widget, QMessageBox) and widget.isVisible():
                seen.append(widget.text())
                widget.accept()
                return
        QTimer.singleShot(10, close)

    return close


def test_ask_and_apply_cancel_and_core_errors(qtbot, image, tmp_path):
    written = []
    messages_seen: list[str] = []
    close_message_boxes = _message_closer(messages_seen)

    def reject(dialog):
        QTimer.singleShot(0, dialog.reject)

    spec = photomend.get_operation("inpaint")
    assert ask_and_apply(spec, image, None, lambda *a: written.append(a),
                         settings_path=tmp_path / "ui.json", dialog_hook=reject) is None

    def accept(dialog):
        QTimer.singleShot(0, dialog.accept)
        QTimer.singleShot(0, close_message_boxes)

    assert ask_and_apply(spec, image, None, lambda *a: written.append(a),
                         settings_path=tmp_path / "ui.json", dialog_hook=accept) is None
    assert messages_seen == ["inpaint needs a mask (or selection) marking what to repair"]
    assert written == []


def test_report_layers_are_offered_where_declared_and_handed_to_the_host(
        qtbot, image, tmp_path, make_dialog):
    assert not make_dialog("sharpen", image).report_check.isVisibleTo(None)
    assert make_dialog("restore-photo", image).report_check.isVisibleTo(None)
    spec = photomend.get_operation("restore-photo")
    written, reports = [], []
    dusty = image.color.copy()
    for y, x in ((20, 30), (50, 90), (70, 40), (30, 100)):
        dusty[y:y + 3, x:x + 3] = 0.02  # dark specks for the dust finder
    image = image.with_color(dusty)

    def tick_and_accept(dialog):
        dialog.report_check.setChecked(True)
        QTimer.singleShot(0, dialog.accept)

    result = ask_and_apply(spec, image, None, lambda *a: written.append(a),
                           settings_path=tmp_path / "ui.json", dialog_hook=tick_and_accept,
                           write_report=lambda report, box: reports.append((report, box)))
    assert result is not None and len(written) == 1
    (report, box), = reports
    assert box == Box(0, 0, image.width, image.height)
    assert report["defects"].shape == (box.height, box.width)
    direct: dict = {}
    photomend.run("restore-photo", image, report=direct)
    assert report["defects"].any()
    np.testing.assert_array_equal(report["defects"], direct["defects"])  # the core's own
    assert report["noise_sigma"] >= 0 and [s["op"] for s in report["steps"]]

    def no_tick(dialog):  # without the host's callback the option is not offered
        assert not dialog.report_check.isVisibleTo(None)
        QTimer.singleShot(0, dialog.accept)

    assert ask_and_apply(spec, image, None, lambda *a: None,
                         settings_path=tmp_path / "ui.json", dialog_hook=no_tick) is not None


def test_the_steps_as_run_are_saved_as_a_recipe_that_replays_them(qtbot, image, tmp_path):
    from photomend.recipe import apply_recipe, load_recipe

    spec = photomend.get_operation("restore-photo")
    dusty = image.color.copy()
    for y, x in ((20, 30), (50, 90), (70, 40)):
        dusty[y:y + 3, x:x + 3] = 0.02
    image = image.with_color(dusty)
    path = tmp_path / "steps.json"
    written = []

    def hook(dialog):
        assert dialog.recipe_path is None  # nothing is saved unless asked
        dialog.set_values({"denoise_strength": 0.6})
        dialog.set_recipe_path(path)
        QTimer.singleShot(0, dialog.accept)

    result = ask_and_apply(spec, image, None, lambda *a: written.append(a),
                           settings_path=tmp_path / "ui.json", dialog_hook=hook)
    assert result is not None and len(written) == 1
    recipe = load_recipe(path)
    # restore-photo is saved as the steps it ran, with what it estimated
    ops = [step.op for step in recipe.steps]
    assert "restore-photo" not in ops and ops[0] == "remove-defects"
    replayed = apply_recipe(image, recipe)
    np.testing.assert_allclose(replayed.color, result.color, atol=1e-6)

    def no_recipe(dialog):
        dialog.set_recipe_path(path)
        dialog.recipe_clear.click()
        assert dialog.recipe_path is None
        QTimer.singleShot(0, dialog.accept)

    path.unlink()
    assert ask_and_apply(spec, image, None, lambda *a: None,
                         settings_path=tmp_path / "ui.json", dialog_hook=no_recipe) is not None
    assert not path.exists()


def test_a_recipe_that_cannot_be_written_is_reported(qtbot, image, tmp_path):
    seen: list[str] = []
    close_message_boxes = _message_closer(seen)

    def hook(dialog):
        dialog.set_recipe_path(tmp_path / "missing" / "steps.json")
        QTimer.singleShot(0, dialog.accept)
        QTimer.singleShot(0, close_message_boxes)

    written = []
    result = ask_and_apply(photomend.get_operation("sharpen"), image, None,
                           lambda *a: written.append(a), settings_path=tmp_path / "ui.json",
                           dialog_hook=hook)
    assert result is not None and len(written) == 1  # the result itself is written
    assert len(seen) == 1 and "the recipe was not saved to" in seen[0]


def test_ask_and_apply_runs_with_the_layer_chosen(qtbot, image, tmp_path):
    """remove-defects fills exactly the stroke painted on another layer, preview included."""
    from photomend.hosts.layers import LayerSource

    h, w = image.height, image.width
    stroke = np.zeros((h, w), np.float32)
    stroke[30:34, 20:90] = 1.0
    red = np.zeros((h, w, 3), np.float32)
    red[..., 0] = 1.0  # like a detection layer: one colour, opacity = mask
    layer = photomend.Image(color=red, alpha=stroke, dtype=np.dtype(np.uint8))
    written, previews = [], []

    def hook(dialog):
        dialog.preview.delay_ms = 5
        dialog.set_values({"damage": "Dust (touched up)"})
        _accept_when_previewed(dialog, previews)

    spec = photomend.get_operation("remove-defects")
    result = ask_and_apply(spec, image, None, lambda *a: written.append(a),
                           settings_path=tmp_path / "ui.json", dialog_hook=hook,
                           layers=[LayerSource("5", "Dust (touched up)", lambda: layer)])
    assert result is not None and len(written) == 1
    expected = photomend.run("remove-defects", image, damage=stroke)
    np.testing.assert_array_equal(result.color, expected.color)
    outside = stroke == 0
    np.testing.assert_array_equal(result.color[outside], image.color[outside])
    assert not np.array_equal(result.color[~outside], image.color[~outside])
    np.testing.assert_array_equal(previews[0].values["damage"], stroke)
