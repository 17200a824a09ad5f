"""Noise reduction by collaborative filtering of similar blocks (BM3D class)."""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import numpy as np

from ..errors import ImageError
from ..image import Image
from ..progress import Progress
from ..registry import Param, operation
from ..tiles import workers as _cores
from . import _denoise_bm3d as _cf
from . import _denoise_noise as _nm

__all__ = ["NoiseEstimate", "denoise", "estimate_noise", "noise_split"]

Method = Literal["quality", "fast"]

#: Signal-dependent noise is reported when the fitted variance at 80 %
#: brightness exceeds the one at 20 % by this factor, the brightness classes
#: span at least this range and lie on the line within this relative RMS.
#: Strict on purpose: texture that differs between dark and bright areas
#: also raises the variance of some classes (seen on BSD photos with
#: Gaussian noise when only luma-like planes were measured: ratios up to
#: 3.8, but as a step, misfit 0.14–0.21; with the opponent planes and the
#: floor reading, up to 1.7 on Set12, CBSD68 and Kodak24), and a false
#: alarm bends the tones; mild shot noise missed is harmless.
_SHOT_RATIO = 2.5
_SHOT_SPREAD = 0.35
_SHOT_MISFIT = 0.12
#: Below this share of shot noise the variance-stabilising transform is skipped.
_MIN_SHOT = 0.05
#: A measured luma share of the noise this close to 1/3 (independent noise
#: in R, G and B) is taken as exactly 1/3: white noise reads 0.33–0.40 on
#: Kodak24, CBSD68 and McMaster at σ = 5–25, gray noise 0.99–1.
_SHARE_DEAD_ZONE = 0.1
#: Below the first noise level (0–255) the luma share is not trusted, above
#: the second fully: a faint noise floor is mostly the photo's own fine
#: texture and grain, which sits in luma (clean photos read 0.86–1).
_SHARE_TRUSTED = (3.0, 6.0)
#: From this noise level (0–255) on, the second pass matches blocks on the
#: first pass's result: distances between noisy blocks get unreliable.
#: Below it both passes match on the noisy image, on one grid, and the
#: second reuses the first's matches.
_PILOT_MATCHING = 30.0


@dataclass(frozen=True)
class NoiseEstimate:
    """A noise level measured by :func:`estimate_noise`.

    Attributes
    ----------
    sigma : float
        Standard deviation at mid-grey on the 0–255 scale: the value
        :func:`denoise` uses for ``sigma`` when it is left empty.
    channels : tuple of float
        Standard deviation of each colour channel, 0–255 scale, each
        measured alone (as a gray image), so fine texture raises them more
        than ``sigma``.
    shot : float
        Share of the variance at mid-grey that grows with brightness
        (photon shot noise): 0 for uniform noise, 1 for pure shot noise.
    signal_dependent : bool
        Whether the noise clearly grows with brightness.
    a, b : float
        The variance model ``var(x) = a * x + b`` on the [0, 1] scale.
    luma_share : float
        Share of the noise variance in brightness (the luma plane) rather
        than in colour: 1/3 for independent noise in R, G and B (sensors,
        scanners), 1 for gray noise such as monochrome film grain, less
        than 1/3 for mostly colour noise. :func:`estimate_noise` gives 1
        for gray images and 1/3 for colour ones too small to tell; the
        field defaults to 1/3.

    Notes
    -----
    Levels are rounded to 0.001 (0–255 scale) and the model to six
    significant digits: far below what the estimate can resolve, and it
    makes one image give the same estimate on any numpy and BLAS, so hosts
    with their own Python reproduce the command line's result (the
    denoiser's thresholds would otherwise amplify last-digit differences).
    """

    sigma: float
    channels: tuple[float, ...]
    shot: float
    signal_dependent: bool
    a: float
    b: float
    luma_share: float = 1.0 / 3.0

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # works for frozen and plain dataclasses alike
        set_(self, "sigma", round(float(self.sigma), 3))
        set_(self, "channels", tuple(round(float(c), 3) for c in self.channels))
        set_(self, "shot", round(float(self.shot), 4))
        set_(self, "a", float(f"{float(self.a):.6g}"))
        set_(self, "b", float(f"{float(self.b):.6g}"))
        set_(self, "luma_share", round(float(self.luma_share), 4))


