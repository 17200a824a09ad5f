"""Tests for photomend.fileio: exact round trips, metadata, safety, errors."""

from __future__ import annotations

import io
import os
import struct
import zlib

import numpy as np
import pytest
import tifffile
from PIL import Image as PILImage
from PIL import ImageCms

from photomend import FileFormatError, Image, ImageError, ParameterError, convert, fileio

LAYOUTS = {"gray": 1, "gray+alpha": 2, "rgb": 3, "rgba": 4}


def random_pixels(dtype, channels, seed=0, shape=(37, 53)):
    """Seeded pixels that hit both ends of the range of `dtype`."""
    rng = np.random.default_rng(seed)
    info = np.iinfo(dtype)
    a = rng.integers(0, int(info.max) + 1, (*shape, channels), dtype=dtype)
    a[0, 0], a[0, 1] = 0, info.max
    return a if channels > 1 else a[..., 0]


def srgb_profile() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def exif_block(endian: str = ">") -> bytes:
    """A TIFF-structured EXIF block with IFD0, Exif and GPS tags (no prefix)."""
    exif = PILImage.Exif()
    exif.endian = endian
    exif[271] = "Photomend Camera Co"
    exif[272] = "Model 7"
    exif[274] = 1
    exif[33432] = "(c) Someone"
    exif.get_ifd(0x8769)[0x9003] = "1987:06:05 04:03:02"
    exif.get_ifd(0x8769)[0x920A] = 35.0
    exif.get_ifd(0x8825)[1] = "N"
    data = exif.tobytes()
    return data[6:] if data.startswith(b"Exif\x00\x00") else data


def exif_tags(block: bytes) -> dict:
    exif = PILImage.Exif()
    exif.load(block)
    return {"ifd0": dict(exif), "exif": dict(exif.get_ifd(0x8769)),
            "gps": dict(exif.get_ifd(0x8825))}


def png_chunk_types(path) -> list[bytes]:
    data = path.read_bytes()
    pos, kinds = 8, []
    while pos < len(data):
        (length,) = struct.unpack_from(">I", data, pos)
        kinds.append(data[pos + 4:pos + 8])
        pos += 12 + length
    return kinds


# -- exact round trips ------------------------------------------------------------


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_png_round_trip_is_exact(tmp_path, layout, dtype):
    pixels = random_pixels(dtype, LAYOUTS[layout], seed=LAYOUTS[layout])
    path = fileio.save(Image.from_array(pixels), tmp_path / "out.png")
    assert path == tmp_path / "out.png"
    back = fileio.load(path)
    assert back.dtype == np.dtype(dtype)
    assert back.info["format"] == "png"
    assert back.transfer == "perceptual"
    np.testing.assert_array_equal(back.to_array(), pixels.reshape(back.to_array().shape))
    # the file really is 8/16-bit and another decoder accepts it (CRCs checked)
    assert path.read_bytes()[24] == np.dtype(dtype).itemsize * 8
    with PILImage.open(path) as im:
        im.verify()


@pytest.mark.parametrize("compression", ["none", "lzw", "deflate"])
@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_tiff_round_trip_is_exact(tmp_path, layout, dtype, compression):
    pixels = random_pixels(dtype, LAYOUTS[layout], seed=7 + LAYOUTS[layout])
    path = fileio.save(Image.from_array(pixels), tmp_path / "out.tif", compression=compression)
    back = fileio.load(path)
    assert back.dtype == np.dtype(dtype)
    assert back.info["compression"] == compression
    assert back.infrared is None
    assert (back.alpha is not None) == (LAYOUTS[layout] in (2, 4))
    np.testing.assert_array_equal(back.to_array(), pixels.reshape(back.to_array().shape))
    with tifffile.TiffFile(path) as tif:  # an independent reader sees the same samples
        page = tif.pages.first
        assert int(page.compression) == {"none": 1, "lzw": 5, "deflate": 8}[compression]
        np.testing.assert_array_equal(page.asarray(), pixels)


def test_float32_tiff_keeps_values(tmp_path):
    rng = np.random.default_rng(3)
    pixels = rng.normal(0.5, 1.0, (19, 23, 3)).astype(np.float32)
    pixels[0, 0] = [-2.5, 0.0, 40.0]  # out-of-range (HDR) values are kept too
    path = fileio.save(Image.from_array(pixels), tmp_path / "hdr.tiff")
    back = fileio.load(path)
    assert back.dtype == np.float32
    assert back.transfer == "perceptual"
    np.testing.assert_array_equal(back.color, pixels)


