"""Live preview: the real result on the visible part of the image.

What you see is what you get: the preview runs :func:`photomend.run` (the
engine every host uses for the final result) with the same parameters and
mask, at full resolution, on the visible region grown by the operation's
context margin (:meth:`~photomend.registry.OperationSpec.halo`). Only the
display is scaled. Operations that need the whole image (not local, no
halo, or an image-wide ``prepare`` estimate) are computed on the whole
image, which the engine crops to the mask exactly as in the final run.

Work runs on a private thread pool so the dialog never freezes. Every new
request (a parameter or view change) starts a new *generation*: the running
job is cancelled through its :class:`~photomend.progress.Progress` and any
result a stale job still delivers is dropped.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from PyQt5.QtCore import (
    QObject,
    QPointF,
    QRectF,
    QRunnable,
    Qt,
    QThreadPool,
    QTimer,
    pyqtSignal,
)
from PyQt5.QtGui import QBrush, QColor, QImage, QPainter, QPen, QPixmap
from PyQt5.QtWidgets import QWidget

from .. import convert, engine
from ..errors import Cancelled, PhotomendError
from ..hosts.base import Box, grow_box
from ..image import Image
from ..progress import Progress
from ..registry import OperationSpec
from .messages import guarded, note_unexpected

__all__ = [
    "PreviewCanvas",
    "PreviewController",
    "PreviewResult",
    "compute_preview",
    "crop",
    "display_rgba",
]

#: Overlay colour (RGB) and opacity for detection masks.
_MASK_TINT = np.array([255.0, 40.0, 40.0], dtype=np.float32)
_MASK_OPACITY = 0.65


# -- pure helpers (no widgets; run in worker threads) -----------------------
def crop(image: Image, box: Box) -> Image:
    """Return the part of `image` inside `box` (views, metadata kept)."""
    rows, cols = box.slices
    return replace(
        image, color=image.color[rows, cols],
        alpha=None if image.alpha is None else image.alpha[rows, cols],
        infrared=None if image.infrared is None else image.infrared[rows, cols])


def display_rgba(image: Image) -> np.ndarray:
    """Return `image` as display pixels: uint8 ``(H, W, 4)`` sRGB RGBA."""
    color = image.color
    if image.transfer != "perceptual":
        color = convert.to_transfer(color, image.transfer, "perceptual")
    if color.shape[-1] == 1:
        color = np.repeat(color, 3, axis=-1)
    alpha = (np.ones(color.shape[:2], dtype=np.float32) if image.alpha is None
             else image.alpha)
    rgba = np.concatenate([color, alpha[..., None]], axis=-1)
    return (np.clip(rgba, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def mask_overlay(base: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Return display pixels `base` with `mask` (``(H, W)``) tinted red."""
    weight = (np.clip(mask, 0.0, 1.0) * _MASK_OPACITY)[..., None]
    rgb = base[..., :3].astype(np.float32)
    rgb = rgb + weight * (_MASK_TINT - rgb)
    out = base.copy()
    out[..., :3] = (rgb + 0.5).astype(np.uint8)
    return out


def _contains(outer: Box, inner: Box) -> bool:
    return (outer.x <= inner.x and outer.y <= inner.y
            and outer.x + outer.width >= inner.x + inner.width
            and outer.y + outer.height >= inner.y + inner.height)


