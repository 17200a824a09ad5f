"""Fill damaged areas (holes, scratches, tears) from their surroundings."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Annotated, Literal

import numpy as np
from scipy import ndimage

from ..errors import MaskError, ParameterError
from ..progress import Progress
from ..registry import Param, operation
from ..tiles import workers
from ._inpaint_diffusion import thin_plate_fill, thin_plate_hole_values
from ._inpaint_patch import NoSourceError, patch_fill
from ._regions import region_max

__all__ = ["fill_damage", "inpaint"]

#: Default patch edge and search reach (px) of the patch fill.
PATCH_SIZE = 9
CONTEXT = 64
#: Mask values above this mark a pixel to fill (soft edges are blended by
#: the engine, so any coverage at all means the pixel must be replaced).
HOLE_LEVEL = 1.0 / 1024.0
#: ``auto``: beyond this half-width (px) the share of the patch fill
#: falls off as ``LARGE_RADIUS / half-width``: in large holes copied texture
#: is more often misplaced, which costs more than the blur it avoids.
LARGE_RADIUS = 8.0
#: ``auto``: textured regions wider than this half-width (px) move from the
#: blend to the pure patch fill, reached at :data:`OBJECT_RADIUS`: a blur
#: the size of a removed object looks wrong however well it scores.
BLEND_RADIUS = 16.0
OBJECT_RADIUS = 32.0
#: ``auto``: below this high-frequency level of the surroundings (RMS of
#: the image minus its σ = 2 px blur) a region counts as smooth.
SMOOTH_LEVEL = 0.01
#: ``auto``: share of the patch fill in textured regions; the rest is the
#: diffusion fill. The two errors are weakly correlated, so their average
#: scores higher than either (Kodak crops, see the module notes).
AUTO_PATCH_WEIGHT = 0.5
#: Pixels beyond each hole kept when grouping holes for diffusion (its
#: stencils reach 2 px).
DIFFUSION_MARGIN = 3
#: ``auto``: textured regions at most this half-width (px) — scratches,
#: cracks, hairs, specks — get their patch share from a self-test instead
#: of the fixed rule (see :func:`_validated_share`).
THIN_RADIUS = 4.0
#: Offsets (dy, dx) of the copies of the thin damage used as test holes.
_TEST_SHIFTS = ((7, 3), (-5, 8))
#: Known pixels kept between real damage and test holes.
_TEST_GAP = 2
#: Scale (σ, px) over which the self-tested patch share may vary.
TEST_SIGMA = 32.0
#: Cost of the patch fill per pixel, in diffusion fills (for progress).
_PATCH_COST = 20.0
#: A learnt patch share below this leaves thin damage to the diffusion fill.
MIN_SHARE = 0.02
#: Fewest test pixels worth a self-test.
_MIN_TEST_PIXELS = 64


def _groups(labels: np.ndarray, count: int, margin: int,
            keep: np.ndarray | None = None) -> list[tuple[tuple[slice, slice], list[int]]]:
    """Group components whose boxes grown by `margin` overlap.

    Returns ``(box, component ids)`` per group; ids count from 1. `keep`
    (bool per component id, index 0 unused) selects components.
    """
    h, w = labels.shape
    boxes = ndimage.find_objects(labels, max_label=count)
    canvas = np.zeros((h, w), dtype=bool)
    grown: dict[int, tuple[slice, slice]] = {}
    for i, box in enumerate(boxes, start=1):
        if box is None or (keep is not None and not keep[i]):
            continue
        ys, xs = box
        g = (slice(max(0, ys.start - margin), min(h, ys.stop + margin)),
             slice(max(0, xs.start - margin), min(w, xs.stop + margin)))
        canvas[g] = True
        grown[i] = g
    group_of, n_groups = ndimage.label(canvas)
    members: list[list[int]] = [[] for _ in range(n_groups)]
    for i, g in grown.items():
        members[group_of[g[0].start, g[1].start] - 1].append(i)
    out = []
    for box, ids in zip(ndimage.find_objects(group_of), members, strict=True):
        if box is not None and ids:
            out.append((box, ids))
    return out


def _texture(image: np.ndarray, hole: np.ndarray, component: np.ndarray,
             box: tuple[slice, slice], radius: float) -> float:
    """Return the RMS Laplacian of the known ring around a region.

    The 5-point Laplacian vanishes on linear ramps, so smooth gradients
    count as smooth however steep they are; it is evaluated only where its
    whole stencil is known. Around wide regions it is taken at the scale of
    the region (block means of ``radius / LARGE_RADIUS`` px): what matters
    for a hole 300 px wide is structure at that scale, not pixel noise.
    """
    ring_width = max(4, int(np.ceil(radius)))
    ys, xs = box
    h, w = hole.shape
    pad = ring_width + 2
    big = (slice(max(0, ys.start - pad), min(h, ys.stop + pad)),
           slice(max(0, xs.start - pad), min(w, xs.stop + pad)))
    comp = np.zeros(hole[big].shape, dtype=bool)
    oy, ox = ys.start - big[0].start, xs.start - big[1].start
    comp[oy:oy + component.shape[0], ox:ox + component.shape[1]] = component
    step = max(1, int(radius // LARGE_RADIUS))
    # Known far enough from every hole that the (coarse) stencil sees no hole.
    known = ndimage.distance_transform_cdt(~hole[big], metric="chessboard") > 2 * step
    ring = (ndimage.distance_transform_cdt(~comp, metric="chessboard") <= ring_width) & known
    vals = image[big]
    if step > 1:
        vals = ndimage.uniform_filter(vals, size=(step, step, 1), mode="nearest")
        vals, ring = vals[::step, ::step], ring[::step, ::step]
    if not ring.any():
        return 0.0
    lap = np.stack([ndimage.laplace(vals[..., c], mode="nearest")
                    for c in range(vals.shape[-1])], axis=-1)
    return float(np.sqrt(np.mean(lap[ring] ** 2)))


def _auto_weights(image: np.ndarray, hole: np.ndarray, labels: np.ndarray,
                  half_width: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Return, per component id, the patch share for ``auto``.

    `half_width` holds :func:`_half_widths` of the components; components
    not `wanted` (bool per id) get 0.
    """
    count = len(half_width) - 1
    weight = np.zeros(count + 1)
    boxes = ndimage.find_objects(labels, max_label=count)
    for i, box in enumerate(boxes, start=1):
        if box is None or not wanted[i]:
            continue
        r = float(half_width[i])
        comp = labels[box] == i
        if _texture(image, hole, comp, box, r) > SMOOTH_LEVEL:
            blend = AUTO_PATCH_WEIGHT * min(1.0, LARGE_RADIUS / r)
            big = (r - BLEND_RADIUS) / (OBJECT_RADIUS - BLEND_RADIUS)
            weight[i] = min(1.0, max(blend, big))
    return weight


