"""Tell pupils and other round detail from dust specks.

Private helper of :mod:`photomend.ops.defects`. A speck inside a plain
band closed by a round rim, crossed the same way all round, is the centre
of a round structure: a pupil in its iris, the heart of a flower, a rivet.
Dust falls anywhere and almost never lands on the centre of a small round
object, so such specks are image content. The defect network sees 69 px
around each pixel but learnt from photographs with few close-up eyes, and
it takes pupils for dust (it filled the pupils of both parrots in a clean
Kodak photograph); this test spares them, and the catch-lights in them.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from ._regions import hole_areas, region_extents

__all__ = ["ANGLES", "CONCENTRIC_SHARE", "concentric_reach", "spare_concentric"]

#: Directions sampled around each speck.
ANGLES = 16
#: Specks tested at a time (bounds the memory of the sampled circles).
_CHUNK = 256
#: Share of the directions whose rims must lie on one circle for a speck to
#: be spared (a lid may hide the top of an iris, a catch-light part of it).
CONCENTRIC_SHARE = 0.75
#: Rim contrast needed (change across 2 px), at least (0-1 scale) and in
#: noise σ, and as a share of the speck's own edge.
MIN_CONTRAST = 0.06
NOISE_CONTRAST = 5.0
RIM_SHARE = 0.25
#: The speck's edge is the first peak of change of at least this share of
#: the largest change out to its radius plus EDGE_PAD px.
EDGE_SHARE = 0.5
#: Between the speck's edge and the rim, the change falls under this share
#: of the weaker of the two somewhere.
DIP_SHARE = 0.5
#: A direction's rim agrees with the circle fitted to all within this many
#: px, or this share of the circle's radius.
RIM_SLACK = 1.5
RIM_SLACK_SHARE = 0.15
#: Smallest speck radius (px, from its area) tested: round the tiniest
#: specks, texture alone often draws a rim.
MIN_RADIUS = 2.0
#: A speck is round enough to be a pupil when its area is at least this
#: share of its bounding square (a disc's is 0.785, a 2:1 ellipse's 0.39).
COMPACT = 0.35
#: The speck's own edge is sought out to its radius (from its area) plus
#: this many px: the mask may fall short of a pupil's edge.
EDGE_PAD = 3
#: The rim lies more than MIN_GAP px past the speck's edge and at most
#: BEYOND_SCALE times the speck's radius plus BEYOND_PAD px from its centre.
MIN_GAP = 4
BEYOND_SCALE, BEYOND_PAD = 5.0, 6.0


def concentric_reach(max_size: int) -> int:
    """Return how far (px) from a spared speck's pixels the test reads the image.

    The circles reach :data:`BEYOND_SCALE` r + :data:`BEYOND_PAD` + 2 px
    from a speck's centre (r at most `max_size` / 2 + 1), plus a pixel
    for interpolation. The centre lies within r px of the speck's pixels,
    and within 3 r + 2 px of those of a catch-light it spares (one no
    larger than such a speck, lying mostly within 2 px of it).
    """
    limit = max_size / 2.0 + 1.0
    return math.ceil(BEYOND_SCALE * limit + BEYOND_PAD) + 3 + math.ceil(3.0 * limit + 2.0)


def _profiles(image: np.ndarray, cy: np.ndarray, cx: np.ndarray, reach: int) -> np.ndarray:
    """Sample `image` on circles of radius 0, 1, …, `reach` px around each centre.

    Returns ``(K, reach + 1, ANGLES, C)`` for K centres.
    """
    theta = np.arange(ANGLES) * (2.0 * np.pi / ANGLES)
    rho = np.arange(reach + 1, dtype=np.float64)
    ys = cy[:, None, None] + rho[None, :, None] * np.sin(theta)[None, None, :]
    xs = cx[:, None, None] + rho[None, :, None] * np.cos(theta)[None, None, :]
    coords = np.stack([ys.ravel(), xs.ravel()])
    chans = [ndimage.map_coordinates(image[..., c], coords, order=1, mode="nearest")
             for c in range(image.shape[-1])]
    return np.stack(chans, axis=-1).reshape(len(cy), reach + 1, ANGLES, image.shape[-1])


def _rims(v: np.ndarray, r: np.ndarray, sigma: float,
          dark: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Find, per direction, the rim beyond each speck's own edge.

    `v` is :func:`_profiles` output; `dark` tells whether the specks are
    darker than their surroundings (their own edge then turns lighter
    outwards, and the fall from a catch-light at a pupil's centre is not
    it). Returns the rim's radius (px) and whether one was found, both
    ``(K, ANGLES)``.
    """
    reach = v.shape[1] - 1
    near = np.round(r).astype(int) + EDGE_PAD
    far = np.floor(BEYOND_SCALE * r + BEYOND_PAD).astype(int)
    # change across 2 px at radii 1 .. reach - 1, and where it peaks
    step = np.zeros(v.shape[:3])
    step[:, 1:-1] = np.linalg.norm(v[:, 2:] - v[:, :-2], axis=-1)
    outward = np.zeros(v.shape[:3])  # luminance change outwards, dark specks' way
    outward[:, 1:-1] = (v[:, 2:] - v[:, :-2]).mean(axis=-1) * (1.0 if dark else -1.0)
    radius = np.arange(reach + 1)[None, :, None]
    up = np.zeros(step.shape, bool)
    up[:, 1:-1] = (step[:, 1:-1] >= step[:, :-2]) & (step[:, 1:-1] >= step[:, 2:])
    # the speck's own edge: the first peak of change of at least EDGE_SHARE
    # of the largest out to its radius plus a few px, crossed from the
    # speck's tone to its surroundings'
    inside = (radius <= near[:, None, None]) & (outward > 0)
    strongest = np.where(inside, step, 0.0).max(axis=1, keepdims=True)
    edge_at = (inside & up & (step >= EDGE_SHARE * strongest)).argmax(axis=1)  # (K, A)
    edge = np.take_along_axis(step, edge_at[:, None], axis=1)
    # the rim: the next peak, more than MIN_GAP px further, strong enough
    # and parted from the edge by a plainer band (a speck's fading fringe
    # has none)
    low = np.minimum.accumulate(np.where(radius > edge_at[:, None], step, np.inf), axis=1)
    between = np.full(step.shape, np.inf)
    between[:, 1:] = low[:, :-1]
    floor = max(MIN_CONTRAST, NOISE_CONTRAST * sigma)
    peak = (up & (radius > edge_at[:, None] + MIN_GAP) & (radius <= far[:, None, None])
            & (step > floor) & (step > RIM_SHARE * edge)
            & (between < DIP_SHARE * np.minimum(step, edge)))
    found = peak.any(axis=1)
    rim_at = peak.argmax(axis=1)
    # ... crossed the same way all round (an iris is darker than the white
    # of the eye and the skin; texture turns either way at random)
    lum = v.mean(axis=-1)
    inward = np.take_along_axis(lum, np.maximum(rim_at - 1, 0)[:, None], axis=1)[:, 0]
    outward = np.take_along_axis(lum, np.minimum(rim_at + 1, reach)[:, None], axis=1)[:, 0]
    rising = outward > inward
    more_rising = (rising & found).sum(axis=1, keepdims=True) >= (~rising & found).sum(
        axis=1, keepdims=True)
    return rim_at, found & (rising == more_rising)


