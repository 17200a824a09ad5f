"""The filter dialog of every Qt host: parameters, presets, live preview.

The dialog is generated from an operation's registry record: one editor per
parameter (:mod:`photomend.ui.widgets`), advanced parameters in a
collapsible group, named presets and the last accepted values stored per
operation (:mod:`photomend.ui.settings`), an output choice, and a live
preview computed by the same engine as the final result
(:mod:`photomend.ui.preview`). It receives pixels and a mask, never a host
object, so Krita, GIMP (with a QApplication) and scripts share it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from PyQt5.QtCore import Qt
from PyQt5.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from .. import engine
from ..errors import Cancelled, FileFormatError, ParameterError, PhotomendError
from ..hosts.apply import Output
from ..hosts.base import Box
from ..hosts.layers import LayerSource, own_alpha, read_param
from ..image import Image
from ..progress import Progress
from ..recipe import Recipe, resolved_recipe, save_recipe
from ..registry import OperationSpec
from .messages import guarded, show_error
from .preview import PreviewCanvas, PreviewController, crop
from .progress import ensure_app, run_with_progress
from .settings import Settings
from .widgets import LayerEditor, ParamEditor, make_editor

__all__ = ["OUTPUTS", "FilterDialog", "ask_and_apply"]

#: Output choices: value and label.
OUTPUTS: tuple[tuple[Output, str], ...] = (("in-place", "In place"), ("new-layer", "New layer"))
#: Zoom buttons: label and scale (None = fit).
_ZOOMS: tuple[tuple[str, float | None], ...] = (("Fit", None), ("100%", 1.0), ("200%", 2.0))
#: Before/after choices: canvas mode and label.
_VIEWS = (("after", "After"), ("before", "Before"), ("split", "Split"))


class FilterDialog(QDialog):
    """Dialog for one operation, generated from its spec, with a live preview.

    Parameters
    ----------
    spec : OperationSpec
        The operation (``photomend.get_operation(id)``).
    image : Image or ndarray
        The pixels the operation will run on (typically the whole layer).
    mask : ndarray, optional
        ``(H, W)`` selection or damage mask of `image` (bool, 8/16-bit or
        float in [0, 1]); the preview uses it exactly as the final run.
        Kept as float32 in :attr:`image_mask` (``mask`` is a QWidget method).
    parent : QWidget, optional
        The host's main window.
    settings_path : str or Path, optional
        JSON file for remembered values and presets (default
        :func:`~photomend.ui.settings.default_settings_path`).
    layers : sequence of LayerSource, optional
        The host's other layers: array parameters that a layer can give
        (a damage mask, an infrared plane, a PSF) get a drop-down of them.
        The layer chosen is read once (:func:`photomend.hosts.layers.read_param`)
        and kept while it stays chosen. Choices are not remembered between
        runs, nor saved in presets. None: those parameters are not shown.
        When `image` has alpha, planes are also offered this layer's own
        alpha (:func:`photomend.hosts.layers.own_alpha`): hosts open an
        RGBI scan with its infrared plane as alpha.

    Attributes
    ----------
    editors : dict of str to ParamEditor
        The editor of each parameter shown, by parameter name.
    preview : PreviewController
        Live preview state (``preview.result``, ``preview.updated``...).
    canvas : PreviewCanvas
        The preview widget.

    Raises
    ------
    PhotomendError
        If the image or mask cannot be used (the core's message).
    """

    def __init__(self, spec: OperationSpec, image: Image | np.ndarray,
                 mask: np.ndarray | None = None, parent: QWidget | None = None,
                 settings_path: str | os.PathLike[str] | None = None,
                 layers: Sequence[LayerSource] | None = None) -> None:
        super().__init__(parent)
        self.spec = spec
        self.image = image if isinstance(image, Image) else Image.from_array(image)
        self.layers = None if layers is None else list(layers)
        alpha = None if layers is None else own_alpha(self.image)
        if self.layers is not None and alpha is not None:
            self.layers.insert(0, alpha)  # an RGBI scan opened in a host: its infrared
        # The array read for each layer parameter, with the key it was read from.
        self._layer_arrays: dict[str, tuple[str, np.ndarray]] = {}
        self.image_mask = (None if mask is None
                     else engine.as_mask(mask, (self.image.height, self.image.width)))
        self.settings = Settings(settings_path)
        self.editors: dict[str, ParamEditor] = {}
        self.labels: dict[str, QLabel] = {}
        self.last_error: str | None = None
        self._loading = False
        self.setObjectName(f"photomend-{spec.id}")
        self.setWindowTitle(spec.plain_label)
        self.setSizeGripEnabled(True)

        outer = QVBoxLayout(self)
        body = QHBoxLayout()
        outer.addLayout(body, 1)
        body.addWidget(self._build_controls(), 0)
        body.addLayout(self._build_preview(), 1)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.Ok | QDialogButtonBox.Cancel | QDialogButtonBox.Reset, self)
        reset_button = self.buttons.button(QDialogButtonBox.Reset)
        assert reset_button is not None
        self.reset_button = reset_button
        self.reset_button.setToolTip("Set every parameter to its default")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.reset_button.clicked.connect(self._reset_clicked)
        outer.addWidget(self.buttons)

        self.preview = PreviewController(spec, self.image, self.image_mask, self.values,
                                         self.canvas, self)
        self.preview.busy_changed.connect(self._busy_changed)
        self.preview.failed.connect(self._preview_failed)
        self.preview.updated.connect(self._preview_updated)
        self.preview.progressed.connect(self._preview_progressed)
        if self.image_mask is not None and (self.image_mask > 0).any():
            rows = np.flatnonzero((self.image_mask > 0).any(axis=1))
            cols = np.flatnonzero((self.image_mask > 0).any(axis=0))
            self.canvas.focus_point = ((cols[0] + cols[-1] + 1) / 2.0,
                                       (rows[0] + rows[-1] + 1) / 2.0)

        self._restore()
        self.resize(960, 600)
        self.preview.refresh()

    # -- construction -----------------------------------------------------
    def _build_controls(self) -> QWidget:
        panel = QWidget(self)
        panel.setObjectName("controls")
        panel.setMinimumWidth(340)
        layout = QVBoxLayout(panel)
        layout.setContentsMargins(0, 0, 0, 0)

        summary = QLabel(self.spec.summary, panel)
        summary.setWordWrap(True)
        summary.setToolTip(self.spec.description)
        layout.addWidget(summary)

        presets = QHBoxLayout()
        self.preset_combo = QComboBox(panel)
        self.preset_combo.setObjectName("presets")
        self.preset_combo.setToolTip("Named sets of values saved for this filter")
        self.preset_combo.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)
        self.save_preset_button = QPushButton("Save…", panel)
        self.save_preset_button.setToolTip("Save the current values as a named preset")
        self.delete_preset_button = QPushButton("Delete", panel)
        self.delete_preset_button.setToolTip("Delete the selected preset")
        presets.addWidget(QLabel("Presets:", panel))
        presets.addWidget(self.preset_combo, 1)
        presets.addWidget(self.save_preset_button)
        presets.addWidget(self.delete_preset_button)
        layout.addLayout(presets)
        self.preset_combo.activated.connect(self._preset_chosen)
        self.save_preset_button.clicked.connect(self._save_preset_clicked)
        self.delete_preset_button.clicked.connect(self._delete_preset_clicked)

        size = (self.image.width, self.image.height)
        basic = QFormLayout()
        advanced = QFormLayout()
        for param in self.spec.params:
            editor = make_editor(param, panel, size, self.layers)
            if editor is None:
                continue  # API-only kind (arrays): the default is used
            label = QLabel(param.label, panel)
            label.setToolTip(editor.toolTip())
            label.setBuddy(editor)
            (advanced if param.advanced else basic).addRow(label, editor)
            editor.changed.connect(self._param_changed)
            self.editors[param.name] = editor
            self.labels[param.name] = label
        scroll_body = QWidget(panel)
        scroll_layout = QVBoxLayout(scroll_body)
        scroll_layout.setContentsMargins(0, 0, 4, 0)
        scroll_layout.addLayout(basic)

        self.advanced_toggle = QToolButton(scroll_body)
        self.advanced_toggle.setObjectName("advanced-toggle")
        self.advanced_toggle.setText("Advanced")
        self.advanced_toggle.setCheckable(True)
        self.advanced_toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.advanced_toggle.setArrowType(Qt.ArrowType.RightArrow)
        self.advanced_toggle.setAutoRaise(True)
        self.advanced_box = QWidget(scroll_body)
        self.advanced_box.setObjectName("advanced")
        self.advanced_box.setLayout(advanced)
        self.advanced_box.setVisible(False)
        self.advanced_toggle.toggled.connect(self._advanced_toggled)
        has_advanced = advanced.rowCount() > 0
        self.advanced_toggle.setVisible(has_advanced)
        scroll_layout.addWidget(self.advanced_toggle)
        scroll_layout.addWidget(self.advanced_box)
        scroll_layout.addStretch(1)
        if not self.editors:
            scroll_layout.insertWidget(0, QLabel("This filter has no settings.", scroll_body))
        scroll = QScrollArea(panel)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.NoFrame)
        scroll.setWidget(scroll_body)
        layout.addWidget(scroll, 1)

        output = QFormLayout()
        self.output_combo = QComboBox(panel)
        self.output_combo.setObjectName("output")
        for value, text in OUTPUTS:
            self.output_combo.addItem(text, value)
        if self.spec.output == "mask":
            # detection results always go to a new layer / channel
            self.output_combo.setCurrentIndex(self.output_combo.findData("new-layer"))
            self.output_combo.setEnabled(False)
            self.output_combo.setToolTip("The detected mask is always added as a new layer")
        else:
            self.output_combo.setToolTip("Change the layer, or put the result on a new layer")
        output.addRow("Output:", self.output_combo)
        # Operations that declare report layers (registry ``report_layers``)
        # can add what they found (e.g. the dust mask) as extra layers.
        self.report_check = QCheckBox("Add what it found as layers", panel)
        self.report_check.setObjectName("report_layers")
        found = ", ".join(self.spec.extra.get("report_layers", ()))
        self.report_check.setToolTip(f"Adds {found} as new layers, named with the estimates "
                                     "it made, so you can see and refine what was done")
        self.report_check.setVisible(bool(found))
        output.addRow("", self.report_check)
        # The steps as run (estimates resolved) can be saved as a recipe for
        # `photomend run --recipe` on a batch of scans.
        recipe_row = QHBoxLayout()
        self.recipe_edit = QLineEdit(panel)
        self.recipe_edit.setObjectName("recipe")
        self.recipe_edit.setReadOnly(True)
        self.recipe_edit.setPlaceholderText("(not saved)")
        self.recipe_edit.setToolTip("After the run, save its steps with every value it chose "
                                    "(noise level, PSF, curves) as a recipe file, to repeat "
                                    "them on other scans: photomend run --recipe FILE scans/*")
        self.recipe_button = QPushButton("Choose…", panel)
        self.recipe_button.setToolTip("Choose the recipe file to write")
        self.recipe_clear = QToolButton(panel)
        self.recipe_clear.setText("×")
        self.recipe_clear.setToolTip("Do not save a recipe")
        recipe_row.addWidget(self.recipe_edit, 1)
        recipe_row.addWidget(self.recipe_button)
        recipe_row.addWidget(self.recipe_clear)
        output.addRow("Save recipe:", recipe_row)
        self.recipe_button.clicked.connect(self._choose_recipe)
        self.recipe_clear.clicked.connect(lambda: self.set_recipe_path(None))
        layout.addLayout(output)
        return panel

    @property
    def recipe_path(self) -> str | None:
        """Where the run's recipe is to be written (None: nowhere)."""
        return self.recipe_edit.text() or None

    def set_recipe_path(self, path: str | os.PathLike[str] | None) -> None:
        """Set the recipe file to write after the run (None: none)."""
        self.recipe_edit.setText("" if path is None else os.fspath(path))

    @guarded
    def _choose_recipe(self) -> None:
        # Qt's own dialog asks before replacing an existing file.
        path, _ = QFileDialog.getSaveFileName(self, "Save the steps as a recipe",
                                              f"{self.spec.id}-recipe.json",
                                              "Recipes (*.json);;All files (*)")
        if path:
            self.set_recipe_path(path)

    @property
    def report_layers(self) -> bool:
        """Whether the user asked for the report layers (off when not offered)."""
        return bool(self.spec.extra.get("report_layers")) and self.report_check.isChecked()

    def _build_preview(self) -> QVBoxLayout:
        column = QVBoxLayout()
        bar = QHBoxLayout()
        self.preview_check = QCheckBox("Preview", self)
        self.preview_check.setObjectName("preview-toggle")
        self.preview_check.setChecked(True)
        self.preview_check.setToolTip("Show the result live on the visible region")
        self.preview_check.toggled.connect(self._preview_toggled)
        bar.addWidget(self.preview_check)
        self.view_combo = QComboBox(self)
        self.view_combo.setObjectName("view")
        self.view_combo.setToolTip("Show the result, the original, or both split")
        for mode, text in _VIEWS:
            self.view_combo.addItem(text, mode)
        self.view_combo.currentIndexChanged.connect(self._view_chosen)
        bar.addWidget(self.view_combo)
        bar.addStretch(1)
        self.zoom_buttons: dict[str, QToolButton] = {}
        for text, scale in _ZOOMS:
            button = QToolButton(self)
            button.setText(text)
            button.setObjectName(f"zoom-{text}")
            button.clicked.connect(lambda _=False, s=scale: self.set_zoom(s))
            bar.addWidget(button)
            self.zoom_buttons[text] = button
        self.zoom_label = QLabel("", self)
        self.zoom_label.setMinimumWidth(48)
        self.zoom_label.setAlignment(
            Qt.Alignment(Qt.AlignmentFlag.AlignRight) | Qt.AlignmentFlag.AlignVCenter)
        bar.addWidget(self.zoom_label)
        column.addLayout(bar)

        self.canvas = PreviewCanvas(self)
        self.canvas.zoom_changed.connect(self._zoom_changed)
        column.addWidget(self.canvas, 1)

        status = QHBoxLayout()
        self.busy_bar = QProgressBar(self)
        self.busy_bar.setObjectName("busy")
        self.busy_bar.setRange(0, 0)  # indeterminate until the job reports
        self.busy_bar.setTextVisible(False)
        self.busy_bar.setMaximumWidth(120)
        self.busy_bar.setMaximumHeight(12)
        self.busy_bar.setVisible(False)
        self.status_label = QLabel("", self)
        self.status_label.setObjectName("status")
        self.status_label.setWordWrap(True)
        status.addWidget(self.busy_bar)
        status.addWidget(self.status_label, 1)
        column.addLayout(status)
        return column

    # -- values -----------------------------------------------------------
    def values(self) -> dict[str, Any]:
        """Return the parameters shown, validated (defaults for hidden ones).

        Raises
        ------
        ParameterError
            If a value is not allowed (the core's message).
        """
        raw = {name: e.value() for name, e in self.editors.items()}
        for name, key in self.layer_keys().items():
            raw[name] = None if key is None else self._layer_array(name, key)
        return self.spec.bind(raw)

    def layer_keys(self) -> dict[str, str | None]:
        """Return the key of the layer chosen for each layer parameter (None: none)."""
        return {name: e.value() for name, e in self.editors.items()
                if isinstance(e, LayerEditor)}

    def _layer_array(self, name: str, key: str) -> np.ndarray:
        """Read layer `key` as parameter `name` (the dialog keeps the current one)."""
        cached = self._layer_arrays.get(name)
        if cached is not None and cached[0] == key:
            return cached[1]
        self._layer_arrays.pop(name, None)  # a full-size plane: do not keep two
        source = next(s for s in self.layers or () if s.key == key)
        array = read_param(self.spec.param(name), source, (self.image.height, self.image.width))
        self._layer_arrays[name] = (key, array)
        return array

    def set_values(self, values: Mapping[str, Any]) -> None:
        """Show `values` (validated; missing names keep their current value).

        Layer parameters take a layer's key or name, or None.

        Raises
        ------
        ParameterError
            For unknown names or invalid values.
        """
        layered = self.layer_keys()
        current = {name: e.value() for name, e in self.editors.items() if name not in layered}
        bound = self.spec.bind({**current, **{k: v for k, v in values.items()
                                              if k not in layered}})
        chosen: dict[str, int] = {}  # every layer looked up before anything changes
        for name in layered:
            if name in values:
                if isinstance(values[name], np.ndarray):
                    msg = (f"{self.spec.param(name).label}: choose a layer (its name), "
                           "not an array")
                    raise ParameterError(msg)
                editor = self.editors[name]
                assert isinstance(editor, LayerEditor)
                chosen[name] = editor.index_of(values[name])
        self._loading = True
        try:
            for name, index in chosen.items():
                editor = self.editors[name]
                assert isinstance(editor, LayerEditor)
                editor.set_index(index)
            for name, editor in self.editors.items():
                if name not in layered:
                    editor.set_value(bound[name])
        finally:
            self._loading = False
        self._param_changed()

    def reset(self) -> None:
        """Show every parameter's default."""
        self.set_values(self._widget_values(self.spec.defaults()))

    def _widget_values(self, values: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in values.items() if k in self.editors}

    @property
    def output(self) -> Output:
        """Where the result goes: ``'in-place'`` or ``'new-layer'``."""
        value = self.output_combo.currentData()
        return "new-layer" if value == "new-layer" else "in-place"

    @output.setter
    def output(self, value: Output) -> None:
        index = self.output_combo.findData(value)
        if index < 0:
            choices = ", ".join(repr(v) for v, _ in OUTPUTS)
            msg = f"output must be one of {choices}, got {value!r}"
            raise PhotomendError(msg)
        if self.output_combo.isEnabled():
            self.output_combo.setCurrentIndex(index)

    # -- settings ---------------------------------------------------------
    def _restore(self) -> None:
        """Show the last accepted values and output of this operation, if any."""
        last = self._widget_values(self.settings.last_values(self.spec))
        if last:
            self._loading = True
            try:
                for name, value in last.items():
                    self.editors[name].set_value(value)
            finally:
                self._loading = False
        output = self.settings.last_output(self.spec)
        if output in ("in-place", "new-layer") and self.output_combo.isEnabled():
            self.output_combo.setCurrentIndex(self.output_combo.findData(output))
        self._fill_presets()

    def _fill_presets(self, select: str | None = None) -> None:
        self.preset_combo.blockSignals(True)
        self.preset_combo.clear()
        self.preset_combo.addItem("(choose)", None)
        for name in self.settings.presets(self.spec):
            self.preset_combo.addItem(name, name)
        index = self.preset_combo.findData(select) if select else 0
        self.preset_combo.setCurrentIndex(max(0, index))
        self.preset_combo.blockSignals(False)
        self.delete_preset_button.setEnabled(self.preset_combo.currentIndex() > 0)

    def preset_names(self) -> list[str]:
        """Return the names of this operation's saved presets."""
        return list(self.settings.presets(self.spec))

    def save_preset(self, name: str) -> None:
        """Save the values shown as preset `name` (replacing one of that name).

        Layer choices are not part of presets (layers differ between images).
        """
        layered = self.layer_keys()
        self.settings.save_preset(self.spec, name, self.spec.bind(
            {n: e.value() for n, e in self.editors.items() if n not in layered}))
        self._fill_presets(select=name.strip())

    def load_preset(self, name: str) -> None:
        """Show the values of preset `name`.

        Raises
        ------
        ParameterError
            If there is no preset of that name.
        """
        presets = self.settings.presets(self.spec)
        if name not in presets:
            known = ", ".join(repr(n) for n in presets) or "none"
            msg = f"{self.spec.plain_label} has no preset {name!r} (presets: {known})"
            raise PhotomendError(msg)
        # defaults first: a preset saved before a parameter existed leaves it at default;
        # the layers chosen stay (presets hold none)
        values = self._widget_values({**self.spec.defaults(), **presets[name]})
        self.set_values({k: v for k, v in values.items() if k not in self.layer_keys()})
        self._fill_presets(select=name)

    def delete_preset(self, name: str) -> None:
        """Delete preset `name`."""
        self.settings.delete_preset(self.spec, name)
        self._fill_presets()

    # -- slots ------------------------------------------------------------
    def report_error(self, error: BaseException) -> None:
        """Show an error caught in a slot (see :func:`.messages.guarded`)."""
        self.last_error = str(error)
        show_error(self, error, wait=False, title=self.spec.plain_label)

    @guarded
    def _param_changed(self, *_: Any) -> None:
        if not self._loading:
            self.preview.refresh()

    @guarded
    def _reset_clicked(self, *_: Any) -> None:
        self.reset()

    @guarded
    def _advanced_toggled(self, shown: bool) -> None:
        self.advanced_box.setVisible(shown)
        self.advanced_toggle.setArrowType(Qt.ArrowType.DownArrow if shown
                                          else Qt.ArrowType.RightArrow)

    @guarded
    def _preset_chosen(self, index: int) -> None:
        name = self.preset_combo.itemData(index)
        self.delete_preset_button.setEnabled(index > 0)
        if name:
            self.load_preset(str(name))

    @guarded
    def _save_preset_clicked(self, *_: Any) -> None:
        current = self.preset_combo.currentData()
        name, ok = QInputDialog.getText(self, "Save preset", "Preset name:",
                                        text=str(current) if current else "")
        if ok and name.strip():
            if name.strip() in self.preset_names() and name.strip() != current:
                answer = QMessageBox.question(self, "Save preset",
                                              f"Replace the preset {name.strip()!r}?")
                if answer != QMessageBox.Yes:
                    return
            self.save_preset(name)

    @guarded
    def _delete_preset_clicked(self, *_: Any) -> None:
        name = self.preset_combo.currentData()
        if name:
            self.delete_preset(str(name))

    @guarded
    def _preview_toggled(self, on: bool) -> None:
        self.preview.set_enabled(on)
        if not on:
            self.status_label.setText("")

    @guarded
    def _view_chosen(self, index: int) -> None:
        self.canvas.set_mode(str(self.view_combo.itemData(index)))

    def set_zoom(self, scale: float | None) -> None:
        """Zoom the preview: a scale (1.0 = 100 %) or None to fit."""
        if scale is None:
            self.canvas.zoom_fit()
        else:
            self.canvas.set_zoom(scale)

    @guarded
    def _zoom_changed(self, scale: float) -> None:
        self.zoom_label.setText(f"{scale * 100:.0f}%")

    @guarded
    def _busy_changed(self, busy: bool) -> None:
        self.busy_bar.setRange(0, 0)
        self.busy_bar.setVisible(busy)
        if busy:
            self.status_label.setText("Computing preview…")

    @guarded
    def _preview_progressed(self, fraction: float) -> None:
        if 0.0 < fraction < 1.0:
            self.busy_bar.setRange(0, 1000)
            self.busy_bar.setValue(round(fraction * 1000))

    @guarded
    def _preview_updated(self) -> None:
        self.status_label.setStyleSheet("")
        self.status_label.setText("")

    @guarded
    def _preview_failed(self, message: str) -> None:
        # Shown in place, not in a message box: it would pop up at every
        # keystroke. OK shows the same message in a box if it still holds.
        self.status_label.setStyleSheet("color: #c0392b;")
        self.status_label.setText(message)

    # -- closing ----------------------------------------------------------
    @guarded
    def accept(self) -> None:
        """Validate, remember the values, and close with Accepted."""
        try:
            values = self.values()
        except PhotomendError as error:
            self.report_error(error)
            return
        self.settings.save_last(self.spec, values, self.output)
        super().accept()

    @guarded
    def showEvent(self, event: Any) -> None:
        """Resume the preview when the dialog is shown again after closing."""
        super().showEvent(event)
        if self.preview.stopped:
            self.preview.restart()

    @guarded
    def done(self, result: int) -> None:
        """Stop the preview, then close."""
        try:
            self.preview.shutdown()
        finally:
            super().done(result)

    @guarded
    def closeEvent(self, event: Any) -> None:
        """Stop the preview when the window is closed."""
        try:
            self.preview.shutdown()
        finally:
            super().closeEvent(event)


def ask_and_apply(
    spec: OperationSpec,
    image: Image | np.ndarray,
    mask: np.ndarray | None,
    write: Callable[[Image | np.ndarray, Box, Output], None],
    *,
    parent: QWidget | None = None,
    settings_path: str | os.PathLike[str] | None = None,
    blends_selection: bool = False,
    dialog_hook: Callable[[FilterDialog], None] | None = None,
    write_report: Callable[[Mapping[str, Any], Box], None] | None = None,
    layers: Sequence[LayerSource] | None = None,
) -> Image | np.ndarray | None:
    """Ask for parameters, run the operation with progress, then `write`.

    Parameters
    ----------
    spec : OperationSpec
        The operation.
    image : Image or ndarray
        The target's pixels (e.g. the whole layer).
    mask : ndarray or None
        ``(H, W)`` selection of `image` (damage mask for repair operations).
    write : callable
        ``write(result, box, output)``, called on the GUI thread: put
        `result` (the changed region: an Image, or a float32 mask for
        detection operations) at `box` of the target, in place or on a new
        layer (`output`). The host's undo group belongs here.
    parent : QWidget, optional
        The host's main window.
    settings_path : path, optional
        Settings file (see :class:`FilterDialog`).
    blends_selection : bool
        True when the host's in-place write already blends through the
        selection (GIMP's shadow merge): the core then does not blend.
    dialog_hook : callable, optional
        Called with the dialog before it runs (tests, host tweaks).
    write_report : callable, optional
        ``write_report(report, box)``, called on the GUI thread after
        `write` when the user ticked "Add what it found as layers": the
        run's report with its image-sized masks cropped to `box` (see
        :func:`photomend.hosts.write_report`). Without it the option is
        not offered.
    layers : sequence of LayerSource, optional
        The host's other layers, offered for array parameters that a layer
        can give (see :class:`FilterDialog`).

    Returns
    -------
    Image or ndarray or None
        What was written, or None when the user cancelled.

    Notes
    -----
    When the user chose a recipe file ("Save recipe"), the steps as run
    are written there after the result (every estimate fixed, one-click
    operations expanded into their steps, per-image planes left out; see
    :func:`photomend.recipe.resolved_recipe`), for ``photomend run
    --recipe`` on a batch of scans.

    Core errors (:class:`~photomend.errors.PhotomendError`) are shown in a
    message box with the core's wording; other exceptions propagate with
    their traceback (the caller's slot must catch them inside Krita).
    """
    ensure_app()
    dialog = FilterDialog(spec, image, mask, parent, settings_path, layers)
    if write_report is None:
        dialog.report_check.setVisible(False)
        dialog.report_check.setChecked(False)
    try:
        if dialog_hook is not None:
            dialog_hook(dialog)
        if dialog.exec_() != QDialog.Accepted:
            return None
        params, output = dialog.values(), dialog.output
        full, weights = dialog.image, dialog.image_mask
        recipe_path = dialog.recipe_path
        wants_report = dialog.report_layers
        report: dict[str, Any] | None = {} if wants_report or recipe_path else None
    finally:
        dialog.deleteLater()
    blend = output == "new-layer" or not blends_selection

    def job(progress: Progress) -> Image | np.ndarray:
        return engine.run(spec.id, full, weights, progress, blend=blend, report=report,
                          **params)

    try:
        result = run_with_progress(parent, spec.plain_label, job)
    except Cancelled:
        return None
    except PhotomendError as error:
        show_error(parent, error, title=spec.plain_label)
        return None
    if weights is None:
        box = Box(0, 0, full.width, full.height)
    else:
        rows, cols = engine.context_box(weights, spec.halo(params), spec.grid)
        box = Box(cols.start, rows.start, cols.stop - cols.start, rows.stop - rows.start)
    changed: Image | np.ndarray
    if isinstance(result, Image):
        changed = crop(result, box)
    else:
        changed = result[box.slices]
    try:
        write(changed, box, output)
        if report is not None and wants_report and write_report is not None:
            size = (full.height, full.width) if isinstance(full, Image) else full.shape[:2]
            write_report({key: value[box.slices] if isinstance(value, np.ndarray)
                          and value.shape == size else value
                          for key, value in report.items()}, box)
    except PhotomendError as error:
        show_error(parent, error, title=spec.plain_label)
        return None
    if recipe_path is not None and report is not None:
        try:
            # The chooser asked before replacing a file.
            save_recipe(resolved_recipe(Recipe.single(spec.id, params), [report]),
                        recipe_path, overwrite=True)
        except PhotomendError as error:
            show_error(parent, error, title=spec.plain_label)
        except OSError as error:
            failed = FileFormatError(f"the recipe was not saved to {recipe_path}: "
                                     f"{error.strerror or error}")
            show_error(parent, failed, title=spec.plain_label)
    return changed
