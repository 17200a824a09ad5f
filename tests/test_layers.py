"""photomend.hosts.layers: a layer the user picks, read as an array parameter."""

from __future__ import annotations

from typing import Annotated

import numpy as np
import pytest
from PIL import Image as PILImage

import photomend
from photomend import Param
from photomend.cli import main
from photomend.convert import linear_to_srgb
from photomend.errors import ParameterError
from photomend.hosts.layers import layer_array, painted
from photomend.image import Image

DAMAGE = photomend.get_operation("remove-defects").param("damage")
PSF = photomend.get_operation("deblur").param("psf")


def _layer(color, alpha=None, transfer="perceptual"):
    color = np.asarray(color, np.float32)
    if color.ndim == 2:
        color = color[..., None]
    return Image(color=color, alpha=None if alpha is None else np.asarray(alpha, np.float32),
                 dtype=np.dtype(np.float32), transfer=transfer)


def test_layer_roles_are_declared_where_a_layer_can_stand_in():
    roles = {(spec.id, p.name): p.layer for spec in photomend.operations()
             for p in spec.params if p.layer}
    assert roles == {("deblur", "psf"): "kernel", ("detect-defects", "infrared"): "plane",
                     ("remove-defects", "infrared"): "plane",
                     ("remove-defects", "damage"): "plane", ("inpaint", "source"): "plane",
                     ("restore-photo", "infrared"): "plane"}
    assert not photomend.get_operation("restore-color").param("curves").layer


def test_a_layer_role_needs_an_array_parameter(scratch_registry):
    with pytest.raises(TypeError, match="layer= is for array parameters"):
        @photomend.operation("test-bad-layer", label="Bad", menu="Test")
        def bad(image, *, level: Annotated[float, Param("x", layer="plane")] = 0.5):
            return image
    with pytest.raises(TypeError, match="must be 'plane' or 'kernel'"):
        @photomend.operation("test-bad-role", label="Bad", menu="Test")
        def bad2(image, *, m: Annotated[np.ndarray | None,
                                        Param("x", kind="array", layer="mask")] = None):
            return image


def test_painted_is_the_brightest_channel_times_the_opacity():
    color = np.zeros((2, 3, 3), np.float32)
    color[0, 0] = (1.0, 0.0, 0.0)      # a detection layer's red
    color[0, 1] = (0.2, 0.6, 0.4)
    color[0, 2] = (1.0, 1.0, 1.0)
    color[1, :] = (0.5, 0.5, 0.5)
    alpha = np.array([[0.25, 1.0, 0.0], [1.0, 0.5, 0.0]], np.float32)
    np.testing.assert_allclose(painted(_layer(color, alpha)),
                               [[0.25, 0.6, 0.0], [0.5, 0.25, 0.0]])
    np.testing.assert_allclose(painted(_layer(color[..., :1])), color[..., 0])  # gray, opaque


def test_linear_layers_are_read_in_encoded_values():
    """A mask painted 50 % grey means 0.5 whatever the layer's storage."""
    linear = np.full((4, 4), 0.214041, np.float32)  # sRGB 0.5 in linear light
    np.testing.assert_allclose(painted(_layer(linear, transfer="linear")), 0.5, atol=1e-4)
    assert float(linear_to_srgb(np.float32(0.214041))) == pytest.approx(0.5, abs=1e-4)


def test_a_plane_is_the_whole_layer_clipped_to_one():
    values = np.array([[0.0, 0.3], [1.7, -0.2]], np.float32)  # float layers overshoot
    plane = layer_array(DAMAGE, _layer(values))
    assert plane.dtype == np.float32 and plane.shape == (2, 2)
    np.testing.assert_allclose(plane, [[0.0, 0.3], [1.0, 0.0]])