def test_tiff_saved_alike_keeps_compression_and_depth(tmp_path):
    pixels = random_pixels(np.uint16, 3)
    first = fileio.load(fileio.save(Image.from_array(pixels), tmp_path / "a.tif",
                                    compression="lzw"))
    result = first.with_color(first.color * np.float32(0.5))
    back = fileio.load(fileio.save(result, tmp_path / "b.tif", like=first))
    assert back.info["compression"] == "lzw"
    assert back.dtype == np.uint16


def test_webp_lossless_round_trip(tmp_path):
    pixels = random_pixels(np.uint8, 4, seed=11)
    path = fileio.save(Image.from_array(pixels), tmp_path / "a.webp", compression="lossless")
    back = fileio.load(path)
    np.testing.assert_array_equal(back.to_array(), pixels)


def test_a_lossless_webp_stays_lossless(tmp_path):
    pixels = random_pixels(np.uint8, 3, seed=12)
    source = fileio.load(fileio.save(Image.from_array(pixels), tmp_path / "a.webp",
                                     compression="lossless"))
    assert source.info["compression"] == "lossless"
    again = fileio.load(fileio.save(source, tmp_path / "b.webp"))
    np.testing.assert_array_equal(again.to_array(), pixels)
    lossy = fileio.load(fileio.save(Image.from_array(pixels), tmp_path / "c.webp"))
    assert lossy.info["compression"] == "lossy"


def _patched_tiff(path, tag, value):
    """A small TIFF whose `tag` (first value) is overwritten: a damaged header."""
    tifffile.imwrite(path, np.full((40, 60), 100, np.uint16))
    with tifffile.TiffFile(path) as tif:
        entry = tif.pages[0].tags[tag]
        offset, size = entry.valueoffset, 2 if int(entry.dtype) == 3 else 4
    data = bytearray(path.read_bytes())
    data[offset:offset + size] = value.to_bytes(size, "little")
    path.write_bytes(bytes(data))
    return path


def test_a_tiff_claiming_more_pixels_than_memory_is_refused_before_decoding(tmp_path):
    path = _patched_tiff(tmp_path / "huge.tif", 257, 3_000_000_000)  # ImageLength
    with pytest.raises(FileFormatError, match=r"claims 60×3000000000 px .* may be damaged"):
        fileio.load(path)


def test_any_decoder_failure_is_a_file_format_error(tmp_path):
    path = tmp_path / "mixed.tif"
    tifffile.imwrite(path, np.full((40, 60, 3), 100, np.uint8), photometric="rgb")
    with tifffile.TiffFile(path) as tif:
        offset = tif.pages[0].tags[258].valueoffset  # BitsPerSample (8, 8, 8)
    data = bytearray(path.read_bytes())
    data[offset:offset + 2] = (16).to_bytes(2, "little")  # (16, 8, 8): a TypeError inside
    path.write_bytes(bytes(data))
    with pytest.raises(FileFormatError, match="damaged or uses a feature"):
        fileio.load(path)


def test_jpeg_round_trip_is_close(tmp_path):
    y, x = np.mgrid[0:64, 0:64].astype(np.float32) / 63
    color = np.stack([x, y, (x + y) / 2], axis=-1)
    image = Image(color=color, dtype=np.dtype(np.uint8))
    back = fileio.load(fileio.save(image, tmp_path / "a.jpg", quality=95))
    assert back.dtype == np.uint8
    assert float(np.abs(back.color - color).mean()) < 0.01


def test_linear_image_is_saved_perceptual(tmp_path):
    pixels = random_pixels(np.uint16, 3)
    image = Image.from_array(pixels)
    back = fileio.load(fileio.save(image.in_transfer("linear"), tmp_path / "a.png"))
    assert back.transfer == "perceptual"
    np.testing.assert_allclose(back.color, image.color, atol=2e-4)


# -- metadata -----------------------------------------------------------------


@pytest.mark.parametrize(("suffix", "dtype"), [(".tif", np.uint8), (".tif", np.uint16),
                                               (".png", np.uint8), (".png", np.uint16),
                                               (".jpg", np.uint8)])