def _round_share(rim_at: np.ndarray, found: np.ndarray) -> np.ndarray:
    """Return, per speck, the share of directions whose rim lies on one circle.

    The circle may sit off the speck's centre (an eye seen from aside, a
    mask taking in part of an iris): ρ(θ) = c + a cos θ + b sin θ, fitted
    by least squares twice, the second time to the directions near the
    first fit.
    """
    theta = np.arange(ANGLES) * (2.0 * np.pi / ANGLES)
    basis = np.stack([np.ones(ANGLES), np.cos(theta), np.sin(theta)], axis=1)  # (A, 3)
    y = rim_at.astype(np.float64)
    use = found.astype(np.float64)
    shown = found
    for _ in range(2):
        gram = np.einsum("ka,ai,aj->kij", use, basis, basis) + 1e-6 * np.eye(3)
        coef = np.linalg.solve(gram, np.einsum("ka,ai,ka->ki", use, basis, y)[..., None])
        fit = (basis @ coef)[..., 0]  # (K, A)
        slack = np.maximum(RIM_SLACK, RIM_SLACK_SHARE * np.abs(coef[:, :1, 0]))
        shown = found & (np.abs(y - fit) <= slack)
        use = (found & (np.abs(y - fit) <= 2.0 * slack)).astype(np.float64)
    return shown.mean(axis=1)


def _concentric(image: np.ndarray, cy: np.ndarray, cx: np.ndarray, r: np.ndarray,
                sigma: float, dark: bool = True) -> np.ndarray:
    """Return, per speck, whether a round rim surrounds it (`dark`: see :func:`_rims`)."""
    out = np.zeros(len(cy), bool)
    for start in range(0, len(cy), _CHUNK):
        part = slice(start, start + _CHUNK)
        # (one circle past the farthest rim, so that a peak there is a peak)
        reach = int(np.floor(BEYOND_SCALE * r[part] + BEYOND_PAD).max()) + 2
        v = _profiles(image, cy[part], cx[part], reach)
        rims = _rims(v, r[part], sigma, dark)
        out[part] = _round_share(*rims) >= CONCENTRIC_SHARE
    return out


