"""Exemplar-based hole filling: multi-scale PatchMatch with patch voting.

Private helper of :mod:`photomend.ops.inpaint`. Everything is vectorised
over all target patches at once: propagation and random search evaluate one
candidate offset for every target per numpy call, and patch distances are
measured between low-dimensional PCA projections of the patches.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg, ndimage

from ..progress import Progress
from ._inpaint_diffusion import thin_plate_fill

__all__ = ["NoSourceError", "patch_fill"]

#: Dimensions kept of each patch's PCA projection (distance measure).
FEATURES = 20
#: Fewest valid source patches a pyramid level needs to be used.
MIN_SOURCES = 64
#: Spatial confidence base: votes of patches centred d px inside the hole
#: are weighted by ``GAMMA ** -d`` (Wexler et al.).
GAMMA = 1.3
#: Votes are weighted by ``exp(-d / 2σ²)`` with σ² a share of a percentile
#: of the patch distances: (share, percentile) for soft and sharp votes.
#: Soft votes average many candidate patches — the smallest error where
#: the fill is blended with the diffusion fill; sharp votes keep the
#: texture of the best matches, which an object-sized hole needs to look
#: right (a soft fill is a visible blur there).
SOFT_VOTE = (1.0, 75.0)
SHARP_VOTE = (0.05, 50.0)
#: EM rounds (search + vote) on the coarsest, intermediate and finest
#: levels, for soft and for sharp votes (sharp fills need longer to settle).
SOFT_ROUNDS = (5, 3, 2)
SHARP_ROUNDS = (8, 4, 3)
#: Random-search candidates per PatchMatch iteration.
RANDOM_TRIES = 6
#: Floats per chunk when projecting patches.
_CHUNK = 3_000_000


class NoSourceError(Exception):
    """No complete patch of known pixels exists to copy from."""


@dataclass
class _Level:
    values: np.ndarray  # (h, w, C) float32
    hole: np.ndarray  # (h, w) bool
    source: np.ndarray  # (h, w) bool: pixel may be copied from


def _downsample(level: _Level) -> _Level:
    """Halve a level: mean of the known pixels, hole where any pixel is."""
    values, hole, source = level.values, level.hole, level.source
    h, w, channels = values.shape
    hp, wp = h + h % 2, w + w % 2
    pad = ((0, hp - h), (0, wp - w))
    v = np.pad(values, (*pad, (0, 0)), mode="edge")
    k = np.pad(~hole, pad, mode="edge").astype(np.float32)
    s = np.pad(source, pad, mode="edge")
    vk = (v * k[..., None]).reshape(hp // 2, 2, wp // 2, 2, channels).sum(axis=(1, 3))
    n = k.reshape(hp // 2, 2, wp // 2, 2).sum(axis=(1, 3))
    coarse = (vk / np.maximum(n, 1.0)[..., None]).astype(np.float32)
    coarse_hole = n < 4
    coarse_source = s.reshape(hp // 2, 2, wp // 2, 2).all(axis=(1, 3)) & ~coarse_hole
    return _Level(coarse, coarse_hole, coarse_source)


def _valid_centres(source: np.ndarray, radius: int) -> np.ndarray:
    """Return where a whole patch of copyable pixels is centred."""
    # A separable minimum filter: much faster than a square binary erosion.
    size = 2 * radius + 1
    return ndimage.minimum_filter(source.view(np.uint8), size=size, mode="constant",
                                  cval=0).view(bool)


def _pca_basis(values: np.ndarray, centres: np.ndarray, radius: int,
               rng: np.random.Generator) -> np.ndarray:
    """Return the leading principal directions of the patches at `centres`."""
    size = 2 * radius + 1
    ys, xs = np.nonzero(centres)
    # With replacement: a permutation of millions of centres costs more
    # than the whole decomposition.
    pick = rng.integers(0, ys.size, size=min(ys.size, 4000))
    view = np.lib.stride_tricks.sliding_window_view(values, (size, size), axis=(0, 1))
    samples = view[ys[pick] - radius, xs[pick] - radius].reshape(pick.size, -1)
    samples = samples.astype(np.float64)
    samples -= samples.mean(axis=0)
    cov = samples.T @ samples / max(1, pick.size - 1)
    d = cov.shape[0]
    dims = min(FEATURES, d)
    _, vecs = linalg.eigh(cov, subset_by_index=(d - dims, d - 1))
    return np.ascontiguousarray(vecs[:, ::-1], dtype=np.float32)


def _patch_view(values: np.ndarray, radius: int) -> np.ndarray:
    """Return the patch around every pixel (mirrored at the border) as a view.

    Shape ``(h, w, C, size, size)``; it reshapes to rows in the order the
    PCA basis uses.
    """
    size = 2 * radius + 1
    padded = np.pad(values, ((radius, radius), (radius, radius), (0, 0)), mode="symmetric")
    return np.lib.stride_tricks.sliding_window_view(padded, (size, size), axis=(0, 1))


def _features(values: np.ndarray, radius: int, basis: np.ndarray) -> np.ndarray:
    """Project the patch around every pixel onto `basis`: ``(h, w, dims)``."""
    h, w, _ = values.shape
    view = _patch_view(values, radius)
    out = np.empty((h, w, basis.shape[1]), dtype=np.float32)
    rows = max(1, _CHUNK // max(1, w * basis.shape[0]))
    for y0 in range(0, h, rows):
        y1 = min(h, y0 + rows)
        block = view[y0:y1].reshape((y1 - y0) * w, -1)
        out[y0:y1] = (block @ basis).reshape(y1 - y0, w, -1)
    return out


def _features_at(values: np.ndarray, radius: int, basis: np.ndarray, ys: np.ndarray,
                 xs: np.ndarray) -> np.ndarray:
    """Project the patches centred at ``(ys, xs)`` onto `basis`: ``(n, dims)``.

    Same values as ``_features(values, radius, basis)[ys, xs]``, for a
    fraction of the work when only a few patches changed.
    """
    view = _patch_view(values, radius)
    out = np.empty((ys.size, basis.shape[1]), dtype=np.float32)
    step = max(1, _CHUNK // max(1, basis.shape[0]))
    for i in range(0, ys.size, step):
        block = view[ys[i:i + step], xs[i:i + step]].reshape(-1, basis.shape[0])
        out[i:i + step] = block @ basis
    return out


class _Field:
    """A nearest-neighbour field for the target patches of one level."""

    def __init__(self, level: _Level, radius: int, valid: np.ndarray,
                 rng: np.random.Generator) -> None:
        self.h, self.w = level.hole.shape
        self.radius = radius
        self.valid = valid
        size = 2 * radius + 1
        # Every patch overlapping the hole: a separable maximum filter (a
        # square dilation, several times faster than binary_dilation).
        self.targets = ndimage.maximum_filter(level.hole.view(np.uint8), size=size,
                                              mode="constant", cval=0).view(bool)
        self.ty, self.tx = np.nonzero(self.targets)
        self.n = self.ty.size
        self.rng = rng
        vy, vx = np.nonzero(valid)
        self.vy, self.vx = vy.astype(np.int32), vx.astype(np.int32)
        self.valid_flat = valid.ravel()
        self.sy = np.zeros(self.n, dtype=np.int32)
        self.sx = np.zeros(self.n, dtype=np.int32)
        self.dist = np.full(self.n, np.inf, dtype=np.float32)
        self.grid = np.full((self.h, self.w), -1, dtype=np.int64)
        self.grid[self.ty, self.tx] = np.arange(self.n)
        depth = ndimage.distance_transform_edt(level.hole)[self.ty, self.tx]
        self.confidence = np.power(GAMMA, -depth).astype(np.float32)
        self.ftarget: np.ndarray | None = None
        self.fsource: np.ndarray | None = None  # (h * w, dims)
        # Per propagation offset: each target's neighbouring target (0 if
        # none) and whether it exists; the same in every round.
        self._neighbours: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
        self._vote_grid: tuple[np.ndarray, ...] | None = None

    def randomise(self, which: np.ndarray | None = None) -> None:
        """Point `which` targets (all by default) at random valid sources."""
        count = self.n if which is None else int(which.sum())
        pick = self.rng.integers(0, self.vy.size, size=count)
        if which is None:
            self.sy, self.sx = self.vy[pick].copy(), self.vx[pick].copy()
        else:
            self.sy[which], self.sx[which] = self.vy[pick], self.vx[pick]

    def set_features(self, feats: np.ndarray) -> None:
        """Use new patch features; recompute the current distances."""
        self.ftarget = feats[self.ty, self.tx]
        self.fsource = feats.reshape(-1, feats.shape[-1])
        self.dist = self._distance(self.sy, self.sx)

    def _flat(self, y: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Flat pixel indices of (y, x): one gather instead of a 2-D fancy index."""
        return y.astype(np.intp) * self.w + x

    def _distance(self, sy: np.ndarray, sx: np.ndarray) -> np.ndarray:
        assert self.fsource is not None and self.ftarget is not None
        diff = self.fsource[self._flat(sy, sx)]
        diff -= self.ftarget
        return np.einsum("ij,ij->i", diff, diff)

    def _neighbour(self, dy: int, dx: int) -> tuple[np.ndarray, np.ndarray]:
        """Return the target at offset (dy, dx) of each target (0 if none), and if any."""
        if (dy, dx) not in self._neighbours:
            ny, nx = self.ty + dy, self.tx + dx
            inside = (ny >= 0) & (ny < self.h) & (nx >= 0) & (nx < self.w)
            nb = np.full(self.n, -1, dtype=np.int64)
            nb[inside] = self.grid[ny[inside], nx[inside]]
            has = nb >= 0
            self._neighbours[dy, dx] = (np.where(has, nb, 0), has)
        return self._neighbours[dy, dx]

    def _try(self, cy: np.ndarray, cx: np.ndarray, ok: np.ndarray) -> None:
        """Adopt candidate sources that are valid and closer."""
        ok &= (cy >= 0) & (cy < self.h) & (cx >= 0) & (cx < self.w)
        idx = np.flatnonzero(ok)
        if idx.size == 0:
            return
        cy, cx = cy[idx], cx[idx]
        good = self.valid_flat[self._flat(cy, cx)]
        idx, cy, cx = idx[good], cy[good], cx[good]
        d = self._distance(cy, cx) if idx.size == self.n else self._subset_distance(idx, cy, cx)
        better = d < self.dist[idx]
        idx = idx[better]
        self.sy[idx], self.sx[idx], self.dist[idx] = cy[better], cx[better], d[better]

    def _subset_distance(self, idx: np.ndarray, cy: np.ndarray, cx: np.ndarray) -> np.ndarray:
        assert self.fsource is not None and self.ftarget is not None
        diff = self.fsource[self._flat(cy, cx)]
        diff -= self.ftarget[idx]
        return np.einsum("ij,ij->i", diff, diff)

    def iterate(self, jumps: tuple[int, ...] = (8, 4, 2, 1)) -> None:
        """One PatchMatch round: propagation with jumps, then random search."""
        for step in jumps:
            for dy, dx in ((0, step), (step, 0), (0, -step), (-step, 0)):
                nbs, has = self._neighbour(dy, dx)
                self._try(self.sy[nbs] - dy, self.sx[nbs] - dx, has.copy())
        top = max(self.h, self.w)
        for _ in range(RANDOM_TRIES):
            radius = np.maximum(1.0, top * np.power(0.5, self.rng.uniform(0.0, np.log2(top),
                                                                          size=self.n)))
            cy = self.sy + np.rint(radius * self.rng.uniform(-1.0, 1.0, size=self.n))
            cx = self.sx + np.rint(radius * self.rng.uniform(-1.0, 1.0, size=self.n))
            self._try(cy.astype(np.int32), cx.astype(np.int32), np.ones(self.n, dtype=bool))

    def vote(self, level: _Level, sharp: bool = False) -> np.ndarray:
        """Return the hole filled with the weighted average of the votes."""
        values, hole = level.values, level.hole
        h, w, channels = values.shape
        r = self.radius
        share, percentile = SHARP_VOTE if sharp else SOFT_VOTE
        sigma2 = max(share * float(np.percentile(self.dist, percentile)), 1e-8)
        weight = np.exp(-self.dist / (2.0 * sigma2)) * self.confidence
        # A floor keeps pixels whose every patch matched badly from dividing
        # 0 by 0; they get the plain average.
        weight = np.maximum(weight, 1e-12)
        # Flat indices with one extra "no target" entry of weight 0 pointing
        # at a valid source, so the loop below needs no masking.
        weight = np.append(weight.astype(np.float32), np.float32(0.0))
        source = np.append(self.sy.astype(np.int64) * w + self.sx, self.sy[0] * w + self.sx[0])
        wp = w + 2 * r
        if self._vote_grid is None:  # the same for every vote on this level
            grid = np.full((h + 2 * r, wp), self.n, dtype=np.int64)
            grid[r:h + r, r:w + r] = np.where(self.grid >= 0, self.grid, self.n)
            hy, hx = np.nonzero(hole)
            self._vote_grid = (grid.ravel(), hy, hx, (hy + r) * wp + (hx + r))
        grid_flat, hy, hx, pixel = self._vote_grid
        flat = values.reshape(-1, channels)
        num = np.zeros((hy.size, channels), dtype=np.float32)
        den = np.zeros(hy.size, dtype=np.float32)
        for ky in range(-r, r + 1):
            for kx in range(-r, r + 1):
                t = grid_flat[pixel - (ky * wp + kx)]
                wt = weight[t]
                num += wt[:, None] * flat[source[t] + (ky * w + kx)]
                den += wt
        out = values.copy()
        out[hy, hx] = num / np.maximum(den, 1e-30)[:, None]
        return out

    def upsample_from(self, coarse: _Field) -> None:
        """Initialise from the field of the next coarser level."""
        cy, cx = self.ty // 2, self.tx // 2
        cy = np.minimum(cy, coarse.h - 1)
        cx = np.minimum(cx, coarse.w - 1)
        t = coarse.grid[cy, cx]
        has = t >= 0
        ts = np.where(has, t, 0)
        sy = 2 * coarse.sy[ts] + (self.ty % 2)
        sx = 2 * coarse.sx[ts] + (self.tx % 2)
        ok = has & (sy >= 0) & (sy < self.h) & (sx >= 0) & (sx < self.w)
        sy, sx = np.where(ok, sy, 0), np.where(ok, sx, 0)
        ok &= self.valid[sy, sx]
        self.randomise()
        self.sy[ok], self.sx[ok] = sy[ok], sx[ok]


