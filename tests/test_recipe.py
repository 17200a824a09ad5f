"""Tests of photomend.recipe: the recipe format, validation and replay."""

from __future__ import annotations

import json
from typing import Annotated

import numpy as np
import pytest

import photomend
from photomend.errors import (
    FileFormatError,
    MaskError,
    ParameterError,
    UnknownOperationError,
)
from photomend.image import Image
from photomend.recipe import (
    FORMAT,
    VERSION,
    Recipe,
    RecipeError,
    Step,
    apply_recipe,
    check_masks,
    load_recipe,
    recipe_from_dict,
    replay,
    save_recipe,
    split_known,
    validate_recipe,
)
from photomend.registry import Param


def _doc(*steps):
    return {"format": FORMAT, "version": VERSION, "steps": list(steps)}


def _write(tmp_path, data, name="r.json"):
    path = tmp_path / name
    path.write_text(json.dumps(data) if not isinstance(data, str) else data, encoding="utf-8")
    return path


@pytest.fixture
def pixels(rng):
    return rng.random((24, 32, 3)).astype(np.float32)


# -- format ----------------------------------------------------------------------------
def test_save_writes_resolved_params_and_load_round_trips(tmp_path):
    path = save_recipe(Recipe.single("sharpen", {"radius": 1.5}), tmp_path / "r.json")
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["format"] == FORMAT and data["version"] == VERSION
    assert data["steps"] == [{"op": "sharpen", "params": {
        "radius": 1.5, "amount": 0.5, "threshold": 0.0, "channels": "luminance"}}]
    loaded = load_recipe(path)
    assert loaded.steps == [Step("sharpen", {"radius": 1.5, "amount": 0.5, "threshold": 0.0,
                                             "channels": "luminance"})]


def test_steps_may_be_plain_mappings():
    recipe = Recipe(steps=[{"op": "sharpen", "params": {"amount": 1}}])
    assert recipe.steps == [Step("sharpen", {"amount": 1})]


def test_validate_fills_defaults_and_canonical_ids():
    recipe = validate_recipe(Recipe(steps=[Step("Sharpen", {})]))
    assert recipe.steps[0].op == "sharpen"
    assert recipe.steps[0].params == photomend.get_operation("sharpen").defaults()


def test_save_refuses_to_overwrite(tmp_path):
    path = tmp_path / "r.json"
    path.write_text("keep me", encoding="utf-8")
    with pytest.raises(FileFormatError, match="already exists"):
        save_recipe(Recipe.single("sharpen"), path)
    assert path.read_text(encoding="utf-8") == "keep me"
    save_recipe(Recipe.single("sharpen"), path, overwrite=True)
    assert load_recipe(path).steps[0].op == "sharpen"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]  # no temp files left


def test_save_refuses_invalid_recipe_and_writes_nothing(tmp_path):
    with pytest.raises(ParameterError, match=r"step 1 \(sharpen\): radius"):
        save_recipe(Recipe.single("sharpen", {"radius": -1}), tmp_path / "r.json")
    assert not (tmp_path / "r.json").exists()


@pytest.mark.parametrize(("data", "message"), [
    ("{not json", r"r\.json: not valid JSON \(line 1"),
    ([], "must be a JSON object"),
    ({"version": 1, "steps": []}, "not a photomend recipe"),
    ({"format": FORMAT, "version": 99, "steps": []}, "version 99 was written by a newer"),
    ({"format": FORMAT, "version": "1", "steps": []}, "version must be a whole number"),
    ({"format": FORMAT, "version": 1, "steps": []}, "non-empty list"),
    ({"format": FORMAT, "version": 1, "steps": [], "extra": 1}, "unknown recipe key 'extra'"),
    (_doc({"op": "sharpen"}, "sharpen"), r"step 2: expected an object"),
    (_doc({"op": "sharpen", "parms": {}}), r"step 1: unknown key 'parms'"),
    (_doc({"params": {}}), r"step 1: \"op\" must name an operation"),
    (_doc({"op": "sharpen", "params": [1]}), r"step 1 \(sharpen\): \"params\" must be an object"),
])
def test_structure_errors_name_file_and_step(tmp_path, data, message):
    with pytest.raises(RecipeError, match=message):
        load_recipe(_write(tmp_path, data))


def test_unknown_operation_names_the_step(tmp_path):
    path = _write(tmp_path, _doc({"op": "sharpen"}, {"op": "unblur-everything"}))
    with pytest.raises(UnknownOperationError,
                       match=r"r\.json: step 2 \(unblur-everything\): unknown operation"):
        load_recipe(path)


def test_bad_parameter_names_the_step_parameter_and_range(tmp_path):
    path = _write(tmp_path, _doc({"op": "sharpen", "params": {"radius": 500}}))
    with pytest.raises(ParameterError) as info:
        load_recipe(path)
    assert str(info.value) == "r.json: step 1 (sharpen): radius must be 0.1 to 100 px, got 500 px"


def test_unknown_parameter_names_the_step(tmp_path):
    path = _write(tmp_path, _doc({"op": "sharpen", "params": {"raduis": 2}}))
    with pytest.raises(ParameterError, match=r"step 1 \(sharpen\): .*no parameter 'raduis'"):
        load_recipe(path)


