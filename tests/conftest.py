"""Shared fixtures."""

from __future__ import annotations

import numpy as np
import pytest

from photomend import registry


@pytest.fixture
def scratch_registry():
    """Let a test register throw-away operations; the registry is restored after."""
    registry.operations()  # make sure the built-ins are loaded first
    saved = dict(registry._REGISTRY)
    yield registry
    registry._REGISTRY.clear()
    registry._REGISTRY.update(saved)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