def estimate_noise(image: np.ndarray | Image) -> NoiseEstimate:
    """Measure the noise level of an image, and whether it grows with brightness.

    Parameters
    ----------
    image : ndarray or Image
        Pixels as accepted by :func:`photomend.run` (gray, RGB, with or
        without alpha; 8/16-bit or float), or a float32 ``(H, W, C)`` array
        in [0, 1].

    Returns
    -------
    NoiseEstimate
        ``sigma`` on the 0–255 scale (what ``denoise`` uses by default).

    Notes
    -----
    The level comes from the covariance of 7×7 patches: image content
    occupies a few patch directions, white noise adds ``sigma²`` to every
    direction, and content only ever raises eigenvalues. Patches with
    clipped areas (values exactly 0 or 1) are left out. On weakly textured
    patches, those whose energy about their mean lies between the 1st and
    99th percentile of pure noise at the current level (re-chosen until
    the level settles [1]_), the variance is read in two ways: the
    *floor*, the smallest eigenvalue divided by its Marchenko–Pastur
    sampling factor ``(1 - sqrt(48 / n))²`` for ``n`` patches [1]_ [3]_,
    exact for white noise and least raised by fine texture or film grain;
    and the *total*, the mean of the largest set of smallest eigenvalues
    whose mean does not exceed its median [2]_, which also holds for noise
    that demosaicking, resizing or JPEG compression has correlated (whose
    floor is only its weakest direction).

    Colour is measured in the orthonormal opponent planes (luma, red–blue,
    green–magenta): independent, equal noise in R, G and B stays white and
    equal in all three, while texture and grain sit mostly in luma. The
    colour-difference planes are read by the total. Luma (and gray images)
    by a blend that leans on the floor as far as the noise looks white:
    when the colour planes carry white noise as strong as the luma floor,
    or when the floor is close to the total. ``sigma`` is the root mean of
    the plane variances, i.e. the mean noise variance per RGB channel (also
    right for gray noise in a colour file, which sits in luma alone).
    Repeating the measurement in six brightness classes and fitting
    ``var = a·x + b`` to all planes detects signal-dependent (shot) noise.

    Measured on the benchmark sets with added white Gaussian noise of
    σ = 15, 25, 50 (Set12, CBSD68, Kodak24, and BSD68 and McMaster not used
    in the design): every estimate within 8 % of the true level, mean
    error under 1.6 %. Clean photos carry some noise-like grain of their
    own, so at σ = 5 the grainiest read up to 30 % high. JPEG compression
    that has flattened most of the noise (quality 75 and below at σ ≲ 10)
    leaves too little of it to measure.

    References
    ----------
    .. [1] X. Liu, M. Tanaka, M. Okutomi, "Single-image noise level
       estimation for blind denoising", IEEE TIP 22(12), 2013.
    .. [2] G. Chen, F. Zhu, P. A. Heng, "An efficient statistical method
       for image noise level estimation", ICCV 2015.
    .. [3] V. A. Marchenko, L. A. Pastur, "Distribution of eigenvalues for
       some sets of random matrices", Math. USSR-Sbornik 1(4), 1967.
    """
    # measured where the operation works: on perceptual (sRGB-encoded) values
    pixels = (image.in_transfer("perceptual").color if isinstance(image, Image)
              else _as_pixels(image))
    rows = _nm.patch_rows(pixels)  # (C, n, 49), the same positions in every channel
    color = rows.shape[0] == 3
    if rows.shape[1] < _nm.MIN_PATCHES:  # tiny image
        flat = pixels.reshape(-1, pixels.shape[-1]).astype(np.float64)
        whole = (flat @ _cf.OPPONENT.T if color else flat).reshape(pixels.shape)
        var = [_nm.difference_sigma(whole[..., c]) ** 2 for c in range(pixels.shape[-1])]
        sigma1 = float(np.sqrt(np.mean(var)))
        channels = tuple(float(255.0 * _nm.difference_sigma(pixels[..., c].astype(np.float64)))
                         for c in range(pixels.shape[-1]))
        # Neighbour differences are raised by texture, mostly in luma: no
        # reliable split of the noise here.
        return NoiseEstimate(255.0 * sigma1, channels, 0.0, False, 0.0, sigma1 ** 2,
                             1.0 / 3.0 if color else 1.0)
    rows = _nm.unclipped(rows)
    planes = np.einsum("pc,cnk->pnk", _cf.OPPONENT.astype(np.float32), rows) if color else rows
    energies = np.stack([_nm.texture(p) for p in planes])
    variances = _nm.plane_variances(planes, energies)
    sigma1 = float(np.sqrt(variances.mean()))
    share = _luma_share(variances)
    channels = (tuple(float(255.0 * np.sqrt(_nm.image_variance(rows[c:c + 1])))
                      for c in range(3)) if color else (255.0 * sigma1,))
    model = (_nm.level_model(planes, rows.mean(axis=(0, 2)), energies)
             if sigma1 > 0 else None)
    if model is not None:
        a, b, spread, misfit = model
        lo, hi = a * 0.2 + b, a * 0.8 + b
        if (spread >= _SHOT_SPREAD and misfit <= _SHOT_MISFIT and a > 0
                and hi > _SHOT_RATIO * max(lo, 1e-12)):
            mid = max(a * 0.5 + b, 1e-12)
            shot = float(np.clip(a * 0.5 / mid, 0.0, 1.0))
            return NoiseEstimate(float(255.0 * np.sqrt(mid)), channels, shot, True,
                                 float(a), float(max(b, 0.0)), share)
    return NoiseEstimate(255.0 * sigma1, channels, 0.0, False, 0.0, sigma1 ** 2, share)


