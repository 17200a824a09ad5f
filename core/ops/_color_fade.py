"""Estimate and invert the fading of a print: the maths behind ``restore-color``.

The model is the one of :class:`photomend.synth.Fading` (read the notes
there): per channel, dye density is scaled by the dye's retention, a stain
adds density, and a veil (contrast loss and lifted blacks, common to all
channels) maps the encoded values affinely. Inverting it needs, per
channel, one monotone curve; this module estimates the curve parameters
from image statistics alone and samples the curves.

Everything here works on a small *statistics thumbnail* (block means of at
most :attr:`Calibration.thumb` pixels along the longer side, border cut
off), so the estimate costs the same for any image size. Block means
dilute grain and light dust; heavy dust (specks over more than about half
a percent of the area) still pulls the black point down, so remove it
first (``remove-defects``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from ..convert import linear_to_srgb, srgb_to_linear
from ..errors import ImageError

__all__ = [
    "DMAX",
    "Calibration",
    "FadeModel",
    "density",
    "despeckle",
    "dye_cues",
    "estimate_fade",
    "from_density",
    "selected_means",
    "selected_thumbnail",
    "stain_cues",
    "statistics_thumbnail",
    "trim_frame",
]

#: Density of pure black: the floor ``10**-DMAX`` keeps logarithms finite
#: (transmittance 1/1000, as in the synthetic fading model).
DMAX = 3.0
_FLOOR = 10.0 ** -DMAX

#: Relative density a yellowed paper base or varnish adds per channel: it
#: absorbs mostly blue, some green, hardly any red (Wilhelm & Brower 1993).
STAIN_SPECTRUM = np.array([0.05, 0.3, 1.0])

#: A thumbnail value at or above this counts as clipped (white-point
#: statistics ignore it: a clipped channel has lost its colour).
CLIP_LEVEL = 0.995


@dataclass(frozen=True)
class Calibration:
    """Constants of the estimator, fitted once on a training set.

    The cue means and weights (``dye_cue_*``, ``stain_cue_*``) were fitted
    on unaged photographs: CBSD68 (each image whole and two crops of two
    thirds of its size) and the colour images of RNI15. The means weight
    each source equally (photographs from different sources differ in
    colour rendering, and the prior should not follow one of them); the
    weights are generalised least squares with the cues' covariance
    pooled within sources and shrunk by a fifth towards its diagonal.
    The dead zones were then chosen by coordinate search on CBSD68 at
    half size, aged with :func:`photomend.synth.fade` (the benchmark's
    four recipes and two random fadings per image), minimising the mean
    CIEDE2000 of the aged images under a penalty that keeps unaged ones
    within about 0.8 on average, and checked on RNI15 aged alike: the
    dye dead zone that suits CBSD68 alone (0.15 to 0.2) changes unaged
    RNI15 photos six times as much (their cue means differ), so it stays
    at 0.3, which keeps both sources' unaged photos within 0.85. The veil
    constants are the earlier fit (256 px crops of CBSD68 and RNI15).
    Kodak24 and McMaster, which the benchmark reports, were held out of
    every fit.
    Thresholds are dead zones: a deviation smaller than what unaged
    photographs show is left alone, so a good photo passes through
    unchanged.
    """

    #: Longer side of the statistics thumbnail, px.
    thumb: int = 128
    #: Fraction of each side cut off before statistics (scanner borders,
    #: mounts, torn edges).
    border: float = 0.03
    #: Percentile of the dark channel (per-pixel minimum) taken as black.
    black_percentile: float = 0.5
    #: Percentile of the bright channel (per-pixel maximum) taken as white.
    white_percentile: float = 99.5
    #: Dark-channel black above which a veil (lifted blacks) is assumed
    #: when the whites are dimmed too (contrast lost around mid-grey)...
    veil_onset: float = 0.12
    #: ...and when the whites are intact (a hazy or low-key scene is then
    #: the likelier explanation).
    veil_onset_bright: float = 0.3
    #: Bright-channel white up to which whites count as dimmed...
    white_dimmed: float = 0.91
    #: ...and from which they count as intact (smooth in between).
    white_intact: float = 0.95
    #: The veil is assumed fully this far above its onset (smooth ramp).
    veil_ramp: float = 0.03
    #: Black level a veiled image is mapped to.
    black_target: float = 0.05
    #: Mean of :func:`dye_cues` over unaged photographs (blue spans a wider
    #: density range than green in typical scenes, and so on).
    dye_cue_bias: tuple[float, ...] = (0.0347, 0.0338, 0.0026, 0.0285, -0.0129, 0.0451, 0.0506,
                                       0.0097)
    #: Generalised least-squares weights turning the centred cues into
    #: ``log(r_R / r_G)`` (first eight) and ``log(r_B / r_G)`` (last eight).
    dye_cue_weights: tuple[float, ...] = (0.1064, -0.2136, 0.0534, 0.1347, 0.5635, -0.0999, 0.2767,
                                          0.1788, -0.0679, 0.2242, 0.0862, 0.1908, 0.0851, 0.2326,
                                          -0.1034, 0.3523)
    #: Dead zone of the dye-retention log ratios along the cyan-loss axis
    #: (red weaker than green and blue: the common dark-fading pattern)...
    dye_threshold: float = 0.3
    #: ...and in other directions (rarer patterns need stronger evidence:
    #: blue-green scenes otherwise pass for prints that lost magenta).
    dye_threshold_other: float = 0.5
    #: Sharpness of the dead zone (garrote power).
    dye_power: float = 8.0
    #: Share of the strongest relative dye loss assumed lost by the most
    #: stable dye too (dark fading attacks all three dyes; cyan fastest).
    companion_loss: float = 0.1
    #: Mean of :func:`stain_cues` over unaged photographs.
    stain_cue_bias: tuple[float, ...] = (0.0018, 0.0769, 0.0288, 0.1520, -0.0114, 0.0559)
    #: Generalised least-squares weights turning the centred cues into the
    #: stain amount ``y`` (blue density of the yellowing; the cues move by
    #: ``y`` times :data:`STAIN_SPECTRUM` relative to green).
    stain_cue_weights: tuple[float, ...] = (-0.5327, 0.4765, 0.2775, -0.0761, -0.4084, 0.7912)
    #: Dead zone of the stain estimate...
    stain_threshold: float = 0.2
    #: ...and its sharpness (garrote power).
    stain_power: float = 2.0
    #: Stain estimates beyond this are increasingly taken for a yellow
    #: scene, not stain...
    stain_limit: float = 0.35
    #: ...and ignored entirely this much beyond it.
    stain_ramp: float = 0.3


DEFAULT = Calibration()


def density(values: np.ndarray) -> np.ndarray:
    """Return optical density of sRGB-encoded values (0 white, DMAX black).

    ``D = -log10((T + f) / (1 + f))`` with linear reflectance ``T`` and the
    floor ``f = 10**-DMAX``; negative light is treated as black.
    """
    t = np.maximum(srgb_to_linear(np.asarray(values, dtype=np.float32)), 0.0)
    return (-np.log10((t.astype(np.float64) + _FLOOR) / (1.0 + _FLOOR)))


def from_density(dens: np.ndarray) -> np.ndarray:
    """Invert :func:`density` (densities beyond DMAX give black)."""
    t = (1.0 + _FLOOR) * np.power(10.0, -np.asarray(dens, dtype=np.float64)) - _FLOOR
    return linear_to_srgb(np.maximum(t, 0.0).astype(np.float32)).astype(np.float64)


#: Smallest side of an area the fading is estimated from.
MIN_SIDE = 8


def statistics_thumbnail(image: np.ndarray, size: int, border: float) -> np.ndarray:
    """Return block means of `image` (at most `size` px long), border cut, in [0, 1].

    Block means rather than decimation: dust, grain and single clipped
    pixels average out, and the cost does not grow with the image (one
    pass over it, no full-size copy).
    """
    img = np.asarray(image, dtype=np.float32)
    h, w = img.shape[:2]
    f = max(1, int(np.ceil(max(h, w) / size)))
    if h < f or w < f or f == 1:
        thumb = img
    else:
        h2, w2 = h // f, w // f
        # Sum row blocks first (a reshape of whole rows is a free view).
        rows = img[:h2 * f].reshape(h2, f, w, -1).sum(axis=1, dtype=np.float32)
        thumb = rows[:, :w2 * f].reshape(h2, w2, f, -1).sum(axis=2) * np.float32(1.0 / (f * f))
    mh, mw = round(border * thumb.shape[0]), round(border * thumb.shape[1])
    if thumb.shape[0] - 2 * mh >= 8 and thumb.shape[1] - 2 * mw >= 8:
        thumb = thumb[mh:thumb.shape[0] - mh, mw:thumb.shape[1] - mw]
    return np.clip(thumb, 0.0, 1.0)


#: A thumbnail pixel whose every channel is below the first value (or above
#: the second) may belong to a black (white) frame: a scanner's film holder,
#: the print's margin, a mount.
FRAME_DARK, FRAME_LIGHT = 0.08, 0.92
#: An edge row or column is frame when this share of its pixels is; at most
#: :data:`FRAME_MAX` of each side is taken for frame.
FRAME_SHARE, FRAME_MAX = 0.95, 0.25


def trim_frame(thumb: np.ndarray) -> np.ndarray:
    """Cut a black or white frame from the edges of a statistics thumbnail.

    A frame wider than the fixed border cut (a film holder, a paper margin)
    would otherwise pass for the print's own black or white and hide its
    fading. Rows and columns count as frame from each edge inwards while
    nearly all their pixels are dark (or light) in every channel; one more
    is cut, where block means mix frame and picture.
    """
    lo, hi = thumb.min(axis=-1), thumb.max(axis=-1)
    h, w = lo.shape
    cuts = []
    for framed in (hi < FRAME_DARK, lo > FRAME_LIGHT):
        rows, cols = framed.mean(axis=1) >= FRAME_SHARE, framed.mean(axis=0) >= FRAME_SHARE
        cuts.append([_leading(rows, h), _leading(rows[::-1], h),
                     _leading(cols, w), _leading(cols[::-1], w)])
    top, bottom, left, right = np.max(cuts, axis=0)
    if h - top - bottom < MIN_SIDE or w - left - right < MIN_SIDE:
        return thumb
    return thumb[top:h - bottom, left:w - right]


def _leading(flags: np.ndarray, size: int) -> int:
    """Return how many rows to cut for a frame of leading True `flags` (0 if none)."""
    n = int(np.argmin(flags)) if not flags.all() else flags.size
    if n == 0 or n > FRAME_MAX * size:
        return 0
    return n + 1


def _channel_min(flat: np.ndarray) -> np.ndarray:
    out = flat[:, 0].copy()
    for c in range(1, flat.shape[1]):
        np.minimum(out, flat[:, c], out=out)
    return out


def _channel_max(flat: np.ndarray) -> np.ndarray:
    out = flat[:, 0].copy()
    for c in range(1, flat.shape[1]):
        np.maximum(out, flat[:, c], out=out)
    return out


@dataclass(frozen=True)
class FadeModel:
    """Parameters of the inverse fading, per channel.

    ``out = Dinv(D((v - black_in) * gain + black_out) / retention - stain)``
    with ``D`` = :func:`density`, ``Dinv`` = :func:`from_density`.
    """

    black_in: float = 0.0
    black_out: float = 0.0
    gain: float = 1.0
    retention: np.ndarray = field(default_factory=lambda: np.ones(3))
    stain: np.ndarray = field(default_factory=lambda: np.zeros(3))

    @property
    def is_identity(self) -> bool:
        """Whether the model changes nothing."""
        return (self.gain == 1.0 and self.black_in == self.black_out
                and bool(np.all(self.retention == 1.0)) and bool(np.all(self.stain == 0.0)))

    def apply(self, values: np.ndarray) -> np.ndarray:
        """Apply the inverse fading to ``(..., C)`` encoded values (float64)."""
        v = np.asarray(values, dtype=np.float64)
        if self.is_identity:
            return v.copy()
        u = (v - self.black_in) * self.gain + self.black_out
        channels = v.shape[-1]
        dens = density(u) / self.retention[:channels] - self.stain[:channels]
        return from_density(dens)

    def curves(self, samples: int, strength: float = 1.0) -> np.ndarray:
        """Sample the per-channel curves at ``samples`` inputs evenly over [0, 1].

        Returns ``(samples, C)`` float32 outputs, blended with the identity
        by `strength` and made non-decreasing.
        """
        channels = self.retention.shape[0]
        x = np.linspace(0.0, 1.0, samples)
        grid = np.repeat(x[:, None], channels, axis=1)
        y = self.apply(grid)
        y = grid + strength * (y - grid)
        return np.maximum.accumulate(y, axis=0).astype(np.float32)


def _ramp(x: float) -> float:
    """Smoothstep from 0 (x ≤ 0) to 1 (x ≥ 1)."""
    t = min(max(x, 0.0), 1.0)
    return t * t * (3.0 - 2.0 * t)


def _veil(flat: np.ndarray, usable: np.ndarray, cal: Calibration) -> tuple[float, float, float]:
    """Estimate the common veil: return (black_in, black_out, gain).

    `usable` marks the pixels of `flat` that are not clipped white.
    """
    dark = _channel_min(flat)
    bright = _channel_max(flat)
    if usable.sum() >= 16:
        bright = bright[usable]
    b1 = float(np.percentile(dark, cal.black_percentile))
    w1 = float(np.percentile(bright, cal.white_percentile))
    intact = _ramp((w1 - cal.white_dimmed) / max(cal.white_intact - cal.white_dimmed, 1e-6))
    onset = cal.veil_onset + intact * (cal.veil_onset_bright - cal.veil_onset)
    amount = _ramp((b1 - onset) / cal.veil_ramp) if cal.veil_ramp > 0 else float(b1 > onset)
    target = min(b1, cal.black_target)
    if amount <= 0.0 or b1 <= target:
        return b1, b1, 1.0
    bt = b1 + amount * (target - b1)
    # Contrast lost around mid-grey lifts black and lowers white alike; a
    # plain lift leaves white. Take the mid-grey model, but never push the
    # image's own white past 1.
    k_mid = (0.5 - bt) / max(0.5 - b1, 1e-3)
    k_white = (1.0 - bt) / max(w1 - b1, 1e-3)
    k = max(1.0, min(k_mid, k_white))
    return b1, bt, k


#: A thumbnail pixel denser than its 3 × 3 median by more than this (in
#: some channel), and by more than SPECK_SPREAD times what its neighbours
#: differ from theirs, is a speck of dust, not picture.
SPECK_DENSITY, SPECK_SPREAD = 0.3, 4.0
#: Specks are sought only when a thumbnail pixel averages blocks of at
#: least this many pixels a side.
SPECK_BLOCKS = 3


#: Compare-exchange pairs whose network leaves the median of nine values in
#: place 4 (Paeth's median of nine, as in N. Devillard's notes).
_MEDIAN9 = ((1, 2), (4, 5), (7, 8), (0, 1), (3, 4), (6, 7), (1, 2), (4, 5), (7, 8),
            (0, 3), (5, 8), (4, 7), (3, 6), (1, 4), (2, 5), (4, 7), (4, 2), (6, 4), (4, 2))


def _median3(a: np.ndarray) -> np.ndarray:
    """3 × 3 median over the first two axes (edges repeated): a sorting network.

    Five times as fast as :func:`scipy.ndimage.median_filter` on a thumbnail.
    """
    h, w = a.shape[:2]
    pad = np.pad(a, ((1, 1), (1, 1)) + ((0, 0),) * (a.ndim - 2), mode="edge")
    p = [pad[i:i + h, j:j + w].copy() for i in range(3) for j in range(3)]
    for i, j in _MEDIAN9:
        lo = np.minimum(p[i], p[j])
        np.maximum(p[i], p[j], out=p[j])
        p[i] = lo
    return p[4]


def despeckle(dens: np.ndarray) -> np.ndarray:
    """Replace dark dust specks in a density thumbnail by their 3 × 3 median.

    Specks are dark (dense) in every channel and sharply bounded, so they
    dominate the gradient cues (:func:`dye_cues`) out of proportion to
    their area: 25 specks of 5 × 5 px (a quarter of a percent of a 500 px
    photo) took the dye estimate of a cyan-faded print to no fading at
    all. The test is relative to how much the neighbours themselves stand
    out, so texture is left alone, and bright glints are kept. On 40
    CBSD68 photographs (cyan-faded, yellowed and unaged) the mean ΔE00 of
    the restored colours moved by at most 0.012; with 20 such specks the
    cyan-faded ones came out at 7.7 instead of 19.7. It serves the dye
    cues only: the stain's are locations, which a few specks do not move.
    """
    med = _median3(dens)
    dev = (dens - med).max(axis=-1)
    spread = ndimage.median_filter(np.abs(dens - med).max(axis=-1), size=5, mode="nearest")
    odd = dev > np.maximum(SPECK_DENSITY, SPECK_SPREAD * spread)
    if not odd.any():
        return dens
    return np.where(odd[..., None], med, dens)


def _gradient_ridge(dens: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """Return the dominant per-channel ratio of density gradients (``(3,)``).

    Shading edges change every channel's density by the same amount; a
    dye that kept only ``r`` of its density shows ``r`` times the step.
    The mode of the per-pixel ratio over strong edges is that factor.
    """
    gx = np.diff(dens, axis=1)[:-1]
    gy = np.diff(dens, axis=0)[:, :-1]
    vx, vy = _pair_masks(valid)
    g = np.concatenate([_kept(gx, None if vx is None else vx[:-1]),
                        _kept(gy, None if vy is None else vy[:, :-1])])
    ref = (g[:, 0] + g[:, 1] + g[:, 2]) / 3.0
    mag = np.abs(ref)
    if mag.size < 16 or not np.any(mag > 0):
        return np.ones(3)
    strong = mag > np.percentile(mag, 70)
    strong &= mag > 1e-6
    if strong.sum() < 8:
        return np.ones(3)
    ratios = np.log(np.clip(g[strong] / ref[strong, None], 0.05, 20.0))
    weights = mag[strong] ** 2
    # Weighted histogram of log ratios in [-2, 2] (200 bins), smoothed by
    # a Gaussian of 3 bins; its peak is the ridge.
    pos = (ratios + 2.0) * 50.0
    inside = (pos >= 0.0) & (pos < 200.0)
    bins = np.where(inside, pos, 0.0).astype(np.intp)
    kernel = np.exp(-0.5 * (np.arange(-9, 10) / 3.0) ** 2)
    out = np.empty(3)
    for c in range(3):
        hist = np.bincount(bins[:, c], weights=weights * inside[:, c], minlength=200)
        i = int(np.argmax(np.convolve(hist, kernel, mode="same")))
        out[c] = np.exp((i + 0.5) / 50.0 - 2.0)
    return out


#: Unit axes of centred log-retention space: cyan loss (red falls behind
#: green and blue) and magenta versus yellow loss.
_CYAN_AXIS = np.array([-2.0, 1.0, 1.0]) / np.sqrt(6.0)
_MY_AXIS = np.array([0.0, -1.0, 1.0]) / np.sqrt(2.0)


def _dead_zone(x: np.ndarray, cal: Calibration) -> np.ndarray:
    """Shrink centred log ratios `x` to 0 inside an elliptic dead zone.

    Garrote ``x (1 - n**-p)`` with ``n`` the norm of the components along
    the cyan-loss and magenta/yellow axes, each in units of its threshold:
    nothing inside the zone, nearly all of a large deviation.
    """
    a, b = float(x @ _CYAN_AXIS), float(x @ _MY_AXIS)
    ta = cal.dye_threshold if a > 0 else cal.dye_threshold_other
    n = float(np.hypot(a / max(ta, 1e-9), b / max(cal.dye_threshold_other, 1e-9)))
    if n <= 1.0:
        return np.zeros_like(x)
    return x * (1.0 - n ** -cal.dye_power)


def _kept(values: np.ndarray, ok: np.ndarray | None) -> np.ndarray:
    """Pixels of ``(H, W, C)`` `values` where `ok` holds (all for None), as ``(N, C)``."""
    return values.reshape(-1, values.shape[-1]) if ok is None else values[ok]


def _pair_masks(valid: np.ndarray | None) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Where horizontal and vertical neighbours are both inside `valid`."""
    if valid is None:
        return None, None
    return valid[:, 1:] & valid[:, :-1], valid[1:] & valid[:-1]


