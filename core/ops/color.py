"""Colour: restore faded prints, white balance, automatic contrast.

Three operations in the "Color" menu:

- ``restore-color`` undoes the fading of a colour print (lifted blacks,
  lost contrast, faded dyes, yellowed paper) with per-channel curves
  estimated from the image itself;
- ``white-balance`` makes a picked point, a picked colour, a light of a
  given temperature, or an automatically found illuminant neutral;
- ``auto-contrast`` stretches levels on luminance, optionally with local
  (CLAHE) contrast, without shifting colours.

All three evaluate continuous curves or gains in float: 16-bit images keep
every level (no 8-bit lookup tables) and values outside [0, 1] survive.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Annotated, Any, Literal

import numpy as np

from ..convert import linear_to_srgb, luminance, srgb_to_linear
from ..errors import ImageError, ParameterError
from ..registry import Param, operation
from ._color_fade import (
    DEFAULT,
    Calibration,
    FadeModel,
    estimate_fade,
    selected_means,
    statistics_thumbnail,
)
from ._color_tone import CURVE_SAMPLES, apply_curves, clahe_luma, weighted_percentile

__all__ = [
    "auto_contrast",
    "fade_curves",
    "illuminant_gains",
    "restore_color",
    "temperature_gains",
    "white_balance",
]

# Rec. 709 / sRGB luma weights (as photomend.convert.luminance).
_LUMA = np.array([0.2126, 0.7152, 0.0722])
#: Linear values at or above this count as clipped in white-balance estimates.
_CLIPPED = 0.99


# --------------------------------------------------------------------------
# restore-color


def fade_curves(image: np.ndarray, *, calibration: Calibration = DEFAULT,
                mask: np.ndarray | None = None) -> np.ndarray:
    """Estimate the curves that undo the fading of a print.

    Parameters
    ----------
    image : ndarray
        float32 ``(H, W, C)`` perceptual (sRGB-encoded) pixels.
    calibration : Calibration, optional
        Estimator constants (see :class:`~photomend.ops._color_fade.Calibration`).
    mask : ndarray, optional
        ``(H, W)`` selection in [0, 1]: the fading is estimated from the
        selected pixels only.

    Returns
    -------
    ndarray
        float32 ``(CURVE_SAMPLES, C)``: each channel's output at inputs
        evenly spaced over [0, 1]. Pass it as ``curves=`` to
        :func:`restore_color` to apply the same correction to other scans
        (a roll of prints faded alike).

    Raises
    ------
    ImageError
        If the image holds no usable pixels (entirely clipped).
    """
    model: FadeModel = estimate_fade(np.asarray(image, dtype=np.float32), calibration, mask)
    return model.curves(CURVE_SAMPLES)


def _prepare_restore(image: np.ndarray, params: Mapping[str, Any],
                     mask: np.ndarray | None = None) -> dict[str, Any]:
    # Estimate once, from the selected pixels, so tiles share the curves.
    if params.get("curves") is not None:
        return {}
    return {"curves": fade_curves(image, mask=mask)}


def _check_curves(curves: np.ndarray, channels: int) -> np.ndarray:
    table = np.asarray(curves, dtype=np.float32)
    if table.ndim == 1:
        table = table[:, None]
    if table.ndim != 2 or table.shape[0] < 2 or table.shape[1] not in (1, channels):
        msg = (f"restore-color: curves must be a (samples, {channels}) table with at least "
               f"2 samples, got shape {table.shape}")
        raise ParameterError(msg)
    if np.any(np.diff(table, axis=0) < 0):
        msg = "restore-color: curves must be non-decreasing (a curve that reverses tones)"
        raise ParameterError(msg)
    if table.shape[1] != channels:
        table = np.repeat(table, channels, axis=1)
    return table


@operation("restore-color", label="_Restore Faded Colour", menu="Color", local=True, halo=0,
           prepare=_prepare_restore)
def restore_color(
    image: np.ndarray,
    *,
    strength: Annotated[float, Param(
        "How much of the estimated correction to apply: 1 undoes the fading "
        "fully, 0.5 goes half way, 0 changes nothing.",
        min=0.0, max=1.0, step=0.05)] = 1.0,
    curves: Annotated[np.ndarray | None, Param(
        "Per-channel correction curves to apply instead of estimating them "
        "(a (samples, channels) table over inputs 0..1, e.g. from "
        "photomend.ops.color.fade_curves on another scan of the same roll).",
        kind="array", advanced=True)] = None,
) -> np.ndarray:
    """Restore the colours of a faded print automatically.

    Undoes what age does to a colour print: blacks lifted to grey, contrast
    lost, dyes faded unevenly (usually cyan first, which leaves a red or
    magenta cast) and paper or varnish yellowed. The correction is
    estimated from the photo alone (from the selected area when there is a
    selection) and applied as one smooth curve per channel; a photo that
    is not faded is left as it is.

    Parameters
    ----------
    image : ndarray
        float32 ``(H, W, C)`` perceptual pixels.
    strength : float
        Blend between the input (0) and the full correction (1).
    curves : ndarray, optional
        ``(K, C)`` curves to apply (see :func:`fade_curves`); estimated
        from `image` when None.

    Returns
    -------
    ndarray
        The restored image, float32, same shape.

    Notes
    -----
    The physical model (see :class:`photomend.synth.Fading`) has, per
    channel, the optical density ``D = -log10 T`` of the linear reflectance
    ``T``. A dye that keeps a fraction ``r_c`` of its density turns ``D``
    into ``r_c D`` (Beer-Lambert); a stain adds ``s_c``; a veil common to
    all channels maps encoded values ``v`` to ``g v + o``. Each step is
    monotone, so the inverse is one curve per channel::

        u = (v - b_in) k + b_out,   D = density(u),   D' = D / r_c - s_c

    estimated in that order on a block-mean thumbnail (border cut off, so
    dust, grain and scanner edges do not count), each step in the domain
    where it is physical:

    1. *Veil* (encoded values). Black is the 0.5th percentile of the dark
       channel (per-pixel minimum), white the 99.5th of the bright channel
       among unclipped pixels. A black above what unaged photographs show
       (more so when the whites are intact: then a hazy scene is likelier
       than a faded print) is mapped down to a typical black, contrast
       being restored around mid-grey without pushing the image's own
       white past 1.
    2. *Dye retention* (density). Four offset-free measures of each
       channel's density contrast: its span (0.5 to 99.5 %), the ridge
       (mode) of per-pixel density-gradient ratios over strong edges,
       where shading changes all channels alike, the p = 6 norm of
       density gradients, and the depth of the darkest shadows (nearly
       neutral in unaged photographs). Their log ratios to green, minus
       their means over unaged photographs, are combined by generalised
       least squares (weights from the cues' covariance over those
       photographs: agreeing, independent evidence counts more) into the
       relative retentions. An elliptic dead zone ignores deviations that
       unaged photographs show: narrow along the cyan-loss axis (red
       behind green and blue, the usual dark-fading pattern), wide across
       it (blue-green scenes are common, prints that lost magenta and
       yellow but kept cyan are rare). The most stable dye is assumed to
       have lost a tenth of the strongest relative loss (dark fading
       attacks all dyes). Dividing density by retention also restores the
       saturation the dyes lost.
    3. *Stain* (density, i.e. a linear-light gain). Three location cues,
       relative to green: the white point (0.5th density percentile,
       white-patch evidence), the colour of the brightest tenth of the
       pixels, and the grey-edge colour (Minkowski p = 6 norm of linear
       gradients [2]_), minus their means over unaged photographs and
       combined by generalised least squares along the yellowing colour
       into one amount. The amount beyond a dead zone is removed; very
       strong estimates are increasingly taken for a yellow scene
       (sunset, gold, a lit interior) and faded out smoothly.

    The curves are sampled at 4096 points and evaluated by linear
    interpolation in float (no 8-bit tables), extended linearly beyond
    [0, 1]. The estimator's constants
    (:class:`~photomend.ops._color_fade.Calibration`) were fitted on
    CBSD68 and RNI15, unaged and aged with :func:`photomend.synth.fade`
    (random amounts and the benchmark's recipes), requiring unaged photos
    to stay nearly unchanged; Kodak24 and McMaster, which the benchmark
    reports, were held out. A restored image is a fixed point: running
    the operation again changes nothing.

    What one image cannot tell is left to those priors: a scene that is
    really red (a barn door) looks like a print that lost cyan, and warm
    light like yellowed paper. The dead zones keep such photos unchanged
    at the price of under-correcting mild fading, and a photo whose
    natural colours sit near the edge of the zone is corrected from
    there.

    References
    ----------
    .. [1] H. Wilhelm, C. Brower, "The Permanence and Care of Color
       Photographs", Preservation Publishing, 1993, ch. 2 and 5.
    .. [2] J. van de Weijer, T. Gevers, A. Gijsenij, "Edge-based color
       constancy", IEEE Trans. Image Processing 16(9), 2007.
    .. [3] K. He, J. Sun, X. Tang, "Single image haze removal using dark
       channel prior", CVPR 2009 (the dark channel as black evidence).
    """
    img = np.asarray(image, dtype=np.float32)
    channels = img.shape[-1]
    table = fade_curves(img) if curves is None else _check_curves(curves, channels)
    if strength <= 0.0:
        return img.copy()
    if strength < 1.0:
        x = np.linspace(0.0, 1.0, table.shape[0], dtype=np.float32)[:, None]
        table = x + np.float32(strength) * (table - x)
    return apply_curves(img, table)


# --------------------------------------------------------------------------
# white-balance


def _planck_xy(kelvin: float) -> tuple[float, float]:
    """CIE 1931 chromaticity of a black body (Kang et al. 2002 cubic fit)."""
    t = float(kelvin)
    if t <= 4000.0:
        x = -0.2661239e9 / t**3 - 0.2343589e6 / t**2 + 0.8776956e3 / t + 0.179910
    else:
        x = -3.0258469e9 / t**3 + 2.1070379e6 / t**2 + 0.2226347e3 / t + 0.240390
    if t <= 2222.0:
        y = -1.1063814 * x**3 - 1.34811020 * x**2 + 2.18555832 * x - 0.20219683
    elif t <= 4000.0:
        y = -0.9549476 * x**3 - 1.37418593 * x**2 + 2.09137015 * x - 0.16748867
    else:
        y = 3.0817580 * x**3 - 5.87338670 * x**2 + 3.75112997 * x - 0.37001483
    return x, y


# XYZ → linear sRGB (IEC 61966-2-1).
_XYZ_TO_RGB = np.array([
    [3.2404542, -1.5371385, -0.4985314],
    [-0.9692660, 1.8760108, 0.0415560],
    [0.0556434, -0.2040259, 1.0572252],
])


def _light_rgb(kelvin: float) -> np.ndarray:
    x, y = _planck_xy(kelvin)
    rgb = _XYZ_TO_RGB @ np.array([x / y, 1.0, (1.0 - x - y) / y])
    return np.maximum(rgb, 1e-6)


def illuminant_gains(light: np.ndarray) -> np.ndarray:
    """Return linear-light channel gains that turn colour `light` neutral.

    The gains keep the luminance of `light`, so a grey lit by it keeps its
    brightness.

    Parameters
    ----------
    light : array_like
        ``(3,)`` linear RGB of something that should be neutral, > 0.
    """
    e = np.asarray(light, dtype=np.float64)
    return float(_LUMA @ e) / e


def temperature_gains(kelvin: float, tint: float = 0.0) -> np.ndarray:
    """Return linear gains correcting light of colour temperature `kelvin` to D65.

    Parameters
    ----------
    kelvin : float
        Correlated colour temperature of the light in the photo (1667 to
        25000 K); 6500 K gives no change, lower values cool the image.
    tint : float
        Green-magenta correction in [-1, 1]: positive adds magenta
        (removes a green cast), negative adds green.
    """
    # Relative to the same locus at 6500 K, so 6500 K and tint 0 are exact
    # identity (the locus passes slightly off D65 itself).
    light = _light_rgb(kelvin) / _light_rgb(6500.0)
    gains = illuminant_gains(light)
    gains[1] *= 1.25 ** (-float(tint))
    return gains / float(_LUMA @ (gains * light)) * float(_LUMA @ light)


def _auto_light(image: np.ndarray, mask: np.ndarray | None, method: str) -> np.ndarray:
    """Estimate the colour of the light (linear RGB) of an ``(H, W, 3)`` perceptual image."""
    # Block means of the encoded values, then decoded: cheap for any size.
    # With a selection, each block's mean is that of its selected pixels.
    weights = None
    if mask is None:
        encoded = statistics_thumbnail(image, 128, 0.0)
    else:
        encoded, weights = selected_means(image, mask, 128, 0.0)
    thumb = srgb_to_linear(encoded).astype(np.float64)
    flat = thumb.reshape(-1, 3)
    w = np.ones(flat.shape[0]) if weights is None else weights.ravel()
    usable = (flat.max(axis=1) < _CLIPPED) & (flat.max(axis=1) > 1e-4) & (w > 0)
    if usable.sum() < 4:
        area = image.shape[0] * image.shape[1] if mask is None else int((mask > 0).sum())
        why = (f"the area has only {area} px" if area < 4 else
               "the selection is too small a part of the image" if (w > 0).sum() < 4
               else "its pixels lie past white (1.0): scale them into 0–1 first"
               if float(np.max(image)) > 1.0 + 1e-3
               else "the image or selection is clipped to black or white")
        msg = f"white-balance: no usable pixels to estimate the light from ({why})"
        raise ImageError(msg)
    fu, wu = flat[usable], w[usable]
    estimates = []
    if method in ("gray-world", "auto"):
        estimates.append((fu * wu[:, None]).sum(axis=0) / wu.sum())
    if method in ("white-patch", "auto"):
        lum = fu @ _LUMA
        top = lum >= weighted_percentile(lum, wu, 99.0)[0]
        estimates.append((fu[top] * wu[top, None]).sum(axis=0) / wu[top].sum())
    if method in ("gray-edge", "auto") and min(thumb.shape[:2]) >= 2:  # edges need 2 px
        gy, gx = np.gradient(thumb, axis=(0, 1))
        mag = np.sqrt(gx * gx + gy * gy).reshape(-1, 3)
        ok = usable & (mag.max(axis=1) > 0)
        if ok.sum() >= 4:
            estimates.append(np.power(np.sum(mag[ok] ** 6 * w[ok, None], axis=0)
                                      / w[ok].sum(), 1.0 / 6.0))
    if not estimates:
        msg = ("white-balance: gray-edge found no edges to estimate the light from (the "
               "image or selection is flat or too thin); use another method")
        raise ImageError(msg)
    logs = np.log(np.maximum(np.array(estimates), 1e-9))
    logs -= logs[:, 1:2]
    return np.exp(np.median(logs, axis=0))


def _point_light(image: np.ndarray, point: tuple[float, float], radius: int) -> np.ndarray:
    h, w = image.shape[:2]
    x, y = point
    if not (0 <= x < w and 0 <= y < h):
        msg = (f"white-balance: the neutral point ({x:g}, {y:g}) is outside the image "
               f"(x must be 0 to {w - 1}, y 0 to {h - 1})")
        raise ParameterError(msg)
    col, row = int(x), int(y)
    patch = image[max(0, row - radius):row + radius + 1, max(0, col - radius):col + radius + 1]
    linear = srgb_to_linear(patch).astype(np.float64)
    return linear.reshape(-1, image.shape[-1]).mean(axis=0)


WhiteBalanceMethod = Literal["auto", "gray-edge", "white-patch", "gray-world", "temperature"]


@operation("white-balance", label="_White Balance", menu="Color")
def white_balance(
    image: np.ndarray,
    *,
    method: Annotated[WhiteBalanceMethod, Param(
        "How to find the light's colour when no neutral point or colour is "
        "given: 'auto' combines grey-edge, white-patch and grey-world; "
        "'temperature' uses the temperature and tint below.")] = "auto",
    point: Annotated[tuple[float, float] | None, Param(
        "A pixel (x, y) in image coordinates that should be neutral grey.",
        kind="point")] = None,
    color: Annotated[tuple[float, float, float] | None, Param(
        "A colour picked in the image (sRGB, 0..1 or #rrggbb) that should be "
        "neutral grey.", kind="color")] = None,
    temperature: Annotated[float, Param(
        "Colour temperature of the light the photo was taken in (method "
        "'temperature'): 6500 K changes nothing, lower values cool the image.",
        min=2000.0, max=12000.0, step=50.0, unit="K")] = 6500.0,
    tint: Annotated[float, Param(
        "Green-magenta correction (method 'temperature'): positive removes a "
        "green cast, negative a magenta one.",
        min=-1.0, max=1.0, step=0.01)] = 0.0,
    radius: Annotated[int, Param(
        "Half-size of the square averaged around the neutral point, so grain "
        "and noise do not decide the colour.",
        min=0, max=50, step=1, unit="px")] = 2,
    strength: Annotated[float, Param(
        "How much of the correction to apply (0 none, 1 fully neutral).",
        min=0.0, max=1.0, step=0.05)] = 1.0,
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """Make a chosen grey neutral: remove a colour cast from the light.

    Give a pixel that should be grey (`point`), a picked colour that should
    be grey (`color`), or the temperature and tint of the light; without
    them the light's colour is estimated automatically. The correction is
    one gain per channel in linear light, as a camera's white balance.

    Parameters
    ----------
    image : ndarray
        float32 ``(H, W, C)`` perceptual pixels.
    method : str
        Automatic estimator or ``'temperature'``; ignored when `point` or
        `color` is given.
    point : tuple of float, optional
        ``(x, y)`` pixel that should become neutral.
    color : tuple of float, optional
        sRGB colour that should become neutral.
    temperature, tint : float
        Light to correct for with ``method='temperature'``.
    radius : int
        Averaging half-size around `point`.
    strength : float
        Fraction of the correction (interpolated in log gain).
    mask : ndarray, optional
        Selection; automatic estimates use only selected pixels.

    Returns
    -------
    ndarray
        The balanced image, float32, same shape.

    Raises
    ------
    ParameterError
        If both `point` and `color` are given, the point lies outside the
        image, or the neutral reference is black.
    ImageError
        If an automatic estimate finds no usable pixels.

    Notes
    -----
    Gains ``g_c = Y(e) / e_c`` for the light's linear colour ``e`` make
    ``e`` neutral and keep its luminance ``Y``. The light is the mean
    around `point`, the decoded `color`, the black-body locus at
    `temperature` (cubic fit of Kang et al. [3]_, taken relative to 6500 K so that
    6500 K is exactly no change) with the green gain scaled by
    ``1.25**-tint``, or, automatically, the per-axis median of the
    log-chromaticities of three classic estimates [1]_ [2]_: grey-world
    (mean), white-patch (mean of the brightest 1 % of unclipped pixels)
    and grey-edge (Minkowski p = 6 norm of gradients). The median of three
    disagreeing estimates ignores the one a colourful scene fools;
    estimates use a block-mean thumbnail, the point its surrounding window.
    `strength` raises the gains to that power. The gains act in linear
    light but are applied as one curve per channel on the encoded values,
    ``enc(g_c lin(v))``, sampled at 4096 points and interpolated in float
    (no per-pixel power functions, no 8-bit tables); beyond [0, 1] the
    curves continue linearly. Grey images are returned unchanged.

    References
    ----------
    .. [1] G. Finlayson, E. Trezzi, "Shades of gray and colour constancy",
       Color Imaging Conference, 2004.
    .. [2] J. van de Weijer, T. Gevers, A. Gijsenij, "Edge-based color
       constancy", IEEE Trans. Image Processing 16(9), 2007.
    .. [3] B. Kang, O. Moon, C. Hong et al., "Design of advanced color
       temperature control system for HDTV applications", Journal of the
       Korean Physical Society 41(6), 2002 (the black-body locus fit).
    """
    img = np.asarray(image, dtype=np.float32)
    if point is not None and color is not None:
        msg = "white-balance: give either a neutral point or a neutral colour, not both"
        raise ParameterError(msg)
    if img.shape[-1] != 3:
        if point is not None:
            _point_light(img, point, radius)  # still report a point outside the image
        return img.copy()
    if point is not None:
        light = _point_light(img, point, radius)
    elif color is not None:
        light = srgb_to_linear(np.asarray(color, dtype=np.float32)).astype(np.float64)
    elif method == "temperature":
        light = None
    else:
        light = _auto_light(img, mask, method)
    if light is None:
        gains = temperature_gains(temperature, tint)
    else:
        if float(np.min(light)) <= 1e-6:
            msg = ("white-balance: the neutral reference is black in at least one "
                   f"channel (linear {np.round(light, 4).tolist()}); pick a lighter grey")
            raise ParameterError(msg)
        gains = illuminant_gains(light)
    gains = np.power(gains, float(strength))
    x = np.linspace(0.0, 1.0, CURVE_SAMPLES)
    table = linear_to_srgb((srgb_to_linear(x.astype(np.float32)).astype(np.float64)[:, None]
                            * gains[None, :]).astype(np.float32))
    return apply_curves(img, table)


# --------------------------------------------------------------------------
# auto-contrast


@operation("auto-contrast", label="_Auto Contrast", menu="Color")
def auto_contrast(
    image: np.ndarray,
    *,
    black_clip: Annotated[float, Param(
        "Share of pixels allowed to become pure black (ignores dust and "
        "deep specks when finding the black point).",
        min=0.0, max=10.0, step=0.05, unit="%")] = 0.1,
    white_clip: Annotated[float, Param(
        "Share of pixels allowed to become pure white (ignores speculars "
        "and clipped highlights when finding the white point).",
        min=0.0, max=10.0, step=0.05, unit="%")] = 0.1,
    strength: Annotated[float, Param(
        "Amount of local contrast added on top of the levels stretch "
        "(contrast-limited adaptive equalisation); 0 stretches levels only.",
        min=0.0, max=1.0, step=0.05)] = 0.0,
    threshold: Annotated[float, Param(
        "Limit of the local contrast boost: how far a tile's histogram may "
        "be equalised (0 gentle, 1 strong).",
        min=0.0, max=1.0, step=0.05)] = 0.3,
    tiles: Annotated[int, Param(
        "Tiles along the longer side for local contrast: more tiles adapt "
        "to smaller regions.", min=2, max=64, step=1)] = 8,
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """Stretch contrast on luminance, keeping the colours.

    Finds the black and white points of the luminance (ignoring the
    given share of extreme pixels), stretches them to black and white,
    and optionally adds local contrast. Only brightness changes: each
    pixel's colour (chromaticity) stays as it was.

    Parameters
    ----------
    image : ndarray
        float32 ``(H, W, C)`` perceptual pixels.
    black_clip, white_clip : float
        Percent of (selected) pixels clipped at each end.
    strength : float
        Blend of the local-contrast result into the levels result.
    threshold : float
        CLAHE contrast limit, mapped to a clip limit of ``1 + 7 t``
        times the mean histogram count.
    tiles : int
        CLAHE tiles along the longer side.
    mask : ndarray, optional
        Selection: the statistics use only selected pixels.

    Returns
    -------
    ndarray
        float32, same shape.

    Raises
    ------
    ImageError
        If the (selected) image is flat: black and white points coincide.

    Notes
    -----
    The new luma ``L'`` (Rec. 709 weights of the encoded values) is the
    levels stretch ``(L - b) / (w - b)`` of the black and white points
    ``b`` and ``w`` (weighted percentiles), blended with its CLAHE [1]_
    result by `strength`. The colour follows in linear light: every
    channel is scaled by ``lin(L') / lin(L)``, which keeps chromaticity
    exactly; where that would push a channel past 1 the pixel is moved
    towards grey of the same luminance until it fits, so saturated
    highlights keep hue and brightness and lose a little saturation
    (luminances above 1 clip to white). Everything is
    continuous float maths (no lookup tables), so 16-bit gradients stay
    smooth.

    References
    ----------
    .. [1] K. Zuiderveld, "Contrast Limited Adaptive Histogram
       Equalization", Graphics Gems IV, 1994.
    """
    img = np.asarray(image, dtype=np.float32)
    luma = luminance(img)
    weights = None if mask is None else np.asarray(mask, dtype=np.float32)
    if weights is not None and not np.any(weights > 0):
        weights = None
    lo, hi = weighted_percentile(luma, weights, [black_clip, 100.0 - white_clip])
    if not math.isfinite(hi - lo) or hi - lo <= 1e-6:
        msg = (f"auto-contrast: the image is flat (black point {lo:.4f} equals white "
               f"point {hi:.4f}); there is no contrast to stretch")
        raise ImageError(msg)
    stretched = (luma - np.float32(lo)) * np.float32(1.0 / (hi - lo))
    if strength > 0.0:
        local = clahe_luma(stretched, tiles=tiles, clip_limit=1.0 + 7.0 * threshold,
                           weights=weights)
        inside = np.clip(stretched, 0.0, 1.0)
        stretched = stretched + np.float32(strength) * (local - inside)
    if img.shape[-1] == 1:
        return stretched[..., None].astype(np.float32)
    lin_old = srgb_to_linear(luma)
    lin_new = srgb_to_linear(stretched)
    linear = srgb_to_linear(img)
    safe = lin_old > 1e-6
    gain = np.where(safe, lin_new / np.where(safe, lin_old, 1.0), 0.0)
    out = linear * gain[..., None]
    # Pure black pixels (no chromaticity to keep) take the new grey level.
    out = np.where(safe[..., None], out, lin_new[..., None])
    # Out of gamut: move towards the pixel's grey (same luminance) until the
    # largest channel fits, keeping hue and brightness, losing only some
    # saturation; continuous, so ramps stay monotone.
    peak = out.max(axis=-1)
    grey = np.minimum(lin_new, 1.0)
    over = (peak > 1.0) & (peak > grey)
    if np.any(over):
        t = np.where(over, (1.0 - grey) / np.where(over, peak - grey, 1.0), 1.0)
        out = grey[..., None] + (out - grey[..., None]) * t[..., None]
    return linear_to_srgb(out.astype(np.float32))
