"""Tests of the denoise operation and the noise estimate."""

from __future__ import annotations

import dataclasses
import io
import itertools

import numpy as np
import pytest
from PIL import Image as PILImage
from scipy import ndimage

import photomend
from photomend import Cancelled, ImageError, ParameterError, quality, synth
from photomend.ops import _denoise_noise as _nm
from photomend.ops.denoise import NoiseEstimate, denoise, estimate_noise, noise_split


def _noisy(clean, sigma, seed=0):
    return synth.gaussian_noise(clean, seed, sigma=sigma).image


@pytest.fixture(scope="module")
def scene():
    """A seeded 96×112 RGB photo-like scene and its noisy version (σ = 25)."""
    clean = synth.synthetic_scene((96, 112, 3), seed=5)
    return clean, _noisy(clean, 25.0, seed=6)


@pytest.fixture(scope="module")
def texture():
    """A seeded 96×96 gray texture scene and its noisy version (σ = 25)."""
    clean = synth.synthetic_scene((96, 96, 1), seed=3, kind="texture")
    return clean, _noisy(clean, 25.0, seed=4)


def test_registered_with_its_parameters():
    spec = photomend.get_operation("denoise")
    assert spec.menu == "Enhance" and spec.local and spec.prepare is not None
    names = [p.name for p in spec.params]
    assert names == ["method", "sigma", "grain", "shot", "luma_share"]
    assert spec.param("luma_share").optional and spec.param("luma_share").advanced
    assert spec.param("method").choices == ("quality", "fast")
    assert spec.param("sigma").optional and spec.param("sigma").max == 100.0
    # both passes' reach at the widest search (σ ≥ 30: ±15 px, then ±12 px)
    assert spec.halo({"method": "quality"}) >= 2 * (15 + 8) + 2 * (12 + 8)


# --- known answers -------------------------------------------------------------------

@pytest.mark.parametrize("channels", [1, 3])
def test_constant_image_comes_back_constant(channels):
    clean = np.full((48, 56, channels), 0.4, np.float32)
    noisy = _noisy(clean, 20.0)
    out = photomend.run("denoise", noisy, sigma=20.0)
    # the mean of the noise itself (±0.0015 here) stays; the rest goes
    assert abs(float(out.mean()) - float(noisy.mean())) < 0.001
    assert float(out.std()) < 0.1 * 20.0 / 255.0


@pytest.mark.parametrize("sigma", [5.0, 25.0, 50.0])
@pytest.mark.parametrize("channels", [1, 3])
def test_noise_estimate_on_pure_noise(sigma, channels):
    noisy = _noisy(np.full((96, 96, channels), 0.5, np.float32), sigma, seed=int(sigma))
    est = estimate_noise(noisy)
    assert isinstance(est, NoiseEstimate)
    assert est.sigma == pytest.approx(sigma, rel=0.10)
    assert len(est.channels) == channels and not est.signal_dependent and est.shot == 0.0


def test_noise_estimate_on_a_scene(scene):
    clean, noisy = scene
    assert estimate_noise(noisy).sigma == pytest.approx(25.0, rel=0.10)
    assert estimate_noise(clean).sigma < 2.5  # anti-aliased edges are not noise


@pytest.mark.parametrize("channels", [1, 3])
def test_noise_estimate_on_a_textured_scene(channels):
    # fine texture everywhere (gratings, a Siemens star): few flat patches to measure on;
    # measured: gray +6.6 / -1.5 / +1.1 %, colour +3.5 / +2.4 / -3.1 %
    clean = synth.synthetic_scene((128, 128, channels), seed=1, kind="texture")
    for sigma in (15.0, 25.0, 50.0):
        est = estimate_noise(_noisy(clean, sigma, seed=2)).sigma
        assert est == pytest.approx(sigma, rel=0.10), sigma