def spare_concentric(image: np.ndarray, soft: np.ndarray, max_size: int,
                     sigma: float) -> np.ndarray:
    """Clear specks at the centre of round structures, and specks touching them.

    Parameters
    ----------
    image : ndarray
        float32 ``(H, W, C)`` perceptual pixels.
    soft : ndarray
        float32 ``(P, H, W)`` soft masks, one per polarity (dark, bright);
        above 0.5 is damage.
    max_size : int
        Largest speck diameter (px); bigger components are left as they are.
    sigma : float
        Noise standard deviation of the image (0-1 scale).

    Returns
    -------
    ndarray
        `soft`, 0 on (and one pixel around) each spared speck.

    Notes
    -----
    Each round component (area at least :data:`COMPACT` of its bounding
    square, radius r of the disc of its area between :data:`MIN_RADIUS`
    and `max_size` / 2 + 1 px) is sampled in :data:`ANGLES` directions on
    circles 1 px apart out to 5 r + 8 px (:func:`_profiles`). Along each
    direction (:func:`_rims`) the speck's own edge is the first peak of
    change (across 2 px) of at least :data:`EDGE_SHARE` of the largest out
    to r + :data:`EDGE_PAD` px, so a mask falling short of a pupil's edge
    or taking in part of its iris does no harm; the rim is the next peak
    more than :data:`MIN_GAP` px further, of more than :data:`MIN_CONTRAST`,
    :data:`NOISE_CONTRAST` σ and :data:`RIM_SHARE` of the edge, with the
    change falling under :data:`DIP_SHARE` of both somewhere between (a
    plainer band: a speck's fading fringe has none), and crossed the way
    most directions cross theirs (darker to lighter or the reverse:
    texture turns either way at random). What lies beyond may differ from
    side to side (the white of an eye, a lid). The speck is spared when
    the rims of :data:`CONCENTRIC_SHARE` of the directions lie within
    :data:`RIM_SLACK` px (or :data:`RIM_SLACK_SHARE` of its radius) of a
    circle fitted to them (:func:`_round_share`). A speck of the other
    polarity, no larger than a speck tested here, lying mostly within 2 px
    of one spared for its rim (a catch-light in a pupil) is spared too.

    On 20 CBSD68 photographs with the benchmark's synthetic light and heavy
    damage, F1 moved by under 0.001. Irises with much texture of their own
    (close-up human eyes) often show no clean rim and are not spared.
    """
    found = soft > 0.5
    if not found.any():
        return soft
    structure = np.ones((3, 3), bool)
    limit = max_size / 2.0 + 1.0
    labelled = [ndimage.label(plane_found, structure=structure) for plane_found in found]
    sizes = [np.bincount(labels.ravel(), minlength=count + 1) for labels, count in labelled]
    spared_planes = []
    for plane, ((labels, count), size) in enumerate(zip(labelled, sizes, strict=True)):
        spared = np.zeros(labels.shape, bool)
        if count:
            rows, cols = np.nonzero(labels)
            index = labels[rows, cols]
            own = size[1:].astype(np.float64)
            cy = np.bincount(index, rows, minlength=count + 1)[1:] / np.maximum(own, 1)
            cx = np.bincount(index, cols, minlength=count + 1)[1:] / np.maximum(own, 1)
            # a pupil with a catch-light at its centre may be found as a
            # ring: judge its size and roundness with the hole filled
            area = own + hole_areas(labels, count)[1:]
            r = np.sqrt(area / np.pi)
            extent = region_extents(labels, count)
            # round specks only: a hair or a crack is no pupil
            r_own = np.sqrt(own / np.pi)
            small = ((r_own >= MIN_RADIUS) & (r_own <= limit)
                     & (area >= COMPACT * extent * extent))
            ids = np.flatnonzero(small)
            if ids.size:
                hit = _concentric(image, cy[ids], cx[ids], r[ids], sigma, dark=plane == 0)
                chosen = np.zeros(count + 1, bool)
                chosen[ids[hit] + 1] = True
                spared = chosen[labels]
        spared_planes.append(spared)
    if len(found) == 2 and any(p.any() for p in spared_planes):
        # A catch-light in a spared pupil (and the reverse) is spared too:
        # next to a speck spared for its rim, not next to another catch-light.
        rimmed = spared_planes
        spared_planes = []
        for this, other in ((0, 1), (1, 0)):
            labels, count = labelled[this]
            near = ndimage.binary_dilation(rimmed[other], structure, iterations=2)
            inside = np.bincount(labels[near], minlength=count + 1)
            extra = (2 * inside > sizes[this]) & (sizes[this] <= np.pi * limit * limit)
            extra[0] = False
            spared_planes.append(rimmed[this] | extra[labels])
    out = soft.copy()
    for k, spared in enumerate(spared_planes):
        if spared.any():
            out[k][ndimage.binary_dilation(spared, structure)] = 0.0
    return out