def test_a_kernel_is_cropped_to_what_is_painted():
    color = np.zeros((40, 50), np.float32)
    color[10:13, 20:25] = [[0, 1, 2, 1, 0], [1, 2, 4, 2, 1], [0, 1, 2, 1, 0]]
    alpha = np.ones_like(color)
    alpha[:, 24] = 0.0  # a transparent column counts as unpainted
    kernel = layer_array(PSF, _layer(color, alpha), name="layer “PSF”")
    np.testing.assert_allclose(kernel, color[10:13, 20:24] / 1.0)
    # deblur takes it like any PSF: normalised and centred
    blurred = np.random.default_rng(0).random((48, 48, 3)).astype(np.float32)
    photomend.run("deblur", blurred, psf=kernel)


def test_kernel_layer_refusals_name_the_problem():
    with pytest.raises(ParameterError, match=r"PSF \(layer “Empty”\) is empty"):
        layer_array(PSF, _layer(np.zeros((20, 20), np.float32)), name="layer “Empty”")
    photo = np.random.default_rng(1).random((20, 30)).astype(np.float32) + 0.1
    with pytest.raises(ParameterError, match="painted over 30×20 of its 30×20 px"):
        layer_array(PSF, _layer(photo), name="layer “Photo”")
    # an image file holds the kernel alone: painted all over is fine
    assert layer_array(PSF, _layer(photo), whole_layer=False).shape == (20, 30)
    curves = photomend.get_operation("restore-color").param("curves")
    with pytest.raises(ParameterError, match="cannot be read from a layer"):
        layer_array(curves, _layer(photo))


def test_cli_reads_layer_parameters_from_images_as_hosts_do(tmp_path):
    """A PSF drawn on transparency and a red damage mask work from files too."""
    rng = np.random.default_rng(3)
    photo = (rng.random((40, 48, 3)) * 255).astype(np.uint8)
    PILImage.fromarray(photo).save(tmp_path / "in.png")
    psf = np.zeros((21, 21, 4), np.uint8)
    psf[8:13, 10, :3] = 255
    psf[8:13, 10, 3] = 255  # a vertical streak on transparency
    PILImage.fromarray(psf, "RGBA").save(tmp_path / "psf.png")
    assert main(["run", "deblur", str(tmp_path / "in.png"), "-o", str(tmp_path / "d.png"),
                 "--psf", str(tmp_path / "psf.png"), "--method", "wiener"]) == 0
    streak = np.ones((5, 1), np.float32)
    expected = photomend.run("deblur", photo, psf=streak, method="wiener")
    got = np.asarray(PILImage.open(tmp_path / "d.png"))
    assert np.abs(got.astype(int) - expected.astype(int)).max() <= 1

    damage = np.zeros((40, 48, 4), np.uint8)
    damage[..., 0] = 255
    damage[10:14, 5:30, 3] = 255  # red where the damage is, transparent elsewhere
    PILImage.fromarray(damage, "RGBA").save(tmp_path / "damage.png")
    assert main(["run", "remove-defects", str(tmp_path / "in.png"), "-o",
                 str(tmp_path / "r.png"), "--damage", str(tmp_path / "damage.png")]) == 0
    hole = np.zeros((40, 48), np.float32)
    hole[10:14, 5:30] = 1.0
    expected = photomend.run("remove-defects", photo, damage=hole)
    got = np.asarray(PILImage.open(tmp_path / "r.png"))
    assert np.abs(got.astype(int) - expected.astype(int)).max() <= 1
    outside = hole == 0
    np.testing.assert_array_equal(got[outside], photo[outside])


# -- the PSF used, shown as a layer ----------------------------------------------
class _Recorder:
    """Just enough of a host to record the layers a report adds."""

    def __init__(self):
        self.layers = []

    def write_mask(self, box, mask, name):
        self.layers.append((box, mask.copy(), name))