def _half_widths(hole: np.ndarray, labels: np.ndarray, count: int) -> np.ndarray:
    """Return the largest distance (px) into each component, per component id."""
    if not count:
        return np.zeros(1)
    return region_max(ndimage.distance_transform_edt(hole), labels, count, hole)


def _members(count: int, ids: list[int]) -> np.ndarray:
    """Return a lookup table: True at the component ids `ids` (0..count)."""
    table = np.zeros(count + 1, dtype=bool)
    table[ids] = True
    return table


def _shifted(mask: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Return `mask` moved by (dy, dx), without wrapping around."""
    h, w = mask.shape
    out = np.zeros_like(mask)
    if abs(dy) >= h or abs(dx) >= w:  # moved off the image entirely
        return out
    ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
    xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
    out[yd, xd] = mask[ys, xs]
    return out


def _validated_share(filled: np.ndarray, hole: np.ndarray, thin: np.ndarray,
                     allowed: np.ndarray, patch_size: int, context: int, seed: int,
                     progress: Progress) -> np.ndarray | None:
    """Return a per-pixel patch share for thin damage, learnt by a self-test.

    Copies of the thin damage, moved a few pixels onto undamaged image,
    are filled by both methods; where their pixels are known, the share
    ``w`` that minimises ``|w · patch + (1 − w) · diffusion − truth|²`` is
    measured and smoothed over :data:`TEST_SIGMA` (falling back to the
    image-wide value far from any test). Returns None when the image
    leaves too little room for a test.
    """
    near = ndimage.binary_dilation(hole, iterations=_TEST_GAP)
    test = np.zeros_like(hole)
    for dy, dx in _TEST_SHIFTS:
        test |= _shifted(thin, dy, dx)
    test &= allowed & ~near
    if int(test.sum()) < _MIN_TEST_PIXELS:
        return None
    source = allowed & ~test
    smooth = _fill(filled, test, source, "diffusion", patch_size, context, seed,
                   progress.span(0.0, 0.05))
    copied = _fill(filled, test, source, "patch", patch_size, context, seed,
                   progress.span(0.05, 1.0), soft=True)
    gap = (copied - smooth)[test]
    err = (filled - smooth)[test]
    num = np.zeros(hole.shape, dtype=np.float32)
    den = np.zeros(hole.shape, dtype=np.float32)
    num[test] = np.sum(err * gap, axis=-1)
    den[test] = np.sum(gap * gap, axis=-1)
    overall = float(np.clip(num.sum() / max(float(den.sum()), 1e-12), 0.0, 1.0))
    num_s, den_s, cover = _broad_blur(np.stack([num, den, test.astype(np.float32)]),
                                      TEST_SIGMA)
    local = np.clip(num_s / np.maximum(den_s, 1e-6), 0.0, 1.0)
    return np.where(cover > 0.02, local, overall).astype(np.float32)


def _broad_blur(planes: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian-blur each of `planes` (P, H, W) by `sigma` px, on a coarse grid.

    A blur this wide carries nothing finer than about ``sigma / 4`` px, so
    it is taken on block means of that size and brought back by bilinear
    interpolation: about 2 % of the peak from the full-resolution blur
    (more within sigma of the border), 10× faster.
    """
    f = max(1, int(sigma // 4))
    _, h, w = planes.shape
    # Only where the coarse grid is wider than the blur's reach (4 sigma):
    # on smaller grids Krita's own numpy/scipy and ours disagreed enough to
    # change restore-photo's result on a 40 × 48 image, and there the
    # full-resolution blur is cheap anyway.
    if f == 1 or min(h, w) // f <= 4.0 * sigma / f + 1:
        return np.stack([ndimage.gaussian_filter(p, sigma) for p in planes])
    hb, wb = -(-h // f), -(-w // f)
    # Mirrored about the edge, as gaussian_filter's own 'reflect' border. In
    # float64, so that numpy versions that sum in other orders (hosts ship
    # their own) still agree once the result is rounded to float32.
    padded = np.pad(planes.astype(np.float64), ((0, 0), (0, hb * f - h), (0, wb * f - w)),
                    mode="symmetric")
    small = padded.reshape(len(planes), hb, f, wb, f).mean(axis=(2, 4))
    small = np.stack([ndimage.gaussian_filter(p, sigma / f) for p in small])
    # Block centres sit at f·i + (f − 1)/2 in full-resolution pixels.
    y = (np.arange(h, dtype=np.float64) - (f - 1) / 2) / f
    x = (np.arange(w, dtype=np.float64) - (f - 1) / 2) / f
    out = np.empty(planes.shape, np.float32)
    for k, p in enumerate(small):
        rows = _lerp(p, y, axis=0)
        out[k] = _lerp(rows, x, axis=1)
    return out


def _lerp(a: np.ndarray, at: np.ndarray, axis: int) -> np.ndarray:
    """Sample `a` along `axis` at fractional indices `at` (clamped), linearly."""
    n = a.shape[axis]
    at = np.clip(at, 0, n - 1)
    i0 = np.minimum(at.astype(np.intp), n - 2) if n > 1 else np.zeros(len(at), np.intp)
    t = at - i0
    lo = np.take(a, i0, axis=axis)
    hi = np.take(a, np.minimum(i0 + 1, n - 1), axis=axis)
    shape = [1, 1]
    shape[axis] = len(at)
    t = t.reshape(shape)
    return lo + t * (hi - lo)


@operation("inpaint", label="_Inpaint (Fill Damage)", menu="Repair", mask_role="damage")
def inpaint(
    image: np.ndarray,
    *,
    method: Annotated[Literal["auto", "diffusion", "patch"], Param(
        "'diffusion' continues the surrounding colours smoothly (best for "
        "scratches, cracks and specks); 'patch' copies texture from around "
        "the hole (best for large or textured areas); 'auto' picks per "
        "damaged region by its width and the texture around it.")] = "auto",
    patch_size: Annotated[int, Param(
        "Edge of the square patches copied by the patch method; odd. "
        "Larger patches keep bigger structures together.",
        min=3, max=31, step=2, unit="px")] = PATCH_SIZE,
    context: Annotated[int, Param(
        "How far around each damaged region to look for material to copy; "
        "large regions always search at least twice their half-width.",
        min=8, max=1024, step=1, unit="px")] = CONTEXT,
    source: Annotated[np.ndarray | None, Param(
        "Optional (H, W) mask of the whole image, or a layer painted white "
        "where it may copy from: copy only from pixels where it is above 0.5 "
        "(the context width is then ignored).",
        kind="array", layer="plane")] = None,
    seed: Annotated[int, Param(
        "Seed of the random patch search; the same seed gives the same result.",
        min=0, max=2**31 - 1, step=1)] = 0,
    mask: np.ndarray | None = None,
    progress: Progress | None = None,
) -> np.ndarray:
    """Fill damaged areas from their surroundings.

    Every pixel where the mask is above zero is replaced; the engine blends
    the result through the mask, so soft mask edges stay soft. Thin defects
    are continued smoothly from their edges, large or textured holes are
    rebuilt from patches of the surrounding image.

    Parameters
    ----------
    image : ndarray
        float32 ``(H, W, C)`` perceptual pixels.
    method : {'auto', 'diffusion', 'patch'}
        Filling method; ``'auto'`` chooses per connected region.
    patch_size : int
        Odd patch edge in pixels for the patch method.
    context : int
        Width in pixels of the surroundings used around each region.
    source : ndarray, optional
        float ``(H, W)``; only pixels above 0.5 are copied from.
    seed : int
        Seed of the randomised patch search.
    mask : ndarray
        float32 ``(H, W)`` damage mask; pixels above zero are filled.
    progress : Progress, optional
        Progress reporting and cancellation.

    Returns
    -------
    ndarray
        float32 ``(H, W, C)``, the holes filled.

    Raises
    ------
    MaskError
        If the mask is missing, has the wrong shape, marks nothing, or leaves
        nothing to sample from.
    ParameterError
        For an even `patch_size` or a `source` of the wrong shape.

    Notes
    -----
    Holes are split into connected components (8-neighbourhood); components
    whose boxes, grown by the search reach, overlap are processed together
    on that box only, so memory follows the damaged area. The reach is
    `context`, or twice a region's half-width where that is larger, so an
    object-sized hole has enough surroundings to copy from.

    *Diffusion* minimises the thin-plate energy
    ``Σ u_xx² + u_yy² + 2 u_xy²`` over the hole with the known pixels fixed
    (a sparse symmetric system over the hole pixels only, solved directly;
    see :func:`~photomend.ops._inpaint_diffusion.thin_plate_fill`). It
    reproduces linear ramps exactly and continues gradients across the hole.
    Separate groups are solved in parallel.

    *Patch* is a coarse-to-fine exemplar fill: PatchMatch nearest-neighbour
    search alternated with patch voting ([1]_, [2]_), started from the
    diffusion fill on the coarsest level. Votes are sharp (the texture of
    the best matches is kept) where the patch fill stands alone, and soft
    (many candidates averaged, the smaller error) where ``auto`` blends it.

    *Auto* blends the two per component, ``w · patch + (1 − w) · diffusion``:

    - ``w = 0`` where the surroundings are smooth (RMS Laplacian below
      :data:`SMOOTH_LEVEL`), so ramps stay exact;
    - thin textured damage (half-width up to :data:`THIN_RADIUS`:
      scratches, cracks, hairs) learns ``w`` per pixel from a self-test:
      copies of that damage moved a few pixels onto known image are filled
      both ways and the least-squares share against the known pixels is
      smoothed over :data:`TEST_SIGMA` px (:func:`_validated_share`);
      damage whose learnt share stays below :data:`MIN_SHARE` keeps the
      diffusion fill alone;
    - wider textured holes use ``w = 0.5 · min(1, 8 px / half-width)`` —
      the errors of the two fills are weakly correlated, so the blend
      scores higher than either — rising to the pure patch fill between
      :data:`BLEND_RADIUS` and :data:`OBJECT_RADIUS`, because a blur the
      size of a removed object looks wrong however well it scores.

    On the benchmark protocol (24 Kodak24 crops of 256 px and 24 CBSD68
    images; see ``benchmarks/README.md``) this gives 30.43 dB whole-image
    PSNR with 10 % blob holes (best peer: OpenCV Navier–Stokes, 29.32) and
    38.40 dB with 5 % strokes (best peer: scikit-image biharmonic, 37.86).

    References
    ----------
    .. [1] Y. Wexler, E. Shechtman and M. Irani, "Space-time completion of
       video", IEEE TPAMI 29(3), 2007.
    .. [2] C. Barnes, E. Shechtman, A. Finkelstein and D. B. Goldman,
       "PatchMatch: a randomized correspondence algorithm for structural
       image editing", ACM TOG 28(3), 2009.
    """
    h, w = image.shape[:2]
    if mask is None:
        msg = "inpaint needs a mask (or selection) marking what to repair"
        raise MaskError(msg)
    m = np.asarray(mask)
    if m.shape != (h, w):
        msg = f"inpaint: the mask has shape {m.shape}, but the image is {h}×{w} (H×W)"
        raise MaskError(msg)
    if patch_size % 2 == 0:
        msg = f"inpaint: patch_size must be odd (3, 5, 7, ...), got {patch_size} px"
        raise ParameterError(msg)
    hole = m > HOLE_LEVEL
    if not hole.any():
        msg = "inpaint: the mask marks no damage; nothing to do"
        raise MaskError(msg)
    allowed = ~hole
    if source is not None:
        src = np.asarray(source)
        if src.ndim == 3 and src.shape[-1] == 1:
            src = src[..., 0]
        if src.shape != (h, w):
            msg = (f"inpaint: the source mask has shape {src.shape}, but the image is "
                   f"{h}×{w} (H×W)")
            raise ParameterError(msg)
        allowed &= src > 0.5
    if not allowed.any():
        msg = ("inpaint: the mask covers the whole image (or the source area), so nothing "
               "is left to sample from; leave some undamaged pixels around the damage")
        raise MaskError(msg)
    prog = progress if progress is not None else Progress()
    return _fill(image, hole, allowed, method, patch_size, context, seed, prog)


def fill_damage(image: np.ndarray, hole: np.ndarray, method: str,
                progress: Progress, needed: np.ndarray | None = None, *,
                self_test: bool = True) -> np.ndarray:
    """Fill the pixels `hole` of `image` as :func:`inpaint` does by default.

    Without checks of the mask: with no hole, or nothing known to fill
    from, the image comes back unchanged (as a copy). With `needed` (bool
    ``(H, W)``), only damaged regions that reach into it are filled in
    full; the others, whose result will not be used, get the cheap
    diffusion fill only (see :func:`_fill`). ``self_test=False`` gives
    thin textured damage the fixed ``auto`` share instead of a learnt one.
    """
    known = ~hole
    if not hole.any() or not known.any():
        progress.update(1.0)
        return np.array(image, dtype=np.float32, copy=True)
    return _fill(image, hole, known, method, PATCH_SIZE, CONTEXT, 0, progress, needed=needed,
                 self_test=self_test)


def _fill(image: np.ndarray, hole: np.ndarray, allowed: np.ndarray, method: str,
          patch_size: int, context: int, seed: int, prog: Progress, *,
          soft: bool = False, needed: np.ndarray | None = None,
          self_test: bool = True) -> np.ndarray:
    """Fill `hole` of `image` by `method`, copying only from `allowed` pixels.

    The body of :func:`inpaint` after its checks; ``soft=True`` keeps patch
    votes soft even where the patch fill stands alone (the self-test fills
    its test holes the way ``auto`` fills thin damage). With `needed`
    (bool ``(H, W)``, e.g. the part of a tile that is kept), regions that
    do not reach into it get only the diffusion fill: they still hold a
    plausible fill (so no damaged pixel is copied or matched against),
    but skip the patch search and the self-test, which cost about twenty
    times more. ``self_test=False`` skips the self-test: thin textured
    damage then gets the share of wider holes (0.5).
    """
    labels, count = ndimage.label(hole, structure=np.ones((3, 3), dtype=bool))
    wanted = np.ones(count + 1, dtype=bool)
    if needed is not None:
        wanted[:] = False
        wanted[labels[needed]] = True
    wanted[0] = False
    # Per component: the share of the patch fill in the result (the rest is
    # the diffusion fill). Index 0 (undamaged pixels) is unused.
    half_width = (np.zeros(count + 1) if method == "diffusion"
                  else _half_widths(hole, labels, count))
    if method == "diffusion":
        weight = np.zeros(count + 1)
    elif method == "patch":
        weight = np.ones(count + 1)
    else:
        weight = _auto_weights(image, hole, labels, half_width, wanted)
    weight[0] = 0.0
    weight[~wanted] = 0.0
    use_diffusion = weight < 1.0
    use_patch = weight > 0.0
    use_diffusion[0] = use_patch[0] = False

    sizes = np.bincount(labels.ravel(), minlength=count + 1).astype(np.float64)
    sizes[0] = 0.0
    # Thin textured damage gets its patch share from a self-test (auto).
    thin_ids = np.zeros(count + 1, dtype=bool)
    if method == "auto" and self_test:
        thin_ids = use_patch & (half_width <= THIN_RADIUS)
    # Patch filling costs about _PATCH_COST times more per pixel; the
    # self-test fills two copies of the thin damage both ways.
    patch_work = float(sizes[use_patch].sum()) * _PATCH_COST
    diff_work = float(sizes[use_diffusion].sum())
    test_work = float(sizes[thin_ids].sum()) * 2 * (_PATCH_COST + 1.0)
    total = patch_work + diff_work + test_work
    diff_prog = prog.span(0.0, diff_work / total)
    test_prog = prog.span(diff_work / total, (diff_work + test_work) / total)
    patch_prog = prog.span((diff_work + test_work) / total, 1.0)

    out = np.array(image, dtype=np.float32, copy=True)

    def diffuse(box: tuple[slice, slice], ids: list[int]) -> float:
        # Safe side by side: a group writes only its own hole pixels and
        # reads only known ones (other groups' holes are unknowns here too).
        mine = _members(count, ids)[labels[box]]
        # Unfilled pixels of other regions in the box are unknowns too.
        unknown = hole[box]
        filled = thin_plate_hole_values(out[box], unknown)
        out[box][mine] = filled[mine[unknown]]
        return float(sizes[ids].sum())

    done = 0.0
    groups = _groups(labels, count, DIFFUSION_MARGIN, use_diffusion)
    with ThreadPoolExecutor(max_workers=min(workers(), max(1, len(groups)))) as pool:
        futures = [pool.submit(diffuse, box, ids) for box, ids in groups]
        try:
            for future in as_completed(futures):
                done += future.result()
                diff_prog.update(done / max(diff_work, 1.0))
        except BaseException:  # cancelled (or failed): drop what has not started
            for future in futures:
                future.cancel()
            raise

    pixel_share = None
    if thin_ids.any():
        # Every hole holds its diffusion fill by now, so the test sees no damage.
        pixel_share = _validated_share(out, hole, thin_ids[labels], allowed, patch_size,
                                       context, seed, test_prog)
    test_prog.update(1.0)
    if pixel_share is not None:
        # Thin damage where the test found (almost) no use for copied
        # texture keeps its diffusion fill: blending in under MIN_SHARE of
        # a patch fill is not worth the search.
        peak = region_max(pixel_share, labels, count, thin_ids[labels])
        useless = thin_ids & (peak < MIN_SHARE)
        use_patch &= ~useless
        patch_work -= float(sizes[useless].sum()) * _PATCH_COST

    if use_patch.any():
        # A region is searched at least twice its half-width around, so
        # large holes (object removal) have enough material to copy.
        reach = max(context, int(np.ceil(2.0 * float(half_width[use_patch].max()))))
        groups = _groups(labels, count, reach, use_patch)
        seeds = np.random.SeedSequence(seed).spawn(len(groups))
        bases: dict[int, np.ndarray] = {}
        done = 0.0
        for (box, ids), child in zip(groups, seeds, strict=True):
            region_labels = labels[box]
            mine = _members(count, ids)[region_labels]
            # Pixels of regions the diffusion left alone are still damaged:
            # fill them too (they are written back by their own group) and
            # never copy from any hole.
            todo = mine | (hole[box] & ~use_diffusion[region_labels])
            work = float(sizes[ids].sum()) * _PATCH_COST
            sub = patch_prog.span(done / patch_work, (done + work) / patch_work)
            try:
                # Texture is kept sharp where the patch fill stands alone.
                sharp = not soft and (method == "patch" or bool((weight[ids] >= 1.0).any()))
                filled = patch_fill(out[box], todo, allowed[box] & ~hole[box], patch_size,
                                    np.random.default_rng(child), sub, bases, sharp=sharp)
            except NoSourceError:
                filled = thin_plate_fill(out[box], todo)
            share = weight[region_labels[mine]].astype(np.float32)
            if pixel_share is not None:
                thin_here = thin_ids[region_labels[mine]]
                share[thin_here] = pixel_share[box][mine][thin_here]
            share = share[:, None]
            region = out[box]
            region[mine] = share * filled[mine] + (1.0 - share) * region[mine]
            done += work
            sub.update(1.0)
    prog.update(1.0)
    return out
