import numpy as np
import pytest

from photomend import ImageError, convert
from photomend.image import Image, as_color_array


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_integer_round_trip_is_exact(dtype):
    info = np.iinfo(dtype)
    values = np.arange(info.max + 1, dtype=dtype).reshape(-1, 1, 1)
    f = convert.to_float32(values)
    assert f.dtype == np.float32
    assert f.min() == 0.0 and f.max() == 1.0
    np.testing.assert_array_equal(convert.from_float32(f, dtype), values)


def test_uint32_round_trip_keeps_32_bit_steps():
    values = np.array([0, 1, 2**31, 2**32 - 2, 2**32 - 1], dtype=np.uint32).reshape(-1, 1, 1)
    back = convert.from_float32(convert.to_float32(values), np.uint32)
    # float32 keeps 24 bits: relative error below 2**-23
    assert np.all(np.abs(back.astype(np.int64) - values.astype(np.int64)) <= 2**9)


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_float_values_kept_without_clipping(dtype):
    values = np.array([-0.5, 0.0, 0.25, 1.0, 3.5], dtype=dtype).reshape(-1, 1, 1)
    back = convert.from_float32(convert.to_float32(values), dtype)
    assert back.dtype == dtype
    np.testing.assert_array_equal(back, values)


def test_integer_output_clips_and_rounds():
    f = np.array([-0.1, 0.6 / 255, 1.4 / 255, 2.0], dtype=np.float32)
    np.testing.assert_array_equal(convert.from_float32(f, np.uint8), [0, 1, 1, 255])


@pytest.mark.parametrize("source", [np.float32, np.float64])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.uint32])
def test_integer_output_is_converted_block_by_block_exactly(source, dtype, monkeypatch):
    monkeypatch.setattr(convert, "_BLOCK_VALUES", 1000)  # many blocks, a ragged last one
    rng = np.random.default_rng(5)
    values = (rng.standard_normal((37, 29, 3)) * 0.6 + 0.5).astype(source)
    values[0, 0, :] = [0.5 / 255, 1.5 / 255, 126.5 / 255]  # halves round to even
    wide = values.astype(np.float64) if dtype == np.uint32 else values
    expected = np.rint(np.clip(wide, 0.0, 1.0) * np.iinfo(dtype).max).astype(dtype)
    np.testing.assert_array_equal(convert.from_float32(values, dtype), expected)
    strided = values[:, ::2]  # not contiguous
    np.testing.assert_array_equal(convert.from_float32(strided, dtype), expected[:, ::2])
    assert convert.from_float32(values[:0], dtype).shape == (0, 29, 3)


def test_to_float32_never_returns_input():
    a = np.zeros((2, 2, 3), np.float32)
    b = convert.to_float32(a)
    b[...] = 1
    assert a.max() == 0


def test_nan_is_refused_with_a_clear_message():
    a = np.zeros((4, 4, 3), np.float32)
    a[1, 1, 1] = np.nan
    with pytest.raises(ImageError, match="NaN"):
        convert.to_float32(a)


def test_unsupported_dtype():
    with pytest.raises(ImageError, match="int8"):
        convert.to_float32(np.zeros((2, 2), np.int8))


def test_alpha_split_and_merge_round_trip():
    rgba = np.random.default_rng(1).random((5, 6, 4)).astype(np.float32)
    color, alpha = convert.split_alpha(rgba, True)
    assert color.shape == (5, 6, 3) and alpha.shape == (5, 6)
    np.testing.assert_array_equal(convert.merge_alpha(color, alpha), rgba)
    assert convert.merge_alpha(color, None) is color


def test_bgra_rgba_swap_is_an_involution():
    bgra = np.arange(2 * 3 * 4, dtype=np.uint16).reshape(2, 3, 4)
    rgba = convert.bgra_to_rgba(bgra)
    np.testing.assert_array_equal(rgba[..., 0], bgra[..., 2])
    np.testing.assert_array_equal(rgba[..., 3], bgra[..., 3])
    np.testing.assert_array_equal(convert.rgba_to_bgra(rgba), bgra)


def test_gray_rgb_and_luminance():
    g = np.full((2, 2, 1), 0.4, np.float32)
    rgb = convert.gray_to_rgb(g)
    assert rgb.shape == (2, 2, 3)
    np.testing.assert_allclose(convert.luminance(rgb), 0.4, rtol=1e-6)
    np.testing.assert_allclose(convert.rgb_to_gray(rgb)[..., 0], 0.4, rtol=1e-6)


def test_srgb_curve_known_values_and_inverse():
    # Known answers of the sRGB standard (IEC 61966-2-1).
    v = np.array([0.0, 0.04045, 0.5, 1.0], np.float32)
    lin = convert.srgb_to_linear(v)
    np.testing.assert_allclose(lin, [0.0, 0.04045 / 12.92, 0.21404114, 1.0], rtol=1e-5)
    x = np.linspace(-0.2, 1.5, 1001, dtype=np.float32)
    np.testing.assert_allclose(convert.linear_to_srgb(convert.srgb_to_linear(x)), x, atol=2e-6)
    assert np.all(np.diff(convert.srgb_to_linear(x)) > 0)


@pytest.mark.parametrize(
    ("shape", "channels", "has_alpha"),
    [((4, 5), 1, False), ((4, 5, 1), 1, False), ((4, 5, 2), 1, True),
     ((4, 5, 3), 3, False), ((4, 5, 4), 3, True)],
)
def test_array_shapes(shape, channels, has_alpha):
    color, alpha = as_color_array(np.zeros(shape, np.uint8))
    assert color.shape == (4, 5, channels)
    assert (alpha is not None) == has_alpha


@pytest.mark.parametrize("shape", [(4, 5, 5), (4,), (0, 5, 3), (2, 3, 4, 5)])
def test_bad_shapes_name_the_problem(shape):
    with pytest.raises(ImageError, match=r"shape|empty"):
        as_color_array(np.zeros(shape, np.uint8))


def test_image_round_trip_and_transfer():
    rgba16 = np.random.default_rng(2).integers(0, 65536, (6, 7, 4), dtype=np.uint16)
    img = Image.from_array(rgba16)
    assert img.dtype == np.uint16 and img.bit_depth == 16 and img.channels == 3
    np.testing.assert_array_equal(img.to_array(), rgba16)
    lin = img.in_transfer("linear")
    assert lin.transfer == "linear"
    np.testing.assert_allclose(lin.in_transfer("perceptual").color, img.color, atol=2e-6)


def test_image_validates_planes():
    with pytest.raises(ImageError, match="alpha"):
        Image(np.zeros((3, 3, 3), np.float32), alpha=np.zeros((2, 2), np.float32))
    with pytest.raises(ImageError, match="float32"):
        Image(np.zeros((3, 3, 3), np.float64))


@pytest.mark.parametrize("curve", ["srgb_to_linear", "linear_to_srgb"])
def test_transfer_curves_are_the_same_block_by_block(curve, monkeypatch):
    rng = np.random.default_rng(9)
    values = (rng.standard_normal((31, 17, 3)) * 0.8 + 0.4).astype(np.float32)
    whole = getattr(convert, curve)(values)
    monkeypatch.setattr(convert, "_BLOCK_VALUES", 100)  # many blocks, a ragged last one
    np.testing.assert_array_equal(getattr(convert, curve)(values), whole)
    np.testing.assert_array_equal(getattr(convert, curve)(values[:, ::3]), whole[:, ::3])
    assert getattr(convert, curve)(values[:0]).shape == (0, 17, 3)