def _luma_share(variances: np.ndarray) -> float:
    """Return the luma plane's share of the noise variance (1 for one plane)."""
    total = float(np.sum(variances))
    if len(variances) == 1:
        return 1.0
    return float(variances[0]) / total if total > 0.0 else 1.0 / 3.0


def _as_pixels(image: np.ndarray) -> np.ndarray:
    arr = np.asarray(image)
    if arr.dtype == np.float32 and arr.ndim == 3 and arr.shape[-1] in (1, 3):
        return arr
    return Image.from_array(arr).color


def _stages(method: str, sigma: float,
            color: bool = True) -> tuple[_cf.Stage, _cf.Stage | None]:
    """Return the passes for `method` at noise level `sigma` (0–255 scale).

    `color` says whether the image is filtered as three opponent planes
    (which makes the filtering dearer and the search relatively cheaper).
    """
    # Grouping threshold on the mean squared difference of noisy blocks: two
    # noisy copies of one block differ by 2σ² on average, so it grows with σ.
    tau = (3000.0 + 3.2 * sigma * sigma) / 255.0**2
    if method == "fast":
        return _cf.Stage(wiener=False, transform="bior", step=6, radius=8, group=16,
                         tau=tau), None
    if sigma < _PILOT_MATCHING:
        # Both passes match on the noisy image on one 4-pixel grid, so the
        # second reuses the first's matches: its best 8 of the first's 16 (as
        # good at this noise as 16 found on the pilot).
        first = _cf.Stage(wiener=False, transform="bior", step=4, radius=12, group=16,
                          tau=tau, offset=3)
        return first, _cf.Stage(wiener=True, transform="dct", step=4, radius=12, group=8,
                                tau=tau, offset=3, match_noisy=True)
    # Heavier noise needs larger groups for the thresholding to separate it,
    # and a wider search finds them: radius 15 instead of 12 gains 0.02-0.04 dB
    # at σ 50 for about 2 % more time. Gray images, where the search is most of
    # the time, space their first-pass blocks 8 apart (7 % faster, 0.04 dB).
    # The Wiener pass aggregates without a Kaiser window (β 0): +0.01 dB.
    first = _cf.Stage(wiener=False, transform="bior", step=6 if color else 8, radius=15,
                      group=32, tau=tau)
    return first, _cf.Stage(wiener=True, transform="dct", step=4, radius=12, group=16,
                            tau=0.8 * sigma * sigma / 255.0**2, offset=3, beta=0.0)


def _halo(params: Mapping[str, Any]) -> int:
    # A pixel depends on blocks within 2·(radius + block) of it in each pass;
    # the level is measured later, so take the widest passes of any level.
    method = str(params.get("method", "quality"))
    return max(sum(2 * (stage.radius + stage.block) for stage in _stages(method, sigma)
                   if stage is not None) for sigma in (0.0, _PILOT_MATCHING)) + 8


