"""Find and remove dust specks, hairs and scratches.

``detect-defects`` returns a soft mask of surface damage; ``remove-defects``
detects and fills it with the inpainting engine in one step.
:func:`detect_infrared` finds the same damage in the infrared plane of an
RGBI film scan, where it is far easier to see (see its notes).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Annotated, Any, Literal

import numpy as np
from scipy import ndimage

from ..errors import ParameterError
from ..progress import Progress
from ..registry import Param, operation
from ._defects_features import (
    CONTEXT_REACH,
    REACH,
    context_features,
    estimate_noise,
    pixel_features,
    plane,
)
from ._defects_model import predict, stages
from .inpaint import inpaint as _inpaint

__all__ = ["detect_defects", "detect_infrared", "estimate_noise", "remove_defects"]

#: Classifier probability that counts as a defect at sensitivity 0.5.
BASE_LEVEL = 0.4
#: Removal is more cautious: a detected component is filled only if its
#: most confident pixel reaches this probability (at sensitivity 0.5).
#: Filling a false alarm erases real detail (window bars, tripod legs and
#: wires look exactly like scratches), while a missed speck is only left
#: as it was. On 5 CBSD68 training crops, raising it from 0.75 to 0.9
#: raised the PSNR of the clean photos that were touched at all from 34.2
#: to 35.9 dB and cost 0.0 dB on light and 0.2 dB on heavy damage.
REMOVE_LEVEL = 0.9
#: Change of the decision log-odds per unit of sensitivity.
SENSITIVITY_GAIN = 6.0
#: Largest speck diameter (px) the full-resolution detector is built for;
#: larger `max_size` adds half-resolution passes.
NATIVE_SIZE = 16
#: A detected component is a line when it is at most this wide (px) ...
LINE_WIDTH = 6.0
#: ... and at least this many times longer than wide.
LINE_ELONGATION = 4.0
#: Stage-2 runs only within this window (px) around stage-1 probabilities
#: above :data:`CANDIDATE_LEVEL`.
CANDIDATE_REACH = 5
CANDIDATE_LEVEL = 0.01
#: Whole image as context (the infrared plane is given in image coordinates).
_WHOLE_IMAGE = 1 << 30

Polarity = Literal["both", "dark", "bright"]
Kinds = Literal["both", "spots", "lines"]

_SENSITIVITY = Annotated[float, Param(
    "How readily marks are taken for damage: higher finds fainter specks and "
    "scratches but also mistakes more image detail for damage.",
    min=0.0, max=1.0, step=0.05)]
_MAX_SIZE = Annotated[int, Param(
    "Diameter of the largest speck to find; bigger blobs are left alone as "
    "image content. Hairs and scratches may be longer.",
    min=2, max=64, step=1, unit="px")]
_POLARITY = Annotated[Polarity, Param(
    "'dark' finds dust on prints and positives, 'bright' dust on negatives "
    "and emulsion holes, 'both' finds either.")]
_KINDS = Annotated[Kinds, Param(
    "'spots' finds compact specks only, 'lines' hairs, fibres, scratches "
    "and cracks only, 'both' everything.")]
_NOISE = Annotated[float | None, Param(
    "Standard deviation of the film grain or scanner noise on the 0–1 scale; "
    "leave empty to measure it from the image (recommended).",
    min=0.0, max=0.25, step=0.001, advanced=True)]
_INFRARED = Annotated[np.ndarray | None, Param(
    "Infrared plane (H, W) of an RGBI film scan, same size as the image: "
    "damage is then found in it instead of in the colours.",
    kind="array")]


def _levels(max_size: int) -> int:
    """Half-resolution passes needed for specks up to `max_size` px."""
    return max(0, math.ceil(math.log2(max_size / NATIVE_SIZE))) if max_size > NATIVE_SIZE else 0


def _halo(params: Mapping[str, Any]) -> int:
    if params.get("infrared") is not None:
        return _WHOLE_IMAGE
    return (REACH + CONTEXT_REACH) * 2 ** _levels(int(params["max_size"])) + int(
        params["max_size"]) + 4


def _remove_halo(params: Mapping[str, Any]) -> int:
    # The fill looks up to inpaint's default context (64 px) around each hole.
    return _halo(params) + 64 + 2


def _prepare(image: np.ndarray, params: dict[str, Any]) -> dict[str, Any]:
    """Measure the noise once on the whole image so that tiles agree."""
    if params.get("noise") is None:
        return {"noise": estimate_noise(plane(image, True))}
    return {}


def _threshold(sensitivity: float, base: float) -> float:
    """Classifier probability above which a pixel is damage."""
    logit = math.log(base / (1 - base)) - SENSITIVITY_GAIN * (sensitivity - 0.5)
    return 1.0 / (1.0 + math.exp(-logit))


def _probability(image: np.ndarray, sigma: float, polarity: Polarity) -> np.ndarray:
    """Return the stage-2 defect probability ``(2, H, W)``: dark, bright.

    A polarity that is not wanted gets zeros.
    """
    first, second = stages()
    feats = {dark: pixel_features(image, sigma, dark) for dark in (True, False)}
    prob1 = {dark: predict(first, f) for dark, f in feats.items()}
    wanted = {"both": (True, False), "dark": (True,), "bright": (False,)}[polarity]
    out = np.zeros((2, *image.shape[:2]), np.float32)
    for dark in wanted:
        ctx = context_features(prob1[dark], prob1[not dark], feats[dark])
        # Far from any stage-1 response the second stage has nothing to
        # confirm: evaluate it only near candidates.
        near = ndimage.maximum_filter(prob1[dark], CANDIDATE_REACH) > CANDIDATE_LEVEL
        out[0 if dark else 1] = predict(second, ctx, near)
    return out


def _half(image: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    v = np.pad(image, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    return v.reshape(v.shape[0] // 2, 2, v.shape[1] // 2, 2, -1).mean(axis=(1, 3))


def _pyramid_probability(image: np.ndarray, sigma: float, polarity: Polarity,
                         levels: int) -> np.ndarray:
    """Probability at full resolution, plus coarser passes for big specks."""
    prob = _probability(image, sigma, polarity)
    small, scale, s = image, 1, sigma
    for _ in range(levels):
        small, scale, s = _half(small), scale * 2, s / 2  # 2×2 means halve the noise
        if min(small.shape[:2]) < 8:
            break
        coarse = _probability(small, s, polarity)
        up = np.repeat(np.repeat(coarse, scale, axis=1), scale, axis=2)
        np.maximum(prob, up[:, : prob.shape[1], : prob.shape[2]], out=prob)
    return prob


def _soft_mask(prob: np.ndarray, sensitivity: float, base: float) -> np.ndarray:
    """Shift the log-odds so that 0.5 is the decision level."""
    thr = _threshold(sensitivity, base)
    p = np.clip(prob, 1e-6, 1 - 1e-6)
    logit = np.log(p / (1 - p)) - np.float32(math.log(thr / (1 - thr)))
    return (1.0 / (1.0 + np.exp(-logit))).astype(np.float32)


def _shape_filter(soft: np.ndarray, max_size: int, kinds: Kinds) -> np.ndarray:
    """Drop detected components of the wrong kind or too big to be specks."""
    found = soft > 0.5
    labels, count = ndimage.label(found, structure=np.ones((3, 3), bool))
    if count == 0:
        return soft
    index = np.arange(1, count + 1)
    depth = ndimage.distance_transform_edt(found)
    width = 2.0 * np.asarray(ndimage.maximum(depth, labels, index)) - 1.0
    area = np.bincount(labels.ravel(), minlength=count + 1)[1:].astype(np.float64)
    length = area / np.maximum(width, 1.0)
    is_line = (width <= LINE_WIDTH) & (length >= LINE_ELONGATION * np.maximum(width, 1.0))
    keep = np.ones(count, bool)
    if kinds == "spots":
        keep &= ~is_line
    elif kinds == "lines":
        keep &= is_line
    keep &= is_line | (width <= max_size)
    if keep.all():
        return soft
    drop = ~np.concatenate([[True], keep])[labels]
    drop = ndimage.binary_dilation(drop, iterations=2) & ~np.concatenate([[False], keep])[labels]
    return np.where(drop, np.float32(0.0), soft)


def _confident(soft: np.ndarray) -> np.ndarray:
    """Keep the detected components that reach :data:`REMOVE_LEVEL` somewhere."""
    found = soft > 0.5
    labels, count = ndimage.label(found, structure=np.ones((3, 3), bool))
    if count == 0:
        return found
    # The soft mask is the probability with its log-odds shifted by the
    # detection level: undo that shift for the removal level.
    shift = math.log(REMOVE_LEVEL / (1 - REMOVE_LEVEL)) - math.log(BASE_LEVEL / (1 - BASE_LEVEL))
    level = 1.0 / (1.0 + math.exp(-shift))
    peak = np.asarray(ndimage.maximum(soft, labels, np.arange(1, count + 1)))
    return np.concatenate([[False], peak > level])[labels]


def detect_infrared(infrared: np.ndarray, *, sensitivity: float = 0.5,
                    max_size: int = 64) -> np.ndarray:
    """Find dust and scratches in the infrared plane of a film scan.

    Parameters
    ----------
    infrared : ndarray
        float ``(H, W)`` infrared plane in [0, 1].
    sensitivity : float
        0–1; higher also marks fainter shadows.
    max_size : int
        Diameter in px of the largest speck; the background is estimated
        with a window a little larger.

    Returns
    -------
    ndarray
        float32 ``(H, W)`` soft mask in [0, 1]; 0.5 is the decision level.

    Notes
    -----
    Colour dyes are transparent to near infrared, while dust, hairs and
    scratches block or scatter it, so the infrared plane is the film base's
    transmission with dark marks where the surface is damaged: the basis of
    Digital ICE [1]_. The plane is divided by its local background (a grey
    closing wider than the largest speck, then a small median), giving the
    fraction of infrared light lost. A pixel is damage when the loss exceeds
    both ``k`` robust noise deviations of the ratio and an absolute floor;
    both fall as `sensitivity` rises. The mask is grown by one pixel
    because scanners register the infrared and colour planes to within
    about a pixel and dust casts a soft halo.

    References
    ----------
    .. [1] A. D. Edgar, "System and method for image recovery", US patent
       5,266,805 (1993).
    """
    ir = np.asarray(infrared, dtype=np.float32)
    if ir.ndim != 2 or ir.size == 0 or not np.isfinite(ir).all():
        msg = f"the infrared plane must be a finite (H, W) array, got shape {ir.shape}"
        raise ParameterError(msg)
    size = int(max_size) + 3
    background = ndimage.grey_closing(ir, size=(size, size), mode="reflect")
    background = ndimage.median_filter(background, size=5, mode="reflect")
    loss = 1.0 - ir / np.maximum(background, 1e-3)
    sigma = estimate_noise(loss)
    k = 8.0 - 6.0 * float(sensitivity)
    floor = 0.12 - 0.1 * float(sensitivity)
    level = max(k * sigma, floor)
    soft = 1.0 / (1.0 + np.exp(-(loss - level) / max(level * 0.15, 1e-4)))
    grown = ndimage.grey_dilation(soft, size=(3, 3), mode="nearest")
    return grown.astype(np.float32)


def _detect(image: np.ndarray, sensitivity: float, max_size: int, polarity: Polarity,
            kinds: Kinds, noise: float | None, infrared: np.ndarray | None,
            base: float = BASE_LEVEL) -> np.ndarray:
    """Return soft masks ``(2, H, W)`` of dark and bright damage, or ``(1, H, W)``.

    The single plane is the infrared detection, whose polarity in the
    colours is unknown.
    """
    if infrared is not None:
        ir = np.asarray(infrared, dtype=np.float32)
        if ir.ndim == 3 and ir.shape[-1] == 1:
            ir = ir[..., 0]
        if ir.shape != image.shape[:2]:
            msg = (f"infrared plane has shape {ir.shape}, but the image is "
                   f"{image.shape[0]}×{image.shape[1]}; pass the whole scan's plane and "
                   "run without a selection and with tile=0")
            raise ParameterError(msg)
        soft = detect_infrared(ir, sensitivity=sensitivity, max_size=max_size)[None]
    else:
        sigma = estimate_noise(plane(image, True)) if noise is None else max(noise, 1e-4)
        prob = _pyramid_probability(image, sigma, polarity, _levels(max_size))
        soft = _soft_mask(prob, sensitivity, base)
    return np.stack([_shape_filter(m, max_size, kinds) for m in soft])


@operation("detect-defects", label="_Detect Dust and Scratches", menu="Repair",
           output="mask", local=True, halo=_halo, prepare=_prepare)
def detect_defects(
    image: np.ndarray,
    *,
    sensitivity: _SENSITIVITY = 0.5,
    max_size: _MAX_SIZE = 16,
    polarity: _POLARITY = "both",
    kinds: _KINDS = "both",
    noise: _NOISE = None,
    infrared: _INFRARED = None,
) -> np.ndarray:
    """Mark dust specks, hairs and scratches as a mask.

    Image detail (catch-lights, stars, text, fine hair, fabric) is told
    apart from surface damage by its shape, its contrast against the
    surrounding texture and the noise level, measured at several scales.

    Parameters
    ----------
    image : ndarray
        float32 ``(H, W, C)`` perceptual pixels.
    sensitivity : float
        0–1: trades missed damage against false alarms.
    max_size : int
        Largest speck diameter in px.
    polarity : {'both', 'dark', 'bright'}
        Which defects to find.
    kinds : {'both', 'spots', 'lines'}
        Compact specks, elongated hairs/scratches, or both.
    noise : float, optional
        Noise standard deviation (0–1 scale); measured when None.
    infrared : ndarray, optional
        ``(H, W)`` infrared plane of an RGBI scan; if given, damage is found
        in it (:func:`detect_infrared`) instead of in the colours.

    Returns
    -------
    ndarray
        float32 ``(H, W)`` soft mask in [0, 1]: above 0.5 is damage.

    Notes
    -----
    For each polarity (bright defects: the same detector on the inverted
    image) every pixel gets noise-normalised evidence (contrasts divided by
    the robust noise deviation σ of :func:`estimate_noise`):

    - grey-closing top-hats at 3, 9, 17 and 25 px and the local texture level
      (window mean of their logarithm), so a response is judged against the
      texture around it;
    - spot contrasts: the smallest and second-smallest difference between
      8 points on a ring of radius 2, 4, 7 or 10 px and the centre, after a
      matching Gaussian blur: large only for a compact blob brighter all
      round (edges and lines have a direction that is not brighter);
    - oriented line contrasts (Ricci & Perfetti [1]_): the mean along a
      segment against the darker of two parallel flanking segments, best
      and second-best over 12 to 32 orientations, at full resolution
      (11 px, hairs and cracks) and on a 2 × 2-averaged copy (26 and 62 px
      long, faint straight scratches): step edges give nothing, and texture
      averages out along the segment;
    - local variance, brightness, background level, relative darkening and
      chroma (dust is neutral grey, dyes are not).

    A one-hidden-layer perceptron turns these into a probability; a second
    one (auto-context [2]_) sees the first one's output in a neighbourhood
    (local density, and its mean along 12 orientations, so that weak
    pieces continuing a scratch are kept and busy texture is not), like
    the feature-based pixel classification of ilastik [3]_. Both were fitted
    on photographs aged with :mod:`photomend.synth` (see
    ``_defects_train.py``), none of them from the benchmark sets. The
    probability, shifted by `sensitivity` in log-odds, is the soft mask.
    Specks wider than `max_size` are dropped; for `max_size` above 16 px
    the detector also runs on 2×, 4× averaged copies. With `kinds`, each
    connected component is a line when it is at most 6 px wide and at
    least four times longer than wide.

    Everything is computed with filters of bounded reach, so the operation
    tiles; the noise level is measured once on the whole image first.

    References
    ----------
    .. [1] E. Ricci, R. Perfetti, "Retinal blood vessel segmentation using
       line operators and support vector classification", IEEE TMI 26(10),
       2007.
    .. [2] Z. Tu, X. Bai, "Auto-context and its application to high-level
       vision tasks and 3D brain image segmentation", IEEE TPAMI 32(10),
       2010.
    .. [3] C. Sommer, C. Straehle, U. Köthe, F. A. Hamprecht, "ilastik:
       Interactive learning and segmentation toolkit", ISBI 2011.
    """
    return _detect(image, sensitivity, max_size, polarity, kinds, noise, infrared).max(axis=0)


@operation("remove-defects", label="_Remove Dust and Scratches", menu="Repair",
           local=True, halo=_remove_halo, prepare=_prepare)
def remove_defects(
    image: np.ndarray,
    *,
    sensitivity: _SENSITIVITY = 0.5,
    max_size: _MAX_SIZE = 16,
    polarity: _POLARITY = "both",
    kinds: _KINDS = "both",
    method: Annotated[Literal["auto", "diffusion", "patch"], Param(
        "How the damage is filled: 'diffusion' continues the surrounding "
        "colours smoothly (fast, best for specks and scratches), 'patch' "
        "copies texture from around, 'auto' picks per damaged region.")] = "auto",
    noise: _NOISE = None,
    infrared: _INFRARED = None,
    mask: np.ndarray | None = None,
    progress: Progress | None = None,
    report: dict[str, Any] | None = None,
) -> np.ndarray:
    """Find dust specks, hairs and scratches and fill them in.

    The damage is found as by Detect Dust and Scratches and filled from its
    surroundings as by Inpaint. With a selection, only damage inside it is
    repaired. Undamaged photographs are left (almost) untouched.

    Parameters
    ----------
    image : ndarray
        float32 ``(H, W, C)`` perceptual pixels.
    sensitivity, max_size, polarity, kinds, noise, infrared
        As for :func:`detect_defects`.
    method : {'auto', 'diffusion', 'patch'}
        Fill method of :func:`~photomend.ops.inpaint.inpaint`.
    mask : ndarray, optional
        float32 ``(H, W)`` selection; damage is sought only where it is > 0.
    progress : Progress, optional
        Progress reporting and cancellation.
    report : dict, optional
        Receives ``"defects"``: float32 ``(H, W)``, 1 where damage was
        filled (what a restorer can inspect and refine).

    Returns
    -------
    ndarray
        float32 ``(H, W, C)`` with the damage filled; every other pixel is
        returned unchanged.

    Notes
    -----
    Detection is that of :func:`detect_defects`, made more cautious by
    hysteresis: a detected component is filled only if its most confident
    pixel reaches :data:`REMOVE_LEVEL` (shifted by `sensitivity` like the
    detection level), because filling a false alarm erases real detail,
    while a missed speck is merely left as it was. The detected mask is
    grown by one pixel, because a speck's soft edge still darkens pixels
    whose coverage is below the detection level, and handed to the
    inpainting engine, which fills thin damage with a thin-plate/membrane
    fill and wide textured damage from patches. A dark defect only ever
    darkens the picture, so where dark damage was found the fill may only
    brighten (``max(fill, input)``), and where bright damage was found it
    may only darken: a false alarm on real dark detail is then left almost
    as it was instead of being painted over with something darker still.
    (With an infrared plane the polarity is unknown and the fill is used
    as it is.)
    """
    prog = progress if progress is not None else Progress()
    soft = _detect(image, sensitivity, max_size, polarity, kinds, noise, infrared)
    prog.update(0.5)
    grow = np.ones((3, 3), bool)
    found = soft > 0.5 if infrared is not None else np.stack([_confident(m) for m in soft])
    holes = np.stack([ndimage.binary_dilation(m, structure=grow) for m in found])
    if mask is not None:
        holes &= np.asarray(mask)[None] > 0
    hole = holes.any(axis=0)
    if report is not None:
        report["defects"] = hole.astype(np.float32)
    if not hole.any():
        prog.update(1.0)
        return image.copy()
    # Inpaint's own defaults for everything but the method.
    filled = _inpaint(image, method=method, mask=hole.astype(np.float32),
                      progress=prog.span(0.5, 1.0))
    if len(holes) == 2:
        # A dark defect only ever darkens: its repair may only brighten
        # (and the reverse for bright ones), so a false alarm on real dark
        # detail cannot be filled with something darker still.
        dark, bright = holes[0] & ~holes[1], holes[1] & ~holes[0]
        filled[dark] = np.maximum(filled[dark], image[dark])
        filled[bright] = np.minimum(filled[bright], image[bright])
    prog.update(1.0)
    return filled