def test_icc_exif_dpi_survive(tmp_path, suffix, dtype):
    icc, exif = srgb_profile(), exif_block()
    image = Image.from_array(random_pixels(dtype, 3), icc_profile=icc, exif=exif,
                             dpi=(300.0, 150.0))
    path = fileio.save(image, tmp_path / f"a{suffix}")
    back = fileio.load(path)
    assert back.icc_profile == icc
    assert back.dpi == (300.0, 150.0)
    assert exif_tags(back.exif) == exif_tags(exif)
    if suffix != ".tif":  # PNG and JPEG keep the block byte for byte
        assert back.exif == exif
    # ... and a second save → load changes nothing more
    again = fileio.load(fileio.save(back, tmp_path / f"b{suffix}"))
    assert (again.icc_profile, again.exif, again.dpi) == (back.icc_profile, back.exif, back.dpi)


@pytest.mark.parametrize("endian", ["<", ">"])
def test_tiff_exif_is_real_tiff_tags(tmp_path, endian):
    image = Image.from_array(random_pixels(np.uint16, 3), exif=exif_block(endian))
    path = fileio.save(image, tmp_path / "a.tif", compression="lzw")
    with tifffile.TiffFile(path) as tif:
        tags = tif.pages.first.tags
        assert tags["Make"].value == "Photomend Camera Co"
        assert tags["ExifTag"].value["DateTimeOriginal"] == "1987:06:05 04:03:02"
        assert tags["GPSTag"].value["GPSLatitudeRef"] == "N"
        np.testing.assert_array_equal(tif.pages.first.asarray(), image.to_array())
    with PILImage.open(path) as im:  # Pillow follows the pointers too
        assert im.getexif().get_ifd(0x8769)[0x9003] == "1987:06:05 04:03:02"


def test_photo_tags_of_a_foreign_tiff_become_exif(tmp_path):
    exif = PILImage.Exif()
    exif[272] = "Scanner 9000"
    exif[315] = "A. Photographer"
    path = tmp_path / "pillow.tif"
    PILImage.new("RGB", (8, 6), (10, 20, 30)).save(path, exif=exif, dpi=(1200, 1200))
    back = fileio.load(path)
    assert exif_tags(back.exif)["ifd0"] == {272: "Scanner 9000", 315: "A. Photographer"}
    assert back.dpi == (1200.0, 1200.0)
    jpeg = fileio.load(fileio.save(back, tmp_path / "a.jpg"))
    assert jpeg.exif == back.exif


def test_webp_keeps_icc_and_exif(tmp_path):
    icc, exif = srgb_profile(), exif_block("<")
    image = Image.from_array(random_pixels(np.uint8, 3), icc_profile=icc, exif=exif)
    back = fileio.load(fileio.save(image, tmp_path / "a.webp", quality=90))
    assert (back.icc_profile, back.exif) == (icc, exif)


def test_tifffile_layout_notes_are_not_exif(tmp_path):
    path = tmp_path / "plain.tif"
    tifffile.imwrite(path, random_pixels(np.uint8, 3), software=False)  # writes '{"shape": ...}'
    assert fileio.load(path).exif is None


def test_no_metadata_stays_none(tmp_path):
    for suffix in (".tif", ".png", ".jpg", ".webp"):
        back = fileio.load(fileio.save(Image.from_array(random_pixels(np.uint8, 3)),
                                       tmp_path / f"a{suffix}"))
        assert (back.icc_profile, back.exif, back.dpi) == (None, None, None), suffix


def test_png_metadata_chunks_come_after_header(tmp_path):
    image = Image.from_array(random_pixels(np.uint16, 4), icc_profile=srgb_profile(),
                             exif=exif_block(), dpi=(72.0, 72.0))
    kinds = png_chunk_types(fileio.save(image, tmp_path / "a.png"))
    assert kinds[:4] == [b"IHDR", b"iCCP", b"pHYs", b"eXIf"]
    assert kinds[-1] == b"IEND"