def test_noise_readings_are_exact_on_white_noise():
    # the smallest eigenvalue after the Marchenko-Pastur correction, and the
    # mean-equals-median rule: σ within 3 % (measured -1.3 % and -1.0 %); the smallest
    # eigenvalue itself would read (1 - sqrt(48 / n)) = 0.955 of σ here
    rng = np.random.default_rng(7)
    rows = _nm.patch_rows(rng.standard_normal((160, 160)).astype(np.float32))[0]
    floor, total = _nm.noise_variance(rows, rules=("floor", "total"))
    assert np.sqrt(floor) == pytest.approx(1.0, rel=0.03)
    assert np.sqrt(total) == pytest.approx(1.0, rel=0.03)


def test_noise_estimate_ignores_clipped_shadows_and_highlights():
    # crushed blacks and blown highlights are flat and noise-free: an estimator
    # that measured them would read about 7 instead of 12 here (measured 11.9)
    clean = synth.synthetic_scene((96, 96, 3), seed=1)
    clean[:, :36] = 0.0
    clean[-24:] = 1.0
    noisy = synth.gaussian_noise(clean, 1, sigma=12.0, clip=True).image
    assert estimate_noise(noisy).sigma == pytest.approx(12.0, rel=0.10)


def test_noise_estimate_of_gray_noise_in_a_colour_file(scene):
    # the same noise in R, G and B: all of it in luma, none in the colour planes
    # (measured 19.8)
    clean, _ = scene
    gray_noise = _noisy(np.full((*clean.shape[:2], 1), 0.5, np.float32), 20.0, seed=3) - 0.5
    est = estimate_noise(clean + gray_noise)
    assert est.sigma == pytest.approx(20.0, rel=0.10)
    assert est.channels == pytest.approx((20.0,) * 3, rel=0.10)
    assert est.luma_share > 0.9


def test_luma_share_of_independent_noise_is_a_third(scene):
    _, noisy = scene
    assert estimate_noise(noisy).luma_share == pytest.approx(1 / 3, abs=0.07)
    gray = estimate_noise(noisy.mean(axis=2, keepdims=True))
    assert gray.luma_share == 1.0


def test_gray_noise_in_colour_is_removed_from_luma_and_colour_kept(scene):
    # Monochrome grain puts sqrt(3) sigma into luma and nothing into colour:
    # one level for all planes half-removes it (measured on Kodak: +3 to +7 dB
    # from the per-plane levels; here 31.6 against 26.4 dB).
    clean, _ = scene
    grain = _noisy(np.full((*clean.shape[:2], 1), 0.5, np.float32), 20.0, seed=4) - 0.5
    noisy = clean + grain
    auto = quality.psnr(clean, np.clip(denoise(noisy), 0, 1))
    single = quality.psnr(clean, np.clip(denoise(noisy, luma_share=1 / 3), 0, 1))
    assert auto > single + 2.0
    # independent noise, measured, keeps one level for all planes
    white = _noisy(clean, 20.0, seed=5)
    est = estimate_noise(white)
    assert est.luma_share != 1 / 3 and noise_split(est) == 1 / 3
    np.testing.assert_array_equal(
        denoise(white), denoise(white, sigma=est.sigma, shot=est.shot, luma_share=1 / 3))
    # a share given by hand is used as it is
    assert not np.array_equal(denoise(white, sigma=20.0, luma_share=0.4),
                              denoise(white, sigma=20.0))


def test_compressed_noise_is_still_measured():
    # JPEG smooths the noise unevenly (spatially correlated, colour subsampled); its
    # weakest direction alone would read 2.5, the whole noise left is 8.1 (measured: 6.9)
    clean = synth.synthetic_scene((128, 128, 3), seed=0)
    noisy = np.clip(_noisy(clean, 10.0, seed=1), 0, 1)
    buffer = io.BytesIO()
    PILImage.fromarray((noisy * 255 + 0.5).astype(np.uint8)).save(buffer, "JPEG", quality=85)
    decoded = np.asarray(PILImage.open(buffer), np.float32) / 255
    left = 255 * float(np.std(decoded - clean))
    assert 0.6 * left < estimate_noise(decoded).sigma < 1.2 * left