def test_deblur_reports_its_psf_as_a_layer_that_reads_back_as_the_same_psf():
    from photomend import psf as psfs
    from photomend.hosts.apply import kernel_plane, write_report
    from photomend.hosts.base import Box

    spec = photomend.get_operation("deblur")
    assert spec.extra["report_layers"] == spec.extra["report_kernels"] == ("psf",)
    image = np.random.default_rng(5).random((50, 70, 3)).astype(np.float32)
    report: dict = {}
    photomend.run("deblur", image, blur="motion", length=9, angle=30, method="wiener",
                  report=report)
    kernel = report["psf"]
    assert report["summary"] == f"motion length 9 angle 30, {kernel.shape[1]}×{kernel.shape[0]} px"
    zero: dict = {}
    photomend.run("deblur", image, blur="motion", length=9, angle=0, report=zero,
                  method="wiener")
    assert zero["summary"].startswith("motion length 9 angle 0, ")
    host = _Recorder()
    box = Box(3, 4, 60, 40)
    names = write_report(host, spec, box, report)
    assert names == [f"Deblur (Deconvolve): psf ({report['summary']})"]
    (got_box, plane, layer_name), = host.layers
    assert got_box == box and plane.shape == (40, 60) and plane.max() == 1.0
    assert layer_name == names[0]
    np.testing.assert_array_equal(plane, kernel_plane(kernel, box))
    ys, xs = np.nonzero(plane)
    assert abs((ys.min() + ys.max()) / 2 - 20) <= 1 and abs((xs.min() + xs.max()) / 2 - 30) <= 1
    # chosen as the PSF of another run, the layer gives the same kernel back
    again = layer_array(PSF, Image(color=plane[..., None], dtype=np.dtype(np.float32)))
    np.testing.assert_allclose(psfs.center(again), psfs.center(kernel), atol=1e-6)

    given: dict = {}
    photomend.run("deblur", image, psf=np.ones((3, 5), np.float32), report=given)
    assert given["summary"] == "given, 5×3 px"
    disk: dict = {}
    photomend.run("deblur", image, blur="defocus", radius=4.0, method="wiener", report=disk)
    assert disk["summary"] == "defocus radius 4 softness 0.5, 9×9 px"
    # a PSF given as an array is what was used, whatever blur and its sizes say
    mixed: dict = {}
    photomend.run("deblur", image, psf=np.ones((1, 7), np.float32), blur="defocus",
                  radius=3.0, method="wiener", report=mixed)
    assert mixed["summary"] == "given, 7×1 px"
    combined: dict = {}
    photomend.run("deblur", image, blur="combined", sigma=1.0, radius=2.0, method="wiener",
                  report=combined)
    assert combined["summary"].startswith("combined sigma 1 radius 2, ")
    far: dict = {}
    photomend.run("deblur", image, blur="gaussian", sigma=6.25, method="wiener", report=far)
    assert far["summary"].startswith("gaussian sigma 6.25, ")
    # a kernel larger than the box is cut around its centre
    big = np.zeros((9, 9), np.float32)
    big[4, :] = 1.0
    np.testing.assert_array_equal(kernel_plane(big, Box(0, 0, 5, 3)),
                                  [[0, 0, 0, 0, 0], [1, 1, 1, 1, 1], [0, 0, 0, 0, 0]])
    # a kernel exactly the size of the area is still drawn as a kernel (peak 1)
    same = _Recorder()
    write_report(same, spec, Box(0, 0, 3, 3), {"psf": np.full((3, 3), 1 / 9, np.float32)})
    np.testing.assert_array_equal(same.layers[0][1], np.ones((3, 3)))


def test_reports_add_only_image_sized_masks_and_declared_kernels():
    from photomend.hosts.apply import write_report
    from photomend.hosts.base import Box

    host = _Recorder()
    spec = photomend.get_operation("restore-photo")  # declares only 'defects'
    box = Box(0, 0, 8, 6)
    write_report(host, spec, box, {"defects": np.ones((6, 8), np.float32),
                                   "psf": np.ones((3, 3), np.float32), "noise": 0.1})
    assert [name for _, _, name in host.layers] == ["Restore Old Photo: defects"]


def _on_canvas(kernel: np.ndarray, side: int) -> np.ndarray:
    """Centre an odd-sized kernel on a side × side canvas."""
    out = np.zeros((side, side))
    y, x = (side - kernel.shape[0]) // 2, (side - kernel.shape[1]) // 2
    out[y:y + kernel.shape[0], x:x + kernel.shape[1]] = kernel
    return out