def _grid() -> int:
    """Period of every pass's block grid: the least common multiple of their steps."""
    steps = [stage.step for method in ("quality", "fast") for sigma in (0.0, _PILOT_MATCHING)
             for color in (False, True) for stage in _stages(method, sigma, color)
             if stage is not None]
    return math.lcm(*steps)


def _prepare(image: np.ndarray, params: dict[str, Any]) -> dict[str, Any]:
    """Measure the noise once on the whole image so that all tiles agree."""
    sigma, shot, share = _noise_params(image, params.get("sigma"), params.get("shot"),
                                       params.get("luma_share"))
    return {"sigma": sigma, "shot": shot, "luma_share": share}


def _noise_params(pixels: np.ndarray, sigma: float | None, shot: float | None,
                  luma_share: float | None) -> tuple[float, float, float]:
    """Fill in the noise parameters left empty.

    With `sigma` empty, all three come from :func:`estimate_noise` (the
    share through :func:`noise_split`); with `sigma` set by hand, uniform
    white noise is assumed: no shot noise, a luma share of 1/3.
    """
    if sigma is None:
        est = estimate_noise(pixels)
        return (est.sigma, est.shot if shot is None else shot,
                noise_split(est) if luma_share is None else luma_share)
    return (sigma, 0.0 if shot is None else shot,
            1.0 / 3.0 if luma_share is None else luma_share)


@operation("denoise", label="_Denoise", menu="Enhance", local=True, halo=_halo,
           grid=_grid(), prepare=_prepare)