def test_noise_estimate_takes_integer_images_and_tiny_ones(scene):
    _, noisy = scene
    u16 = (np.clip(noisy, 0, 1) * 65535 + 0.5).astype(np.uint16)
    assert estimate_noise(u16).sigma == pytest.approx(estimate_noise(noisy).sigma, rel=0.05)
    tiny = estimate_noise(np.full((3, 4), 0.5, np.float32))
    assert tiny.sigma == 0.0


def test_signal_dependent_noise_is_detected():
    ramp = np.tile(np.linspace(0.05, 0.95, 128, dtype=np.float32), (128, 1))[..., None]
    shot = synth.poisson_gaussian_noise(ramp, 1, peak=40.0, sigma=1.0).image
    est = estimate_noise(shot)
    assert est.signal_dependent and est.shot > 0.8
    assert est.a == pytest.approx(1 / 40.0, rel=0.25)
    flat = estimate_noise(_noisy(ramp, 12.0))
    assert not flat.signal_dependent and flat.shot == 0.0


# --- quality -------------------------------------------------------------------------

def test_beats_the_best_gaussian_blur_on_texture(texture):
    # measured: 24.0 dB against 22.0 dB for the best blur
    clean, noisy = texture
    out = photomend.run("denoise", noisy, sigma=25.0)
    blur = max(quality.psnr(clean, np.clip(ndimage.gaussian_filter(noisy, (s, s, 0)), 0, 1))
               for s in (0.5, 0.7, 1.0, 1.4))
    assert quality.psnr(clean, np.clip(out, 0, 1)) > blur + 1.5


def test_psnr_on_a_seeded_scene(scene):
    # measured: quality 32.2 dB, fast 31.3 dB, noisy input 20.4 dB; margin 0.5 dB
    clean, noisy = scene
    best = quality.psnr(clean, np.clip(photomend.run("denoise", noisy, sigma=25.0), 0, 1))
    fast = quality.psnr(clean, np.clip(photomend.run("denoise", noisy, sigma=25.0,
                                                     method="fast"), 0, 1))
    assert best > 31.7 and fast > 30.8 and best > fast + 0.3


def test_automatic_level_is_as_good_as_the_true_one(scene):
    clean, noisy = scene
    auto = quality.psnr(clean, np.clip(photomend.run("denoise", noisy), 0, 1))
    given = quality.psnr(clean, np.clip(photomend.run("denoise", noisy, sigma=25.0), 0, 1))
    assert auto > given - 0.2


def test_shot_noise_is_stabilised():
    clean = synth.synthetic_scene((96, 96, 1), seed=8)
    noisy = synth.poisson_gaussian_noise(clean, 2, peak=30.0, sigma=1.0).image
    est = estimate_noise(noisy)
    auto = quality.psnr(clean, np.clip(photomend.run("denoise", noisy), 0, 1))
    flat = quality.psnr(clean, np.clip(photomend.run("denoise", noisy, sigma=est.sigma,
                                                     shot=0.0), 0, 1))
    assert est.signal_dependent and auto > flat + 0.1


def test_colour_noise_goes_and_saturation_stays(scene):
    clean, noisy = scene
    out = photomend.run("denoise", noisy, sigma=25.0)
    # chroma as red-blue and green-magenta differences (the opponent axes)
    axes = np.array([[1, 0, -1], [0.5, -1, 0.5]], np.float32).T
    chroma = {name: img @ axes for name, img in
              (("clean", clean), ("noisy", noisy), ("out", out))}
    # measured: chroma magnitude 0.4 % below the clean one; chroma error 1/6 of the input's
    assert np.abs(chroma["out"]).mean() == pytest.approx(np.abs(chroma["clean"]).mean(),
                                                          rel=0.03)
    error = np.sqrt(np.mean((chroma["out"] - chroma["clean"]) ** 2))
    assert error < 0.25 * np.sqrt(np.mean((chroma["noisy"] - chroma["clean"]) ** 2))