def test_like_fills_missing_metadata_and_depth(tmp_path):
    source = Image.from_array(random_pixels(np.uint16, 3), icc_profile=srgb_profile(),
                              exif=exif_block(), dpi=(600.0, 600.0))
    result = Image(color=source.color.copy())  # float32 working image, no metadata
    back = fileio.load(fileio.save(result, tmp_path / "out.png", like=source))
    assert back.dtype == np.uint16
    assert (back.icc_profile, back.exif, back.dpi) == (source.icc_profile, source.exif,
                                                       (600.0, 600.0))
    np.testing.assert_array_equal(back.to_array(), source.to_array())
    own = Image(color=source.color.copy(), dtype=np.dtype(np.uint16), dpi=(100.0, 100.0))
    assert fileio.load(fileio.save(own, tmp_path / "own.png", like=source)).dpi == (100.0,
                                                                                    100.0)


# -- infrared and alpha in TIFF ---------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_rgbi_tiff_keeps_infrared_separate(tmp_path, dtype):
    rgbi = random_pixels(dtype, 4, seed=5)
    path = tmp_path / "scan.tif"
    # written the way a film scanner does: 4 samples, ExtraSamples = unspecified
    tifffile.imwrite(path, rgbi, photometric="rgb", planarconfig="contig", extrasamples=[0],
                     compression="lzw")
    scan = fileio.load(path)
    assert scan.alpha is None
    assert scan.channels == 3
    assert scan.infrared is not None
    np.testing.assert_array_equal(scan.to_array(), rgbi[..., :3])
    np.testing.assert_array_equal(convert.from_float32(scan.infrared, dtype), rgbi[..., 3])

    saved = fileio.save(scan, tmp_path / "again.tif")
    with tifffile.TiffFile(saved) as tif:
        page = tif.pages.first
        assert page.samplesperpixel == 4
        assert tuple(int(c) for c in page.extrasamples) == (0,)
        np.testing.assert_array_equal(page.asarray(), rgbi)
    again = fileio.load(saved)
    assert again.alpha is None
    np.testing.assert_array_equal(again.infrared, scan.infrared)


@pytest.mark.parametrize(("code", "kind"), [(1, "associated"), (2, "unassociated")])
def test_rgba_tiff_alpha_is_not_infrared(tmp_path, code, kind):
    rgba = random_pixels(np.uint16, 4, seed=6)
    path = tmp_path / "rgba.tif"
    tifffile.imwrite(path, rgba, photometric="rgb", planarconfig="contig", extrasamples=[code])
    image = fileio.load(path)
    assert image.infrared is None
    assert image.info["alpha"] == kind
    np.testing.assert_array_equal(image.to_array(), rgba)
    with tifffile.TiffFile(fileio.save(image, tmp_path / "again.tif")) as tif:
        assert tuple(int(c) for c in tif.pages.first.extrasamples) == (code,)


def test_rgb_alpha_and_infrared_together(tmp_path):
    rgba = random_pixels(np.uint16, 4, seed=8)
    infrared = random_pixels(np.uint16, 1, seed=9).astype(np.float32) / 65535
    image = Image.from_array(rgba, infrared=infrared)
    back = fileio.load(fileio.save(image, tmp_path / "a.tif"))
    np.testing.assert_array_equal(back.to_array(), rgba)
    np.testing.assert_array_equal(convert.from_float32(back.infrared, np.uint16),
                                  convert.from_float32(image.infrared, np.uint16))


def test_gray_with_infrared_tiff(tmp_path):
    gray = random_pixels(np.uint16, 1, seed=12)
    infrared = random_pixels(np.uint16, 1, seed=13)
    image = Image.from_array(gray, infrared=convert.to_float32(infrared))
    path = fileio.save(image, tmp_path / "gi.tif")
    with tifffile.TiffFile(path) as tif:
        assert tif.pages.first.samplesperpixel == 2
    back = fileio.load(path)
    assert back.is_gray
    assert back.alpha is None
    np.testing.assert_array_equal(back.to_array()[..., 0], gray)
    np.testing.assert_array_equal(convert.from_float32(back.infrared, np.uint16), infrared)


def test_infrared_is_left_out_of_png(tmp_path):
    image = Image.from_array(random_pixels(np.uint16, 3),
                             infrared=np.zeros((37, 53), np.float32))
    back = fileio.load(fileio.save(image, tmp_path / "a.png"))
    assert back.infrared is None
    assert back.channels == 3


# -- other TIFF layouts -------------------------------------------------------------