def denoise(
    image: np.ndarray,
    *,
    method: Annotated[Method, Param(
        "'quality' matches similar blocks widely and filters them in two "
        "passes (best result); 'fast' makes one narrower pass, for previews "
        "(several times faster, a little softer and blotchier).")] = "quality",
    sigma: Annotated[float | None, Param(
        "Noise level: its standard deviation in 8-bit levels (0–255 scale, "
        "as denoising papers quote it, e.g. 25). Leave empty to measure it "
        "from the image; raise it to smooth more, lower it to keep more detail.",
        min=0.0, max=100.0, step=0.5)] = None,
    grain: Annotated[float, Param(
        "Share of the brightness noise to keep, for a natural, film-like "
        "look (0 removes it all). Colour noise is always removed.",
        min=0.0, max=1.0, step=0.05)] = 0.0,
    shot: Annotated[float | None, Param(
        "Share of the noise that grows with brightness (photon shot noise "
        "of digital sensors): 0 for uniform noise, 1 for pure shot noise. "
        "Leave empty to measure it (0 when the level is set by hand).",
        min=0.0, max=1.0, step=0.05, advanced=True)] = None,
    luma_share: Annotated[float | None, Param(
        "Share of the noise in brightness rather than colour: 1/3 for "
        "independent noise in red, green and blue (digital sensors, "
        "scanners), 1 for gray noise such as monochrome film grain. Leave "
        "empty to measure it (1/3 when the level is set by hand; a "
        "measured share close to 1/3, or of faint noise, counts as 1/3).",
        min=0.0, max=1.0, step=0.05, advanced=True)] = None,
    progress: Progress | None = None,
) -> np.ndarray:
    """Reduce noise while keeping edges, texture and colour detail.

    Similar square blocks are gathered from around each part of the image,
    stacked, and filtered together in a 3-D transform domain: what the
    blocks share (detail) is kept, what differs randomly (noise) is
    removed. A first pass thresholds the transform; a second pass applies
    a Wiener filter guided by the first result. Colour images are filtered
    in a luma/opponent-colour space, so colour blotches go while fine
    coloured detail keeps its saturation.

    Parameters
    ----------
    image : ndarray
        float32 ``(H, W, C)`` perceptual pixels in [0, 1] (values outside
        are allowed).
    method : {'quality', 'fast'}
        Search effort.
    sigma : float, optional
        Noise standard deviation on the 0–255 scale; None measures it with
        :func:`estimate_noise`.
    grain : float
        Fraction of the removed brightness noise added back.
    shot : float, optional
        Signal-dependent share of the noise variance at mid-grey.
    luma_share : float, optional
        Share of the noise variance in the luma plane (colour images);
        None measures it with :func:`estimate_noise` when `sigma` is
        measured too, and takes 1/3 (independent R, G, B noise) otherwise.
    progress : Progress, optional
        Progress reporting and cancellation (filled in by the engine).

    Returns
    -------
    ndarray
        The denoised image, same shape, float32.

    Raises
    ------
    ImageError
        If `image` is not an ``(H, W, C)`` array of 1 to 4 channels.

    Notes
    -----
    The method is BM3D [1]_ (CBM3D [2]_ for colour), restructured for
    whole-array evaluation [4]_. Pass 1: for reference blocks on a grid,
    the most similar 8×8 blocks within ±12 px (±15 from ``sigma`` 30 on;
    exact squared distances, their cross terms as batched matrix products)
    form a group of up to 16 (32 from ``sigma`` 30 on); the group's bior1.5 × Haar 3-D
    spectrum is hard-thresholded at ``2.7 σ``, inverted, and every block
    estimate is averaged back with weight ``1 / (σ² · nonzero
    coefficients)`` under a Kaiser window. Pass 2 shrinks DCT × Haar
    spectra by the empirical Wiener factor ``|B|² / (|B|² + σ²)`` of the
    first result ``B``, weight ``1 / (σ² Σ W²)`` (without the Kaiser window
    from ``sigma`` 30 on). Below ``sigma`` 30 both
    passes use one 4-pixel grid and match on the noisy image, so pass 2
    takes the best 8 of each of pass 1's groups without searching again
    (as good here as 16 matched on ``B``). From 30 on, pass 1 uses a
    6-pixel grid (8 for gray images, where the search is most of the
    time) and pass 2 a 4-pixel grid shifted by 3 px, so that its
    blocks straddle the first pass's and their artefacts average out, with
    groups of 16 matched on ``B``. A block joins a group while its mean
    squared difference stays below ``(3000 + 3.2 σ²) / 255²`` (pass 2 above
    30: ``0.8 σ² / 255²``). Colour uses the orthonormal opponent transform
    (independent noise of equal strength in R, G and B stays white with the
    same σ), with groups formed on luma. Each
    opponent plane is filtered with its own noise level: independent
    noise in R, G and B puts the same σ in all three, while gray noise
    (monochrome film grain) puts ``√3 σ`` in luma and none in colour, so
    a single level would leave luma grain half-removed and blur colour
    detail for nothing. The split is ``luma_share``; when it is measured
    (:func:`estimate_noise`, :func:`noise_split`), shares within 0.1 of 1/3
    count as 1/3, and below ``sigma`` 3–6 the share is eased towards 1/3,
    as a faint noise floor is mostly the photo's own luma texture. The
    'fast' method is one hard-thresholding pass alone: groups of up to 16,
    reference blocks on a 6-pixel grid, searching ±8 px.

    Signal-dependent noise with variance ``a·x + b`` is first made uniform
    by the generalised Anscombe transform ``y = 2/a · sqrt(a·x + b)``
    (scaled to keep the mid-grey level), filtered, and mapped back with its
    algebraic inverse [3]_.

    Grain keeps ``grain`` times the luma of the removed residual.

    References
    ----------
    .. [1] K. Dabov, A. Foi, V. Katkovnik, K. Egiazarian, "Image denoising
       by sparse 3-D transform-domain collaborative filtering", IEEE TIP
       16(8), 2007.
    .. [2] K. Dabov, A. Foi, V. Katkovnik, K. Egiazarian, "Color image
       denoising via sparse 3D collaborative filtering with grouping
       constraint in luminance-chrominance space", ICIP 2007.
    .. [3] M. Mäkitalo, A. Foi, "Optimal inversion of the generalized
       Anscombe transformation for Poisson-Gaussian noise", IEEE TIP
       22(1), 2013.
    .. [4] M. Lebrun, "An analysis and implementation of the BM3D image
       denoising method", Image Processing On Line 2, 2012.
    """
    if not isinstance(image, np.ndarray) or image.ndim != 3 or not 1 <= image.shape[2] <= 4:
        shape = getattr(image, "shape", None)
        msg = f"denoise needs an (H, W, C) image with 1 to 4 channels, got shape {shape}"
        raise ImageError(msg)
    prog = progress if progress is not None else Progress()
    pixels = image.astype(np.float32, copy=False)
    color = pixels.shape[2] == 3
    sigma, shot, luma_share = _noise_params(pixels, sigma, shot, luma_share)
    shot = float(shot)
    s1 = float(sigma) / 255.0
    if s1 <= 0.0:
        return pixels.copy()
    work = pixels
    # black and white in the values filtered: the matching quantises them alike in every tile
    span = (0.0, 1.0)
    if shot >= _MIN_SHOT:
        work = _stabilise(pixels, s1, shot)
        ends = _stabilise(np.array([0.0, 1.0], np.float32), s1, shot)
        span = (float(ends[0]), float(ends[1]))
    first, second = _stages(method, float(sigma), color)
    # Two threads sweep separate halves (numpy releases the GIL in its loops);
    # not inside the engine's tile workers, which are parallel already.
    parallel = (threading.current_thread() is threading.main_thread()
                and pixels.shape[0] * pixels.shape[1] >= 256 * 256)
    level = _plane_sigmas(s1, luma_share) if color else s1
    out = _cf.bm3d(work, level, first, second, workers=min(2, _cores()) if parallel else 1,
                   progress=prog.update, span=span)
    if shot >= _MIN_SHOT:
        out = _unstabilise(out, s1, shot)
    if grain > 0.0:
        residual = pixels - out
        if residual.shape[2] == 3:
            residual = residual.mean(axis=2, keepdims=True)
        out = out + np.float32(grain) * residual
    return out.astype(np.float32, copy=False)