def dye_cues(dens2d: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """Return four scale measures of each channel's density, as log ratios to green.

    Each measure scales with a dye's retention and ignores a stain (an
    added constant): the span of densities (0.5 to 99.5 %), the ridge of
    per-pixel gradient ratios over strong edges, the Minkowski p = 6
    norm of density gradients, and the depth of the shadows (median
    density of the darkest 1 % of pixels minus the 0.5th percentile:
    shadows are nearly neutral in unaged photographs, while a faded dye
    leaves them coloured). Returns ``(8,)``: red then blue log ratio for
    each measure in that order, each shifted by exactly ``log(r_c / r_G)``
    when the dyes keep fractions ``r``. `valid` (2-D, optional) keeps the
    statistics to the selected pixels.
    """
    flat = _kept(dens2d, valid)
    low, high = np.percentile(flat, [0.5, 99.5], axis=0)
    vx, vy = _pair_masks(valid)
    gx = np.square(_kept(np.diff(dens2d, axis=1), vx))
    gy = np.square(_kept(np.diff(dens2d, axis=0), vy))
    # Cubes of squares: much faster than a float power of 6.
    norm6 = np.power(np.mean(gx * gx * gx, axis=0) + np.mean(gy * gy * gy, axis=0), 1.0 / 6.0)
    mean = flat.sum(axis=1)
    shadows = np.median(flat[mean >= np.percentile(mean, 99.0)], axis=0) - low
    out = []
    for scale in (high - low, _gradient_ridge(dens2d, valid), norm6, shadows):
        logs = np.log(np.maximum(scale, 1e-6))
        out.extend([logs[0] - logs[1], logs[2] - logs[1]])
    return np.array(out)


def stain_cues(dens2d: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """Return three location measures of each channel's density, relative to green.

    Each is shifted by exactly ``s_c - s_G`` when a stain adds density
    ``s``: the white point (0.5th density percentile), the median
    difference to green among the brightest tenth of pixels, and the
    grey-edge colour (Minkowski p = 6 norm of linear-light gradients, as
    a density). Returns ``(6,)``, red then blue for each. `valid` (2-D,
    optional) keeps the statistics to the selected pixels.
    """
    flat = _kept(dens2d, valid)
    white = np.percentile(flat, 0.5, axis=0)
    bright = flat[:, 1] <= np.percentile(flat[:, 1], 10.0)
    bright_diff = np.median(flat[bright] - flat[bright, 1:2], axis=0)
    lin = np.power(np.float32(10.0), -dens2d.astype(np.float32))
    gx = np.gradient(lin, axis=0)
    gy = np.gradient(lin, axis=1)
    # (central differences: both neighbours must be selected)
    inner = None if valid is None else ndimage.binary_erosion(valid, border_value=1)
    mag2 = _kept(gx * gx + gy * gy, inner).astype(np.float64)
    edge = -np.log10(np.maximum(np.power(np.mean(mag2 * mag2 * mag2, axis=0), 1.0 / 6.0),
                                1e-12))
    out = []
    for loc in (white, bright_diff, edge):
        out.extend([loc[0] - loc[1], loc[2] - loc[1]])
    return np.array(out)


def _retention(dens2d: np.ndarray, cal: Calibration,
               valid: np.ndarray | None = None) -> np.ndarray:
    """Estimate per-channel dye retention (``(3,)``, max 1) from densities.

    The scale cues (:func:`dye_cues`) minus their means over unaged
    photographs are combined by generalised least squares (weights from
    the cues' covariance over those photographs): ``log(r_R / r_G)`` and
    ``log(r_B / r_G)``.
    """
    cues = dye_cues(dens2d, valid) - np.asarray(cal.dye_cue_bias)
    ratios = np.asarray(cal.dye_cue_weights).reshape(2, -1) @ cues
    x = np.array([ratios[0], 0.0, ratios[1]])
    x = _dead_zone(x - x.mean(), cal)
    rho = np.exp(x)
    rho = rho / rho.max()
    return rho * (1.0 - cal.companion_loss * (1.0 - rho.min()))


def _stain(dens2d: np.ndarray, cal: Calibration,
           valid: np.ndarray | None = None) -> np.ndarray:
    """Estimate the stain density per channel (``(3,)``) along the yellowing axis.

    The location cues (:func:`stain_cues`) minus their means over unaged
    photographs are combined by generalised least squares along the
    stain's colour into one amount; a dead zone ignores what unaged
    photographs show, and very strong estimates (a yellow scene: a
    sunset, gold, a lamp-lit room) are faded out smoothly.
    """
    cues = stain_cues(dens2d, valid) - np.asarray(cal.stain_cue_bias)
    y = float(np.asarray(cal.stain_cue_weights) @ cues)
    if y <= cal.stain_threshold:
        return np.zeros(3)
    amount = y * (1.0 - (cal.stain_threshold / y) ** cal.stain_power)
    # Fade out estimates beyond stain_limit over stain_ramp (continuous).
    over = (y - cal.stain_limit) / max(cal.stain_ramp, 1e-6)
    amount *= 1.0 - _ramp(over)
    stain = amount * STAIN_SPECTRUM
    return stain - stain.min()


def _broad(valid: np.ndarray) -> bool:
    """Whether a selection's kept blocks hold enough for every statistic.

    Percentiles need pixels, the gradient cues pairs of neighbours across
    and along, the grey-edge cue pixels whose four neighbours are kept.
    """
    vx, vy = _pair_masks(valid)
    assert vx is not None and vy is not None
    need = MIN_SIDE * MIN_SIDE
    return (int(valid.sum()) >= need and int(vx.sum()) >= need and int(vy.sum()) >= need
            and int(ndimage.binary_erosion(valid, border_value=1).sum()) >= need)


def selected_means(image: np.ndarray, mask: np.ndarray, size: int,
                   border: float) -> tuple[np.ndarray, np.ndarray]:
    """Return :func:`statistics_thumbnail` of the selected pixels, and each block's share.

    Each block is the mean of its selected pixels, weighted by `mask`
    (anything where nothing is selected); the share is the block's mean of
    `mask`.
    """
    m = np.clip(np.asarray(mask, dtype=np.float32), 0.0, 1.0)[..., None]
    total = statistics_thumbnail(np.asarray(image, dtype=np.float32) * m, size, border)
    share = statistics_thumbnail(m, size, border)[..., 0]
    return np.clip(total / np.maximum(share, 1e-6)[..., None], 0.0, 1.0), share


def selected_thumbnail(image: np.ndarray, mask: np.ndarray, size: int,
                       border: float) -> tuple[np.ndarray, np.ndarray]:
    """Return :func:`selected_means`, and where they hold.

    Blocks selected less than half as fully as the most selected one are
    not kept (``valid`` False) and take the value of the nearest kept
    block, so filters see no hole.
    """
    thumb, share = selected_means(image, mask, size, border)
    valid = (share >= 0.5 * float(share.max())) & (share > 0)
    if valid.any() and not valid.all():
        near = ndimage.distance_transform_edt(~valid, return_distances=False,
                                              return_indices=True)
        thumb = thumb[near[0], near[1]]
    return thumb, valid


def estimate_fade(image: np.ndarray, cal: Calibration = DEFAULT,
                  mask: np.ndarray | None = None) -> FadeModel:
    """Estimate the inverse fading of an ``(H, W, C)`` perceptual image.

    With a `mask` (a selection, ``(H, W)`` in [0, 1]) the statistics come
    from the selected pixels only.

    Raises
    ------
    ImageError
        If the image (or selected area) is smaller than :data:`MIN_SIDE` a
        side, or no pixel is usable (it is entirely clipped to black or
        white).
    """
    h, w = image.shape[:2]
    if min(h, w) < MIN_SIDE:
        msg = (f"restore-color: the area is {w}×{h} px, too small to estimate the fading "
               f"from (it needs at least {MIN_SIDE}×{MIN_SIDE} px); select a larger area")
        raise ImageError(msg)
    valid = None
    if mask is not None and not (np.asarray(mask) >= 1.0).all():
        thumb, valid = selected_thumbnail(image, mask, cal.thumb, cal.border)
        if not _broad(valid):
            # too thin a selection for gradient statistics: its box stands for it
            valid = None
    if valid is None:
        thumb = trim_frame(statistics_thumbnail(image, cal.thumb, cal.border))
    channels = thumb.shape[-1]
    flat = thumb.reshape(-1, channels) if valid is None else thumb[valid]
    peak = _channel_max(flat)
    informative = (peak < CLIP_LEVEL) & (peak > 1.0 - CLIP_LEVEL)
    if not informative.any():
        top = float(np.max(image))
        if top > 1.0 + 1e-3:  # scene-referred values past white
            msg = (f"restore-color: the pixels reach {top:.3g}, past white "
                   "(1.0), with none inside the display range; restore-color works on "
                   "display-referred pixels: tone-map or scale the image into 0–1 first")
        else:
            msg = ("restore-color: the image is entirely clipped (every pixel is pure "
                   "black or pure white), so there is no colour left to restore")
        raise ImageError(msg)
    b_in, b_out, gain = _veil(flat, peak < CLIP_LEVEL, cal)
    if channels != 3:
        return FadeModel(b_in, b_out, gain, np.ones(channels), np.zeros(channels))
    unveiled = np.clip((thumb - b_in) * gain + b_out, 0.0, 1.0)
    dens = density(unveiled)
    # Specks shrink to a thumbnail pixel or two only where blocks average
    # several pixels; at full size a 3 × 3 median would take real detail.
    blocks = math.ceil(max(h, w) / cal.thumb)
    rho = _retention(despeckle(dens) if blocks >= SPECK_BLOCKS else dens, cal, valid)
    stain = _stain(dens / rho, cal, valid)
    if valid is not None and not (np.isfinite(rho).all() and np.isfinite(stain).all()):
        return estimate_fade(image, cal)  # a selection too odd for some statistic
    return FadeModel(b_in, b_out, gain, rho, stain)