def test_a_photo_of_a_point_source_pasted_as_a_layer_is_measured():
    """Copy a star with its sky and paste it as a layer: the PSF is measured from it."""
    from photomend import psf as psfs

    rng = np.random.default_rng(11)
    true = psfs.gaussian(1.6)
    sky = np.full((21, 23), 0.12, np.float64)
    sky[10 - true.shape[0] // 2:10 + true.shape[0] // 2 + 1,
        11 - true.shape[1] // 2:11 + true.shape[1] // 2 + 1] += 0.6 * true / true.max()
    sky += rng.normal(0.0, 0.004, sky.shape)
    linear = np.clip(sky, 0.0, 1.0).astype(np.float32)
    # the pasted layer: the crop at (30, 12) of an 80×60 canvas, transparent elsewhere
    color = np.zeros((60, 80, 3), np.float32)
    alpha = np.zeros((60, 80), np.float32)
    color[12:33, 30:53] = linear[..., None]
    alpha[12:33, 30:53] = 1.0
    layer = Image(color=color, alpha=alpha, dtype=np.dtype(np.uint16), transfer="linear")
    kernel = layer_array(PSF, layer, name="layer “star”")
    expected = psfs.from_point_source(linear)
    np.testing.assert_allclose(kernel, expected, atol=1e-6)
    assert kernel.shape[0] % 2 == 1 and abs(kernel.sum() - 1.0) < 1e-5
    side = max(*kernel.shape, *true.shape)
    assert np.abs(_on_canvas(kernel, side) - _on_canvas(true, side)).sum() < 0.15

    # a sky without a star is refused, saying why
    color[12:33, 30:53] = (0.12 + rng.normal(0.0, 0.004, (21, 23)))[..., None]
    with pytest.raises(ParameterError, match=r"PSF \(layer “sky”\) is a photo crop, read as "
                                             "a point source: no point source"):
        layer_array(PSF, Image(color=color, alpha=alpha, dtype=np.dtype(np.uint16),
                               transfer="linear"), name="layer “sky”")


def test_drawn_kernels_are_taken_as_drawn_not_measured():
    """Black corners (a drawn disk, photomend's own PSF layer) keep the values as painted."""
    from photomend import psf as psfs
    from photomend.hosts.apply import kernel_plane
    from photomend.hosts.base import Box

    disk = psfs.disk(4.0)
    plane = kernel_plane(disk, Box(0, 0, 40, 30))
    got = layer_array(PSF, Image(color=plane[..., None], dtype=np.dtype(np.float32)))
    np.testing.assert_allclose(got, disk / disk.max(), atol=1e-6)


def _star_canvas(rng):
    """A 16-bit-like linear star on sky (Gaussian σ 1.6), 21×23 px, its true PSF."""
    from photomend import psf as psfs

    true = psfs.gaussian(1.6)
    sky = np.full((21, 23), 0.12, np.float64)
    kh, kw = true.shape
    sky[10 - kh // 2:10 + kh // 2 + 1, 11 - kw // 2:11 + kw // 2 + 1] += 0.6 * true / true.max()
    sky += rng.normal(0.0, 0.004, sky.shape)
    return np.clip(sky, 0.0, 1.0).astype(np.float32), true


@pytest.mark.parametrize("cut", ["ellipse", "feathered"])
def test_a_star_cut_with_any_selection_shape_is_measured(cut):
    from scipy import ndimage

    rng = np.random.default_rng(12)
    linear, true = _star_canvas(rng)
    yy, xx = np.mgrid[0:21, 0:23]
    inside = ((yy - 10) / 10.5) ** 2 + ((xx - 11) / 11.5) ** 2 <= 1.0
    alpha = inside.astype(np.float32)
    if cut == "feathered":
        alpha = np.clip(ndimage.distance_transform_edt(inside) / 3.0, 0.0, 1.0).astype(np.float32)
    color = np.zeros((60, 80, 3), np.float32)
    full_alpha = np.zeros((60, 80), np.float32)
    color[12:33, 30:53] = np.where(alpha[..., None] > 0, linear[..., None], 0.0)
    full_alpha[12:33, 30:53] = alpha
    layer = Image(color=color, alpha=full_alpha, dtype=np.dtype(np.uint16), transfer="linear")
    kernel = layer_array(PSF, layer)
    side = max(*kernel.shape, *true.shape)
    assert abs(kernel.sum() - 1.0) < 1e-5
    assert np.abs(_on_canvas(kernel, side) - _on_canvas(true, side)).sum() < 0.15


@pytest.mark.parametrize("shape", ["square", "bar", "disk"])
@pytest.mark.parametrize("ground", ["transparent", "black"])
def test_solid_drawn_kernels_are_taken_as_drawn(shape, ground):
    """A box, bar or disk painted in one colour is a kernel, not a photo to measure."""
    yy, xx = np.mgrid[0:40, 0:50]
    solid = {"square": (abs(yy - 20) <= 3) & (abs(xx - 25) <= 3),
             "bar": (abs(yy - 20) <= 2) & (abs(xx - 25) <= 9),
             "disk": (yy - 20) ** 2 + (xx - 25) ** 2 <= 16}[shape].astype(np.float32)
    if ground == "transparent":
        layer = Image(color=np.ones((40, 50, 3), np.float32), alpha=solid,
                      dtype=np.dtype(np.uint8))
    else:
        layer = Image(color=np.repeat(solid[..., None], 3, axis=2), dtype=np.dtype(np.uint8))
    rows, cols = np.flatnonzero(solid.any(axis=1)), np.flatnonzero(solid.any(axis=0))
    np.testing.assert_array_equal(
        layer_array(PSF, layer), solid[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1])


def test_read_param_names_the_layer_that_cannot_be_read():
    from photomend.errors import ImageError
    from photomend.hosts.layers import LayerSource, read_param

    def broken():
        raise RuntimeError("GLib.Error: gimp-drawable-get-buffer failed")

    with pytest.raises(ImageError, match=r"Damage: layer “Gone” could not be read "
                                         r"\(GLib.Error: gimp-drawable"):
        read_param(DAMAGE, LayerSource("9", "Gone", broken), (10, 10))
    small = Image(color=np.ones((4, 5, 1), np.float32), dtype=np.dtype(np.uint8))
    with pytest.raises(ImageError, match="“Small” was read as 5×4 px, not the image's 10×10"):
        read_param(DAMAGE, LayerSource("1", "Small", lambda: small), (10, 10))
    np.testing.assert_array_equal(
        read_param(DAMAGE, LayerSource("1", "Small", lambda: small), (4, 5)), 1.0)


def test_cli_masks_read_as_layers_do(tmp_path):
    """--mask and --damage take the same picture to mean the same pixels."""
    rng = np.random.default_rng(8)
    photo = (rng.random((30, 36, 3)) * 255).astype(np.uint8)
    PILImage.fromarray(photo).save(tmp_path / "in.png")
    red = np.zeros((30, 36, 4), np.uint8)
    red[..., 0] = 255
    red[8:12, 4:30, 3] = 255  # a detection layer's red, opaque where marked
    PILImage.fromarray(red, "RGBA").save(tmp_path / "mark.png")
    assert main(["run", "inpaint", str(tmp_path / "in.png"), "-o", str(tmp_path / "a.png"),
                 "--mask", str(tmp_path / "mark.png")]) == 0
    assert main(["run", "remove-defects", str(tmp_path / "in.png"), "-o",
                 str(tmp_path / "b.png"), "--damage", str(tmp_path / "mark.png")]) == 0
    hole = np.zeros((30, 36), np.float32)
    hole[8:12, 4:30] = 1.0
    got = np.asarray(PILImage.open(tmp_path / "a.png"))
    np.testing.assert_array_equal(got[hole == 0], photo[hole == 0])
    assert not np.array_equal(got[hole > 0], photo[hole > 0])
    expected = photomend.run("inpaint", photo, hole)
    assert np.abs(got.astype(int) - expected.astype(int)).max() <= 1