def test_grain_keeps_luma_noise_and_drops_colour_noise(scene):
    _, noisy = scene
    clean_out = photomend.run("denoise", noisy, sigma=25.0)
    half = photomend.run("denoise", noisy, sigma=25.0, grain=0.5)
    kept = half - clean_out
    residual = noisy - clean_out
    np.testing.assert_allclose(kept, 0.5 * residual.mean(axis=2, keepdims=True).repeat(3, 2),
                               atol=1e-5)
    assert np.ptp(kept, axis=2).max() < 1e-5  # grain is gray: no colour noise comes back


def test_zero_sigma_leaves_the_image_alone(scene):
    _, noisy = scene
    np.testing.assert_array_equal(denoise(noisy, sigma=0.0), noisy)


# --- engine integration --------------------------------------------------------------

@pytest.mark.parametrize(("channels", "sigma"), [(3, 20.0), (1, 40.0)])
def test_tiles_are_seamless(channels, sigma):
    """Below and above σ 30 (whose wider search the halo must cover), colour and gray."""
    clean = synth.synthetic_scene((150, 170, channels), seed=11)
    noisy = _noisy(clean, sigma, seed=12)
    whole = photomend.run("denoise", noisy, sigma=sigma, tile=0)
    tiled = photomend.run("denoise", noisy, sigma=sigma, tile=96)
    diff = np.abs(tiled - whole)
    # Tiles see their own block grid, so they differ by a fraction of the
    # residual noise, evenly: no seam along tile borders.
    assert float(diff.mean()) < 0.1 * sigma / 255.0
    borders = np.concatenate([diff[95:97].ravel(), diff[:, 95:97].ravel()])
    assert float(borders.mean()) < 2.0 * float(diff.mean()) + 1e-4
    assert abs(quality.psnr(clean, np.clip(tiled, 0, 1))
               - quality.psnr(clean, np.clip(whole, 0, 1))) < 0.1


@pytest.mark.parametrize(("channels", "method", "tile"),
                         [(3, "quality", 100), (1, "quality", 96), (3, "fast", 130)])
def test_tiles_and_selections_equal_one_pass(channels, method, tile):
    """Parts are matched on the whole image's block grid and quantisation levels.

    (The level is given: a selection's is otherwise measured in its box.)
    """
    clean = synth.synthetic_scene((190, 330, channels), seed=21)
    noisy = _noisy(clean, 15.0, seed=22)
    whole = photomend.run("denoise", noisy, method=method, sigma=15.0, tile=0)
    tiled = photomend.run("denoise", noisy, method=method, sigma=15.0, tile=tile)
    np.testing.assert_allclose(tiled, whole, rtol=0, atol=2e-5)
    mask = np.zeros(noisy.shape[:2], bool)
    mask[77:131, 149:203] = True
    part = photomend.run("denoise", noisy, mask=mask, method=method, sigma=15.0)
    np.testing.assert_allclose(part[mask], whole[mask], rtol=0, atol=2e-5)
    np.testing.assert_array_equal(part[~mask], noisy[~mask])


def test_tiles_share_the_automatic_level():
    noisy = _noisy(np.full((130, 140, 1), 0.5, np.float32), 15.0, seed=2)
    noisy[:, 70:] = _noisy(np.full((130, 70, 1), 0.5, np.float32), 5.0, seed=3)[:, :]
    whole = photomend.run("denoise", noisy, tile=0)
    tiled = photomend.run("denoise", noisy, tile=64)
    # one level for the whole image: the quieter half is treated like the rest
    assert abs(float(tiled[:, 100:].std()) - float(whole[:, 100:].std())) < 1e-3


def test_selection_limits_the_change(scene):
    _, noisy = scene
    mask = np.zeros(noisy.shape[:2], np.float32)
    mask[20:60, 30:90] = 1.0
    out = photomend.run("denoise", noisy, mask=mask, sigma=25.0)
    np.testing.assert_array_equal(out[mask == 0], noisy[mask == 0])
    assert float(np.abs(out[30:50, 40:80] - noisy[30:50, 40:80]).mean()) > 0.02


