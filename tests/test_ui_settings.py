"""photomend.ui.settings: remembered values and presets in one JSON file (no Qt needed)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import photomend
from photomend.ui.settings import Settings, default_settings_path


@pytest.fixture
def spec():
    return photomend.get_operation("sharpen")


@pytest.fixture
def settings(tmp_path):
    return Settings(tmp_path / "sub" / "ui.json")


def test_importing_the_ui_package_loads_no_qt():
    code = ("import sys, photomend, photomend.ui, photomend.ui.settings; "
            "photomend.operations(); "
            "assert 'PyQt5' not in sys.modules, sorted(m for m in sys.modules if 'Qt' in m)")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_default_path_is_in_the_user_config_dir():
    path = default_settings_path()
    assert path.parts[-2:] == ("photomend", "ui.json")
    assert path.is_absolute()


def test_missing_file_means_nothing_remembered(settings, spec):
    assert settings.last_values(spec) == {}
    assert settings.last_output(spec) is None
    assert settings.presets(spec) == {}


def test_last_values_round_trip(settings, spec):
    values = spec.bind({"radius": 3.5, "channels": "rgb"})
    settings.save_last(spec, values, "new-layer")
    assert settings.last_values(spec) == values
    assert settings.last_output(spec) == "new-layer"
    data = json.loads(settings.path.read_text())
    assert data["operations"]["sharpen"]["last"]["radius"] == 3.5


def test_presets_round_trip_and_delete(settings, spec):
    settings.save_preset(spec, " Strong ", spec.bind({"amount": 2.0}))
    settings.save_preset(spec, "soft", spec.bind({"amount": 0.2}))
    presets = settings.presets(spec)
    assert list(presets) == ["soft", "Strong"]  # sorted, case-insensitively
    assert presets["Strong"]["amount"] == 2.0
    settings.delete_preset(spec, "Strong")
    assert list(settings.presets(spec)) == ["soft"]
    settings.delete_preset(spec, "no such preset")  # quietly nothing
    with pytest.raises(photomend.ParameterError, match="needs a name"):
        settings.save_preset(spec, "  ", {})


def test_invalid_or_unknown_stored_values_are_dropped(settings, spec):
    settings.path.parent.mkdir(parents=True)
    settings.path.write_text(json.dumps({"version": 1, "operations": {"sharpen": {
        "last": {"radius": 1000, "amount": "x", "channels": "RGB", "gone": 1, "threshold": 0.25},
        "presets": {"p": {"radius": -1, "amount": 1.5}}}}}))
    assert settings.last_values(spec) == {"channels": "rgb", "threshold": 0.25}
    assert settings.presets(spec) == {"p": {"amount": 1.5}}


def test_damaged_file_is_ignored_and_replaced_on_save(settings, spec):
    settings.path.parent.mkdir(parents=True)
    settings.path.write_text("{not json")
    assert settings.last_values(spec) == {}
    settings.save_last(spec, spec.defaults())
    assert settings.last_values(spec) == spec.defaults()


def test_writes_keep_other_operations_entries(tmp_path, spec):
    path = tmp_path / "ui.json"
    first, second = Settings(path), Settings(path)
    first.save_preset(spec, "a", spec.defaults())
    other = json.loads(path.read_text())
    other["operations"]["someone-else"] = {"last": {"x": 1}}
    path.write_text(json.dumps(other))
    second.save_last(spec, spec.defaults())  # another dialog writing later
    data = json.loads(path.read_text())
    assert "someone-else" in data["operations"]
    assert "a" in data["operations"]["sharpen"]["presets"]
    assert not list(tmp_path.glob(".ui-*"))  # no temporary files left behind
