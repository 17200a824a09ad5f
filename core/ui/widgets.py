"""One editor widget per parameter, generated from its ParamSpec.

=========  =============================================================
kind       editor
=========  =============================================================
float/int  slider + spin box kept in sync (spin box alone without a
           range, or for integers with more values than a slider has
           positions, e.g. a seed); the range, step and unit come from
           the spec, so an out-of-range value cannot be entered
choice     drop-down of the spec's choices
bool       check box
str        line edit
point      two spin boxes (x, y in image pixels)
color      button showing the colour; click to pick
array      drop-down of the host's other layers when the parameter can
           come from a layer (``Param(layer=...)``) and the host offers
           them; otherwise none: API-only, the default is used
=========  =============================================================

Optional parameters (default None, e.g. "estimate automatically") get an
"Auto" check box in front of the editor; checked means None.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from PyQt5.QtCore import Qt, pyqtSignal
from PyQt5.QtGui import QColor
from PyQt5.QtWidgets import (
    QCheckBox,
    QColorDialog,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSlider,
    QSpinBox,
    QWidget,
)

from ..errors import ParameterError
from ..hosts.layers import LayerSource
from ..registry import ParamSpec
from .messages import guarded

__all__ = [
    "BoolEditor",
    "ChoiceEditor",
    "ColorEditor",
    "LayerEditor",
    "NumberEditor",
    "OptionalEditor",
    "ParamEditor",
    "PointEditor",
    "TextEditor",
    "choice_text",
    "make_editor",
    "tooltip",
]

#: Most positions a slider gets; finer steps are reached with the spin box.
SLIDER_POSITIONS = 10_000
#: Spin-box limits for numbers without a declared bound.
_UNBOUNDED = 1e9


def choice_text(choice: str) -> str:
    """Return a choice as shown: ``'non-local'`` → ``'Non local'``."""
    text = choice.replace("-", " ").replace("_", " ")
    return text[:1].upper() + text[1:]


def tooltip(spec: ParamSpec) -> str:
    """Return the tooltip of a parameter: its help and its allowed values."""
    allowed = spec.describe_range()
    text = spec.help.strip()
    if allowed and allowed != spec.kind:
        text = f"{text}\n\nAllowed: {allowed}." if text else f"Allowed: {allowed}."
    return text


def _decimals(*numbers: float | None) -> int:
    """Return the decimals needed to show every number exactly (at most 6)."""
    places = 0
    for number in numbers:
        if number is None or not math.isfinite(number):
            continue
        text = f"{abs(number):.6f}".rstrip("0")
        places = max(places, len(text.split(".")[1]) if "." in text else 0)
    return min(places, 6)


def _nice_step(span: float) -> float:
    """Return a round step giving about 100 steps over `span`."""
    if span <= 0 or not math.isfinite(span):
        return 1.0
    return float(10.0 ** math.floor(math.log10(span / 100.0)))


class ParamEditor(QWidget):
    """Base of the parameter editors: a value, a setter and a change signal.

    Attributes
    ----------
    spec : ParamSpec
        The parameter edited.
    changed : pyqtSignal
        Emitted (without arguments) whenever the user changes the value.
    """

    changed = pyqtSignal()

    def __init__(self, spec: ParamSpec, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.spec = spec
        self.setObjectName(f"param-{spec.name}")
        self.setToolTip(tooltip(spec))
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)

    def value(self) -> Any:
        """Return the value shown."""
        raise NotImplementedError

    def set_value(self, value: Any) -> None:
        """Show `value` (already validated against the spec)."""
        raise NotImplementedError

    def _emit(self, *_: Any) -> None:
        self.changed.emit()


class NumberEditor(ParamEditor):
    """Slider and spin box for a float or int parameter.

    Attributes
    ----------
    spin : QSpinBox or QDoubleSpinBox
        Exact entry, with the unit as suffix; its range is the spec's.
    slider : QSlider or None
        Present when the spec has both bounds (and, for integers, at most
        :data:`SLIDER_POSITIONS` values).
    """

    def __init__(self, spec: ParamSpec, parent: QWidget | None = None) -> None:
        super().__init__(spec, parent)
        is_int = spec.kind == "int"
        lo = spec.min if spec.min is not None else -_UNBOUNDED
        hi = spec.max if spec.max is not None else _UNBOUNDED
        default = spec.default if isinstance(spec.default, (int, float)) else None
        if spec.step:
            step = float(spec.step)
        elif is_int:
            step = 1.0
        else:
            step = _nice_step(hi - lo) if spec.min is not None and spec.max is not None else 0.1
        if is_int:
            step = max(1.0, round(step))
        self._step = step
        self._lo, self._hi = float(lo), float(hi)
        spin: QSpinBox | QDoubleSpinBox
        if is_int:
            spin = QSpinBox(self)
            spin.setRange(int(lo), int(hi))
            spin.setSingleStep(int(step))
            self._decimals = 0
        else:
            spin = QDoubleSpinBox(self)
            self._decimals = max(_decimals(step, spec.min, spec.max, default), 1)
            spin.setDecimals(self._decimals)
            spin.setRange(lo, hi)
            spin.setSingleStep(step)
        spin.setObjectName("spin")
        spin.setToolTip(self.toolTip())
        if spec.unit:
            spin.setSuffix(spec.unit if spec.unit in ("%", "°") else f" {spec.unit}")
        spin.setAlignment(Qt.AlignmentFlag.AlignRight)
        spin.setMinimumWidth(110)
        self.spin = spin
        self.slider: QSlider | None = None
        # A slider for a huge integer range (a seed) could not reach most
        # values and invites meaningless dragging: spin box only.
        many = is_int and (self._hi - self._lo) / step > SLIDER_POSITIONS
        if spec.min is not None and spec.max is not None and spec.max > spec.min and not many:
            positions = max(1, min(SLIDER_POSITIONS, round((self._hi - self._lo) / step)))
            self._slider_unit = (self._hi - self._lo) / positions
            slider = QSlider(Qt.Orientation.Horizontal, self)
            slider.setObjectName("slider")
            slider.setRange(0, positions)
            slider.setSingleStep(1)
            slider.setPageStep(max(1, positions // 10))
            slider.setToolTip(self.toolTip())
            slider.setMinimumWidth(120)
            self.slider = slider
            self._layout.addWidget(slider, 1)
            slider.valueChanged.connect(self._slider_moved)
        self._layout.addWidget(spin)
        spin.valueChanged.connect(self._spin_changed)
        self._syncing = False
        if default is not None:
            self.set_value(default)
        elif spec.min is not None:
            self.set_value(spec.min)

    # slider position <-> value
    def _to_position(self, value: float) -> int:
        assert self.slider is not None
        return round((value - self._lo) / self._slider_unit)

    def _from_position(self, position: int) -> float:
        value = min(self._hi, self._lo + position * self._slider_unit)
        if self.spec.kind == "int":
            return float(round(value))
        return round(value, self._decimals)

    def _show(self, number: float) -> None:
        if isinstance(self.spin, QSpinBox):
            self.spin.setValue(round(number))
        else:
            self.spin.setValue(number)

    @guarded
    def _slider_moved(self, position: int) -> None:
        if self._syncing:
            return
        self._syncing = True
        try:
            self._show(self._from_position(position))
        finally:
            self._syncing = False
        self.changed.emit()

    @guarded
    def _spin_changed(self, value: float) -> None:
        if self._syncing:
            return
        if self.slider is not None:
            self._syncing = True
            try:
                self.slider.setValue(self._to_position(value))
            finally:
                self._syncing = False
        self.changed.emit()

    def value(self) -> int | float:
        """Return the number shown (int for int parameters)."""
        number = self.spin.value()
        return int(number) if self.spec.kind == "int" else float(number)

    def set_value(self, value: Any) -> None:
        """Show `value`, clipped to the range."""
        number = min(self._hi, max(self._lo, float(value)))
        self._syncing = True
        try:
            self._show(number)
            if self.slider is not None:
                self.slider.setValue(self._to_position(number))
        finally:
            self._syncing = False


class ChoiceEditor(ParamEditor):
    """Drop-down of a choice parameter; item data are the choice strings."""

    def __init__(self, spec: ParamSpec, parent: QWidget | None = None) -> None:
        super().__init__(spec, parent)
        self.combo = QComboBox(self)
        self.combo.setObjectName("combo")
        self.combo.setToolTip(self.toolTip())
        for choice in spec.choices or ():
            self.combo.addItem(choice_text(choice), choice)
        self._layout.addWidget(self.combo, 1)
        if spec.default is not None:
            self.set_value(spec.default)
        self.combo.currentIndexChanged.connect(self._emit)

    def value(self) -> str:
        """Return the selected choice."""
        return str(self.combo.currentData())

    def set_value(self, value: Any) -> None:
        """Select `value`."""
        index = self.combo.findData(str(value))
        if index >= 0:
            self.combo.blockSignals(True)
            self.combo.setCurrentIndex(index)
            self.combo.blockSignals(False)


class BoolEditor(ParamEditor):
    """Check box of a bool parameter."""

    def __init__(self, spec: ParamSpec, parent: QWidget | None = None) -> None:
        super().__init__(spec, parent)
        self.check = QCheckBox(self)
        self.check.setObjectName("check")
        self.check.setToolTip(self.toolTip())
        self._layout.addWidget(self.check, 1)
        self.set_value(bool(spec.default))
        self.check.toggled.connect(self._emit)

    def value(self) -> bool:
        """Return whether the box is checked."""
        return self.check.isChecked()

    def set_value(self, value: Any) -> None:
        """Check or uncheck the box."""
        self.check.blockSignals(True)
        self.check.setChecked(bool(value))
        self.check.blockSignals(False)


class TextEditor(ParamEditor):
    """Line edit of a free-text parameter."""

    def __init__(self, spec: ParamSpec, parent: QWidget | None = None) -> None:
        super().__init__(spec, parent)
        self.edit = QLineEdit(self)
        self.edit.setObjectName("edit")
        self.edit.setToolTip(self.toolTip())
        self._layout.addWidget(self.edit, 1)
        self.set_value("" if spec.default is None else spec.default)
        self.edit.textEdited.connect(self._emit)

    def value(self) -> str:
        """Return the text."""
        return self.edit.text()

    def set_value(self, value: Any) -> None:
        """Show `value` as text."""
        self.edit.setText(str(value))


class PointEditor(ParamEditor):
    """Two spin boxes for a point ``(x, y)`` in image pixels.

    Parameters
    ----------
    size : tuple of int, optional
        ``(width, height)`` of the image: the range of each coordinate
        when the spec declares none.
    """

    def __init__(self, spec: ParamSpec, parent: QWidget | None = None,
                 size: tuple[int, int] | None = None) -> None:
        super().__init__(spec, parent)
        width, height = size if size is not None else (_UNBOUNDED, _UNBOUNDED)
        self.spins: list[QDoubleSpinBox] = []
        for axis, extent in (("x", width), ("y", height)):
            label = QLabel(f"{axis}:", self)
            spin = QDoubleSpinBox(self)
            spin.setObjectName(f"spin-{axis}")
            spin.setDecimals(1)
            lo = spec.min if spec.min is not None else 0.0
            hi = spec.max if spec.max is not None else float(extent)
            spin.setRange(lo, hi)
            spin.setSingleStep(spec.step or 1.0)
            spin.setSuffix(f" {spec.unit or 'px'}")
            spin.setToolTip(self.toolTip())
            self._layout.addWidget(label)
            self._layout.addWidget(spin, 1)
            spin.valueChanged.connect(self._emit)
            self.spins.append(spin)
        if spec.default is not None:
            self.set_value(spec.default)
        elif size is not None:
            self.set_value((size[0] / 2.0, size[1] / 2.0))

    def value(self) -> tuple[float, float]:
        """Return ``(x, y)``."""
        return (self.spins[0].value(), self.spins[1].value())

    def set_value(self, value: Any) -> None:
        """Show point `value`."""
        for spin, number in zip(self.spins, value, strict=False):
            spin.blockSignals(True)
            spin.setValue(float(number))
            spin.blockSignals(False)


class ColorEditor(ParamEditor):
    """Button showing a colour ``(r, g, b)`` in [0, 1]; click to pick."""

    def __init__(self, spec: ParamSpec, parent: QWidget | None = None) -> None:
        super().__init__(spec, parent)
        self.button = QPushButton(self)
        self.button.setObjectName("color")
        self.button.setToolTip(self.toolTip())
        self.button.setMinimumWidth(90)
        self._layout.addWidget(self.button, 1)
        self._value: tuple[float, float, float] = (0.5, 0.5, 0.5)
        self.set_value(spec.default if spec.default is not None else self._value)
        self.button.clicked.connect(self._pick)

    @guarded
    def _pick(self, *_: Any) -> None:
        chosen = QColorDialog.getColor(QColor.fromRgbF(*self._value), self, self.spec.label)
        if chosen.isValid():
            self.set_value((chosen.redF(), chosen.greenF(), chosen.blueF()))
            self.changed.emit()

    def value(self) -> tuple[float, float, float]:
        """Return ``(r, g, b)`` in [0, 1]."""
        return self._value

    def set_value(self, value: Any) -> None:
        """Show colour `value` (validated: a triple or ``'#rrggbb'``)."""
        r, g, b = self.spec.validate(value) if value is not None else self._value
        self._value = (float(r), float(g), float(b))
        color = QColor.fromRgbF(*(min(1.0, max(0.0, c)) for c in self._value))
        text = "#000000" if color.lightnessF() > 0.5 else "#ffffff"
        self.button.setText(color.name())
        self.button.setStyleSheet(f"background-color: {color.name()}; color: {text};")


class LayerEditor(ParamEditor):
    """Drop-down of the layers a host offers for an array parameter.

    Item data are the layers' keys; the first item, "None", leaves the
    parameter at None (e.g. detect the damage, estimate the PSF). The
    dialog reads the chosen layer (:func:`photomend.hosts.layers.layer_array`).

    Parameters
    ----------
    spec : ParamSpec
        An array parameter with a layer role.
    layers : sequence of LayerSource
        The layers to offer, in the host's order.
    """

    NONE_TEXT = "None"

    def __init__(self, spec: ParamSpec, layers: Sequence[LayerSource],
                 parent: QWidget | None = None) -> None:
        super().__init__(spec, parent)
        self.combo = QComboBox(self)
        self.combo.setObjectName("layers")
        self.combo.addItem(self.NONE_TEXT, None)
        for layer in layers:
            if spec.layer == "plane" or not layer.planes_only:
                self.combo.addItem(layer.name, layer.key)
        if not layers:
            self.setToolTip(self.toolTip() + "\n\nAdd a layer to choose it here.")
        self.combo.setToolTip(self.toolTip())
        self._layout.addWidget(self.combo, 1)
        self.combo.currentIndexChanged.connect(self._emit)

    def value(self) -> str | None:
        """Return the chosen layer's key, or None."""
        key = self.combo.currentData()
        return None if key is None else str(key)

    def index_of(self, value: Any) -> int:
        """Return the item of a layer key or name (0, "None", for None).

        Raises
        ------
        ParameterError
            If no offered layer has that key or name.
        """
        index = 0 if value is None else self.combo.findData(str(value))
        if index < 0:
            index = self.combo.findText(str(value))
        if index < 0 or (index == 0 and value is not None):
            names = ", ".join(repr(self.combo.itemText(i))
                              for i in range(1, self.combo.count())) or "none"
            msg = f"{self.spec.label}: there is no layer {value!r} (layers: {names})"
            raise ParameterError(msg)
        return index

    def set_index(self, index: int) -> None:
        """Show item `index` without signalling a change."""
        self.combo.blockSignals(True)
        self.combo.setCurrentIndex(index)
        self.combo.blockSignals(False)

    def set_value(self, value: Any) -> None:
        """Choose a layer by key or by name; None chooses "None".

        Raises
        ------
        ParameterError
            If no offered layer has that key or name.
        """
        self.set_index(self.index_of(value))