def test_palette_tiff_becomes_rgb(tmp_path):
    indices = np.array([[0, 1, 2], [2, 1, 0]], np.uint8)
    colormap = np.zeros((3, 256), np.uint16)
    colormap[:, :3] = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255]]).T * 257
    path = tmp_path / "pal.tif"
    tifffile.imwrite(path, indices, photometric="palette", colormap=colormap)
    image = fileio.load(path)
    assert image.dtype == np.uint8
    np.testing.assert_array_equal(image.to_array()[0, :, :], [[255, 0, 0], [0, 255, 0],
                                                              [0, 0, 255]])


def test_planar_separate_and_multipage_tiff(tmp_path):
    rgb = random_pixels(np.uint16, 3)
    path = tmp_path / "planar.tif"
    with tifffile.TiffWriter(path) as tif:
        tif.write(np.moveaxis(rgb, -1, 0), photometric="rgb", planarconfig="separate")
        tif.write(np.zeros((4, 4), np.uint8), photometric="minisblack")
    image = fileio.load(path)
    assert image.info["pages"] == 2
    np.testing.assert_array_equal(image.to_array(), rgb)


def test_bilevel_and_miniswhite_tiff(tmp_path):
    bits = np.array([[0, 1, 1], [1, 0, 0]], bool)
    path = tmp_path / "bw.tif"
    tifffile.imwrite(path, bits, photometric="miniswhite")
    image = fileio.load(path)
    assert image.dtype == np.uint8
    np.testing.assert_array_equal(image.to_array()[..., 0], np.where(bits, 0, 255))


def test_jpeg_compressed_tiff_loads_as_rgb(tmp_path):
    y, x = np.mgrid[0:64, 0:64]
    rgb = np.stack([x * 4, y * 4, np.full_like(x, 128)], axis=-1).astype(np.uint8)
    path = tmp_path / "j.tif"
    tifffile.imwrite(path, rgb, photometric="rgb", compression="jpeg")  # stored as YCbCr
    image = fileio.load(path)
    assert image.info["compression"] == "jpeg"
    assert np.abs(image.to_array().astype(int) - rgb).mean() < 2
    # saving alike does not repeat a lossy compression
    assert fileio.load(fileio.save(image, tmp_path / "k.tif")).info["compression"] == "deflate"


def test_cmyk_tiff_is_refused(tmp_path):
    path = tmp_path / "cmyk.tif"
    tifffile.imwrite(path, np.zeros((4, 4, 4), np.uint8), photometric="separated")
    with pytest.raises(FileFormatError, match=r"CMYK TIFF files are not supported"):
        fileio.load(path)


def test_palette_png_becomes_rgb(tmp_path):
    path = tmp_path / "pal.png"
    pal = PILImage.fromarray(np.array([[0, 1], [1, 0]], np.uint8)).convert("P")
    pal.putpalette([255, 0, 0, 0, 0, 255])
    pal.save(path)
    image = fileio.load(path)
    np.testing.assert_array_equal(image.to_array()[0], [[255, 0, 0], [0, 0, 255]])


# -- refusing to lose depth -------------------------------------------------------------


@pytest.mark.parametrize(("suffix", "label"), [(".jpg", "JPEG"), (".jpeg", "JPEG"),
                                               (".webp", "WebP")])
def test_16_bit_is_refused_by_8_bit_formats(tmp_path, suffix, label):
    image = Image.from_array(random_pixels(np.uint16, 3))
    target = tmp_path / f"out{suffix}"
    with pytest.raises(FileFormatError, match=rf"{label} cannot store 16-bit images") as err:
        fileio.save(image, target)
    assert "dtype='uint8' (--depth 8 on the command line)" in str(err.value)
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []
    # ... unless 8 bits are asked for explicitly
    back = fileio.load(fileio.save(image, target, dtype="uint8"))
    assert back.dtype == np.uint8


def test_like_16_bit_is_refused_by_jpeg(tmp_path):
    like = Image.from_array(random_pixels(np.uint16, 3))
    with pytest.raises(FileFormatError, match=r"JPEG cannot store 16-bit"):
        fileio.save(Image.from_array(random_pixels(np.uint8, 3)), tmp_path / "a.jpg",
                    like=like)


def test_float_is_refused_by_png(tmp_path):
    image = Image(color=np.zeros((4, 4, 3), np.float32))
    with pytest.raises(FileFormatError, match=r"PNG cannot store 32-bit float.*save as TIFF"):
        fileio.save(image, tmp_path / "a.png")


