"""Registry-driven contract tests: every operation, parameter extremes.

Every registered operation must keep shape and type, leave its input
untouched, return finite values, be deterministic, change nothing outside
the mask, and refuse out-of-range parameters with a clear message.
"""

from __future__ import annotations

import numpy as np
import pytest

import photomend
from photomend import ParameterError

SPECS = photomend.operations()


def _scene(shape=(48, 56, 3), dtype=np.uint16, seed=7):
    """A small structured scene: gradient, edges, texture and a little noise."""
    rng = np.random.default_rng(seed)
    h, w = shape[:2]
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    base = 0.2 + 0.5 * x / w + 0.1 * np.sin(y / 3.0) * (x > w / 2)
    base[h // 3: h // 2, w // 4: w // 2] = 0.9
    base = base + 0.02 * rng.standard_normal((h, w)).astype(np.float32)
    chans = shape[2] if len(shape) == 3 else 1
    planes = np.stack([np.clip(base * (0.8 + 0.1 * c), 0, 1) for c in range(chans)], axis=-1)
    scale = np.iinfo(dtype).max if np.dtype(dtype).kind == "u" else 1.0
    out = (planes * scale).astype(dtype)
    return out if len(shape) == 3 else out[..., 0]


def _mask(shape):
    """A block, a thin line and a feathered edge, placed relative to the size."""
    h, w = shape[:2]
    m = np.zeros((h, w), np.float32)
    m[h // 5: h * 2 // 5, w // 4: w // 2] = 1.0
    m[h * 2 // 3: h * 2 // 3 + 2, w // 10: w * 3 // 4] = 1.0
    m[h * 2 // 5, w // 4: w // 2] = 0.5  # feathered edge
    return m


def _extremes(spec):
    yield "defaults", {}
    for p in spec.params:
        if p.kind in ("float", "int"):
            if p.min is not None:
                yield f"{p.name}=min", {p.name: p.min}
            if p.max is not None:
                yield f"{p.name}=max", {p.name: p.max}
        elif p.kind == "choice":
            for c in p.choices or ():
                yield f"{p.name}={c}", {p.name: c}
        elif p.kind == "bool":
            yield f"{p.name}={not p.default}", {p.name: not p.default}


CASES = [pytest.param(spec.id, params, id=f"{spec.id}[{label}]")
         for spec in SPECS for label, params in _extremes(spec)]


def _run(op_id, image, **params):
    spec = photomend.get_operation(op_id)
    mask = _mask(image.shape) if spec.mask_role == "damage" else None
    return photomend.run(op_id, image, mask=mask, **params)


@pytest.mark.parametrize(("op_id", "params"), CASES)
def test_contract(op_id, params):
    spec = photomend.get_operation(op_id)
    for shape, dtype in [((48, 56, 3), np.uint16), ((40, 44), np.uint8)]:
        image = _scene(shape, dtype)
        before = image.copy()
        out = _run(op_id, image, **params)
        np.testing.assert_array_equal(image, before, err_msg="input was modified")
        if spec.output == "mask":
            assert out.shape == image.shape[:2] and out.dtype == np.float32
            assert np.all((out >= 0) & (out <= 1))
        else:
            assert out.shape == image.shape and out.dtype == image.dtype
        if out.dtype.kind == "f":
            assert np.isfinite(out).all()
        again = _run(op_id, image, **params)
        np.testing.assert_array_equal(out, again, err_msg="not deterministic")


@pytest.mark.parametrize("op_id", [s.id for s in SPECS if s.output == "image"])
def test_nothing_changes_outside_the_mask(op_id):
    image = _scene((48, 56, 3), np.float32)
    mask = _mask(image.shape)
    out = photomend.run(op_id, image, mask=mask)
    outside = mask == 0
    np.testing.assert_array_equal(out[outside], image[outside])


@pytest.mark.parametrize("op_id", [s.id for s in SPECS])
def test_float_input_and_alpha(op_id):
    image = np.concatenate([_scene((32, 36, 3), np.float32),
                            np.linspace(0, 1, 32 * 36, dtype=np.float32).reshape(32, 36, 1)],
                           axis=-1)
    out = _run(op_id, image)
    if photomend.get_operation(op_id).output == "image":
        np.testing.assert_array_equal(out[..., 3], image[..., 3])


@pytest.mark.parametrize("op_id", [s.id for s in SPECS])
def test_out_of_range_parameters_are_refused(op_id):
    spec = photomend.get_operation(op_id)
    image = _scene((16, 16, 3), np.uint8)
    checked = 0
    for p in spec.params:
        if p.kind in ("float", "int") and p.max is not None:
            with pytest.raises(ParameterError, match=p.name):
                _run(op_id, image, **{p.name: p.max + 1000})
            checked += 1
        if p.kind == "choice":
            with pytest.raises(ParameterError, match=p.name):
                _run(op_id, image, **{p.name: "no-such-choice"})
            checked += 1
    with pytest.raises(ParameterError, match="no parameter"):
        _run(op_id, image, no_such_parameter=1)
