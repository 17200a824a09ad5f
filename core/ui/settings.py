"""Remembered dialog values and named presets, kept in one JSON file.

The file holds, per operation id, the values of the last accepted dialog,
the chosen output and the user's named presets::

    {"version": 1,
     "operations": {"sharpen": {"last": {"radius": 2.0, ...},
                                "output": "in-place",
                                "presets": {"Scan 600 dpi": {...}}}}}

Values are checked against the operation's current parameters when read,
so a stale or hand-edited file never reaches an operation: unknown names
are dropped and invalid values fall back to the default. This module needs
no Qt except to find the default location.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ParameterError
from ..registry import OperationSpec

__all__ = ["Settings", "default_settings_path"]

_VERSION = 1
#: Parameter kinds whose values the file stores (arrays are API-only).
_STORED_KINDS = frozenset({"float", "int", "bool", "choice", "str", "point", "color"})


def default_settings_path() -> Path:
    """Return ``<user config dir>/photomend/ui.json``.

    The generic config location (``~/.config`` on Linux, ``%LOCALAPPDATA%``
    on Windows, ``~/Library/Preferences`` on macOS) rather than the
    application's own, so GIMP and Krita share remembered values and presets.
    """
    base = ""
    try:
        from PyQt5.QtCore import QStandardPaths

        base = QStandardPaths.writableLocation(QStandardPaths.GenericConfigLocation)
    except ImportError:  # pragma: no cover - Qt missing: settings still work
        pass
    if not base:
        base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "photomend" / "ui.json"


def _jsonable(value: Any) -> Any:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, (tuple, list, np.ndarray)):
        return [_jsonable(v) for v in value]
    return value


class Settings:
    """Read and write the UI settings file of one user.

    Every write re-reads the file and changes only the entry it is about,
    so two dialogs (or two hosts) open at once do not undo each other.

    Parameters
    ----------
    path : str or Path, optional
        The JSON file; default :func:`default_settings_path`.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else default_settings_path()

    # -- file -------------------------------------------------------------
    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            # Missing or damaged: start afresh rather than refuse to open.
            return {"version": _VERSION, "operations": {}}
        if not isinstance(data, dict) or not isinstance(data.get("operations"), dict):
            return {"version": _VERSION, "operations": {}}
        return data

    def _write(self, data: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False)
        # Write then rename, so a crash never leaves half a file behind.
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".ui-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def _entry(self, data: dict[str, Any], op_id: str) -> dict[str, Any]:
        entry = data["operations"].get(op_id)
        if not isinstance(entry, dict):
            entry = {}
            data["operations"][op_id] = entry
        return entry

    # -- values -----------------------------------------------------------
    @staticmethod
    def encode(spec: OperationSpec, values: Mapping[str, Any]) -> dict[str, Any]:
        """Return the storable part of `values` as JSON-ready data."""
        kinds = {p.name: p.kind for p in spec.params}
        return {name: _jsonable(v) for name, v in values.items()
                if kinds.get(name) in _STORED_KINDS}

    @staticmethod
    def decode(spec: OperationSpec, stored: Any) -> dict[str, Any]:
        """Return the valid values in `stored`, validated against `spec`.

        Unknown names, non-stored kinds and invalid values are left out, so
        the caller's defaults apply to them.
        """
        out: dict[str, Any] = {}
        if not isinstance(stored, dict):
            return out
        for p in spec.params:
            if p.name not in stored or p.kind not in _STORED_KINDS:
                continue
            try:
                out[p.name] = p.validate(stored[p.name], spec.id)
            except ParameterError:
                continue
        return out

    def last_values(self, spec: OperationSpec) -> dict[str, Any]:
        """Return the values last accepted for `spec` (may be empty)."""
        entry = self._read()["operations"].get(spec.id)
        return self.decode(spec, entry.get("last") if isinstance(entry, dict) else None)

    def save_last(self, spec: OperationSpec, values: Mapping[str, Any],
                  output: str | None = None) -> None:
        """Remember `values` (and the output) for the next dialog of `spec`."""
        data = self._read()
        entry = self._entry(data, spec.id)
        entry["last"] = self.encode(spec, values)
        if output is not None:
            entry["output"] = output
        self._write(data)

    def last_output(self, spec: OperationSpec) -> str | None:
        """Return the output choice of the last accepted dialog, if any."""
        entry = self._read()["operations"].get(spec.id)
        output = entry.get("output") if isinstance(entry, dict) else None
        return output if isinstance(output, str) else None

    # -- presets ----------------------------------------------------------
    def presets(self, spec: OperationSpec) -> dict[str, dict[str, Any]]:
        """Return the named presets of `spec`, sorted by name, values validated."""
        entry = self._read()["operations"].get(spec.id)
        stored = entry.get("presets") if isinstance(entry, dict) else None
        if not isinstance(stored, dict):
            return {}
        return {name: self.decode(spec, stored[name])
                for name in sorted(stored, key=str.casefold) if isinstance(name, str)}

    def save_preset(self, spec: OperationSpec, name: str, values: Mapping[str, Any]) -> None:
        """Store `values` as preset `name` of `spec`, replacing any such."""
        name = name.strip()
        if not name:
            msg = "a preset needs a name"
            raise ParameterError(msg)
        data = self._read()
        entry = self._entry(data, spec.id)
        presets = entry.get("presets")
        if not isinstance(presets, dict):
            presets = entry["presets"] = {}
        presets[name] = self.encode(spec, values)
        self._write(data)

    def delete_preset(self, spec: OperationSpec, name: str) -> None:
        """Remove preset `name` of `spec` (nothing happens if there is none)."""
        data = self._read()
        entry = data["operations"].get(spec.id)
        presets = entry.get("presets") if isinstance(entry, dict) else None
        if isinstance(presets, dict) and name in presets:
            del presets[name]
            self._write(data)