def same_values(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Return whether two parameter sets are equal (arrays by content)."""
    if a.keys() != b.keys():
        return False
    for key, value in a.items():
        other = b[key]
        if isinstance(value, np.ndarray) or isinstance(other, np.ndarray):
            if not np.array_equal(np.asarray(value), np.asarray(other)):
                return False
        elif value != other:
            return False
    return True


def context_margin(spec: OperationSpec, values: Mapping[str, Any]) -> int | None:
    """Return the margin a preview region needs; None for the whole image.

    Only a *local* operation's output at a pixel depends on nothing beyond
    its halo, so only then does a crop plus the halo reproduce the final
    result. A non-local operation's halo is the context the engine keeps
    around the *mask* (e.g. inpainting works on whole holes, which may
    cross the edge of the view), and an operation with a ``prepare`` step
    estimates something image-wide (e.g. the noise level): those get the
    whole image, which the engine then crops exactly as in the final run.
    """
    if not spec.local or spec.prepare is not None:
        return None
    return spec.halo(values)


@dataclass(frozen=True)
class PreviewResult:
    """One finished preview.

    Attributes
    ----------
    values : dict
        The bound parameters it was computed with.
    box : Box
        The region it covers, in image pixels.
    source_box : Box
        The region that was computed: `box` plus the context margin.
    data : Image or ndarray
        The operation's result inside `box`: an Image for image operations,
        a float32 ``(h, w)`` mask for detection operations. Equal to
        ``photomend.run`` on `source_box` (with the same mask) cropped to `box`.
    rgba : ndarray
        What is displayed: uint8 ``(h, w, 4)``.
    """

    values: dict[str, Any]
    box: Box
    source_box: Box
    data: Image | np.ndarray
    rgba: np.ndarray


def compute_preview(spec: OperationSpec, image: Image, mask: np.ndarray | None,
                    values: Mapping[str, Any], box: Box,
                    progress: Progress | None = None,
                    base_rgba: np.ndarray | None = None) -> PreviewResult:
    """Compute the preview of `box` through :func:`photomend.run`.

    Parameters
    ----------
    spec : OperationSpec
        The operation.
    image : Image
        The whole image the dialog was opened on.
    mask : ndarray or None
        float32 ``(H, W)`` selection / damage mask of the whole image.
    values : mapping
        Bound parameters (:meth:`FilterDialog.values`).
    box : Box
        Region to show.
    progress : Progress, optional
        For cancellation.
    base_rgba : ndarray, optional
        Display pixels of the whole image (for detection overlays).

    Returns
    -------
    PreviewResult
    """
    margin = context_margin(spec, values)
    source = grow_box(box, margin, image.width, image.height, spec.grid)
    inner = Box(box.x - source.x, box.y - source.y, box.width, box.height)
    sub = crop(image, source)
    sub_mask = None if mask is None else mask[source.slices]
    untouched = (sub_mask is not None and mask is not None and bool((mask > 0).any())
                 and not (sub_mask[inner.slices] > 0).any())
    out: Image | np.ndarray
    if untouched:
        # Nothing selected in view: the operation changes nothing here.
        out = (np.zeros((source.height, source.width), dtype=np.float32)
               if spec.output == "mask" else sub)
    else:
        planes = spec.crop_planes(values, (image.height, image.width), *source.slices)
        out = engine.run(spec.id, sub, sub_mask, progress, **planes)
    if spec.output == "mask":
        assert isinstance(out, np.ndarray)
        found = out[inner.slices].copy()
        base = (base_rgba[box.slices] if base_rgba is not None
                else display_rgba(crop(image, box)))
        data: Image | np.ndarray = found
        rgba = mask_overlay(base, found)
    else:
        assert isinstance(out, Image)
        data = crop(out, inner)
        rgba = display_rgba(data)
    return PreviewResult(dict(values), box, source, data, np.ascontiguousarray(rgba))


def to_qimage(rgba: np.ndarray) -> QImage:
    """Return a QImage owning a copy of uint8 ``(H, W, 4)`` RGBA pixels."""
    rgba = np.ascontiguousarray(rgba, dtype=np.uint8)
    height, width = rgba.shape[:2]
    return QImage(rgba.tobytes(), width, height, 4 * width, QImage.Format_RGBA8888).copy()


# -- canvas -----------------------------------------------------------------
class PreviewCanvas(QWidget):
    """Show the image with the preview over it; zoom, pan, before/after.

    Mouse wheel zooms around the pointer, dragging pans; in split mode the
    divider is dragged to compare. Keys: ``+``/``-`` zoom, ``0`` fit,
    ``1`` 100 %.

    Signals
    -------
    view_changed()
        The visible region changed (zoom, pan, resize).
    zoom_changed(float)
        The display scale changed (1.0 = 100 %).
    """

    view_changed = pyqtSignal()
    zoom_changed = pyqtSignal(float)

    MODES = ("after", "before", "split")
    MAX_ZOOM = 32.0

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("preview-canvas")
        self.setMinimumSize(260, 200)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setToolTip("Wheel: zoom · drag: pan · in split view drag the divider")
        self._before = QImage()
        self._width = self._height = 0
        self._after: QImage | None = None
        self._after_box: Box | None = None
        self._scale = 1.0
        self._cx = self._cy = 0.0
        self._fit = True
        self._auto = True
        self._mode = "after"
        self._split = 0.5
        self._drag: tuple[str, QPointF, float, float] | None = None
        self.focus_point: tuple[float, float] | None = None
        self.last_error: str | None = None
        self._checker = self._make_checker()

    @staticmethod
    def _make_checker() -> QPixmap:
        pix = QPixmap(16, 16)
        pix.fill(QColor(200, 200, 200))
        painter = QPainter(pix)
        painter.fillRect(0, 0, 8, 8, QColor(150, 150, 150))
        painter.fillRect(8, 8, 8, 8, QColor(150, 150, 150))
        painter.end()
        return pix

    def report_error(self, error: BaseException) -> None:
        """Print an error from an event handler (no box: repaints would flood)."""
        self.last_error = f"{type(error).__name__}: {error}"
        traceback.print_exception(type(error), error, error.__traceback__, file=sys.stderr)

    # -- content ----------------------------------------------------------
    def set_source(self, rgba: np.ndarray) -> None:
        """Show display pixels `rgba` (uint8 ``(H, W, 4)``) as the original."""
        self._before = to_qimage(rgba)
        self._height, self._width = rgba.shape[:2]
        self._cx, self._cy = self._width / 2.0, self._height / 2.0
        self.clear_result()
        if self.width() > 0 and self.isVisible():
            self._apply_auto_zoom()

    def set_result(self, rgba: np.ndarray, box: Box) -> None:
        """Show result pixels `rgba` over `box` of the image."""
        self._after = to_qimage(rgba)
        self._after_box = box
        self.update()

    def clear_result(self) -> None:
        """Show the original only."""
        self._after = None
        self._after_box = None
        self.update()

    @property
    def image_size(self) -> tuple[int, int]:
        """``(width, height)`` of the image shown."""
        return self._width, self._height

    # -- modes ------------------------------------------------------------
    @property
    def mode(self) -> str:
        """``'after'`` (result), ``'before'`` (original) or ``'split'``."""
        return self._mode

    def set_mode(self, mode: str) -> None:
        """Show the result, the original, or both side by side."""
        if mode not in self.MODES:
            msg = f"mode must be one of {', '.join(self.MODES)}, got {mode!r}"
            raise ValueError(msg)
        self._mode = mode
        self.update()

    @property
    def split(self) -> float:
        """Position of the split divider, as a fraction of the width."""
        return self._split

    def set_split(self, fraction: float) -> None:
        """Move the split divider to `fraction` of the width."""
        self._split = min(1.0, max(0.0, float(fraction)))
        self.update()

    # -- geometry ---------------------------------------------------------
    @property
    def zoom(self) -> float:
        """Display pixels per image pixel."""
        return self._scale

    @property
    def is_fit(self) -> bool:
        """Whether the zoom follows the widget size (fit mode)."""
        return self._fit

    def fit_scale(self) -> float:
        """Return the scale at which the whole image fits the widget."""
        if not self._width or not self._height:
            return 1.0
        return min(self.MAX_ZOOM, self.width() / self._width, self.height() / self._height)

    def _min_zoom(self) -> float:
        return min(1.0, self.fit_scale())

    def zoom_fit(self) -> None:
        """Show the whole image, scaled to the widget."""
        self._auto = False
        self._fit = True
        self._set_scale(self.fit_scale(), None)
        self._cx, self._cy = self._width / 2.0, self._height / 2.0
        self._view_moved()

    def set_zoom(self, scale: float, anchor: QPointF | None = None) -> None:
        """Set the scale (1.0 = 100 %), keeping `anchor` (widget px) in place."""
        self._auto = False
        self._fit = False
        self._set_scale(scale, anchor)
        self._view_moved()

    def _set_scale(self, scale: float, anchor: QPointF | None) -> None:
        scale = min(self.MAX_ZOOM, max(self._min_zoom(), float(scale)))
        if anchor is not None:
            ix, iy = self.widget_to_image(anchor)
            self._scale = scale
            # keep the image point under the anchor where it was
            self._cx = ix - (anchor.x() - self.width() / 2.0) / scale
            self._cy = iy - (anchor.y() - self.height() / 2.0) / scale
        else:
            self._scale = scale
        self.zoom_changed.emit(self._scale)

    def center_on(self, x: float, y: float) -> None:
        """Centre the view on image point ``(x, y)``."""
        self._cx, self._cy = float(x), float(y)
        self._view_moved()

    def _clamp_center(self) -> None:
        half_w = self.width() / (2.0 * self._scale)
        half_h = self.height() / (2.0 * self._scale)
        for axis, half, extent in (("x", half_w, self._width), ("y", half_h, self._height)):
            c = self._cx if axis == "x" else self._cy
            c = extent / 2.0 if 2 * half >= extent else min(extent - half, max(half, c))
            if axis == "x":
                self._cx = c
            else:
                self._cy = c

    def _view_moved(self) -> None:
        self._clamp_center()
        self.update()
        self.view_changed.emit()

    def widget_to_image(self, point: QPointF) -> tuple[float, float]:
        """Return the image coordinates under widget point `point`."""
        return (self._cx + (point.x() - self.width() / 2.0) / self._scale,
                self._cy + (point.y() - self.height() / 2.0) / self._scale)

    def image_to_widget(self, x: float, y: float) -> QPointF:
        """Return the widget point showing image point ``(x, y)``."""
        return QPointF((x - self._cx) * self._scale + self.width() / 2.0,
                       (y - self._cy) * self._scale + self.height() / 2.0)

    def visible_box(self) -> Box:
        """Return the region of the image visible now (image pixels, clipped)."""
        if not self._width or not self._height:
            return Box(0, 0, 0, 0)
        x0, y0 = self.widget_to_image(QPointF(0, 0))
        x1, y1 = self.widget_to_image(QPointF(self.width(), self.height()))
        ix0 = max(0, int(np.floor(x0)))
        iy0 = max(0, int(np.floor(y0)))
        ix1 = min(self._width, int(np.ceil(x1)))
        iy1 = min(self._height, int(np.ceil(y1)))
        return Box(ix0, iy0, max(0, ix1 - ix0), max(0, iy1 - iy0))

    def _apply_auto_zoom(self) -> None:
        """Fit small images; show big ones at 100 % around the focus point."""
        if self.fit_scale() >= 1.0:
            self._fit = True
            self._set_scale(self.fit_scale(), None)
        else:
            self._fit = False
            self._set_scale(1.0, None)
            if self.focus_point is not None:
                self._cx, self._cy = self.focus_point
        self._view_moved()

    # -- events -----------------------------------------------------------
    @guarded
    def resizeEvent(self, event: Any) -> None:
        """Keep fit mode fitted and the view inside the image."""
        super().resizeEvent(event)
        if self._auto and self.width() > 0 and self._width:
            self._auto = False
            self._apply_auto_zoom()
            return
        if self._fit:
            self._set_scale(self.fit_scale(), None)
        self._view_moved()

    @guarded
    def wheelEvent(self, event: Any) -> None:
        """Zoom around the pointer."""
        steps = event.angleDelta().y() / 120.0
        if steps:
            self.set_zoom(self._scale * 1.25 ** steps, QPointF(event.pos()))
        event.accept()

    def _split_x(self) -> float:
        return self._split * self.width()

    @guarded
    def mousePressEvent(self, event: Any) -> None:
        """Start panning, or moving the split divider when grabbed."""
        if event.button() != Qt.MouseButton.LeftButton:
            return
        pos = QPointF(event.pos())
        if self._mode == "split" and abs(pos.x() - self._split_x()) <= 6:
            self._drag = ("split", pos, 0.0, 0.0)
        else:
            self._drag = ("pan", pos, self._cx, self._cy)
            self.setCursor(Qt.CursorShape.ClosedHandCursor)

    @guarded
    def mouseMoveEvent(self, event: Any) -> None:
        """Pan or move the divider."""
        pos = QPointF(event.pos())
        if self._drag is None:
            near = self._mode == "split" and abs(pos.x() - self._split_x()) <= 6
            self.setCursor(Qt.CursorShape.SplitHCursor if near else Qt.CursorShape.OpenHandCursor)
            return
        kind, start, cx, cy = self._drag
        if kind == "split":
            self.set_split(pos.x() / max(1, self.width()))
            return
        self._fit = False
        self._auto = False
        self._cx = cx - (pos.x() - start.x()) / self._scale
        self._cy = cy - (pos.y() - start.y()) / self._scale
        self._view_moved()

    @guarded
    def mouseReleaseEvent(self, event: Any) -> None:
        """Stop dragging."""
        self._drag = None
        self.setCursor(Qt.CursorShape.OpenHandCursor)

    @guarded
    def keyPressEvent(self, event: Any) -> None:
        """Zoom with ``+``, ``-``, ``0`` (fit) and ``1`` (100 %)."""
        key = event.key()
        if key in (Qt.Key.Key_Plus, Qt.Key.Key_Equal):
            self.set_zoom(self._scale * 1.25)
        elif key == Qt.Key.Key_Minus:
            self.set_zoom(self._scale / 1.25)
        elif key == Qt.Key.Key_0:
            self.zoom_fit()
        elif key == Qt.Key.Key_1:
            self.set_zoom(1.0)
        else:
            super().keyPressEvent(event)

    @guarded
    def paintEvent(self, event: Any) -> None:
        """Draw the original, the result over its region, and the divider."""
        painter = QPainter(self)
        try:
            self._paint(painter)
        finally:
            painter.end()

    def _paint(self, painter: QPainter) -> None:
        painter.fillRect(self.rect(), self.palette().dark())
        if self._before.isNull():
            return
        box = self.visible_box()
        if box.width <= 0 or box.height <= 0:
            return
        target = self._target(box)
        painter.fillRect(target, QBrush(self._checker))
        painter.setRenderHint(QPainter.SmoothPixmapTransform, self._scale < 1.0)
        painter.drawImage(target, self._before, QRectF(*box))
        after, after_box = self._after, self._after_box
        if self._mode != "before" and after is not None and after_box is not None:
            x0, y0 = max(box.x, after_box.x), max(box.y, after_box.y)
            x1 = min(box.x + box.width, after_box.x + after_box.width)
            y1 = min(box.y + box.height, after_box.y + after_box.height)
            if x1 > x0 and y1 > y0:
                part = Box(x0, y0, x1 - x0, y1 - y0)
                if self._mode == "split":
                    painter.setClipRect(QRectF(self._split_x(), 0.0,
                                               self.width() - self._split_x(), self.height()))
                source = QRectF(x0 - after_box.x, y0 - after_box.y, part.width, part.height)
                painter.drawImage(self._target(part), after, source)
                painter.setClipping(False)
        if self._mode == "split":
            x = self._split_x()
            painter.setPen(QPen(QColor(255, 255, 255), 1))
            painter.drawLine(QPointF(x, 0), QPointF(x, self.height()))
            painter.setPen(QPen(QColor(0, 0, 0), 1))
            painter.drawLine(QPointF(x + 1, 0), QPointF(x + 1, self.height()))
            painter.setPen(QColor(255, 255, 255))
            painter.drawText(QRectF(6, 4, max(0.0, x - 12), 20),
                             Qt.AlignmentFlag.AlignRight, "Before")
            painter.drawText(QRectF(x + 6, 4, max(0.0, self.width() - x - 12), 20),
                             Qt.AlignmentFlag.AlignLeft, "After")

    def _target(self, box: Box) -> QRectF:
        top_left = self.image_to_widget(box.x, box.y)
        return QRectF(top_left.x(), top_left.y(), box.width * self._scale,
                      box.height * self._scale)


# -- controller -------------------------------------------------------------
class _Signals(QObject):
    done = pyqtSignal(int, object, object)
    fraction = pyqtSignal(int, float)


class _Job(QRunnable):
    """One preview computation on a pool thread; reports through `signals`."""

    def __init__(self, generation: int, work: Callable[[Progress], PreviewResult],
                 progress: Progress, signals: _Signals) -> None:
        super().__init__()
        self.setAutoDelete(False)  # Python keeps it until its result arrives
        self.generation = generation
        self.work = work
        self.progress = progress
        self.signals = signals

    def run(self) -> None:
        """Compute, and hand the result or the exception to the GUI thread."""
        result: PreviewResult | None = None
        error: BaseException | None = None
        try:
            result = self.work(self.progress)
        except BaseException as exc:
            error = exc
        try:
            self.signals.done.emit(self.generation, result, error)
        except RuntimeError:  # the dialog is gone; nobody is waiting
            pass


class PreviewController(QObject):
    """Keep a :class:`PreviewCanvas` showing the current parameters' result.

    Parameters
    ----------
    spec : OperationSpec
        The operation.
    image : Image
        The whole image (the dialog's pixels).
    mask : ndarray or None
        float32 ``(H, W)`` mask of `image`, as passed to :func:`photomend.run`.
    values : callable
        Returns the current bound parameters; may raise
        :class:`~photomend.errors.PhotomendError`.
    canvas : PreviewCanvas
        Where results are shown.
    parent : QObject, optional
        Owner.
    delay_ms : int
        Debounce: a request starts this long after the last change.

    Signals
    -------
    updated()
        A new result is displayed (:attr:`result`).
    busy_changed(bool)
        A preview is pending or computing / all done.
    failed(str)
        The operation refused the parameters or the image (core wording).
    progressed(float)
        Completed fraction of the current job.

    Attributes
    ----------
    result : PreviewResult or None
        The result displayed.
    jobs_started, jobs_cancelled, jobs_discarded : int
        Counters: jobs started, stale jobs that stopped on cancellation,
        stale jobs whose finished result was dropped.
    """

    updated = pyqtSignal()
    busy_changed = pyqtSignal(bool)
    failed = pyqtSignal(str)
    progressed = pyqtSignal(float)

    def __init__(self, spec: OperationSpec, image: Image, mask: np.ndarray | None,
                 values: Callable[[], dict[str, Any]], canvas: PreviewCanvas,
                 parent: QObject | None = None, *, delay_ms: int = 200) -> None:
        super().__init__(parent)
        self.spec = spec
        self.image = image
        self.mask = mask
        self.canvas = canvas
        self._values = values
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(2)
        self._signals = _Signals(self)
        self._signals.done.connect(self._job_done)
        self._signals.fraction.connect(self._job_progress)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(delay_ms)
        self._timer.timeout.connect(self._start)
        self._generation = 0
        self._running: dict[int, _Job] = {}
        self._busy = False
        self._enabled = True
        self._stopped = False
        self.result: PreviewResult | None = None
        self.error: str | None = None
        self.jobs_started = 0
        self.jobs_cancelled = 0
        self.jobs_discarded = 0
        self.base_rgba = display_rgba(image)
        canvas.set_source(self.base_rgba)
        canvas.view_changed.connect(self._view_changed)

    # -- requests ---------------------------------------------------------
    @property
    def delay_ms(self) -> int:
        """Debounce delay in milliseconds."""
        return int(self._timer.interval())

    @delay_ms.setter
    def delay_ms(self, value: int) -> None:
        self._timer.setInterval(int(value))

    @property
    def enabled(self) -> bool:
        """Whether previews are computed (the dialog's "Preview" check box)."""
        return self._enabled

    def set_enabled(self, enabled: bool) -> None:
        """Turn live preview on or off; off shows the original."""
        self._enabled = bool(enabled)
        if self._enabled:
            self.refresh()
        else:
            self._cancel_running()
            self._timer.stop()
            self.result = None
            self.canvas.clear_result()
            self._set_busy(False)

    @property
    def busy(self) -> bool:
        """Whether a preview is pending or computing."""
        return self._busy

    @property
    def generation(self) -> int:
        """Number of the current request; results of older ones are dropped."""
        return self._generation

    def refresh(self) -> None:
        """Cancel the running preview; start anew after the debounce delay."""
        if self._stopped or not self._enabled:
            return
        self._generation += 1
        self._cancel_running()
        self._timer.start()
        self._set_busy(True)

    @guarded
    def _view_changed(self) -> None:
        if self._stopped or not self._enabled:
            return
        result = self.result
        box = self.canvas.visible_box()
        if (result is not None and box.width > 0 and _contains(result.box, box)
                and self._generation not in self._running and not self._timer.isActive()):
            return  # already computed around the new view
        self.refresh()

    def _cancel_running(self) -> None:
        for job in self._running.values():
            job.progress.cancel()

    @property
    def stopped(self) -> bool:
        """Whether :meth:`shutdown` was called (and no :meth:`restart` since)."""
        return self._stopped

    def restart(self) -> None:
        """Compute previews again after :meth:`shutdown`."""
        self._stopped = False
        self.refresh()

    def shutdown(self, wait_ms: int = 10_000) -> None:
        """Cancel everything; wait up to `wait_ms` for the workers to stop."""
        self._stopped = True
        self._timer.stop()
        self._generation += 1
        self._cancel_running()
        self._pool.waitForDone(wait_ms)
        self._set_busy(False)

    # -- jobs -------------------------------------------------------------
    @guarded
    def _start(self) -> None:
        if self._stopped or not self._enabled:
            return
        try:
            values = self._values()
        except PhotomendError as error:
            self._fail(str(error))
            return
        view = self.canvas.visible_box()
        if view.width <= 0 or view.height <= 0:
            self._set_busy(False)
            return
        result = self.result
        if (result is not None and same_values(result.values, values)
                and _contains(result.box, view)):
            self._set_busy(False)
            return
        width, height = self.image.width, self.image.height
        margin = context_margin(self.spec, values)
        if margin is None:
            box = Box(0, 0, width, height)
        else:
            # some slack, so small pans need no new computation
            slack = max(view.width, view.height) // 4
            box = grow_box(view, slack, width, height)
        generation = self._generation
        signals = self._signals

        def report(fraction: float) -> None:
            signals.fraction.emit(generation, fraction)

        progress = Progress(report)
        spec, image, mask, base = self.spec, self.image, self.mask, self.base_rgba

        def work(prog: Progress) -> PreviewResult:
            return compute_preview(spec, image, mask, values, box, prog, base)

        job = _Job(generation, work, progress, signals)
        self._running[generation] = job
        self.jobs_started += 1
        self._pool.start(job)

    @guarded
    def _job_progress(self, generation: int, fraction: float) -> None:
        if generation == self._generation:
            self.progressed.emit(fraction)

    @guarded
    def _job_done(self, generation: int, result: PreviewResult | None,
                  error: BaseException | None) -> None:
        self._running.pop(generation, None)
        if generation != self._generation or self._stopped:
            if isinstance(error, Cancelled):
                self.jobs_cancelled += 1
            else:
                self.jobs_discarded += 1
            return
        if isinstance(error, Cancelled):
            return  # cancelled without a newer request: preview turned off
        if error is not None:
            if not isinstance(error, PhotomendError):
                traceback.print_exception(type(error), error, error.__traceback__,
                                          file=sys.stderr)
                note_unexpected(error)
                self._fail(f"Unexpected error: {type(error).__name__}: {error}")
            else:
                self._fail(str(error))
            return
        assert result is not None
        self.result = result
        self.error = None
        self.canvas.set_result(result.rgba, result.box)
        self._set_busy(False)
        self.updated.emit()

    def _fail(self, message: str) -> None:
        self.error = message
        self.result = None
        self.canvas.clear_result()
        self._set_busy(False)
        self.failed.emit(message)

    def _set_busy(self, busy: bool) -> None:
        if busy != self._busy:
            self._busy = busy
            self.busy_changed.emit(busy)
