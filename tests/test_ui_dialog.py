"""photomend.ui.FilterDialog: widgets generated from the registry, presets, remembered values."""

from __future__ import annotations

import json
import os
from typing import Annotated

import numpy as np
import pytest

os.environ["QT_QPA_PLATFORM"] = "offscreen"  # before any QApplication exists
pytest.importorskip("PyQt5.QtWidgets")
pytest.importorskip("pytestqt")

from PyQt5.QtCore import Qt
from PyQt5.QtWidgets import QCheckBox, QComboBox, QLineEdit, QMessageBox

import photomend
from photomend import Param, registry
from photomend.ui import FilterDialog, messages, show_error
from photomend.ui.preview import same_values
from photomend.ui.widgets import (
    BoolEditor,
    ChoiceEditor,
    ColorEditor,
    NumberEditor,
    OptionalEditor,
    PointEditor,
    TextEditor,
)

OPS = [spec.id for spec in photomend.operations()]
EDITOR_TYPES = {"float": NumberEditor, "int": NumberEditor, "choice": ChoiceEditor,
                "bool": BoolEditor, "str": TextEditor, "point": PointEditor,
                "color": ColorEditor}


@pytest.fixture(autouse=True)
def fail_on_swallowed_errors():
    """Slots show unexpected errors instead of raising; a test must still fail on them."""
    caught: list[BaseException] = []
    messages.unexpected_error_hooks.append(caught.append)
    yield
    messages.unexpected_error_hooks.remove(caught.append)
    assert not caught, f"unexpected errors caught in slots: {caught!r}"


@pytest.fixture
def image():
    rng = np.random.default_rng(7)
    return photomend.Image.from_array(rng.random((60, 80, 3), dtype=np.float32))


@pytest.fixture
def settings_path(tmp_path):
    return tmp_path / "ui.json"


@pytest.fixture
def make_dialog(qtbot, image, settings_path):
    made = []

    def make(op_id="sharpen", mask=None):
        dialog = FilterDialog(photomend.get_operation(op_id), image, mask,
                              settings_path=settings_path)
        dialog.preview.delay_ms = 5
        qtbot.addWidget(dialog)
        made.append(dialog)
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


def _inner(editor):
    return editor.inner if isinstance(editor, OptionalEditor) else editor


def _non_default(p):
    """A valid value different from the default, or None if there is none."""
    if p.kind in ("float", "int") and p.max is not None and p.max != p.default:
        return p.max
    if p.kind in ("float", "int") and p.min is not None and p.min != p.default:
        return p.min
    if p.kind == "choice":
        return next((c for c in p.choices if c != p.default), None)
    if p.kind == "bool":
        return not p.default
    return None


# -- generated widgets --------------------------------------------------------
@pytest.mark.parametrize("op_id", OPS)
def test_widgets_match_the_spec(make_dialog, op_id):
    spec = photomend.get_operation(op_id)
    dialog = make_dialog(op_id)
    assert dialog.windowTitle() == spec.plain_label
    assert set(dialog.editors) == {p.name for p in spec.params if p.kind in EDITOR_TYPES}
    for p in spec.params:
        if p.kind not in EDITOR_TYPES:
            continue
        editor = dialog.editors[p.name]
        inner = _inner(editor)
        assert isinstance(inner, EDITOR_TYPES[p.kind]), p.name
        assert isinstance(editor, OptionalEditor) == (p.optional and p.kind != "bool")
        assert dialog.labels[p.name].text() == p.label
        if p.help:
            assert p.help in editor.toolTip()
            assert p.help in dialog.labels[p.name].toolTip()
        assert dialog.advanced_box.isAncestorOf(editor) == p.advanced
        if p.kind in ("float", "int"):
            spin = inner.spin
            if p.min is not None:
                assert spin.minimum() == pytest.approx(p.min)
            if p.max is not None:
                assert spin.maximum() == pytest.approx(p.max)
            if p.step:
                assert spin.singleStep() == pytest.approx(p.step)
            assert spin.suffix().strip() == p.unit
            if p.kind == "float" and p.min is not None and p.max is not None:
                assert inner.slider is not None
        elif p.kind == "choice":
            combo = inner.combo
            assert [combo.itemData(i) for i in range(combo.count())] == list(p.choices)
        elif p.kind == "bool":
            assert isinstance(inner.check, QCheckBox)
    assert same_values(dialog.values(), spec.bind({}))
    assert dialog.output == ("new-layer" if spec.output == "mask" else "in-place")


