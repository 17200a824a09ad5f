"""Find and remove dust specks, hairs and scratches.

``detect-defects`` returns a soft mask of surface damage; ``remove-defects``
detects and fills it with the inpainting engine in one step.
:func:`detect_infrared` finds the same damage in the infrared plane of an
RGBI film scan, where it is far easier to see (see its notes).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Any, Literal

import numpy as np
from scipy import ndimage

from ..errors import ParameterError
from ..progress import Progress
from ..registry import Param, operation
from ..tiles import workers
from ._defects_concentric import concentric_reach, spare_concentric
from ._defects_net import VIEWS, averaged_logits, decision_level, net_input, reach
from ._defects_noise import estimate_noise, plane
from ._memo import PixelMemo
from ._regions import hole_areas, region_extents, region_max
from .inpaint import CONTEXT, DIFFUSION_MARGIN, fill_damage

__all__ = ["detect_defects", "detect_infrared", "estimate_damage_share", "estimate_noise",
           "fill_defects", "remove_defects"]

#: Removal is more cautious: a detected component is filled only if its
#: most confident pixel reaches this probability (at sensitivity 0.5).
#: Filling a false alarm erases real detail (window bars, tripod legs and
#: wires look exactly like scratches), while a missed speck is only left
#: as it was. On held-out CBSD68/BSD68/McMaster photographs, 0.95 against
#: 0.9 kept light-damage removal (34.35 / 34.34 dB), cost heavy damage
#: 0.28 dB and left undamaged photographs far less touched (51.6 / 45.8 dB).
REMOVE_LEVEL = 0.95
#: Largest noise deviation (0–1 scale, as measured) the network was fitted
#: on; noisier images are judged at this level with their evidence
#: discounted by :data:`NOISE_DISCOUNT` log-odds per e-fold of extra noise.
NOISE_FITTED = 8 / 255
NOISE_DISCOUNT = 4.0
#: Change of the decision log-odds per unit of sensitivity.
SENSITIVITY_GAIN = 6.0
#: Damage prior. A dusty scan makes a doubtful mark likelier to be dust, a
#: clean one likelier to be detail: the decision level moves with the share
#: of the image the network marks with confidence (log-odds above
#: :data:`SHARE_LOGIT`), by :data:`PRIOR_SLOPE` units of sensitivity per
#: decade of that share around :data:`PRIOR_REF`, at most
#: :data:`PRIOR_SPAN` either way. Fitted on 20
#: CBSD68 and 20 BSD68 photographs with no damage and with 0.5, 1, 2 and 4
#: times the benchmark's light damage (the sensitivity that served each
#: best rose from about 0.3 on undamaged photos to 0.6 at the heaviest
#: damage); none of them is in the benchmark sets.
SHARE_LOGIT = 2.0
PRIOR_REF = 0.01
PRIOR_FLOOR = 1e-4
PRIOR_SLOPE = 0.15
PRIOR_SPAN = 0.2
#: The share is measured on the whole image up to this many pixels, and
#: on a 3 × 3 grid of :data:`SHARE_CROP` px squares spread over larger ones.
SHARE_AREA = 1 << 20
SHARE_CROP = 512
#: Below this many pixels (a small selection with its margin) there is too
#: little to judge the share from: :data:`PRIOR_REF` is assumed, which
#: leaves the level where it was fitted.
SHARE_MIN_AREA = 128 * 128
#: Largest speck diameter (px) the full-resolution detector is built for;
#: larger `max_size` adds half-resolution levels.
NATIVE_SIZE = 16
#: A detected component is a line when it is at most this wide (px) ...
LINE_WIDTH = 6.0
#: ... and at least this many times longer than wide.
LINE_ELONGATION = 4.0
#: Where lines branch or cross they are wider: a component up to this wide
#: at its widest is a line when its typical width is a line's.
BRANCHED_WIDTH = 12.0
#: A component whose holes make up less than this share of it filled is a
#: blob with a hole (a pupil round its catch-light), measured whole; more,
#: and it is a loop (a curled hair).
PLUGGED_HOLE = 0.25
#: ... when, filled, it covers at least this share of its bounding square
#: (a disc covers 0.785).
PLUGGED_ROUND = 0.5
#: A detected component lying wholly within this many px of the image's
#: edge is taken for the frame: scans and copy-stand shots carry the print's
#: edge, a mat or the film rebate as a thin dark or bright band along the
#: border, which looks like a scratch but is part of the picture. Damage
#: that reaches the edge also reaches further in.
FRAME_BAND = 3
#: Log-odds of a polarity that is not sought (probability ~1e-13).
_NEVER = -30.0

Polarity = Literal["both", "dark", "bright"]
Kinds = Literal["both", "spots", "lines"]

_SENSITIVITY = Annotated[float, Param(
    "How readily marks are taken for damage: higher finds fainter specks and "
    "scratches but also mistakes more image detail for damage. It works on top "
    "of the measured damage share: a clean photo is judged more strictly than a "
    "dusty scan.",
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
_SHARE = Annotated[float | None, Param(
    "Share of the image confidently marked as damage; it sets how readily "
    "doubtful marks are taken too (on a dusty scan a faint mark is likelier "
    "dust, on a clean one detail). Leave empty to measure it (recommended).",
    min=0.0, max=1.0, step=0.0001, advanced=True)]
_NOISE = Annotated[float | None, Param(
    "Standard deviation of the film grain or scanner noise on the 0–1 scale; "
    "leave empty to measure it from the image (recommended).",
    min=0.0, max=0.25, step=0.001, advanced=True)]
#: Default number of network passes (turned or mirrored views averaged,
#: :func:`~photomend.ops._defects_net.averaged_logits`). On the benchmark
#: (seed 2024) four against one: F1 0.723 / 0.807 against 0.695 / 0.793
#: (light / heavy damage), removal 34.01 / 29.23 against 33.64 / 29.20 dB,
#: undamaged photos 46.25 dB (22 of 36 untouched) against 43.44 dB (11)
#: (PSNRs of the mean squared error over the photos), for about 3.9 s more
#: detection per megapixel on two cores (a 6 MP scan: 63 s against 44 s to
#: remove light damage). Eight gain little more (0.732 / 0.810,
#: 33.96 / 29.27 dB, 46.54 dB) for twice the time.
PASSES = 4
_PASSES = Annotated[int, Param(
    "How many times the detector looks at the image, turned or mirrored "
    "differently each time, its judgements averaged: more passes miss less "
    "and mistake less detail for damage, and each costs one more detection "
    "time (1 is fastest, 8 most thorough). Not used with an infrared plane.",
    min=1, max=len(VIEWS), step=1)]
_DAMAGE = Annotated[np.ndarray | None, Param(
    "Damage mask (H, W) in [0, 1], e.g. a Detect Dust and Scratches result "
    "touched up by hand, or a layer painted white where the damage is: "
    "nothing is then detected, and exactly the pixels above 0.5 are filled.",
    kind="array", layer="plane")]
#: detect-defects' mask is 0 where the chance of damage is below this, so
#: that the mask used as a selection (for Inpaint) leaves the photo alone
#: away from the marks.
MASK_FLOOR = 0.05
#: Largest infrared noise accepted (the lost share's deviation; 1 = all of it).
INFRARED_NOISE_MAX = 1.0
#: A given damage area thicker than this (px, area over extent) is wide:
#: the tiles' margin holds it whole.
THIN_DAMAGE = 8
_INFRARED_NOISE = Annotated[float | None, Param(
    "Noise of the infrared plane: standard deviation of the share of infrared "
    "light lost, on the 0–1 scale; leave empty to measure it from the plane "
    "(recommended). Used only with an infrared plane.",
    min=0.0, max=INFRARED_NOISE_MAX, step=0.001, advanced=True)]
_INFRARED = Annotated[np.ndarray | None, Param(
    "Infrared plane (H, W) of an RGBI film scan, same size as the image "
    "(an RGBI TIFF's own is used by itself; in a host: the layer holding it): "
    "damage is then found in it instead of in the colours.",
    kind="array", layer="plane")]


def _levels(max_size: int) -> int:
    """Half-resolution levels needed for specks up to `max_size` px."""
    return max(0, math.ceil(math.log2(max_size / NATIVE_SIZE))) if max_size > NATIVE_SIZE else 0


def _infrared_reach(max_size: int) -> int:
    """Pixels around a pixel that :func:`detect_infrared` reads to judge it."""
    # A closing (dilation then erosion) of max_size + 3 px, a 5 px median
    # and a 3 px dilation.
    return 2 * ((int(max_size) + 3) // 2) + 2 + 1


def _halo(params: Mapping[str, Any]) -> int:
    if params.get("infrared") is not None:
        return _infrared_reach(int(params["max_size"])) + 2
    max_size = int(params["max_size"])
    # The network's reach around each speck, and the circles around a
    # speck that tell a pupil from dust (read around its centre, which may
    # lie that far from a catch-light it spares), rounded up to a whole
    # number of the coarsest level's pixels so that tiles subsample as
    # the whole image does.
    step = 2 ** _levels(max_size)
    halo = max(reach() * step + max_size + 4, concentric_reach(max_size))
    return -(-halo // step) * step


def _remove_halo(params: Mapping[str, Any]) -> int:
    # The patch fill looks up to inpaint's default context around each
    # hole; the diffusion fill only a few pixels (its stencils). A given
    # mask may hold wide areas: a tile must see the whole of each.
    damage = params.get("damage")
    found = _halo(params) if damage is None else _wide_extent(damage)
    context = DIFFUSION_MARGIN if params.get("method") == "diffusion" else CONTEXT
    return found + context + 2


def _wide_extent(damage: np.ndarray) -> int:
    """Return the largest extent (px) of the wide areas a damage mask marks.

    Thin marks (specks, hairs, scratches: at most :data:`THIN_DAMAGE` px
    thick on average) are filled from a few pixels around each part of
    them, so a tile may cut them; a wide area is filled as a whole, so
    the tiles' margin must hold it.
    """
    hole = np.asarray(damage) > 0.5
    if hole.ndim == 3:
        hole = hole[..., 0]
    labels, count = ndimage.label(hole, structure=np.ones((3, 3), bool))
    if count == 0:
        return 0
    area = np.bincount(labels.ravel(), minlength=count + 1)
    widest = 0
    for i, box in enumerate(ndimage.find_objects(labels), start=1):
        if box is None:
            continue
        extent = max(box[0].stop - box[0].start, box[1].stop - box[1].start)
        if area[i] > THIN_DAMAGE * extent:
            widest = max(widest, extent)
    return widest


def _infrared_loss(infrared: np.ndarray, max_size: int) -> np.ndarray:
    """Return the share of infrared light lost against the local background."""
    size = int(max_size) + 3
    background = ndimage.grey_closing(infrared, size=(size, size), mode="reflect")
    background = ndimage.median_filter(background, size=5, mode="reflect")
    return 1.0 - infrared / np.maximum(background, 1e-3)


def _prepare(image: np.ndarray, params: dict[str, Any]) -> dict[str, Any]:
    """Measure noise and damage share once on the area worked on, so that tiles agree.

    A given damage mask is checked here, on the whole area worked on
    (tiles may well hold none of it).
    """
    damage = params.get("damage")
    if damage is not None:
        _only_one_source(params.get("infrared"))
        hole = _given_damage(damage, image.shape)
        if not hole.any():
            msg = ("remove-defects: the damage mask marks no pixel of the area worked on "
                   "(values above 0.5 are damage); leave it out to detect the damage "
                   "instead, or select where the damage is")
            raise ParameterError(msg)
        if hole.all():
            msg = ("remove-defects: the damage mask marks every pixel of the area worked "
                   "on, so nothing is left to fill it from; mark only the damage")
            raise ParameterError(msg)
        return {}
    infrared = params.get("infrared")
    if infrared is not None:
        if params.get("infrared_noise") is not None:
            return {}
        ir = _whole_image_plane(infrared, image.shape, "infrared plane")
        # (a wrong layer taken for the plane can measure above the slider's range)
        sigma = estimate_noise(_infrared_loss(ir, int(params["max_size"])))
        return {"infrared_noise": min(sigma, INFRARED_NOISE_MAX)}
    out: dict[str, Any] = {}
    noise = params.get("noise")
    if noise is None:
        noise = out["noise"] = estimate_noise(plane(image, True))
    if params.get("damage_share") is None and params.get("infrared") is None:
        out["damage_share"] = estimate_damage_share(
            image, noise=noise, polarity=params["polarity"], max_size=int(params["max_size"]),
            passes=int(params.get("passes", PASSES)))
    return out


def _share_boxes(height: int, width: int) -> list[tuple[slice, slice]]:
    """Return the whole image, or a 3 × 3 grid of squares spread over a large one."""
    if height * width <= SHARE_AREA or min(height, width) < 2 * SHARE_CROP:
        return [(slice(0, height), slice(0, width))]
    count = 3
    ys = np.linspace(0, height - SHARE_CROP, count).round().astype(int)
    xs = np.linspace(0, width - SHARE_CROP, count).round().astype(int)
    return [(slice(y, y + SHARE_CROP), slice(x, x + SHARE_CROP)) for y in ys for x in xs]


def estimate_damage_share(image: np.ndarray, *, noise: float | None = None,
                          polarity: Polarity = "both", max_size: int = 16,
                          passes: int = PASSES) -> float:
    """Return the share of pixels the detector marks as damage with confidence.

    Parameters
    ----------
    image : ndarray
        float32 ``(H, W, C)`` perceptual pixels.
    noise : float, optional
        Noise standard deviation (0–1 scale); measured when None.
    polarity : {'both', 'dark', 'bright'}
        Which defects count.
    max_size : int
        Largest speck diameter in px, as for :func:`detect_defects`.
    passes : int
        Network passes, as for :func:`detect_defects`.

    Returns
    -------
    float
        Fraction in [0, 1] of pixels whose damage log-odds exceed
        :data:`SHARE_LOGIT`, in marks that pass the shape rules of
        :func:`detect_defects` (specks up to `max_size`, lines, not on the
        frame). Each polarity's marks are judged on their own, as in
        detection. :data:`PRIOR_REF` for images under
        :data:`SHARE_MIN_AREA` pixels, too small to judge.

    Notes
    -----
    The operations measure the share on the area they work on: the whole
    image, or a selection with its margin (a small selection then gets the
    neutral :data:`PRIOR_REF`). A recipe saved "as run" records the share
    of the image it ran on; replayed on a batch it applies that share to
    every scan, so leave it out of a batch recipe when the scans differ in
    how damaged they are.

    Images up to :data:`SHARE_AREA` pixels (or narrower than two squares)
    are read whole. Larger ones are sampled on an even 3 × 3 grid of
    :data:`SHARE_CROP` px squares (2.4 Mpx in all), counting each square's
    inside only, since the network's context is cut at a square's edge:
    dust is spread over a scan much as over these squares, and the cost
    stays that of a few megapixels whatever the scan's size.
    """
    h, w = image.shape[:2]
    if h * w < SHARE_MIN_AREA:
        return PRIOR_REF
    sigma = estimate_noise(plane(image, True)) if noise is None else max(noise, 1e-4)
    boxes = _share_boxes(h, w)
    levels = _levels(max_size)
    cut = reach() * 2**levels if len(boxes) > 1 else 0
    default_level = _threshold_logit(0.5, decision_level())

    def count(box: tuple[slice, slice]) -> tuple[int, int]:
        z, _ = _whole_logits(image[box], sigma, polarity, levels, passes)
        # Marks the shape rules reject (big blobs, the frame) are not damage;
        # each polarity is judged on its own, as in detection.
        sure = np.zeros(z.shape[1:], dtype=bool)
        for zp in z:
            sure |= _shape_filter((zp > SHARE_LOGIT).astype(np.float32), max_size, "both",
                                  extent=zp > default_level) > 0.5
        inside = sure[cut:z.shape[1] - cut, cut:z.shape[2] - cut]
        return int(np.count_nonzero(inside)), inside.size

    # The squares of a large scan are read side by side (the network's
    # products release the GIL).
    with ThreadPoolExecutor(max_workers=min(workers(), len(boxes))) as pool:
        counts = list(pool.map(count, boxes))
    return sum(m for m, _ in counts) / max(sum(t for _, t in counts), 1)


#: The network's log-odds of the last few whole images (up to
#: :data:`SHARE_AREA` pixels): measuring the share and detecting then read
#: the network once. Read-only arrays.
_LOGITS: PixelMemo[tuple[np.ndarray, np.ndarray]] = PixelMemo(2)


def _whole_logits(image: np.ndarray, sigma: float, polarity: Polarity,
                  levels: int, passes: int) -> tuple[np.ndarray, np.ndarray]:
    """Return :func:`_pyramid_logits`, remembered for images up to SHARE_AREA pixels."""
    if image.shape[0] * image.shape[1] > SHARE_AREA:
        return _pyramid_logits(image, sigma, polarity, levels, passes)
    key = _LOGITS.key(image, float(sigma), polarity, levels, int(passes))
    z = _LOGITS.get(key)
    if z is None:
        z = _pyramid_logits(image, sigma, polarity, levels, passes)
        for part in z:
            part.setflags(write=False)
        _LOGITS.put(key, z)
    return z


def _prior_shift(share: float) -> float:
    """Log-odds by which the decision level drops for an image's damage share."""
    decades = math.log10((max(share, 0.0) + PRIOR_FLOOR) / (PRIOR_REF + PRIOR_FLOOR))
    return SENSITIVITY_GAIN * min(PRIOR_SPAN, max(-PRIOR_SPAN, PRIOR_SLOPE * decades))


