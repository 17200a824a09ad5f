import re
from typing import Annotated, Literal

import numpy as np
import pytest

import photomend
from photomend import Param, ParameterError, UnknownOperationError


def test_builtin_operations_are_listed():
    ids = [s.id for s in photomend.operations()]
    assert "sharpen" in ids
    assert len(ids) == len(set(ids))


def test_spec_derived_from_signature_and_metadata():
    spec = photomend.get_operation("sharpen")
    assert spec.summary == "Sharpen detail with an unsharp mask."
    assert spec.label.replace("_", "") == spec.plain_label
    radius = spec.param("radius")
    assert (radius.kind, radius.default, radius.min, radius.max, radius.unit) == (
        "float", 2.0, 0.1, 100.0, "px")
    assert radius.help
    channels = spec.param("channels")
    assert channels.kind == "choice" and channels.choices == ("luminance", "rgb")
    assert all(p.widget for p in spec.params)
    assert spec.local and spec.halo({"radius": 2.0}) >= 8


def test_lookup_accepts_snake_case_and_lists_known_ids():
    assert photomend.get_operation("SHARPEN").id == "sharpen"
    with pytest.raises(UnknownOperationError, match="sharpen"):
        photomend.get_operation("no-such-op")


def test_bind_validates_names_types_and_ranges():
    spec = photomend.get_operation("sharpen")
    assert spec.bind({"radius": "3"})["radius"] == 3.0
    with pytest.raises(ParameterError, match=r"radius must be 0.1 to 100 px, got 500 px"):
        spec.bind({"radius": 500})
    with pytest.raises(ParameterError, match="must be a number"):
        spec.bind({"amount": "lots"})
    with pytest.raises(ParameterError, match="finite"):
        spec.bind({"amount": float("nan")})
    with pytest.raises(ParameterError, match=r"one of 'luminance', 'rgb'"):
        spec.bind({"channels": "lab"})
    with pytest.raises(ParameterError, match=r"no parameter 'radiuss'.*radius"):
        spec.bind({"radiuss": 2})


@pytest.mark.parametrize(("value", "text"), [
    ("abc", "psf must be an array of real numbers, got str"),
    (np.ones((3, 3), complex), "psf must be an array of real numbers"),
    ([[1.0, None]], "psf must be an array of real numbers"),
    (np.zeros((0, 3)), "psf must be a non-empty array of finite numbers"),
    ([[1.0, np.nan]], "psf must be a non-empty array of finite numbers"),
])
def test_array_parameters_name_what_is_wrong(value, text):
    spec = photomend.registry.get("deblur")
    with pytest.raises(ParameterError, match=re.escape(text)):
        spec.bind({"psf": value})
    assert spec.bind({"psf": [[0, 1], [1, 0]]})["psf"].dtype == np.float32  # ints are fine


def test_decorator_records_every_kind(scratch_registry):
    @photomend.operation("test-kinds", label="_Kinds", menu="Test", output="mask")
    def kinds(
        image: np.ndarray,
        *,
        mask: np.ndarray | None = None,
        count: Annotated[int, Param("how many", min=1, max=9)] = 3,
        on: Annotated[bool, Param("switch")] = True,
        mode: Literal["a", "b"] = "a",
        where: Annotated[tuple[float, float] | None, Param("point", kind="point")] = None,
        tint: Annotated[tuple[float, float, float], Param("colour", kind="color")] = (1, 1, 1),
    ) -> np.ndarray:
        """Test every kind."""
        return image[..., 0]

    spec = photomend.get_operation("test-kinds")
    kinds_by_name = {p.name: p.kind for p in spec.params}
    assert kinds_by_name == {"count": "int", "on": "bool", "mode": "choice",
                             "where": "point", "tint": "color"}
    assert spec.takes_mask and not spec.takes_progress and spec.output == "mask"
    bound = spec.bind({"count": 4.0, "on": "no", "where": "3, 4", "tint": "#ff0000"})
    assert bound == {"count": 4, "on": False, "mode": "a", "where": (3.0, 4.0),
                     "tint": (1.0, 0.0, 0.0)}
    with pytest.raises(ParameterError, match="whole number"):
        spec.bind({"count": 2.5})
    with pytest.raises(ParameterError, match="point"):
        spec.bind({"where": "3"})


def test_decorator_rejects_bad_declarations(scratch_registry):
    with pytest.raises(ValueError, match="kebab-case"):
        photomend.operation("Bad_Id", label="x", menu="x")

    with pytest.raises(TypeError, match="keyword-only"):
        @photomend.operation("test-positional", label="x", menu="x")
        def positional(image, radius: float = 1.0):
            """Doc."""

    with pytest.raises(TypeError, match="halo"):
        @photomend.operation("test-halo", label="x", menu="x", local=True)
        def no_halo(image):
            """Doc."""

    with pytest.raises(TypeError, match="docstring"):
        @photomend.operation("test-doc", label="x", menu="x")
        def no_doc(image):
            return image