def test_sixteen_bit_in_and_out(scene):
    clean, noisy = scene
    u16 = (np.clip(noisy, 0, 1) * 65535 + 0.5).astype(np.uint16)
    out = photomend.run("denoise", u16, sigma=25.0)
    assert out.dtype == np.uint16 and out.shape == u16.shape
    ref = photomend.run("denoise", u16.astype(np.float32) / 65535, sigma=25.0)
    assert np.abs(out.astype(np.float64) / 65535 - np.clip(ref, 0, 1)).max() < 2e-5
    assert quality.psnr(clean, out / 65535.0) > 29.5


def test_deterministic(scene):
    _, noisy = scene
    a = photomend.run("denoise", noisy)
    b = photomend.run("denoise", noisy)
    np.testing.assert_array_equal(a, b)


def test_tiny_images():
    for shape in [(1, 1, 1), (5, 7, 3), (9, 30, 1)]:
        img = np.random.default_rng(0).random(shape).astype(np.float32)
        out = photomend.run("denoise", img, sigma=10.0)
        assert out.shape == shape and np.isfinite(out).all()
        photomend.run("denoise", img)  # automatic level on a tiny image


def test_progress_and_cancel(scene):
    _, noisy = scene
    seen: list[float] = []
    photomend.run("denoise", noisy, progress=seen.append, sigma=25.0)
    assert seen[0] == 0.0 and seen[-1] == 1.0 and len(seen) > 4
    assert all(b >= a for a, b in itertools.pairwise(seen))
    before = noisy.copy()
    with pytest.raises(Cancelled):
        photomend.run("denoise", noisy, progress=lambda f: f < 0.3, sigma=25.0)
    np.testing.assert_array_equal(noisy, before)


# --- errors --------------------------------------------------------------------------

def test_errors_are_clear():
    img = np.zeros((16, 16, 3), np.float32)
    with pytest.raises(ParameterError, match=r"sigma must be 0 to 100, got -1"):
        photomend.run("denoise", img, sigma=-1)
    with pytest.raises(ParameterError, match="method must be one of 'quality', 'fast'"):
        photomend.run("denoise", img, method="bm4d")
    with pytest.raises(ParameterError, match="grain must be 0 to 1"):
        photomend.run("denoise", img, grain=2)
    with pytest.raises(ImageError, match=r"\(H, W, C\) image"):
        denoise(np.zeros((16, 16), np.float32), sigma=5.0)