def test_jpeg_refuses_alpha(tmp_path):
    with pytest.raises(FileFormatError, match=r"JPEG cannot store transparency"):
        fileio.save(Image.from_array(random_pixels(np.uint8, 4)), tmp_path / "a.jpg")


def test_bad_arguments(tmp_path):
    image = Image.from_array(random_pixels(np.uint8, 3))
    with pytest.raises(ParameterError, match=r"quality must be a whole number from 1 to 100"):
        fileio.save(image, tmp_path / "a.jpg", quality=0)
    with pytest.raises(ParameterError, match=r"dtype 'bogus' is not a pixel type"):
        fileio.save(image, tmp_path / "a.tif", dtype="bogus")
    with pytest.raises(FileFormatError, match=r"TIFF compression 'jpeg' is not supported"):
        fileio.save(image, tmp_path / "a.tif", compression="jpeg")
    with pytest.raises(FileFormatError, match=r"PNG files take no compression setting"):
        fileio.save(image, tmp_path / "a.png", compression="lzw")
    with pytest.raises(ImageError, match=r"save expects a photomend Image, got ndarray"):
        fileio.save(random_pixels(np.uint8, 3), tmp_path / "a.png")
    nan = Image(color=np.full((2, 2, 3), np.nan, np.float32))
    with pytest.raises(ImageError, match=r"NaN"):
        fileio.save(nan, tmp_path / "a.tif")
    assert list(tmp_path.iterdir()) == []


# -- safe writing -------------------------------------------------------------


def test_existing_file_is_not_overwritten(tmp_path):
    target = tmp_path / "keep.png"
    original = b"precious bytes, not even a PNG"
    target.write_bytes(original)
    image = Image.from_array(random_pixels(np.uint8, 3))
    with pytest.raises(FileFormatError, match=r"already exists; pass overwrite=True") as err:
        fileio.save(image, target)
    assert "--overwrite" in str(err.value)
    assert target.read_bytes() == original
    assert list(tmp_path.iterdir()) == [target]
    fileio.save(image, target, overwrite=True)
    np.testing.assert_array_equal(fileio.load(target).to_array(), image.to_array())
    assert list(tmp_path.iterdir()) == [target]


def _fail_midway(monkeypatch, exc):
    """Make tifffile write the image data and then fail, as a full disk would."""
    real_write = tifffile.TiffWriter.write

    def write(self, *args, **kwargs):
        real_write(self, *args, **kwargs)
        raise exc

    monkeypatch.setattr(tifffile.TiffWriter, "write", write)


def test_failed_save_leaves_no_output_and_no_temp_file(tmp_path, monkeypatch):
    _fail_midway(monkeypatch, OSError(28, "No space left on device"))
    image = Image.from_array(random_pixels(np.uint16, 3))
    with pytest.raises(FileFormatError, match=r"could not write the TIFF file .*No space left"):
        fileio.save(image, tmp_path / "out.tif")
    assert list(tmp_path.iterdir()) == []


def test_failed_overwrite_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "out.tif"
    target.write_bytes(b"old contents")
    _fail_midway(monkeypatch, OSError(28, "No space left on device"))
    with pytest.raises(FileFormatError):
        fileio.save(Image.from_array(random_pixels(np.uint8, 3)), target, overwrite=True)
    assert target.read_bytes() == b"old contents"
    assert list(tmp_path.iterdir()) == [target]


