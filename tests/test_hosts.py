"""The shared host driver, exercised through the file host."""

import numpy as np
import pytest

import photomend
from photomend import Image, MaskError, ParameterError
from photomend.hosts import Box, FileHost, apply_operation, grow_box


def _img(rng, alpha=False):
    arr = (rng.random((40, 50, 4 if alpha else 3)) * 65535).astype(np.uint16)
    return arr, Image.from_array(arr)


def test_in_place_matches_core_and_records_one_undo_step(rng):
    arr, img = _img(rng, alpha=True)
    host = FileHost(img)
    apply_operation(host, "sharpen", {"radius": 1.0})
    np.testing.assert_array_equal(host.image.to_array(), photomend.run("sharpen", arr, radius=1.0))
    assert host.undo_steps == ["Sharpen (Unsharp Mask)"]
    np.testing.assert_array_equal(host.image.alpha, img.alpha)


def test_selection_reads_context_and_changes_only_selection(rng):
    arr, img = _img(rng)
    sel = np.zeros((40, 50), np.float32)
    sel[10:20, 20:30] = 1.0
    host = FileHost(img, sel)
    apply_operation(host, "sharpen", {"radius": 1.0, "amount": 2.0})
    expected = photomend.run("sharpen", arr, mask=sel, radius=1.0, amount=2.0)
    np.testing.assert_array_equal(host.image.to_array(), expected)


def test_a_layers_plane_is_cut_to_the_box_read_for_a_selection(rng):
    # A damage layer comes for the whole target; the host reads only the
    # selection and its margin, and the plane is cut alike.
    arr = np.full((300, 320, 3), 0.5, np.float32) + (rng.random((300, 320, 3)) * 0.02).astype(
        np.float32)
    damage = np.zeros((300, 320), np.float32)
    damage[40:44, 30:90] = 1.0
    damage[250:254, 200:280] = 1.0
    arr[damage > 0] = 0.05
    sel = np.zeros((300, 320), np.float32)
    sel[200:300, 150:320] = 1.0
    spec = photomend.registry.get("remove-defects")
    assert spec.halo(spec.bind({"damage": damage})) < 100  # so the box is not the whole layer
    host = FileHost(Image.from_array(arr), sel)
    apply_operation(host, "remove-defects", {"damage": damage})
    out = host.image.to_array()
    np.testing.assert_array_equal(out, photomend.run("remove-defects", arr, sel, damage=damage))
    report: dict = {}
    apply_operation(FileHost(Image.from_array(arr), sel), "remove-defects", {"damage": damage},
                    report=report)
    assert report["params"]["damage"].shape == damage.shape  # as given, not the box's part
    assert np.abs(out[250:254, 200:280] - 0.5).max() < 0.1
    np.testing.assert_array_equal(out[40:44, 30:90], arr[40:44, 30:90])
    with pytest.raises(ParameterError, match="the damage plane has shape"):
        apply_operation(host, "remove-defects", {"damage": damage[:100]})


def test_new_layer_keeps_the_source(rng):
    _, img = _img(rng)
    host = FileHost(img)
    apply_operation(host, "sharpen", output="new-layer")
    assert host.image is img
    assert [name for name, _ in host.layers] == ["Sharpen (Unsharp Mask)"]


def test_errors_come_before_any_write(rng):
    _, img = _img(rng)
    host = FileHost(img, np.zeros((40, 50)))
    with pytest.raises(MaskError, match="selection is empty"):
        apply_operation(host, "sharpen")
    with pytest.raises(ParameterError, match="radius"):
        apply_operation(FileHost(img), "sharpen", {"radius": -1})
    assert host.image is img and host.undo_steps == []


def test_grow_box():
    assert grow_box(Box(5, 5, 10, 10), 3, 100, 100) == Box(2, 2, 16, 16)
    assert grow_box(Box(0, 0, 10, 10), 3, 12, 11) == Box(0, 0, 12, 11)
    assert grow_box(Box(5, 5, 1, 1), None, 30, 20) == Box(0, 0, 30, 20)
    # an operation's sampling grid: the box starts on a multiple of it, ends as before
    assert grow_box(Box(50, 33, 10, 10), 3, 100, 100, grid=24) == Box(24, 24, 39, 22)


def test_denoise_reads_on_its_block_grid():
    """A host's read box starts where the whole image's block grid has a block."""
    from photomend import registry
    from photomend.hosts.apply import plan_region

    spec = registry.get("denoise")
    assert spec.grid > 1
    selection = np.zeros((300, 400), np.float32)
    selection[201:210, 263:270] = 1.0
    host = FileHost(Image.from_array(np.zeros((300, 400, 3), np.float32)), selection)
    box, selected = plan_region(host, spec, spec.bind({"sigma": 5.0}))
    halo = spec.halo({"sigma": 5.0})
    assert selected and 0 < box.x <= 263 - halo and 0 < box.y <= 201 - halo
    assert box.x % spec.grid == 0 and box.y % spec.grid == 0