def _threshold_logit(sensitivity: float, base: float) -> float:
    """Log-odds above which a pixel is damage."""
    return math.log(base / (1 - base)) - SENSITIVITY_GAIN * (sensitivity - 0.5)


def _logits(image: np.ndarray, sigma: float, polarity: Polarity, passes: int) -> np.ndarray:
    """Return the network's damage log-odds ``(2, H, W)``: dark, bright.

    The mean over `passes` turned or mirrored views
    (:func:`~photomend.ops._defects_net.averaged_logits`). A polarity that
    is not wanted gets :data:`_NEVER`.
    """
    # Beyond the noise levels it was fitted on, the network sees the
    # largest one, and its evidence is discounted: contrasts measured in
    # noise deviations shrink as the noise grows.
    z = averaged_logits(net_input(image, min(sigma, NOISE_FITTED)), passes)
    if sigma > NOISE_FITTED:
        z -= np.float32(NOISE_DISCOUNT * math.log(sigma / NOISE_FITTED))
    if polarity == "dark":
        z[1] = _NEVER
    elif polarity == "bright":
        z[0] = _NEVER
    return z


def _half(image: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    v = np.pad(image, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    return v.reshape(v.shape[0] // 2, 2, v.shape[1] // 2, 2, -1).mean(axis=(1, 3))


def _pyramid_logits(image: np.ndarray, sigma: float, polarity: Polarity,
                    levels: int, passes: int) -> tuple[np.ndarray, np.ndarray]:
    """Log-odds at full resolution, plus coarser levels for big specks.

    Returns the log-odds of all levels together (the largest at each
    pixel) and those of the full-resolution level alone (the same array
    when there are no coarser levels): lines are judged on the latter,
    since a coarse level widens them.
    """
    fine = _logits(image, sigma, polarity, passes)
    z = fine
    small, scale, s = image, 1, sigma
    for _ in range(levels):
        small, scale, s = _half(small), scale * 2, s / 2  # 2×2 means halve the noise
        if min(small.shape[:2]) < 8:
            break
        coarse = _logits(small, s, polarity, passes)
        up = np.repeat(np.repeat(coarse, scale, axis=1), scale, axis=2)
        if z is fine:
            z = fine.copy()
        np.maximum(z, up[:, : z.shape[1], : z.shape[2]], out=z)
    return z, fine


def _soft_mask(z: np.ndarray, sensitivity: float, base: float, shift: float = 0.0
               ) -> np.ndarray:
    """Shift the log-odds so that 0.5 is the decision level (lowered by `shift`)."""
    level = _threshold_logit(sensitivity, base) - shift
    shifted = np.clip(z - np.float32(level), -30.0, 30.0)
    return (1.0 / (1.0 + np.exp(-shifted))).astype(np.float32)


def _edge_distance(shape: tuple[int, ...]) -> np.ndarray:
    """Return each pixel's distance (px) to the nearest edge of an image of `shape`."""
    h, w = shape[:2]
    rows = np.minimum(np.arange(h), np.arange(h)[::-1])
    cols = np.minimum(np.arange(w), np.arange(w)[::-1])
    return np.minimum(rows[:, None], cols[None, :])


def _shape_filter(soft: np.ndarray, max_size: int, kinds: Kinds,
                  extent: np.ndarray | None = None,
                  fine: np.ndarray | None = None) -> np.ndarray:
    """Drop detected components of the wrong kind, too big to be specks or on the frame.

    `extent`, if given, marks where the damage is judged at a more lenient
    level: shapes are measured there, since a strict level sees only the
    core of a big blob, small enough to pass for a speck.

    `fine`, if given, marks what the full-resolution level alone found
    (when coarser levels seek big specks): a component whose part there
    is a line is a line, kept to that part and the pixel around it, since
    the coarse levels widen cracks, hairs and scratches into bands.

    Tiles need no special care for the frame rule: a component within
    :data:`FRAME_BAND` px of a tile's inner edge lies in its halo, whose
    result is not kept.
    """
    found = soft > 0.5
    if extent is not None:
        found = found | extent
    labels, count = ndimage.label(found, structure=np.ones((3, 3), bool))
    if count == 0:
        return soft
    depth = ndimage.distance_transform_edt(found)
    width = 2.0 * region_max(depth, labels, count, found)[1:] - 1.0
    area = np.bincount(labels.ravel(), minlength=count + 1)[1:].astype(np.float64)
    length = area / np.maximum(width, 1.0)
    # A round blob round a small hole (a pupil round its catch-light) is a
    # blob, judged whole; a loop (a curled hair) encloses much more than it
    # covers, and a crack network's cells spread it far beyond a disc.
    holes = hole_areas(labels, count)[1:]
    plugged = (holes > 0) & (holes < PLUGGED_HOLE * (area + holes))
    if plugged.any():
        extent = region_extents(labels, count)
        plugged &= area + holes >= PLUGGED_ROUND * extent * extent
    is_line = (width <= LINE_WIDTH) & (length >= LINE_ELONGATION * np.maximum(width, 1.0))
    # Where cracks branch or hairs cross, lines are wider (up to
    # BRANCHED_WIDTH): a long component that wide is lines when its typical
    # width, the median depth along its ridge, is a line's.
    branched = ((width > LINE_WIDTH) & (width <= BRANCHED_WIDTH)
                & (length >= LINE_ELONGATION * width))
    if branched.any():
        ridge = found & (depth >= ndimage.maximum_filter(depth, size=3))
        ids = np.flatnonzero(branched) + 1  # only the candidates' medians
        typical = 2.0 * np.asarray(ndimage.median(depth, labels * ridge, index=ids)) - 1.0
        is_line[ids - 1] |= typical <= LINE_WIDTH
    is_line &= ~plugged
    widened = np.zeros(count, bool)
    if fine is not None:
        core = found & fine
        core_area = np.bincount(labels[core], minlength=count + 1)[1:].astype(np.float64)
        core_width = 2.0 * region_max(ndimage.distance_transform_edt(core), labels, count,
                                      core)[1:] - 1.0
        core_length = core_area / np.maximum(core_width, 1.0)
        widened = ((core_area > 0) & (core_width <= LINE_WIDTH) & ~is_line
                   & (core_length >= LINE_ELONGATION * np.maximum(core_width, 1.0)))
        is_line |= widened
    keep = np.ones(count, bool)
    if kinds == "spots":
        keep &= ~is_line
    elif kinds == "lines":
        keep &= is_line
    # A compact speck's size is the larger of its widest inscribed disc and
    # the disc of equal area (a ragged detection of a big blob has a small
    # inscribed disc; its soft edge may add a pixel on either side).
    # Elongated clusters (a hair across a speck) are judged by width alone.
    compact = (length < LINE_ELONGATION * np.maximum(width, 1.0)) | plugged
    size = np.where(compact, np.maximum(width, 2.0 * np.sqrt((area + holes) / np.pi) - 2.0),
                    width)
    keep &= is_line | (size <= max_size)
    inward = region_max(_edge_distance(soft.shape), labels, count, found)[1:]
    keep &= inward >= FRAME_BAND
    if fine is not None and (widened & keep).any():
        # a widened line keeps its full-resolution part and the pixel around it
        band = np.concatenate([[False], widened & keep])[labels]
        soft = np.where(band & ~ndimage.binary_dilation(found & fine), np.float32(0.0), soft)
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
    base = decision_level()
    shift = math.log(REMOVE_LEVEL / (1 - REMOVE_LEVEL)) - math.log(base / (1 - base))
    level = 1.0 / (1.0 + math.exp(-shift))
    peak = region_max(soft, labels, count, found)[1:]
    return np.concatenate([[False], peak > level])[labels]


def fill_defects(image: np.ndarray, hole: np.ndarray, method: str = "auto",
                 progress: Progress | None = None,
                 needed: np.ndarray | None = None) -> np.ndarray:
    """Fill detected damage as :func:`remove_defects` does.

    Parameters
    ----------
    image : ndarray
        float32 ``(H, W, C)`` perceptual pixels.
    hole : ndarray
        bool ``(H, W)``: the damaged pixels.
    method : {'auto', 'diffusion', 'patch'}
        Fill method of :func:`~photomend.ops.inpaint.inpaint`.
    progress : Progress, optional
        Progress reporting and cancellation.
    needed : ndarray, optional
        bool ``(H, W)``: where the result is used; damage not reaching it
        gets only the diffusion fill.

    Returns
    -------
    ndarray
        float32 ``(H, W, C)`` copy with the damage filled.

    Notes
    -----
    This is inpaint's fill without its self-test for thin damage: thin
    textured damage gets the fixed half-and-half blend of the patch and
    diffusion fills. Specks, hairs and scratches are filled as well that
    way (on the remove-defects benchmark, 24 Kodak24 and 12 Set12 photos,
    light and heavy damage: 34.19 / 29.67 dB against 34.20 / 29.66 dB with
    the self-test), and the removal takes about 40 % less time. The price
    is paid on false alarms: undamaged photos come back at 44.17 dB
    instead of 44.42 dB, as more copied texture goes into detail wrongly
    taken for damage. (Painted strokes, where the learnt share is worth
    0.35 dB, keep the self-test in inpaint.)
    """
    prog = progress if progress is not None else Progress()
    return fill_damage(image, hole, method, prog, needed, self_test=False)


def detect_infrared(infrared: np.ndarray, *, sensitivity: float = 0.5,
                    max_size: int = 64, noise: float | None = None) -> np.ndarray:
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
    noise : float, optional
        Standard deviation of the lost share in undamaged film (0–1
        scale); measured from `infrared` when None. Tiles of one scan pass
        the whole scan's, so that they agree.

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
    loss = _infrared_loss(ir, max_size)
    sigma = estimate_noise(loss) if noise is None else float(noise)
    k = 8.0 - 6.0 * float(sensitivity)
    floor = 0.12 - 0.1 * float(sensitivity)
    level = max(k * sigma, floor)
    soft = 1.0 / (1.0 + np.exp(-(loss - level) / max(level * 0.15, 1e-4)))
    grown = ndimage.grey_dilation(soft, size=(3, 3), mode="nearest")
    return grown.astype(np.float32)


def _detect(image: np.ndarray, sensitivity: float, max_size: int, polarity: Polarity,
            kinds: Kinds, noise: float | None, infrared: np.ndarray | None,
            share: float | None, infrared_noise: float | None = None,
            passes: int = PASSES) -> np.ndarray:
    """Return soft masks ``(2, H, W)`` of dark and bright damage, or ``(1, H, W)``.

    The single plane is the infrared detection, whose polarity in the
    colours is unknown.
    """
    if infrared is not None:
        ir = _whole_image_plane(infrared, image.shape, "infrared plane")
        soft = detect_infrared(ir, sensitivity=sensitivity, max_size=max_size,
                               noise=infrared_noise)[None]
    else:
        sigma = estimate_noise(plane(image, True)) if noise is None else max(noise, 1e-4)
        z, fine = _whole_logits(image, sigma, polarity, _levels(max_size), passes)
        if share is None:  # a direct call on the whole image; the engine measures first
            share = estimate_damage_share(image, noise=sigma, polarity=polarity,
                                          max_size=max_size, passes=passes)
        shift = _prior_shift(share)
        soft = _soft_mask(z, sensitivity, decision_level(), shift)
        # Shapes are judged at the default level when the level in use is stricter.
        lenient = min(_threshold_logit(sensitivity, decision_level()) - shift,
                      _threshold_logit(0.5, decision_level()))
        level = _threshold_logit(sensitivity, decision_level()) - shift
        shaped = np.stack([_shape_filter(m, max_size, kinds, extent=zp > lenient,
                                         fine=None if fz is zp else fz > level)
                           for m, zp, fz in zip(soft, z, fine, strict=True)])
        return spare_concentric(image, shaped, max_size, sigma)
    return np.stack([_shape_filter(m, max_size, kinds) for m in soft])


def _whole_image_plane(values: np.ndarray, shape: tuple[int, ...], what: str) -> np.ndarray:
    """Check a per-pixel plane given with the image; return it as float32 ``(H, W)``.

    Such planes are given for the whole image; the engine hands each tile
    (and a selection's box) its own part of them
    (:meth:`~photomend.registry.OperationSpec.crop_planes`).
    """
    plane_ = np.asarray(values, dtype=np.float32)
    if plane_.ndim == 3 and plane_.shape[-1] == 1:
        plane_ = plane_[..., 0]
    if plane_.shape != tuple(shape[:2]):
        msg = (f"{what} has shape {plane_.shape}, but the image is {shape[0]}×{shape[1]}; "
               "give one value per pixel of the whole image")
        raise ParameterError(msg)
    if not np.isfinite(plane_).all():
        msg = f"{what} holds NaN or infinite values"
        raise ParameterError(msg)
    return plane_


def _only_one_source(infrared: np.ndarray | None) -> None:
    """Refuse an infrared plane given along with a damage mask."""
    if infrared is not None:
        msg = "remove-defects: give either a damage mask or an infrared plane, not both"
        raise ParameterError(msg)


def _given_damage(damage: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Check a damage mask given to remove-defects; return where it is above 0.5.

    A mask marking nothing here is no error: a tile, or a selection, may
    hold none of the damage (the engine checks the whole area first, in
    :func:`_prepare`).
    """
    return _whole_image_plane(damage, shape, "remove-defects: the damage mask") > 0.5


@operation("detect-defects", label="_Detect Dust and Scratches", menu="Repair",
           output="mask", local=True, halo=_halo, prepare=_prepare, scan_infrared="infrared")
def detect_defects(
    image: np.ndarray,
    *,
    sensitivity: _SENSITIVITY = 0.5,
    max_size: _MAX_SIZE = 16,
    polarity: _POLARITY = "both",
    kinds: _KINDS = "both",
    passes: _PASSES = PASSES,
    noise: _NOISE = None,
    damage_share: _SHARE = None,
    infrared: _INFRARED = None,
    infrared_noise: _INFRARED_NOISE = None,
) -> np.ndarray:
    """Mark dust specks, hairs and scratches as a mask.

    Image detail (fabric, fine hair, most lettering, pupils and the
    catch-lights in them) is told apart from surface damage by its shape,
    its contrast against the surrounding texture and the noise level,
    measured at several scales. Stars on a night sky look like bright
    dust on a negative and are often marked: use ``polarity='dark'`` on
    such pictures.

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
    passes : int
        1–8 network passes over turned or mirrored views, averaged
        (:func:`~photomend.ops._defects_net.averaged_logits`): each costs
        one more detection time. Not used with an infrared plane.
    noise : float, optional
        Noise standard deviation (0–1 scale); measured when None.
    damage_share : float, optional
        Share of pixels confidently marked as damage
        (:func:`estimate_damage_share`); measured when None. Not used with
        an infrared plane.
    infrared : ndarray, optional
        ``(H, W)`` infrared plane of an RGBI scan; if given, damage is found
        in it (:func:`detect_infrared`) instead of in the colours.
    infrared_noise : float, optional
        Noise of the infrared plane (see :func:`detect_infrared`); measured
        once on the area worked on when None.

    Returns
    -------
    ndarray
        float32 ``(H, W)`` soft mask in [0, 1]: above 0.5 is damage, and
        exactly 0 where the chance of damage is under :data:`MASK_FLOOR`.

    Notes
    -----
    A small convolutional network (:mod:`~photomend.ops._defects_net`, a
    context-aggregation network [1]_: eight dilated 3 × 3 layers of 16
    channels, each pixel judged from a 69 × 69 px neighbourhood) reads the
    brightness, two opponent colour planes and the noise level σ measured
    by :func:`estimate_noise`, and gives every pixel a probability of dark
    and of bright damage. Seeing the neighbourhood, it learns what
    hand-made detectors cannot weigh together: a compact blob or a thin
    line that is darker (or brighter) than its surroundings, neutral in
    colour and soft-edged like a speck out of the focal plane, against
    the texture and noise around it, so catch-lights, fabric and hair
    detail stay unmarked. It was fitted on photographs aged with
    :mod:`photomend.synth` (``_defects_train.py``), none of them from the
    benchmark sets, like the learned scratch detector of Wan et al. [2]_.
    The probability, shifted by `sensitivity` in log-odds around the
    level that maximised F1 on held-out photographs, is the soft mask.
    The level also follows a prior on how damaged the photo is: the share
    of pixels the network marks with confidence
    (:func:`estimate_damage_share`, measured once on the area worked on).
    On a dusty scan a doubtful mark is likelier to be dust, on a clean
    photo likelier to be detail, so the level moves by
    :data:`PRIOR_SLOPE` units of sensitivity per decade of the share
    around :data:`PRIOR_REF`, at most :data:`PRIOR_SPAN` either way.
    Shapes are judged at the default level when the level in use is
    stricter: a strict level sees only the core of a big blob, which would
    then pass for a speck.
    Specks wider than `max_size` are dropped; for `max_size` above 16 px
    the network also runs on 2×, 4× averaged copies. With `kinds`, each
    connected component is a line when it is at most 6 px wide and at
    least four times longer than wide. A component lying wholly within
    3 px of the image's edge (:data:`FRAME_BAND`) is taken for the frame
    (print edge, mat, film rebate) and left alone. A round speck at the
    centre of a round rim, crossed the same way (darker to lighter, or
    the reverse) in at least 12 of 16 directions and parted from the
    speck by a plainer band, is a pupil in its iris (or a flower's
    heart, a rivet): it is left alone, and so is a speck of the other
    polarity in it, a catch-light
    (:func:`~photomend.ops._defects_concentric.spare_concentric`). Dust
    rarely lands on the centre of a small round object, so on 20 CBSD68
    photographs with synthetic dust F1 moved by under 0.001; textured
    irises (close-up human eyes) often show no such rim and are not
    spared.

    The network has no pooling, so the operation tiles exactly (each tile
    with a margin of 34 px, more where the rim test reads further; for
    `max_size` above 16 px, tiles a whole number of the coarsest level's
    pixels wide, as the default 1024 px is); the
    noise level is measured once on the whole image first. With an
    infrared plane the same holds: each tile gets its part of the plane,
    and the plane's noise is measured once. The shape rules are the
    exception: a mark longer than the margin, cut by a tile's edge, is
    judged by its part in the tile. Usually that changes nothing, but a
    long scratch with a blob on it may pass for a big blob in a short
    stretch (on a 2000 × 3000 px test scan with 3000 specks, 150 hairs
    and 40 scratches, 100 px of one scratch were dropped so, and nothing
    else differed from one pass); with `kinds` 'spots' or 'lines' a cut
    line may pass for a speck too.

    References
    ----------
    .. [1] F. Yu, V. Koltun, "Multi-scale context aggregation by dilated
       convolutions", ICLR 2016.
    .. [2] Z. Wan, B. Zhang, D. Chen, P. Zhang, D. Chen, J. Liao, F. Wen,
       "Bringing old photos back to life", CVPR 2020.
    """
    soft = _detect(image, sensitivity, max_size, polarity, kinds, noise, infrared,
                   damage_share, infrared_noise, passes).max(axis=0)
    # Nothing at all where damage is unlikely: the mask, touched up and
    # made a selection for Inpaint, must not reach the rest of the photo.
    soft[soft < MASK_FLOOR] = 0.0
    return soft


@operation("remove-defects", label="_Remove Dust and Scratches", menu="Repair",
           local=True, halo=_remove_halo, prepare=_prepare, scan_infrared="infrared",
           scan_infrared_unless=("damage",))
def remove_defects(
    image: np.ndarray,
    *,
    sensitivity: _SENSITIVITY = 0.5,
    max_size: _MAX_SIZE = 16,
    polarity: _POLARITY = "both",
    kinds: _KINDS = "both",
    passes: _PASSES = PASSES,
    method: Annotated[Literal["auto", "diffusion", "patch"], Param(
        "How the damage is filled: 'diffusion' continues the surrounding "
        "colours smoothly (fast, best for specks and scratches), 'patch' "
        "copies texture from around, 'auto' picks per damaged region.")] = "auto",
    noise: _NOISE = None,
    damage_share: _SHARE = None,
    infrared: _INFRARED = None,
    infrared_noise: _INFRARED_NOISE = None,
    damage: _DAMAGE = None,
    mask: np.ndarray | None = None,
    progress: Progress | None = None,
    report: dict[str, Any] | None = None,
    keep: tuple[slice, slice] | None = None,
) -> np.ndarray:
    """Find dust specks, hairs and scratches and fill them in.

    The damage is found as by Detect Dust and Scratches and filled from its
    surroundings as by Inpaint. With a selection, only damage inside it is
    repaired. Undamaged photographs are left (almost) untouched. Given a
    damage mask (a detection touched up by hand), it only fills.

    Parameters
    ----------
    image : ndarray
        float32 ``(H, W, C)`` perceptual pixels.
    sensitivity, max_size, polarity, kinds, passes, noise, damage_share, infrared, infrared_noise
        As for :func:`detect_defects`.
    method : {'auto', 'diffusion', 'patch'}
        Fill method of :func:`~photomend.ops.inpaint.inpaint`.
    damage : ndarray, optional
        float ``(H, W)`` damage mask (e.g. an edited :func:`detect_defects`
        result): if given, nothing is detected and the pixels above 0.5
        are filled.
    mask : ndarray, optional
        float32 ``(H, W)`` selection; damage is sought only where it is > 0.
    progress : Progress, optional
        Progress reporting and cancellation.
    report : dict, optional
        Receives ``"defects"``: float32 ``(H, W)``, 1 where damage was
        filled (what a restorer can inspect and refine).
    keep : tuple of slice, optional
        Set by the engine when tiling: the rows and columns of this tile
        whose output is used. Damage wholly outside them gets only the
        quick diffusion fill (it is context for the kept pixels).

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
    while a missed speck is merely left as it was. The detected mask,
    which already takes in a speck's soft edge, is handed to
    :func:`fill_defects` (the inpainting engine), which fills damage in
    smooth surroundings with a thin-plate/membrane fill, blends in copied
    patches where the surroundings are textured and fills wide textured
    damage from patches. When tiling, damage wholly in a tile's margin
    gets the quick thin-plate fill only, since that part of the result is
    not kept. A dark defect only ever
    darkens the picture, so where dark damage was found the fill may only
    brighten (``max(fill, input)``), and where bright damage was found it
    may only darken: a false alarm on real dark detail is then left almost
    as it was instead of being painted over with something darker still.
    (With an infrared plane or a given damage mask the polarity is
    unknown and the fill is used as it is.)
    """
    prog = progress if progress is not None else Progress()
    if damage is not None:
        _only_one_source(infrared)
        holes = _given_damage(damage, image.shape[:2])[None]
    else:
        soft = _detect(image, sensitivity, max_size, polarity, kinds, noise, infrared,
                       damage_share, infrared_noise, passes)
        # The network marks a speck's soft edge as well (it was trained with
        # the one-pixel band around each defect unscored), so its mask is
        # filled as it is: growing it by a pixel cost 0.2-0.6 dB on held-out
        # photographs.
        holes = (soft > 0.5 if infrared is not None
                 else np.stack([_confident(m) for m in soft]))
    prog.update(0.5)
    if mask is not None:
        holes &= np.asarray(mask)[None] > 0
    hole = np.asarray(holes.any(axis=0))
    if report is not None:
        report["defects"] = hole.astype(np.float32)
    if not hole.any():
        prog.update(1.0)
        return image.copy()
    # Inpaint's own defaults for everything but the method.
    needed = None
    if keep is not None:
        needed = np.zeros(hole.shape, dtype=bool)
        needed[keep] = True
    filled = fill_defects(image, hole, method, prog.span(0.5, 1.0), needed)
    if len(holes) == 2:
        # A dark defect only ever darkens: its repair may only brighten
        # (and the reverse for bright ones), so a false alarm on real dark
        # detail cannot be filled with something darker still.
        dark, bright = holes[0] & ~holes[1], holes[1] & ~holes[0]
        filled[dark] = np.maximum(filled[dark], image[dark])
        filled[bright] = np.minimum(filled[bright], image[bright])
    prog.update(1.0)
    return filled