@pytest.mark.parametrize("op_id", OPS)
def test_every_slider_position_is_a_valid_value(make_dialog, op_id):
    """Invalid values are impossible: both ends of every slider, and every step, validate."""
    spec = photomend.get_operation(op_id)
    dialog = make_dialog(op_id)
    for name, editor in dialog.editors.items():
        inner = _inner(editor)
        if not isinstance(inner, NumberEditor) or inner.slider is None:
            continue
        p = spec.param(name)
        if editor is not inner:  # an optional parameter: leave "Auto" to set a value
            editor.auto.setChecked(False)
        slider = inner.slider
        positions = range(slider.minimum(), slider.maximum() + 1,
                          max(1, (slider.maximum() - slider.minimum()) // 50))
        for position in [*positions, slider.maximum()]:
            slider.setValue(position)
            assert inner.spin.value() == pytest.approx(inner.value())
            assert p.validate(inner.value()) == pytest.approx(inner.value())
        slider.setValue(slider.maximum())
        assert dialog.values()[name] == pytest.approx(p.max)
        slider.setValue(slider.minimum())
        assert dialog.values()[name] == pytest.approx(p.min)


def test_slider_and_spin_box_stay_in_sync(make_dialog, qtbot):
    dialog = make_dialog("sharpen")
    radius = dialog.editors["radius"]
    assert radius.spin.suffix() == " px"
    radius.slider.setValue(49)  # 0.1 + 49 × 0.1 px
    assert radius.spin.value() == pytest.approx(5.0)
    assert dialog.values()["radius"] == pytest.approx(5.0)
    radius.spin.setValue(7.3)
    assert radius.slider.value() == 72
    assert dialog.values()["radius"] == pytest.approx(7.3)
    radius.slider.setFocus()
    qtbot.keyClick(radius.slider, Qt.Key.Key_Right)  # one step with the keyboard
    assert dialog.values()["radius"] == pytest.approx(7.4)
    channels = dialog.editors["channels"]
    channels.combo.setCurrentIndex(channels.combo.findData("rgb"))
    assert dialog.values()["channels"] == "rgb"


def test_out_of_range_values_cannot_be_entered(make_dialog):
    dialog = make_dialog("sharpen")
    spin = dialog.editors["radius"].spin
    spin.setValue(1000.0)
    assert dialog.values()["radius"] == 100.0
    spin.setValue(-5.0)
    assert dialog.values()["radius"] == pytest.approx(0.1)
    spin.lineEdit().setText("250 px")
    spin.interpretText()
    assert dialog.values()["radius"] <= 100.0
    with pytest.raises(photomend.ParameterError,
                       match=r"sharpen: radius must be 0\.1 to 100 px, got 500 px"):
        dialog.set_values({"radius": 500})
    assert dialog.values()["radius"] <= 100.0


@pytest.mark.parametrize("op_id", OPS)
def test_reset_restores_the_defaults(make_dialog, qtbot, op_id):
    spec = photomend.get_operation(op_id)
    dialog = make_dialog(op_id)
    changes = {p.name: _non_default(p) for p in spec.params
               if p.name in dialog.editors and _non_default(p) is not None}
    dialog.set_values(changes)
    if changes:
        assert not same_values(dialog.values(), spec.bind({}))
    qtbot.mouseClick(dialog.reset_button, Qt.MouseButton.LeftButton)
    assert same_values(dialog.values(), spec.bind({}))


def test_advanced_parameters_sit_in_a_collapsible_group(make_dialog, fake_ops, qtbot):
    @fake_ops("test-ui-advanced", label="Advanced", menu="Test", local=True, halo=0)
    def advanced(
        image: np.ndarray,
        *,
        strength: Annotated[float, Param("How much.", min=0.0, max=1.0)] = 0.5,
        iterations: Annotated[int, Param("Rounds.", min=1, max=10, advanced=True)] = 3,
    ) -> np.ndarray:
        """Do nothing, with an advanced knob."""
        return image

    dialog = make_dialog("test-ui-advanced")
    dialog.show()
    assert not dialog.advanced_toggle.isHidden()
    assert dialog.advanced_box.isAncestorOf(dialog.editors["iterations"])
    assert not dialog.advanced_box.isAncestorOf(dialog.editors["strength"])
    assert not dialog.advanced_box.isVisible()
    qtbot.mouseClick(dialog.advanced_toggle, Qt.MouseButton.LeftButton)
    assert dialog.advanced_box.isVisible()
    assert dialog.values() == {"strength": 0.5, "iterations": 3}

    plain = make_dialog("sharpen")
    assert plain.advanced_toggle.isHidden()


def test_point_colour_text_and_optional_editors(make_dialog, fake_ops, settings_path):
    @fake_ops("test-ui-kinds", label="Kinds", menu="Test")
    def kinds(
        image: np.ndarray,
        *,
        centre: Annotated[tuple | None, Param("Where.", kind="point")] = None,
        tint: Annotated[tuple, Param("Colour.", kind="color")] = (1.0, 0.5, 0.0),
        note: Annotated[str, Param("Free text.")] = "hello",
        sigma: Annotated[float | None, Param("None = estimate.", min=0.0, max=5.0)] = None,
        flag: Annotated[bool, Param("A switch.")] = True,
    ) -> np.ndarray:
        """Do nothing with many kinds of parameter."""
        return image

    dialog = make_dialog("test-ui-kinds")
    assert dialog.values() == {"centre": None, "tint": (1.0, 0.5, 0.0), "note": "hello",
                               "sigma": None, "flag": True}
    centre = dialog.editors["centre"]
    assert isinstance(centre, OptionalEditor)
    assert centre.auto.isChecked()
    assert not centre.inner.isEnabled()
    centre.auto.setChecked(False)
    assert dialog.values()["centre"] == (40.0, 30.0)  # the image centre to start from
    assert centre.inner.spins[0].maximum() == 80.0  # x within the image width
    dialog.editors["tint"].set_value("#0080ff")
    assert isinstance(dialog.editors["note"].edit, QLineEdit)
    dialog.set_values({"note": "bye", "sigma": 2.5, "centre": (10, 20)})
    values = dialog.values()
    assert values["tint"] == pytest.approx((0.0, 128 / 255, 1.0))
    assert (values["note"], values["sigma"], values["centre"]) == ("bye", 2.5, (10.0, 20.0))
    dialog.accept()
    again = make_dialog("test-ui-kinds")  # restored from JSON lists to tuples
    assert same_values(again.values(), values)


def test_an_operation_without_widget_parameters_still_opens(make_dialog, fake_ops):
    @fake_ops("test-ui-bare", label="Bare", menu="Test")
    def bare(image: np.ndarray, *,
             weights: Annotated[np.ndarray | None, Param("API only.", kind="array")] = None,
             ) -> np.ndarray:
        """Do nothing."""
        return image

    dialog = make_dialog("test-ui-bare")
    assert dialog.editors == {}
    assert dialog.values() == {"weights": None}


# -- presets and remembered values -------------------------------------------
def test_presets_round_trip_through_the_settings_file(make_dialog, settings_path,
                                                     monkeypatch):
    dialog = make_dialog("sharpen")
    dialog.set_values({"radius": 5.0, "channels": "rgb"})
    dialog.save_preset("Strong")
    stored = json.loads(settings_path.read_text())["operations"]["sharpen"]["presets"]
    assert stored["Strong"] == {"radius": 5.0, "amount": 0.5, "threshold": 0.0,
                                "channels": "rgb"}
    assert dialog.preset_combo.currentText() == "Strong"

    # the Save… button asks for a name
    monkeypatch.setattr("photomend.ui.dialog.QInputDialog.getText",
                        lambda *args, **kwargs: ("Soft", True))
    dialog.set_values({"amount": 0.1})
    dialog.save_preset_button.click()
    assert dialog.preset_names() == ["Soft", "Strong"]

    reopened = make_dialog("sharpen")
    assert [reopened.preset_combo.itemText(i) for i in range(reopened.preset_combo.count())][1:] \
        == ["Soft", "Strong"]
    index = reopened.preset_combo.findData("Strong")
    reopened.preset_combo.setCurrentIndex(index)
    reopened.preset_combo.activated.emit(index)  # as if picked by the user
    assert reopened.values() == {"radius": 5.0, "amount": 0.5, "threshold": 0.0,
                                 "channels": "rgb"}
    assert reopened.delete_preset_button.isEnabled()
    reopened.delete_preset_button.click()
    assert reopened.preset_names() == ["Soft"]
    assert "Strong" not in json.loads(settings_path.read_text())["operations"]["sharpen"][
        "presets"]


def test_last_values_and_output_are_restored_on_reopen(make_dialog, qtbot):
    dialog = make_dialog("sharpen")
    dialog.set_values({"radius": 3.3, "threshold": 0.02})
    dialog.output = "new-layer"
    qtbot.mouseClick(dialog.buttons.button(dialog.buttons.Ok), Qt.MouseButton.LeftButton)
    assert dialog.result() == dialog.Accepted

    reopened = make_dialog("sharpen")
    assert reopened.values()["radius"] == pytest.approx(3.3)
    assert reopened.values()["threshold"] == pytest.approx(0.02)
    assert reopened.output == "new-layer"

    # Cancel forgets what was changed
    reopened.set_values({"radius": 9.0})
    reopened.reject()
    assert make_dialog("sharpen").values()["radius"] == pytest.approx(3.3)


def test_invalid_remembered_values_fall_back_to_defaults(make_dialog, settings_path):
    settings_path.write_text(json.dumps({"version": 1, "operations": {"sharpen": {
        "last": {"radius": 1e6, "amount": 1.25, "bogus": 1}, "output": "elsewhere"}}}))
    dialog = make_dialog("sharpen")
    assert dialog.values() == {"radius": 2.0, "amount": 1.25, "threshold": 0.0,
                               "channels": "luminance"}
    assert dialog.output == "in-place"


# -- errors -------------------------------------------------------------------
def test_core_errors_in_slots_are_shown_in_a_message_box(make_dialog, settings_path, qtbot):
    dialog = make_dialog("sharpen")
    dialog.save_preset("Gone")
    data = json.loads(settings_path.read_text())
    del data["operations"]["sharpen"]["presets"]["Gone"]  # deleted by another window
    settings_path.write_text(json.dumps(data))
    index = dialog.preset_combo.findData("Gone")
    dialog.preset_combo.activated.emit(index)  # must not raise out of the slot
    boxes = [b for b in dialog.findChildren(QMessageBox) if b.isVisible()]
    assert len(boxes) == 1
    assert boxes[0].text() == "Sharpen (Unsharp Mask) has no preset 'Gone' (presets: none)"
    assert dialog.last_error == boxes[0].text()
    boxes[0].close()


def test_unexpected_errors_keep_their_traceback(qtbot, capsys):
    try:
        raise RuntimeError("boom")
    except RuntimeError as error:
        box = show_error(None, error, wait=False)
    qtbot.addWidget(box)
    assert box.text() == "Unexpected error: RuntimeError: boom"
    assert "Traceback" in box.detailedText()
    assert "RuntimeError: boom" in capsys.readouterr().err
    core = show_error(None, photomend.MaskError("the selection is empty"), wait=False)
    qtbot.addWidget(core)
    assert core.text() == "the selection is empty"  # the core's own wording
    box.close()
    core.close()


def test_output_choice(make_dialog):
    dialog = make_dialog("sharpen")
    assert isinstance(dialog.output_combo, QComboBox)
    dialog.output = "new-layer"
    assert dialog.output == "new-layer"
    with pytest.raises(photomend.PhotomendError, match="output must be one of"):
        dialog.output = "sideways"


# -- layer parameters -----------------------------------------------------------
def _layers(image, reads):
    """Two host layers: a damage stroke (white on transparency) and a gray plane."""
    from photomend.hosts.layers import LayerSource

    h, w = image.height, image.width
    stroke = np.zeros((h, w), np.float32)
    stroke[20:24, 10:50] = 1.0
    damage = photomend.Image(color=np.ones((h, w, 3), np.float32), alpha=stroke,
                             dtype=np.dtype(np.uint8))
    gray = photomend.Image(color=np.full((h, w, 1), 0.8, np.float32), dtype=np.dtype(np.uint16))

    def read(key, layer):
        reads.append(key)
        return layer

    return [LayerSource("11", "Damage", lambda: read("11", damage)),
            LayerSource("12", "Infrared", lambda: read("12", gray))], stroke


def test_layer_parameters_offer_the_hosts_layers(qtbot, image, settings_path):
    from photomend.ui.widgets import LayerEditor

    spec = photomend.get_operation("remove-defects")
    reads: list[str] = []
    layers, stroke = _layers(image, reads)
    dialog = FilterDialog(spec, image, None, settings_path=settings_path, layers=layers)
    qtbot.addWidget(dialog)
    dialog.preview.set_enabled(False)
    layer_params = [p.name for p in spec.params if p.layer]
    assert layer_params == ["infrared", "damage"]
    for name in layer_params:
        editor = dialog.editors[name]
        assert isinstance(editor, LayerEditor)
        combo = editor.combo
        assert [combo.itemText(i) for i in range(combo.count())] == ["None", "Damage",
                                                                      "Infrared"]
        assert spec.param(name).help in dialog.labels[name].toolTip()
    assert dialog.layer_keys() == {"infrared": None, "damage": None}
    assert dialog.values()["damage"] is None and reads == []  # nothing read until chosen

    dialog.set_values({"damage": "Damage"})  # by name
    assert dialog.layer_keys() == {"infrared": None, "damage": "11"}
    values = dialog.values()
    np.testing.assert_array_equal(values["damage"], stroke)
    dialog.values()
    assert reads == ["11"]  # read once
    dialog.set_values({"infrared": "12"})  # by key
    np.testing.assert_allclose(dialog.values()["infrared"], 0.8)

    with pytest.raises(photomend.ParameterError, match=r"no layer 'Nope'.*'Damage', 'Infrared'"):
        dialog.set_values({"damage": "Nope", "sensitivity": 0.9})
    assert dialog.layer_keys()["damage"] == "11"
    assert dialog.editors["sensitivity"].value() != 0.9  # nothing changed
    with pytest.raises(photomend.ParameterError, match="choose a layer"):
        dialog.set_values({"damage": stroke})

    dialog.accept()  # choices are not remembered: layers differ between documents
    again = FilterDialog(spec, image, None, settings_path=settings_path, layers=layers)
    qtbot.addWidget(again)
    again.preview.set_enabled(False)
    assert again.layer_keys() == {"infrared": None, "damage": None}
    dialog.reset()
    assert dialog.layer_keys() == {"infrared": None, "damage": None}
    again.done(0)

    bare = FilterDialog(spec, image, None, settings_path=settings_path)  # no host layers
    qtbot.addWidget(bare)
    bare.preview.set_enabled(False)
    assert not set(layer_params) & set(bare.editors)
    bare.done(0)


def test_a_layer_of_the_wrong_size_is_refused(qtbot, image, settings_path):
    from photomend.hosts.layers import LayerSource

    small = photomend.Image(color=np.ones((10, 10, 3), np.float32), dtype=np.dtype(np.uint8))
    spec = photomend.get_operation("inpaint")
    dialog = FilterDialog(spec, image, None, settings_path=settings_path,
                          layers=[LayerSource("1", "Small", lambda: small)])
    qtbot.addWidget(dialog)
    dialog.preview.set_enabled(False)
    dialog.set_values({"source": "Small"})
    with pytest.raises(photomend.ImageError, match="“Small” was read as 10×10 px, not the "
                                                   "image's 80×60"):
        dialog.values()
    dialog.done(0)


def test_layer_choices_change_all_or_nothing_and_stay_out_of_presets(qtbot, image,
                                                                     settings_path):
    from photomend.hosts.layers import LayerSource

    spec = photomend.get_operation("remove-defects")
    reads: list[str] = []
    layers, _ = _layers(image, reads)
    broken = LayerSource("13", "Broken", lambda: photomend.Image(
        color=np.ones((3, 3, 3), np.float32), dtype=np.dtype(np.uint8)))
    dialog = FilterDialog(spec, image, None, settings_path=settings_path,
                          layers=[*layers, broken])
    qtbot.addWidget(dialog)
    dialog.preview.set_enabled(False)
    for bad in ({"damage": "Damage", "infrared": "Nope"}, {"infrared": "Nope", "damage": "12"}):
        with pytest.raises(photomend.ParameterError, match="no layer 'Nope'"):
            dialog.set_values(bad)
        assert dialog.layer_keys() == {"infrared": None, "damage": None}

    dialog.set_values({"damage": "Broken", "sensitivity": 0.8})
    with pytest.raises(photomend.ImageError, match="“Broken” was read as 3×3 px"):
        dialog.values()
    dialog.save_preset("strict")  # a bad layer choice does not block presets
    assert "damage" not in json.loads(settings_path.read_text())["operations"][spec.id][
        "presets"]["strict"]
    dialog.set_values({"damage": "Damage", "sensitivity": 0.3})
    dialog.load_preset("strict")
    assert dialog.editors["sensitivity"].value() == pytest.approx(0.8)
    assert dialog.layer_keys()["damage"] == "11"  # a preset leaves the layers chosen

    dialog.values()
    dialog.set_values({"damage": "Infrared"})
    dialog.values()
    assert list(dialog._layer_arrays) == ["damage"] and dialog._layer_arrays["damage"][0] == "12"
    assert reads == ["11", "12"]
    dialog.done(0)


def test_a_layer_with_alpha_offers_its_alpha_as_a_plane(qtbot, settings_path):
    """Hosts open an RGBI scan with its infrared as alpha: offered for planes, not PSFs."""
    from photomend.hosts.layers import OWN_ALPHA

    rng = np.random.default_rng(4)
    ir = np.full((40, 50), 0.9, np.float32)
    ir[10:13, 20:23] = 0.1
    rgba = np.dstack([rng.random((40, 50, 3)).astype(np.float32), ir])
    remove = FilterDialog(photomend.get_operation("remove-defects"), rgba, None,
                          settings_path=settings_path, layers=[])
    qtbot.addWidget(remove)
    remove.preview.set_enabled(False)
    combo = remove.editors["infrared"].combo
    assert [combo.itemData(i) for i in range(combo.count())] == [None, OWN_ALPHA]
    remove.set_values({"infrared": OWN_ALPHA})
    np.testing.assert_array_equal(remove.values()["infrared"], ir)
    remove.done(0)
    deblur = FilterDialog(photomend.get_operation("deblur"), rgba, None,
                          settings_path=settings_path, layers=[])
    qtbot.addWidget(deblur)
    deblur.preview.set_enabled(False)
    assert deblur.editors["psf"].combo.count() == 1  # "None" only
    deblur.done(0)
    opaque = rgba.copy()
    opaque[..., 3] = 1.0
    plain = FilterDialog(photomend.get_operation("remove-defects"), opaque, None,
                         settings_path=settings_path, layers=[])
    qtbot.addWidget(plain)
    plain.preview.set_enabled(False)
    assert plain.editors["infrared"].combo.count() == 1
    plain.done(0)