def noise_split(est: NoiseEstimate) -> float:
    """Return the luma share of the noise that :func:`denoise` acts on.

    Parameters
    ----------
    est : NoiseEstimate
        A measurement by :func:`estimate_noise`.

    Returns
    -------
    float
        ``est.luma_share`` pulled towards 1/3 (independent noise in R, G
        and B): shares within :data:`_SHARE_DEAD_ZONE` of 1/3 become 1/3
        (continuously: 0 and 1 stay), and below the noise levels of
        :data:`_SHARE_TRUSTED` the share is eased to 1/3, because a faint
        noise floor is mostly the photo's own luma texture.
    """
    third = 1.0 / 3.0
    share = float(np.clip(est.luma_share, 0.0, 1.0))
    d = _SHARE_DEAD_ZONE
    # Continuous dead zone: 1/3 ± d maps to 1/3, 0 and 1 stay where they are.
    if share > third + d:
        share = third + (share - third - d) * (1.0 - third) / (1.0 - third - d)
    elif share < third - d:
        share = third - (third - d - share) * third / (third - d)
    else:
        share = third
    lo, hi = _SHARE_TRUSTED
    trust = float(np.clip((est.sigma - lo) / (hi - lo), 0.0, 1.0))
    return third + trust * (share - third)


def _plane_sigmas(s1: float, luma_share: float) -> np.ndarray:
    """Return the noise deviation of each opponent plane (luma, red–blue, green–magenta).

    `s1` is the mean per-channel deviation (0–1 scale): the three planes
    carry ``3 s1²`` of variance in all, the luma plane `luma_share` of it,
    the colour planes half the rest each.
    """
    share = float(np.clip(luma_share, 0.0, 1.0))
    return s1 * np.sqrt([3.0 * share, 1.5 * (1.0 - share), 1.5 * (1.0 - share)])


def _variance_model(s1: float, shot: float) -> tuple[float, float]:
    """Return ``(a, b)`` of ``var = a·x + b`` with ``var(0.5) = s1²``, shot share `shot`."""
    return 2.0 * shot * s1 * s1, (1.0 - shot) * s1 * s1


def _stabilise(x: np.ndarray, s1: float, shot: float) -> np.ndarray:
    a, b = _variance_model(s1, shot)
    root = np.sqrt(np.maximum(a * x.astype(np.float64) + b, 0.0))
    return (s1 * 2.0 / a * (root - np.sqrt(0.5 * a + b)) + 0.5).astype(np.float32)


def _unstabilise(y: np.ndarray, s1: float, shot: float) -> np.ndarray:
    a, b = _variance_model(s1, shot)
    root = np.maximum((y.astype(np.float64) - 0.5) * a / (2.0 * s1) + np.sqrt(0.5 * a + b), 0.0)
    return ((root * root - b) / a).astype(np.float32)