def test_load_without_validation_keeps_unknown_ops(tmp_path):
    path = _write(tmp_path, _doc({"op": "from-a-newer-version"}, {"op": "sharpen"}))
    recipe = load_recipe(path, validate=False)
    known, skipped = split_known(recipe)
    assert [s.op for s in known.steps] == ["sharpen"]
    assert [s.op for s in skipped] == ["from-a-newer-version"]


def test_recipe_from_dict_accepts_description_and_generator():
    data = {**_doc({"op": "sharpen"}), "description": "gentle", "generator": "GIMP plug-in"}
    recipe = recipe_from_dict(data)
    assert recipe.description == "gentle"
    assert recipe.to_dict()["description"] == "gentle"


def test_empty_recipe_is_refused():
    with pytest.raises(RecipeError, match="no steps"):
        validate_recipe(Recipe())


def test_shipped_default_recipe_is_well_formed():
    from importlib import resources

    path = resources.files("photomend") / "data" / "default-recipe.json"
    recipe = recipe_from_dict(json.loads(path.read_text(encoding="utf-8")))
    known, _ = split_known(recipe)
    validate_recipe(known)
    assert any(s.op == "sharpen" for s in known.steps)


# -- running ---------------------------------------------------------------------------
def test_one_step_equals_photomend_run(pixels):
    recipe = Recipe.single("sharpen", {"radius": 1.0, "amount": 0.8})
    expected = photomend.run("sharpen", pixels, radius=1.0, amount=0.8)
    np.testing.assert_array_equal(apply_recipe(pixels, recipe), expected)


def test_steps_run_in_order(pixels):
    recipe = Recipe(steps=[Step("sharpen", {"radius": 1.0}), Step("sharpen", {"radius": 3.0})])
    once = photomend.run("sharpen", pixels, radius=1.0)
    expected = photomend.run("sharpen", once, radius=3.0)
    np.testing.assert_allclose(apply_recipe(pixels, recipe), expected, atol=1e-6)


def test_input_untouched_and_types_kept(pixels):
    before = pixels.copy()
    as16 = (pixels * 65535).astype(np.uint16)
    out = apply_recipe(as16, Recipe.single("sharpen"))
    assert out.dtype == np.uint16 and out.shape == as16.shape
    image = Image.from_array(pixels)
    assert isinstance(apply_recipe(image, Recipe.single("sharpen")), Image)
    np.testing.assert_array_equal(pixels, before)


def test_mask_limits_changes(pixels):
    mask = np.zeros(pixels.shape[:2], dtype=bool)
    mask[:, :10] = True
    out = apply_recipe(pixels, Recipe.single("sharpen", {"amount": 2.0}), mask=mask)
    np.testing.assert_array_equal(out[:, 10:], pixels[:, 10:])
    assert not np.array_equal(out[:, :10], pixels[:, :10])


def test_progress_spans_steps(pixels):
    seen: list[float] = []
    recipe = Recipe(steps=[Step("sharpen", {}), Step("sharpen", {})])
    apply_recipe(pixels, recipe, progress=seen.append)
    assert seen == sorted(seen)
    assert 0.5 in seen and seen[-1] == 1.0


def test_cancel_raises_and_leaves_input(pixels):
    before = pixels.copy()
    with pytest.raises(photomend.Cancelled):
        apply_recipe(pixels, Recipe.single("sharpen"), progress=lambda f: False)
    np.testing.assert_array_equal(pixels, before)


def test_mask_of_the_wrong_size_is_refused(pixels):
    with pytest.raises(MaskError, match=r"the mask has shape \(3, 3\), but the image is 24×32"):
        apply_recipe(pixels, Recipe.single("sharpen"), mask=np.ones((3, 3)))


@pytest.fixture
def detect_and_fill(scratch_registry):
    """Register a detection op (bright pixels) and a repair op (fill with 0.25)."""

    @scratch_registry.operation("detect-bright", label="_Detect Bright", menu="Test",
                                output="mask")
    def detect_bright(image: np.ndarray, *, threshold: Annotated[float, Param(
            "Level above which a pixel is damage.", min=0.0, max=1.0)] = 0.9) -> np.ndarray:
        """Mark bright pixels as damage."""
        return (image.max(axis=-1) > threshold).astype(np.float32)

    @scratch_registry.operation("fill-test", label="_Fill", menu="Test", mask_role="damage")
    def fill_test(image: np.ndarray) -> np.ndarray:
        """Fill the damage with a flat gray."""
        return np.full_like(image, 0.25)

    return scratch_registry


def test_detection_mask_feeds_later_repair_steps(detect_and_fill):
    image = np.full((8, 8, 3), 0.5, dtype=np.float32)
    image[2, 3] = 1.0
    recipe = Recipe(steps=[Step("detect-bright", {}), Step("fill-test", {})])
    result = replay(Image.from_array(image), recipe)
    assert result.mask is not None and result.mask[2, 3] == 1.0 and result.mask.sum() == 1.0
    expected = image.copy()
    expected[2, 3] = 0.25
    np.testing.assert_allclose(result.image.color, expected, atol=1e-6)


def test_repair_without_mask_is_refused_naming_the_step(detect_and_fill):
    recipe = Recipe(steps=[Step("sharpen", {}), Step("fill-test", {})])
    with pytest.raises(MaskError, match=r"step 2 \(fill-test\) .* needs a mask"):
        check_masks(validate_recipe(recipe), has_mask=False)
    check_masks(validate_recipe(recipe), has_mask=True)