class OptionalEditor(ParamEditor):
    """An editor with an "Auto" check box in front: checked means None.

    Attributes
    ----------
    auto : QCheckBox
        Checked when the value is None (the operation decides).
    inner : ParamEditor
        The editor of the value when not automatic.
    """

    def __init__(self, spec: ParamSpec, inner: ParamEditor,
                 parent: QWidget | None = None) -> None:
        super().__init__(spec, parent)
        self.inner = inner
        self.auto = QCheckBox("Auto", self)
        self.auto.setObjectName("auto")
        self.auto.setToolTip("Let the operation choose this value.")
        inner.setParent(self)
        inner.setObjectName("inner")
        self._layout.addWidget(self.auto)
        self._layout.addWidget(inner, 1)
        self.set_value(spec.default)
        self.auto.toggled.connect(self._auto_toggled)
        inner.changed.connect(self._emit)

    @guarded
    def _auto_toggled(self, checked: bool) -> None:
        self.inner.setEnabled(not checked)
        self.changed.emit()

    def value(self) -> Any:
        """Return None when automatic, else the inner editor's value."""
        return None if self.auto.isChecked() else self.inner.value()

    def set_value(self, value: Any) -> None:
        """Show `value`; None checks "Auto"."""
        self.auto.blockSignals(True)
        self.auto.setChecked(value is None)
        self.auto.blockSignals(False)
        self.inner.setEnabled(value is not None)
        if value is not None:
            self.inner.set_value(value)