def test_interrupted_save_removes_temp_file(tmp_path, monkeypatch):
    _fail_midway(monkeypatch, KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        fileio.save(Image.from_array(random_pixels(np.uint8, 3)), tmp_path / "out.tif")
    assert list(tmp_path.iterdir()) == []


def test_failing_png_encoder_is_wrapped(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("encoder exploded")

    monkeypatch.setattr(fileio.imagecodecs, "png_encode", broken)
    with pytest.raises(FileFormatError, match=r"could not write the PNG file.*encoder exploded"):
        fileio.save(Image.from_array(random_pixels(np.uint8, 3)), tmp_path / "out.png")
    assert list(tmp_path.iterdir()) == []


def test_saved_file_gets_normal_permissions(tmp_path):
    umask = os.umask(0o022)
    os.umask(umask)
    path = fileio.save(Image.from_array(random_pixels(np.uint8, 3)), tmp_path / "a.png")
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_missing_folder(tmp_path):
    with pytest.raises(FileFormatError, match=r"the folder .* does not exist"):
        fileio.save(Image.from_array(random_pixels(np.uint8, 3)), tmp_path / "no" / "a.png")


# -- bad input files ------------------------------------------------------------


def _valid_bytes(suffix: str) -> bytes:
    buffer = io.BytesIO()
    fmt = {".png": "PNG", ".tif": "TIFF", ".jpg": "JPEG", ".webp": "WEBP"}[suffix]
    PILImage.fromarray(random_pixels(np.uint8, 3, shape=(64, 64))).save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.mark.parametrize("suffix", [".png", ".tif", ".jpg", ".webp"])
def test_truncated_file_is_a_file_format_error(tmp_path, suffix):
    path = tmp_path / f"cut{suffix}"
    data = _valid_bytes(suffix)
    path.write_bytes(data[:len(data) // 3])
    with pytest.raises(FileFormatError, match=rf"cannot read {path}: "):
        fileio.load(path)


@pytest.mark.parametrize("suffix", [".png", ".tif", ".jpg", ".webp"])
def test_garbage_file_is_a_file_format_error(tmp_path, suffix):
    path = tmp_path / f"junk{suffix}"
    path.write_bytes(np.random.default_rng(0).bytes(500))
    with pytest.raises(FileFormatError, match=r"is not a valid .* file \(it may be damaged\)"):
        fileio.load(path)


def test_damaged_pixel_data_is_a_file_format_error(tmp_path):
    data = bytearray(fileio.save(Image.from_array(random_pixels(np.uint16, 3)),
                                 tmp_path / "a.png").read_bytes())
    idat = data.index(b"IDAT")
    data[idat + 10:idat + 60] = bytes(50)
    path = tmp_path / "broken.png"
    path.write_bytes(bytes(data))
    with pytest.raises(FileFormatError, match=r"the PNG file is damaged"):
        fileio.load(path)


def test_damaged_png_metadata_is_skipped(tmp_path):
    pixels = random_pixels(np.uint8, 3)
    data = fileio.save(Image.from_array(pixels), tmp_path / "a.png").read_bytes()
    payload = b"x\x00\x00" + zlib.compress(b"not a profile")
    bad = struct.pack(">I", len(payload)) + b"iCCP" + payload + b"\x00\x00\x00\x00"
    path = tmp_path / "b.png"
    path.write_bytes(data[:33] + bad + data[33:])
    image = fileio.load(path)
    assert image.icc_profile is None
    np.testing.assert_array_equal(image.to_array(), pixels)


def test_misnamed_file_loads_by_content(tmp_path):
    path = tmp_path / "actually_png.tif"
    pixels = random_pixels(np.uint16, 3)
    path.write_bytes(fileio.save(Image.from_array(pixels), tmp_path / "a.png").read_bytes())
    image = fileio.load(path)
    assert image.info["format"] == "png"
    np.testing.assert_array_equal(image.to_array(), pixels)


def test_missing_empty_and_unknown_files(tmp_path):
    with pytest.raises(FileFormatError, match=r"cannot read .*gone\.png: the file does not exist"):
        fileio.load(tmp_path / "gone.png")
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(FileFormatError, match=r"empty\.jpg: the file is empty"):
        fileio.load(tmp_path / "empty.jpg")
    (tmp_path / "folder.tif").mkdir()
    with pytest.raises(FileFormatError, match=r"it is a folder"):
        fileio.load(tmp_path / "folder.tif")
    with pytest.raises(FileFormatError,
                       match=r"\.bmp is not a supported image type; use one of \.tif, \.tiff"):
        fileio.load(tmp_path / "photo.bmp")
    with pytest.raises(FileFormatError, match=r"the file name has no extension; use one of"):
        fileio.save(Image.from_array(random_pixels(np.uint8, 3)), tmp_path / "photo")


def test_signed_integer_tiff_is_refused(tmp_path):
    path = tmp_path / "signed.tif"
    tifffile.imwrite(path, np.zeros((4, 4), np.int16))
    with pytest.raises(FileFormatError, match=r"unsupported pixel type int16"):
        fileio.load(path)


def test_top_level_api_uses_fileio(tmp_path):
    import photomend

    pixels = random_pixels(np.uint16, 3)
    path = photomend.save(Image.from_array(pixels), tmp_path / "a.tif")
    np.testing.assert_array_equal(photomend.load(path).to_array(), pixels)