@pytest.mark.parametrize("in_place", [True, False])
def test_block_estimates_are_summed_per_position_like_add_at(monkeypatch, in_place):
    """Both the in-place sparse product and the public one; buffers reused across calls."""
    from photomend.ops import _denoise_bm3d as cf

    if not in_place:
        monkeypatch.setattr(cf, "_csr_matvecs", None)
    elif cf._csr_matvecs is None:
        pytest.skip("this SciPy has no in-place CSR product")
    rng = np.random.default_rng(3)
    acc = rng.normal(size=(40, 12)).astype(np.float32)
    acc_w = rng.normal(size=(40, 2)).astype(np.float32)
    expected, expected_w = acc.copy(), acc_w.copy()
    work = cf._Scratch()
    for n in (300, 120, 500):  # the kept work arrays shrink and grow
        rows = rng.integers(0, 40, n)  # many repeats, some rows never hit
        est = rng.normal(size=(n, 12)).astype(np.float32)
        weight = rng.random((n, 2)).astype(np.float32)
        np.add.at(expected, rows, est)
        np.add.at(expected_w, rows, weight)
        cf._scatter_add(acc, acc_w, rows, est, weight, work)
    np.testing.assert_allclose(acc, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(acc_w, expected_w, rtol=1e-5, atol=1e-5)


def test_passes_sharing_buffers_equal_passes_with_their_own(scene):
    """Work arrays kept from pass to pass and image to image leave nothing behind."""
    from photomend.ops import _denoise_bm3d as cf
    from photomend.ops.denoise import _stages

    first, second = _stages("quality", 40.0)
    noisy = scene[1][:70, :90]
    x = np.ascontiguousarray(np.moveaxis(noisy, -1, 0))
    alone = cf.collaborative_stage(x, 40 / 255, first, workers=2)
    buffers = [cf._Scratch(), cf._Scratch()]
    cf.collaborative_stage(x[:, :50, :60] * 0.5, 40 / 255, second, basic=x[:, :50, :60],
                           workers=2, buffers=buffers)
    shared = cf.collaborative_stage(x, 40 / 255, first, workers=2, buffers=buffers)
    np.testing.assert_array_equal(shared, alone)
    with pytest.raises(ValueError, match="2 threads need as many sets of buffers, got 1"):
        cf.collaborative_stage(x, 40 / 255, first, workers=2, buffers=buffers[:1])


def test_chunked_filtering_and_inverse_equal_one_piece(scene, monkeypatch):
    """Cache-sized chunks of groups and of inverse-transform columns change nothing."""
    from photomend.ops import _denoise_bm3d as cf
    from photomend.ops.denoise import _stages

    noisy = scene[1][:72, :80]
    first, second = _stages("quality", 40.0)  # groups of 32 and 16
    whole = cf.bm3d(noisy, 25 / 255, first, second)
    monkeypatch.setattr(cf, "_GROUP_CHUNK", 1)  # one group per chunk
    monkeypatch.setattr(cf, "_INVERSE_COLUMNS", 7)  # ragged column blocks
    chunked = cf.bm3d(noisy, 25 / 255, first, second)
    np.testing.assert_allclose(chunked, whole, atol=2e-6)


@pytest.mark.parametrize(("shape", "step", "radius", "group", "tau"),
                         [((37, 45), 4, 6, 16, 0.15), ((30, 61), 6, 5, 32, 0.15),
                          ((12, 14), 3, 4, 8, 0.13)])
def test_block_matching_finds_the_closest_blocks(shape, step, radius, group, tau):
    """The batched products find exactly the blocks a brute-force search finds.

    Widths whose reference columns do not fill whole tiles, bands that share
    rows, and windows reaching past every border are covered.
    """
    from photomend.ops import _denoise_bm3d as cf

    rng = np.random.default_rng(3)
    guide = rng.random(shape).astype(np.float32)
    stage = cf.Stage(wiener=False, step=step, radius=radius, group=group, tau=tau)
    b, r = stage.block, radius
    hp, wp = shape[0] - b + 1, shape[1] - b + 1
    ys, xs = np.arange(0, hp, step), np.arange(0, wp, step)
    search = cf._Search(guide, stage, len(xs))
    found = [cf._match(search, ys[i:i + 2], xs, hp, wp, stage, cf._Scratch())
             for i in range(0, len(ys), 2)]
    idx = np.concatenate([f[0] for f in found]).astype(int)
    size = np.concatenate([f[1] for f in found]).astype(int)
    # brute force on the guide's matching levels: every candidate's squared
    # distance, offsets numbered row by row
    levels = search.pad[r:r + shape[0], r:r + shape[1]].astype(np.float64)
    blocks = np.lib.stride_tricks.sliding_window_view(levels, (b, b))
    ry, rx = np.repeat(ys, len(xs)), np.tile(xs, len(ys))
    dist = np.full((len(ry), (2 * r + 1) ** 2), np.inf)
    for n, (dy, dx) in enumerate(itertools.product(range(-r, r + 1), repeat=2)):
        cy, cx = ry + dy, rx + dx
        ok = (cy >= 0) & (cy < hp) & (cx >= 0) & (cx < wp)
        diff = blocks[ry[ok], rx[ok]] - blocks[cy[ok], cx[ok]]
        dist[ok, n] = (diff ** 2).sum(axis=(1, 2))
    centre = r * (2 * r + 1) + r
    assert (idx[:, 0] == centre).all()
    dist[:, centre] = -1.0  # the reference leads
    # best first; keys keep 13 bits of a distance's mantissa, so near-ties
    # (within 1e-4) may come in either order
    ranked = np.sort(dist, axis=1)[:, :group]
    np.testing.assert_allclose(np.take_along_axis(dist, idx, axis=1), ranked, rtol=2e-4)
    assert (np.sort(idx, axis=1)[:, 1:] != np.sort(idx, axis=1)[:, :-1]).all()
    below = (ranked[:, 1:] < stage.tau * b * b / search.unit ** 2).sum(axis=1) + 1
    np.testing.assert_array_equal(size, 2 ** np.floor(np.log2(below)).astype(int))
    assert (size > 1).any() and (size < group).any()


def test_block_distances_are_exact_whatever_the_order_of_summation(monkeypatch):
    """The guide is quantised so that every distance is an exact integer in float32.

    They equal integer arithmetic, and stay bit for bit the same when every
    dot product is summed in another order, as another BLAS may do.
    """
    from photomend.ops import _denoise_bm3d as cf

    rng = np.random.default_rng(5)
    guide = (0.5 + 0.3 * rng.standard_normal((60, 70))).astype(np.float32)  # no grid
    stage = cf.Stage(wiener=False, step=4, radius=9, group=16)
    b, r = stage.block, stage.radius
    hp, wp = 60 - b + 1, 70 - b + 1
    ys, xs = np.arange(0, hp, 4), np.arange(0, wp, 4)
    search = cf._Search(guide, stage, len(xs))
    dist = cf._distances(search, ys, xs, stage, cf._Scratch()).copy()
    levels = search.pad[r:r + 60, r:r + 70].astype(np.int64)
    assert np.abs(levels).max() <= 255
    blocks = np.lib.stride_tricks.sliding_window_view(levels, (b, b))
    for dy, dx in itertools.product(range(-r, r + 1), repeat=2):
        cy, cx = ys[:, None] + dy, xs[None, :] + dx
        ok = (cy >= 0) & (cy < hp) & (cx >= 0) & (cx < wp)
        ref = blocks[ys[:, None], xs[None, :]]
        cand = blocks[np.clip(cy, 0, hp - 1), np.clip(cx, 0, wp - 1)]
        exact = ((ref - cand) ** 2).sum(axis=(-2, -1))
        np.testing.assert_array_equal(dist[:, :, dy + r, dx + r][ok], exact[ok])
    patches = cf._Search.patches
    # the same vectors with their pixels in reverse order: every dot product
    # is summed the other way round
    monkeypatch.setattr(cf._Search, "patches",
                        lambda self, y0, rows: patches(self, y0, rows)[..., ::-1].copy())
    again = cf._distances(cf._Search(guide, stage, len(xs)), ys, xs, stage, cf._Scratch())
    np.testing.assert_array_equal(again, dist)


def test_a_few_extreme_values_do_not_coarsen_the_matching(scene):
    """Scene-linear highlights far above 1 are clipped for matching, not scaled into it."""
    from photomend.ops import _denoise_bm3d as cf

    clean = scene[0]
    noisy = _noisy(clean, 25.0, seed=4)
    hot = noisy.copy()
    rng = np.random.default_rng(2)
    ys, xs = rng.integers(0, clean.shape[0], 4), rng.integers(0, clean.shape[1], 4)
    hot[ys, xs] = 500.0  # specular highlights (the sun in a scene-linear image)
    stage = cf.Stage(wiener=False)
    unit = cf._Search(noisy[..., 0], stage, 8).unit
    assert cf._Search(hot[..., 0], stage, 8).unit < 1.2 * unit
    plain = photomend.run("denoise", noisy, sigma=25.0)
    out = photomend.run("denoise", hot, sigma=25.0)
    away = np.ones(clean.shape[:2], bool)
    near = np.arange(-20, 21)
    away[np.clip(ys[:, None] + near, 0, clean.shape[0] - 1)[:, :, None],
         np.clip(xs[:, None] + near, 0, clean.shape[1] - 1)[:, None, :]] = False
    assert away.mean() > 0.3
    assert (quality.psnr(clean[away], np.clip(out[away], 0, 1))
            > quality.psnr(clean[away], np.clip(plain[away], 0, 1)) - 0.05)


def test_huge_page_advice_is_off_while_denoising_and_restored(scene, monkeypatch):
    """numpy's advice is switched off for a run (nested runs too) and always restored."""
    from photomend.ops import _denoise_bm3d as cf

    multiarray = pytest.importorskip("numpy._core.multiarray")
    if not hasattr(multiarray, "_get_madvise_hugepage"):
        pytest.skip("this numpy has no huge-page switch")
    advice = multiarray._get_madvise_hugepage
    before = advice()
    seen = []
    stage = cf.collaborative_stage

    def spy(*args, **kwargs):
        seen.append(advice())
        return stage(*args, **kwargs)

    monkeypatch.setattr(cf, "collaborative_stage", spy)
    first = cf.Stage(wiener=False)
    cf.bm3d(scene[1][:40, :40], 25 / 255, first, None)
    assert seen == [False] and advice() == before
    with cf._small_pages():
        with cf._small_pages():
            assert not advice()
        assert not advice()  # the outer run is still going
    assert advice() == before
    with pytest.raises(RuntimeError), cf._small_pages():
        raise RuntimeError
    assert advice() == before


def test_second_pass_reuses_the_first_pass_matches_exactly(scene):
    """Below sigma 30 both passes match on the noisy image on one grid: reusing is exact."""
    from photomend.ops import _denoise_bm3d as cf
    from photomend.ops.denoise import _stages

    x = np.ascontiguousarray(np.moveaxis(scene[1][:64, :72], -1, 0))
    sigma = 25 / 255
    first, second = _stages("quality", 25.0)
    assert second is not None and second.match_noisy and second.group < first.group
    guide = x.mean(axis=0)
    recorded = cf.Matches(first)
    basic = cf.collaborative_stage(x, sigma, first, guide=guide, record=recorded)
    assert recorded.steps and recorded.fits(second)
    reused = cf.collaborative_stage(x, sigma, second, guide=guide, basic=basic,
                                    replay=recorded)
    searched = cf.collaborative_stage(x, sigma, second, guide=guide, basic=basic)
    np.testing.assert_array_equal(reused, searched)
    for other in (dataclasses.replace(second, step=6), dataclasses.replace(second, group=32),
                  dataclasses.replace(second, offset=0)):
        assert not recorded.fits(other)
        with pytest.raises(ValueError, match="do not fit"):
            cf.collaborative_stage(x, sigma, other, guide=guide, basic=basic,
                                   replay=recorded)
    with pytest.raises(ValueError, match="do not fit"):  # another image size
        cf.collaborative_stage(x[:, :48], sigma, second, guide=guide[:, :48],
                               basic=basic[:, :, :48], replay=recorded)


def test_denoise_searches_once_below_sigma_30_and_twice_above(scene, monkeypatch):
    """The second pass reuses the first's matches (also with two threads) only below 30."""
    from photomend.ops import _denoise_bm3d as cf
    from photomend.ops.denoise import _stages

    noisy = scene[1][:80, :96]
    calls = []
    search = cf._match

    def counted(*args, **kwargs):
        calls.append(1)
        return search(*args, **kwargs)

    for sigma, reused in ((25.0, True), (40.0, False)):
        first, second = _stages("quality", sigma)
        calls.clear()
        monkeypatch.setattr(cf, "_match", counted)
        shared = cf.bm3d(noisy, sigma / 255, first, second, workers=2)
        searched_once = len(calls)
        monkeypatch.setattr(cf, "Matches", _NeverFits)
        calls.clear()
        separate = cf.bm3d(noisy, sigma / 255, first, second, workers=2)
        monkeypatch.undo()
        assert len(calls) == (2 * searched_once if reused else searched_once)
        np.testing.assert_array_equal(shared, separate)


class _NeverFits:
    """Stand-in for ``Matches`` that makes every pass search for itself."""

    def __init__(self, stage):
        self.stage = stage

    def fits(self, stage):
        return False