def make_editor(spec: ParamSpec, parent: QWidget | None = None,
                size: tuple[int, int] | None = None,
                layers: Sequence[LayerSource] | None = None) -> ParamEditor | None:
    """Return the editor widget for `spec`, or None for API-only kinds.

    Parameters
    ----------
    spec : ParamSpec
        The parameter.
    parent : QWidget, optional
        Parent widget.
    size : tuple of int, optional
        ``(width, height)`` of the image, bounding point parameters.
    layers : sequence of LayerSource, optional
        The layers a host offers: array parameters with a layer role get a
        :class:`LayerEditor`. None (no host layers): they get no editor.
    """
    editor: ParamEditor
    kind = spec.kind
    if kind == "array" and spec.layer and layers is not None:
        return LayerEditor(spec, layers, parent)  # "None" is its own choice
    if kind in ("float", "int"):
        editor = NumberEditor(spec, parent)
    elif kind == "choice":
        editor = ChoiceEditor(spec, parent)
    elif kind == "bool":
        editor = BoolEditor(spec, parent)
    elif kind == "str":
        editor = TextEditor(spec, parent)
    elif kind == "point":
        editor = PointEditor(spec, parent, size)
    elif kind == "color":
        editor = ColorEditor(spec, parent)
    else:
        return None
    if spec.optional and kind != "bool":
        editor = OptionalEditor(spec, editor, parent)
    return editor