def _pyramid(level: _Level, radius: int) -> list[_Level]:
    """Return levels finest first, until the hole is a few patches wide."""
    levels = [level]
    size = 2 * radius + 1
    while True:
        cur = levels[-1]
        depth = float(ndimage.distance_transform_edt(cur.hole).max()) if cur.hole.any() else 0.0
        if depth <= 2 * size or min(cur.hole.shape) < 8 * size:
            break
        nxt = _downsample(cur)
        if not nxt.hole.any() or _valid_centres(nxt.source, radius).sum() < MIN_SOURCES:
            break
        levels.append(nxt)
    return levels


def patch_fill(values: np.ndarray, hole: np.ndarray, source: np.ndarray, patch_size: int,
               rng: np.random.Generator, progress: Progress | None = None,
               bases: dict[int, np.ndarray] | None = None, *,
               sharp: bool = False) -> np.ndarray:
    """Return `values` with the hole filled from patches of `source` pixels.

    Parameters
    ----------
    values : ndarray
        float32 ``(H, W, C)``; values inside the hole are ignored.
    hole : ndarray
        bool ``(H, W)``: pixels to fill.
    source : ndarray
        bool ``(H, W)``: pixels that may be copied (outside the hole).
    patch_size : int
        Odd patch edge in pixels.
    rng : numpy.random.Generator
        Random stream for the PatchMatch search.
    progress : Progress, optional
        Receives the completed fraction.
    bases : dict, optional
        Patch projections per pyramid level (0 = full resolution). Missing
        levels are computed from this region's sources and added, so holes
        of one image can share them (one small eigen-decomposition per
        level instead of one per hole and level).
    sharp : bool
        Keep the texture of the best matches (:data:`SHARP_VOTE`, more
        rounds) instead of averaging many candidates (:data:`SOFT_VOTE`).

    Returns
    -------
    ndarray
        Filled float32 copy.

    Raises
    ------
    NoSourceError
        If not a single whole patch of source pixels exists.

    Notes
    -----
    Coarse-to-fine completion in the manner of Wexler et al. [1]_: on each
    pyramid level an EM loop alternates a PatchMatch search [2]_ for the
    nearest source patch of every patch overlapping the hole, and a vote in
    which each hole pixel becomes the average of what the overlapping
    patches propose, weighted by ``exp(-d / 2σ²)`` (σ² the 75th percentile
    of the distances, or 5 % of the median for sharp votes) and by the
    confidence ``1.3^-depth``. The coarsest
    level starts from the thin-plate fill; finer levels inherit the
    upsampled field and image. Distances are measured on the leading
    principal components of the source patches, which keeps each candidate
    evaluation to a gather of :data:`FEATURES` numbers.

    References
    ----------
    .. [1] Y. Wexler, E. Shechtman and M. Irani, "Space-time completion of
       video", IEEE TPAMI 29(3), 2007.
    .. [2] C. Barnes, E. Shechtman, A. Finkelstein and D. B. Goldman,
       "PatchMatch: a randomized correspondence algorithm for structural
       image editing", ACM TOG 28(3), 2009.
    """
    prog = progress if progress is not None else Progress()
    radius = patch_size // 2
    base = _Level(np.array(values, dtype=np.float32, copy=True), hole.copy(),
                  source & ~hole)
    if _valid_centres(base.source, radius).sum() == 0:
        msg = "no whole patch of known pixels to copy from"
        raise NoSourceError(msg)
    levels = _pyramid(base, radius)
    cost = [float(lv.hole.sum()) for lv in levels]
    total = sum(cost) * 1.0 + 1e-9
    done = 0.0
    field: _Field | None = None
    for li in range(len(levels) - 1, -1, -1):
        level = levels[li]
        valid = _valid_centres(level.source, radius)
        if bases is None:
            bases = {}
        if li not in bases:
            bases[li] = _pca_basis(level.values, valid, radius, rng)
        basis = bases[li]
        coarsest = field is None
        new = _Field(level, radius, valid, rng)
        if field is None:
            level.values = thin_plate_fill(level.values, level.hole)
            new.randomise()
        else:
            prev = levels[li + 1].values
            up = np.repeat(np.repeat(prev, 2, axis=0), 2, axis=1)[:level.hole.shape[0],
                                                                   :level.hole.shape[1]]
            level.values[level.hole] = up[level.hole]
            new.upsample_from(field)
        field = new
        first, middle, last = SHARP_ROUNDS if sharp else SOFT_ROUNDS
        rounds = first if coarsest else (last if li == 0 else middle)
        for it in range(rounds):
            if it == 0:
                feats = _features(level.values, radius, basis)
            else:  # only patches overlapping the hole have changed
                feats[field.ty, field.tx] = _features_at(level.values, radius, basis,
                                                         field.ty, field.tx)
            field.set_features(feats)
            field.iterate(jumps=(8, 4, 2, 1) if it == 0 else (2, 1))
            if it == 0 and not coarsest:
                field.iterate(jumps=(1,))
            level.values = field.vote(level, sharp)
            prog.update((done + cost[li] * (it + 1) / rounds) / total)
        done += cost[li]
    return levels[0].values
