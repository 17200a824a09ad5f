"""Vectorised block matching and 3-D collaborative filtering (BM3D class).

Private helper of :mod:`photomend.ops.denoise`. A pass sweeps down the image
in bands of reference-block rows; within a band everything is whole-array
numpy: block distances as batched matrix products (a few neighbouring
reference blocks times the candidates their search windows cover), the
best matches of every reference block by one integer partition, the
groups' 3-D transforms as stacked matrix products, and aggregation as a sparse
sum per block position. No Python loop runs per pixel, per block or per
group.

Only the rows a band needs are kept (in ring buffers), so memory stays at
a few tens of MB whatever the image size; matches kept for a second pass
(:class:`Matches`) add 2 bytes per group member and reference block
(about 10 MB per 4 MP tile at the denoiser's settings).
"""

from __future__ import annotations

import contextlib
import copy
import functools
import math
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import as_strided, sliding_window_view
from scipy.sparse import csr_matrix

try:  # y += A·x in place for a CSR matrix A; SciPy's own sparse products use it
    from scipy.sparse._sparsetools import csr_matvecs as _csr_matvecs
except ImportError:  # pragma: no cover - another SciPy layout: the public product
    _csr_matvecs = None

try:  # numpy's switch for advising huge pages on arrays of 4 MB or more
    from numpy._core.multiarray import _set_madvise_hugepage  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - another numpy layout: its default stays
    _set_madvise_hugepage = None

__all__ = ["OPPONENT", "Matches", "Stage", "bm3d", "collaborative_stage"]


_PAGES_LOCK = threading.Lock()
#: Runs inside :func:`_small_pages`, and numpy's setting before the first.
_PAGES_STATE = {"runs": 0, "before": True}


@contextlib.contextmanager
def _small_pages() -> Iterator[None]:
    """Allocate without numpy's huge-page advice while a denoising run lasts.

    numpy advises transparent huge pages for every array of 4 MB or more.
    Where the kernel then compacts memory at the first touch (Linux's
    common ``defrag=madvise`` setting), fresh buffers stall once memory is
    fragmented by earlier work: with bm3d run between calls, as in the
    benchmark, CBSD68 at σ 50 took 0.69 s per image with the advice and
    0.55 s without. Overlapping runs (threads) share one switch: the first
    turns the advice off, the last restores numpy's setting.
    """
    if _set_madvise_hugepage is None:
        yield
        return
    with _PAGES_LOCK:
        if _PAGES_STATE["runs"] == 0:
            _PAGES_STATE["before"] = bool(_set_madvise_hugepage(False))
        _PAGES_STATE["runs"] += 1
    try:
        yield
    finally:
        with _PAGES_LOCK:
            _PAGES_STATE["runs"] -= 1
            if _PAGES_STATE["runs"] == 0:
                _set_madvise_hugepage(_PAGES_STATE["before"])


@dataclass(frozen=True)
class Stage:
    """Settings of one collaborative-filtering pass.

    Attributes
    ----------
    wiener : bool
        False: hard thresholding of the noisy group spectrum (first pass);
        True: empirical Wiener shrinkage taken from a pilot estimate.
    block : int
        Block edge in pixels.
    step : int
        Distance between reference blocks (both directions).
    radius : int
        Search radius: candidates lie within ±radius pixels (at most 15).
    group : int
        Largest group (a power of two, at most 128).
    tau : float
        A candidate joins the group when its mean squared difference per
        pixel from the reference block is below this (on the [0, 1] scale).
    lam : float
        Hard threshold in noise standard deviations.
    beta : float
        Kaiser window shape for aggregation.
    transform : {'bior', 'dct'}
        2-D block transform: bior1.5 wavelet or DCT.
    offset : int
        Shift of the reference grid (two passes on different grids place
        their blocks differently, and their artefacts average out).
    match_noisy : bool
        Match blocks on the noisy image rather than on the pilot estimate
        (Wiener pass only).
    """

    wiener: bool
    block: int = 8
    step: int = 4
    radius: int = 12
    group: int = 16
    tau: float = 3000.0 / 255.0**2
    lam: float = 2.7
    beta: float = 2.0
    transform: str = "dct"
    offset: int = 0
    match_noisy: bool = False


@functools.lru_cache(maxsize=16)
def _dct_matrix(n: int) -> np.ndarray:
    """Return the orthonormal DCT-II of length ``n`` (rows are the basis)."""
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    m = np.cos(np.pi * (2 * i + 1) * k / (2 * n)) * np.sqrt(2.0 / n)
    m[0] /= np.sqrt(2.0)
    return _frozen(m)


@functools.lru_cache(maxsize=16)
def _bior15_matrix(n: int) -> np.ndarray:
    """Return the periodic bior1.5 wavelet transform of length ``n``, unit-norm rows."""
    lo = np.sqrt(2.0) * np.array([3, -3, -22, 22, 128, 128, 22, -22, -3, 3]) / 256.0
    hi = np.array([0, 0, 0, 0, -1, 1, 0, 0, 0, 0]) / np.sqrt(2.0)
    cur = np.eye(n)
    details: list[np.ndarray] = []
    m = n
    while m > 1:
        low, high = np.zeros((m // 2, m)), np.zeros((m // 2, m))
        for k in range(m // 2):
            cols = (2 * k + np.arange(lo.size) - 4) % m
            np.add.at(low[k], cols, lo)
            np.add.at(high[k], cols, hi)
        details.insert(0, high @ cur)
        cur = low @ cur
        m //= 2
    f = np.vstack([cur, *details])
    return _frozen(f / np.linalg.norm(f, axis=1, keepdims=True))


@functools.lru_cache(maxsize=16)
def _haar_matrix(n: int) -> np.ndarray:
    """Return the orthonormal full-depth Haar transform of length ``n = 2**k``."""
    h = np.ones((1, 1))
    while h.shape[0] < n:
        m = h.shape[0]
        top = np.kron(h, [1.0, 1.0])
        bottom = np.kron(np.eye(m), [1.0, -1.0])
        h = np.vstack([top, bottom]) / np.sqrt(2.0)
    return _frozen(h)


def _frozen(a: np.ndarray) -> np.ndarray:
    """Make a cached array read-only, so no caller can change it for the others."""
    a.flags.writeable = False
    return a


#: Largest m·n·k of one matrix product. OpenBLAS multithreads a product above
#: 4·65536; on a busy two-core machine its spinning workers cost more than they
#: save, so large products are issued as batches of small ones (numpy's stacked
#: matmul loops over the batch in C), which OpenBLAS keeps single-threaded.
_GEMM_SIZE = 1 << 17


def _gemm(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Return ``a @ b`` for 2-D float32 arrays, computed in small row blocks."""
    m, k = a.shape
    n = b.shape[1]
    if out is None:
        out = np.empty((m, n), np.float32)
    if not out.flags.c_contiguous:  # the reshapes below must be views of it
        msg = "_gemm needs a contiguous output"
        raise ValueError(msg)
    rows = max(1, _GEMM_SIZE // (k * n))
    cut = m - m % rows
    if cut:
        np.matmul(a[:cut].reshape(-1, rows, k), b, out=out[:cut].reshape(-1, rows, n))
    if cut < m:
        np.matmul(a[cut:], b, out=out[cut:])
    return out


def _patch_coeffs(pixels: np.ndarray, fwd: np.ndarray, out: np.ndarray) -> None:
    """Write the 2-D transform of every block of ``pixels`` into ``out``.

    pixels (C, h, w) → out (h-b+1, w-b+1, C * b * b) float32, where ``fwd``
    is the 1-D ``b×b`` transform applied along rows then columns; each
    block's coefficients are ordered (channel, horizontal, vertical
    frequency). Separable: 2·b multiply-adds per coefficient instead of b².
    """
    b = fwd.shape[0]
    c, h, w = pixels.shape
    hp, wp = h - b + 1, w - b + 1
    chunk = max(1, (1 << 17) // (w * c * b))  # patch rows per step: temporaries stay in cache
    for y in range(0, hp, chunk):
        rows = min(chunk, hp - y)
        part = np.moveaxis(pixels[:, y:y + rows + b - 1], 0, -1)  # (rows + b - 1, w, C)
        horiz = _gemm(sliding_window_view(part, b, axis=1).reshape(-1, b), fwd.T)
        horiz = horiz.reshape(rows + b - 1, wp, c, b)  # (y, x, C, horizontal frequency)
        vert = sliding_window_view(horiz, b, axis=0).reshape(-1, b)  # (y, x, C, l) × u
        _gemm(vert, fwd.T, out=out[y:y + rows].reshape(-1, b))


#: Reference blocks side by side whose distances to a run of candidates are
#: one small matrix product in :func:`_match`. Wider tiles make larger (more
#: efficient) products but compute more distances that no reference needs:
#: 4 is fastest at steps 4 and 6 (about 20 useful GMAC/s on one core).
_MATCH_TILE = 4
#: Low bits of a float32 distance replaced by the candidate's index, so that
#: one integer partition (SIMD-accelerated in numpy) finds the best matches
#: and their offsets at once; 10 bits index up to 1024 offsets (radius ≤ 15).
_INDEX_BITS = 10


class _Scratch:
    """Work arrays of one thread's sweeps, kept from band to band and pass to pass.

    A sweep's buffers and a band's temporaries are a few MB each. Allocated
    afresh, they are returned to the system when freed and faulted in again
    the next time: with two threads that cost a fifth or more of the run
    time (page faults and system time). Each named array is kept instead.
    """

    def __init__(self) -> None:
        self._arrays: dict[str, np.ndarray] = {}

    def get(self, name: str, shape: tuple[int, ...], dtype: type = np.float32) -> np.ndarray:
        """Return an uninitialised C-contiguous array ``shape`` kept under ``name``."""
        n = math.prod(shape)
        have = self._arrays.get(name)
        if have is None or have.dtype != dtype or have.size < n:
            grow = 0 if have is None else have.size + have.size // 4
            have = self._arrays[name] = np.empty(max(n, grow), dtype)
        return have[:n].reshape(shape)


class _Search:
    """The guide's blocks as vectors, for the block matching of one sweep.

    Holds the guide quantised to 511 levels over its range (the quantum
    ``unit``) and padded by ``radius`` (zeros), and every block's sum of
    squares, padded likewise. :meth:`patches` returns the blocks of a run
    of rows as ``(rows, columns, block²)`` vectors; consecutive bands of a
    sweep share about ``2·radius`` rows, which are copied from the previous
    band's array instead of gathered again.

    With levels of at most 255 in magnitude, every block distance and every
    partial sum of it is an integer below 2**24, exact in float32: matches
    are the same whatever BLAS computes the products, in whatever order
    (otherwise near-ties fall differently on another machine's BLAS). The
    quantum, range / 510, is far below the grouping threshold ``tau``.

    The range is the guide's nominal range `span` (the values black and
    white map to) widened by 5 % on each side: the same for every part of
    an image, so that a tile or a selection's box matches exactly as the
    whole image does. Values outside are clipped, unless the rarest 0.05 %
    at either end lies more than half the span beyond it (a scene-linear
    image with highlights far above white): the range then follows those
    percentiles of this guide. Without `span` it is those percentiles.
    """

    def __init__(self, guide: np.ndarray, stage: Stage, nx: int,
                 span: tuple[float, float] | None = None) -> None:
        b, s, r = stage.block, stage.step, stage.radius
        k = _MATCH_TILE
        self.stage = stage
        #: Candidate columns of one tile of ``k`` references, and of the whole row.
        self.run = (k - 1) * s + 1 + 2 * r
        self.cols = (-(-nx // k) - 1) * k * s + self.run
        w = guide.shape[1]
        lo, hi = _quantisation_range(guide, span)
        #: Guide value of one quantisation level: distances are in units of its square.
        self.unit = (hi - lo) / 510.0 if hi > lo else 1.0
        levels = np.rint((np.clip(guide, lo, hi).astype(np.float64) - 0.5 * (lo + hi))
                         / self.unit)
        # the last tile may reach past the image (references that are dropped)
        self.pad = np.pad(levels.astype(np.float32),
                          ((r, r), (r, max(r, self.cols + b - 1 - w - r))))
        energy = _block_sums(levels ** 2, b).astype(np.float32)
        self.energy = np.pad(energy, r)
        self._rows = (0, 0)
        self._work = _Scratch()
        self._names = ["blocks a", "blocks b"]

    def fork(self, work: _Scratch) -> _Search:
        """Return a search over the same guide with buffers in ``work`` (one per thread)."""
        other = copy.copy(self)
        other._rows, other._work, other._names = (0, 0), work, ["blocks a", "blocks b"]
        return other

    def patches(self, y0: int, rows: int) -> np.ndarray:
        """Return the blocks at padded rows ``[y0, y0 + rows)`` as vectors."""
        b = self.stage.block
        nb = b * b
        out = self._work.get(self._names[0], (rows, self.cols, nb))
        a0, a1 = self._rows
        keep = max(0, min(a1, y0 + rows) - y0) if a0 <= y0 else 0
        if keep:  # the previous band's array (same width) still holds them
            previous = self._work.get(self._names[1], (a1 - a0, self.cols, nb))
            out[:keep] = previous[y0 - a0:y0 - a0 + keep]
        if keep < rows:
            src = self.pad[y0 + keep:y0 + rows + b - 1, :self.cols + b - 1]
            out[keep:].reshape(rows - keep, self.cols, b, b)[...] = sliding_window_view(
                src, (b, b))
        self._names.reverse()  # the array just filled is the next call's previous one
        self._rows = (y0, y0 + rows)
        return out


def _quantisation_range(guide: np.ndarray, span: tuple[float, float] | None
                        ) -> tuple[float, float]:
    """Return the guide values quantised to the lowest and highest level (see :class:`_Search`)."""
    p_lo, p_hi = (float(v) for v in np.percentile(guide, [0.05, 99.95]))
    if span is None:
        lo, hi = p_lo, p_hi
    else:
        lo, hi = span
        width = hi - lo
        lo = p_lo if p_lo < lo - 0.5 * width else lo
        hi = p_hi if p_hi > hi + 0.5 * width else hi
    return lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo)  # ordinary extremes stay in


def _distances(search: _Search, ys: np.ndarray, xs: np.ndarray, stage: Stage,
               work: _Scratch) -> np.ndarray:
    """Return the squared distances of the reference blocks in rows ``ys`` to their candidates.

    The result ``(len(ys), len(xs), 2*radius + 1, 2*radius + 1)``, indexed
    (reference row, reference column, dy, dx), is in units of
    ``search.unit²`` and lives in ``work``. ``|a - b|² = |a|² + |b|² - 2 a·b``,
    where the cross terms are batched matrix products (BLAS): each tile of
    :data:`_MATCH_TILE` neighbouring references times the run of candidate
    blocks their windows cover, one row of offsets at a time; each
    reference's own window is then read out of its tile's products. All
    terms are integers below 2**24 (see :class:`_Search`), so the result
    is exact.
    """
    b, r, s = stage.block, stage.radius, stage.step
    nw = 2 * r + 1
    k = _MATCH_TILE
    y0 = int(ys[0])
    ny, nx = len(ys), len(xs)
    nt = -(-nx // k)
    run = search.run
    p = search.patches(y0, (ny - 1) * s + 1 + 2 * r)  # block vectors of the band
    p0, p1 = p.strides[:2]
    refs = as_strided(p[r:, r:], shape=(ny, nt, 1, k, b * b),
                      strides=(s * p0, k * s * p1, 0, s * p1, 4))
    cand = as_strided(p, shape=(ny, nt, nw, b * b, run),
                      strides=(s * p0, k * s * p1, p0, 4, p1))
    prod = np.matmul(refs, cand, out=work.get("products", (ny, nt, nw, k, run)))
    # (row, tile, dy, reference in tile, candidate in run)
    q = prod.strides
    cross = as_strided(prod, shape=(ny, nt, k, nw, nw),  # (row, tile, reference, dy, dx)
                       strides=(q[0], q[1], q[3] + s * q[4], q[2], q[4]))
    full = work.get("distances", (ny, nt * k, nw, nw))
    np.multiply(cross, np.float32(-2.0), out=full.reshape(ny, nt, k, nw, nw))
    dist = full[:, :nx]  # squared distance = |ref|² + |candidate|² - 2 cross
    e = search.energy[y0:]
    dist += as_strided(e, shape=(ny, nx, nw, nw),
                       strides=(s * e.strides[0], s * e.strides[1], *e.strides))
    dist += search.energy[r + y0:r + y0 + (ny - 1) * s + 1:s,
                          r:r + (nx - 1) * s + 1:s, None, None]
    return dist


def _match(search: _Search, ys: np.ndarray, xs: np.ndarray, hp: int, wp: int,
           stage: Stage, work: _Scratch) -> tuple[np.ndarray, np.ndarray]:
    """Find the most similar blocks of every reference block in rows ``ys``.

    Returns the matches (n, group) as indices into the ``(2*radius + 1)²``
    search offsets, row by row (int16; :func:`_positions` makes them patch
    indices), best first with the reference itself first, and each group's
    size: the largest power of two not above the number of blocks closer
    than ``tau``.
    """
    b, r = stage.block, stage.radius
    nw = 2 * r + 1
    ny, nx = len(ys), len(xs)
    dist = _distances(search, ys, xs, stage, work)
    low = np.int32((1 << _INDEX_BITS) - 1)
    keys = dist.view(np.int32)
    keys &= ~low
    keys |= np.arange(nw * nw, dtype=np.int32).reshape(nw, nw)
    # candidates outside the image go last: only references near a border have any
    off = np.arange(-r, r + 1)
    row_out = (ys[:, None] + off < 0) | (ys[:, None] + off >= hp)
    col_out = (xs[:, None] + off < 0) | (xs[:, None] + off >= wp)
    worst = np.iinfo(np.int32).max
    for i in np.flatnonzero(row_out.any(axis=1)):
        keys[i][:, row_out[i]] = worst
    for j in np.flatnonzero(col_out.any(axis=1)):
        keys[:, j][..., col_out[j]] = worst
    keys[:, :, r, r] = -1  # the reference block always leads its group
    kk = min(stage.group, nw * nw)
    flat = keys.reshape(ny, nx, nw * nw)
    flat.partition(kk - 1, axis=-1)  # in place: the distances are not needed again
    top = np.sort(flat[..., :kk], axis=-1).reshape(ny * nx, kk)
    idx = top & low
    idx[:, 0] = r * nw + r
    best = (top[:, 1:] & ~low).view(np.float32)
    count = 1 + (best < stage.tau * b * b / search.unit ** 2).sum(axis=1)
    size = np.minimum(2 ** np.floor(np.log2(count)).astype(np.int64), kk)
    return idx.astype(np.int16), size.astype(np.uint8)


def _positions(idx: np.ndarray, ys: np.ndarray, xs: np.ndarray, wp: int,
               radius: int) -> np.ndarray:
    """Return the flat patch indices ``y * wp + x`` of the matches ``idx`` of :func:`_match`."""
    nw = 2 * radius + 1
    offset = idx.astype(np.int64)
    my = np.repeat(ys, len(xs))[:, None] + offset // nw - radius
    mx = np.tile(xs, len(ys))[:, None] + offset % nw - radius
    return my * wp + mx


class Matches:
    """The block matches of one pass, kept for a later pass on the same grid.

    Both passes must match on the same guide image (which is not checked;
    the grid's size is); the later pass takes the first ``group`` blocks of
    each recorded group, which are exactly the ones it would have found
    itself.
    """

    def __init__(self, stage: Stage) -> None:
        self.stage = stage
        #: Size (rows, columns) of the recorded pass's grid of block positions.
        self.grid: tuple[int, int] | None = None
        self.steps: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def fits(self, stage: Stage) -> bool:
        """Whether ``stage`` searches the grid and groups that were recorded."""
        a = self.stage
        return (a.block, a.step, a.radius, a.offset, a.tau) == (
            stage.block, stage.step, stage.radius, stage.offset, stage.tau) and (
            stage.group <= a.group)


def _block_sums(a: np.ndarray, b: int) -> np.ndarray:
    """Return the sums over every ``b×b`` window of ``a`` (valid positions)."""
    c = np.cumsum(a, axis=0)
    c = np.concatenate([c[b - 1:b], c[b:] - c[:-b]], axis=0)
    c = np.cumsum(c, axis=1)
    return np.concatenate([c[:, b - 1:b], c[:, b:] - c[:, :-b]], axis=1)


#: Coefficients of the groups filtered together: their temporaries (a few
#: copies of this many float32) then stay in a core's L2 cache. Filtering
#: all groups of a sweep step at once streams them through memory: 10-25 %
#: slower on real groups, 2-3 times on scattered ones.
_GROUP_CHUNK = 1 << 17


def _filter(cz: np.ndarray, cb: np.ndarray | None, members: np.ndarray, hm: np.ndarray,
            c: int, nb: int, sig2: np.ndarray, thr: np.ndarray, wiener: bool,
            est: np.ndarray, weight: np.ndarray) -> None:
    """Filter groups of equal size in the 3-D transform domain.

    ``members`` (m, n) holds the groups' patch rows of ``cz`` (and of the
    pilot ``cb`` when ``wiener``); ``sig2`` and ``thr`` hold each channel's
    noise variance and hard threshold, shaped ``(c, 1)``. Writes the
    weighted filtered coefficients of every member into ``est`` (m*n, c*nb)
    and the member weights into ``weight`` (m*n, c). The groups are taken a
    cache-sized chunk at a time.
    """
    m, n = members.shape
    if not est.flags.c_contiguous:  # the per-chunk reshapes below must be views of it
        msg = "_filter needs a contiguous output"
        raise ValueError(msg)
    step = max(1, _GROUP_CHUNK // (n * c * nb))
    for g0 in range(0, m, step):
        g1 = min(m, g0 + step)
        part = members[g0:g1]
        k = g1 - g0
        tz = np.matmul(hm, cz[part]).reshape(k, n, c, nb)
        if wiener:
            assert cb is not None
            tb = np.matmul(hm, cb[part]).reshape(k, n, c, nb)
            tb *= tb
            shrink = tb / (tb + sig2)
            tz *= shrink
            energy = np.einsum("mncj,mncj->mc", shrink, shrink)
            w = 1.0 / (sig2[:, 0] * np.maximum(energy, 1e-3))
        else:
            keep = np.abs(tz) > thr
            tz *= keep
            # kept coefficients per group and channel; summing bytes along one
            # contiguous axis is 2-3 times faster than count_nonzero over two
            nz = keep.view(np.uint8).transpose(0, 2, 1, 3).reshape(k, c, n * nb).sum(
                axis=2, dtype=np.int32)
            w = 1.0 / (sig2[:, 0] * np.maximum(nz, 1))
        w = w.astype(np.float32)
        tz *= w[:, None, :, None]
        np.matmul(hm.T, tz.reshape(k, n, c * nb),
                  out=est[g0 * n:g1 * n].reshape(k, n, c * nb))
        weight[g0 * n:g1 * n] = np.repeat(w, n, axis=0)


class _Ring:
    """Rows of per-patch arrays kept in a circular buffer while a sweep needs them."""

    def __init__(self, data: np.ndarray) -> None:
        """Keep rows of per-patch arrays in ``data`` ``(rows, wp, lanes)``."""
        self.rows = data.shape[0]
        self.data = data

    def spans(self, y0: int, y1: int) -> list[tuple[int, int, int]]:
        """Split image rows [y0, y1) into (image row, ring row, count) runs."""
        out = []
        while y0 < y1:
            slot = y0 % self.rows
            n = min(y1 - y0, self.rows - slot)
            out.append((y0, slot, n))
            y0 += n
        return out


Report = Callable[[float], None]


def collaborative_stage(noisy: np.ndarray, sigma: float | np.ndarray, stage: Stage, *,
                        guide: np.ndarray | None = None,
                        basic: np.ndarray | None = None, workers: int = 1,
                        progress: Report | None = None, record: Matches | None = None,
                        replay: Matches | None = None,
                        buffers: list[_Scratch] | None = None,
                        span: tuple[float, float] | None = None) -> np.ndarray:
    """Run one collaborative-filtering pass.

    Parameters
    ----------
    noisy : ndarray
        float32 ``(C, H, W)`` with white noise in every channel, of std
        `sigma` (channels decorrelated, e.g. opponent colour).
    sigma : float or ndarray
        Noise standard deviation, same scale as the pixels: one for all
        channels or one per channel.
    stage : Stage
        The pass's settings.
    guide : ndarray, optional
        ``(H, W)`` image the blocks are matched on; default channel 0 of
        `basic` (or of `noisy` for the first pass).
    basic : ndarray, optional
        ``(C, H, W)`` pilot estimate; required when ``stage.wiener``.
    workers : int
        Threads sweeping separate bands of rows.
    progress : callable, optional
        Receives the completed fraction of the pass; may raise to cancel.
    record : Matches, optional
        Keeps this pass's block matches here.
    replay : Matches, optional
        Block matches recorded by an earlier pass on the same guide, used
        instead of searching again.
    buffers : list of _Scratch, optional
        Work arrays, one set per thread (at least `workers`), kept by the
        caller for its next pass; default fresh ones.
    span : tuple of float, optional
        Nominal range of the guide (black and white), which fixes its
        quantisation for the matching (see :class:`_Search`); default the
        guide's own range.

    Returns
    -------
    ndarray
        float32 ``(C, H, W)`` estimate.
    """
    h0, w0 = noisy.shape[1:]
    b, s, r = stage.block, stage.step, stage.radius
    g = stage.group
    if (not 0 <= r < 2 ** (_INDEX_BITS // 2) // 2 or not 1 <= g <= 128 or g & (g - 1)
            or (stage.wiener and basic is None)):
        msg = f"unsupported stage {stage}"
        raise ValueError(msg)
    if replay is not None and not replay.fits(stage):
        msg = f"matches recorded by {replay.stage} do not fit {stage}"
        raise ValueError(msg)
    # pad (mirror) so that the reference grid is regular and ends on the last block
    o = stage.offset
    ph = max(b, h0 + o) - b
    pw = max(b, w0 + o) - b
    ph, pw = -(-ph // s) * s + b - h0 - o, -(-pw // s) * s + b - w0 - o
    if ph or pw or o:
        pad = ((0, 0), (o, ph), (o, pw))
        noisy = np.pad(noisy, pad, mode="symmetric")
        basic = None if basic is None else np.pad(basic, pad, mode="symmetric")
        guide = None if guide is None else np.pad(guide, pad[1:], mode="symmetric")
    h, w = noisy.shape[1:]
    hp, wp = h - b + 1, w - b + 1
    if record is not None:
        record.grid = (hp, wp)
    if replay is not None and replay.grid != (hp, wp):
        msg = f"matches recorded on a {replay.grid} grid do not fit this {(hp, wp)} one"
        raise ValueError(msg)
    if stage.transform == "bior":
        one = _bior15_matrix(b)
    else:
        one = _dct_matrix(b)
    fwd = one.astype(np.float32)
    win1 = np.kaiser(b, stage.beta)
    window = np.outer(win1, win1).astype(np.float32)
    # 1-D inverse transform followed by the Kaiser window: coefficients → weighted pixels
    back = (win1[:, None] * np.linalg.inv(one)).astype(np.float32)
    if guide is None:
        guide = (basic if basic is not None else noisy)[0]
    ys, xs = np.arange(0, hp, s), np.arange(0, wp, s)
    # what the search needs; replayed matches need none of it
    search = None if replay is not None else _Search(guide, stage, len(xs), span)
    per_channel = np.broadcast_to(np.asarray(sigma, np.float64), (noisy.shape[0],))
    # A channel without noise is still filtered, as if with a trace of it.
    per_channel = np.maximum(per_channel, 1e-3 * max(float(per_channel.max()), 1e-6))
    sig2 = (per_channel ** 2).astype(np.float32)[:, None]
    thr = (stage.lam * per_channel).astype(np.float32)[:, None]
    haar = {}
    n = 1
    while n <= stage.group:
        haar[n] = _haar_matrix(n).astype(np.float32)
        n *= 2

    # reference rows per sweep step: keep the matching temporaries near 10 MB
    # (block vectors and products), and report progress at least 4 times per pass
    sub = max(1, min((1 << 20) // ((2 * r + 1) * w * (b + s)), -(-len(ys) // 4)))
    steps = [ys[j:j + sub] for j in range(0, len(ys), sub)]
    tick = None
    if progress is not None:
        lock = threading.Lock()
        done = [0]
        report = progress

        def tick() -> None:
            with lock:
                done[0] += 1
                fraction = done[0] / len(steps)
            report(fraction)

    ctx = _Sweep(noisy, basic, search, xs, hp, wp, stage, fwd, back, haar,
                 sig2, thr, sub, tick, record, replay)
    parts = min(max(1, workers), len(steps))
    if buffers is None:
        buffers = [_Scratch() for _ in range(parts)]
    if len(buffers) < parts:
        msg = f"{parts} threads need as many sets of buffers, got {len(buffers)}"
        raise ValueError(msg)
    if parts == 1:
        num, weights = ctx.run(steps, buffers[0])
    else:
        bounds = np.linspace(0, len(steps), parts + 1).round().astype(int)
        with ThreadPoolExecutor(max_workers=parts - 1) as pool:
            futures = [pool.submit(ctx.run, steps[bounds[i]:bounds[i + 1]], buffers[i])
                       for i in range(1, parts)]
            # this thread takes part 0
            num, weights = ctx.run(steps[bounds[0]:bounds[1]], buffers[0])
            for future in futures:
                more_num, more_weights = future.result()
                num += more_num
                weights += more_weights
    den = _spread(weights, window)
    crop = (slice(None), slice(o, o + h0), slice(o, o + w0))
    return np.moveaxis(num, -1, 0)[crop] / np.maximum(den[crop], 1e-12)


def _spread(weights: np.ndarray, window: np.ndarray) -> np.ndarray:
    """Return the aggregation weight of every pixel.

    ``weights`` (C, hp, wp) holds the weight of each block position; each is
    spread over the block's pixels by the (separable) Kaiser window.
    """
    b = window.shape[0]
    w1 = np.sqrt(np.diag(window))  # the window is an outer product w1 ⊗ w1
    c, hp, wp = weights.shape
    rows = np.zeros((c, hp + b - 1, wp), np.float32)
    for u in range(b):
        rows[:, u:u + hp] += np.float32(w1[u]) * weights
    out = np.zeros((c, hp + b - 1, wp + b - 1), np.float32)
    for v in range(b):
        out[:, :, v:v + wp] += np.float32(w1[v]) * rows
    return out


class _Sweep:
    """One collaborative-filtering pass over a run of reference rows."""

    def __init__(self, noisy: np.ndarray, basic: np.ndarray | None,
                 search: _Search | None, xs: np.ndarray,
                 hp: int, wp: int, stage: Stage,
                 fwd: np.ndarray, back: np.ndarray, haar: dict[int, np.ndarray],
                 sig2: np.ndarray, thr: np.ndarray, sub: int,
                 tick: Callable[[], None] | None, record: Matches | None,
                 replay: Matches | None) -> None:
        self.noisy, self.basic, self.search = noisy, basic, search
        self.xs, self.hp, self.wp, self.stage = xs, hp, wp, stage
        self.fwd, self.back, self.haar = fwd, back, haar
        self.sig2, self.thr, self.sub, self.tick = sig2, thr, sub, tick
        self.record, self.replay = record, replay

    def run(self, steps: list[np.ndarray], work: _Scratch) -> tuple[np.ndarray, np.ndarray]:
        """Filter the reference rows ``steps`` (a list of row batches).

        Returns the weighted sum of block estimates per pixel (H, W, C) and
        the weight of every block position (C, hp, wp), both arrays of
        ``work`` (the thread's buffers, also used for every temporary).
        """
        stage, hp, wp = self.stage, self.hp, self.wp
        b, r = stage.block, stage.radius
        c, h, w = self.noisy.shape
        nb = b * b
        cnb = c * nb
        num = work.get("sum", (h, w, c))
        num.fill(0.0)
        weights = work.get("block weights", (c, hp, wp))
        weights.fill(0.0)
        ring_rows = (self.sub - 1) * stage.step + 1 + 2 * r
        cz = _Ring(work.get("coefficients", (ring_rows, wp, cnb)))
        cb = None
        if self.basic is not None:
            cb = _Ring(work.get("pilot coefficients", (ring_rows, wp, cnb)))
        # summed coefficients of each block position, and their weights
        acc = _Ring(work.get("sums ring", (ring_rows, wp, cnb)))
        acc_w = _Ring(work.get("weights ring", (ring_rows, wp, c)))
        acc.data.fill(0.0)
        acc_w.data.fill(0.0)
        search = None if self.search is None else self.search.fork(work)
        start = max(0, int(steps[0][0]) - r)
        done = ready = start  # rows flushed to the image / rows with coefficients
        for rows in steps:
            lo, hi = max(0, int(rows[0]) - r), min(hp, int(rows[-1]) + r + 1)
            _flush(acc, acc_w, done, lo, self.back, num, weights, work)
            done = lo
            for y, slot, n in cz.spans(ready, hi):
                _patch_coeffs(self.noisy[:, y:y + n + b - 1], self.fwd, cz.data[slot:slot + n])
                if cb is not None:
                    assert self.basic is not None
                    _patch_coeffs(self.basic[:, y:y + n + b - 1], self.fwd,
                                  cb.data[slot:slot + n])
            ready = hi
            idx, size = self._matches(rows, search, work)
            members_all = _positions(idx, rows, self.xs, wp, r)
            members_all = (members_all // wp % ring_rows) * wp + members_all % wp  # ring slots
            flat_z = cz.data.reshape(-1, cnb)
            flat_b = None if cb is None else cb.data.reshape(-1, cnb)
            total = int(size.sum())
            est = work.get("estimates", (total, cnb))
            weight = work.get("weights", (total, c))
            slots = work.get("slots", (total,), members_all.dtype.type)
            at = 0
            for n, hm in self.haar.items():
                sel = np.flatnonzero(size == n)
                if sel.size == 0:
                    continue
                members = members_all[sel, :n]
                end = at + members.size
                _filter(flat_z, flat_b, members, hm, c, nb, self.sig2, self.thr,
                        stage.wiener, est[at:end], weight[at:end])
                slots[at:end] = members.ravel()
                at = end
            _scatter_add(acc.data.reshape(-1, cnb), acc_w.data.reshape(-1, c), slots, est,
                         weight, work)
            if self.tick is not None:
                self.tick()
        _flush(acc, acc_w, done, hp, self.back, num, weights, work)
        return num, weights

    def _matches(self, rows: np.ndarray, search: _Search | None,
                 work: _Scratch) -> tuple[np.ndarray, np.ndarray]:
        """Return the matches and group sizes of the reference rows ``rows``."""
        key = int(rows[0])
        if self.replay is not None:
            idx, size = self.replay.steps[key]
            group = self.stage.group
            return idx[:, :group], np.minimum(size, group)
        assert search is not None
        idx, size = _match(search, rows, self.xs, self.hp, self.wp, self.stage, work)
        if self.record is not None:
            self.record.steps[key] = (idx, size)
        return idx, size


def _scatter_add(acc: np.ndarray, acc_w: np.ndarray, rows: np.ndarray, est: np.ndarray,
                 weight: np.ndarray, work: _Scratch) -> None:
    """Add ``est`` to the rows ``rows`` of ``acc``, and ``weight`` to those of ``acc_w``.

    Rows may repeat (a block joins several groups). The entries are sorted
    by row and summed per row as one sparse-times-dense product, which is
    several times faster than ``np.add.at``; each row touched is read once,
    the product added to it in place, and written back once.
    """
    if len(rows) == 0:
        return
    order = np.argsort(rows, kind="stable")
    ordered = rows[order]
    starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
    indptr = np.append(starts, len(rows))
    target = ordered[starts]
    ones = work.get("ones", (len(rows),))
    ones.fill(1.0)
    for name, into, add in (("sums", acc, est), ("weight sums", acc_w, weight)):
        # take, add, put: faster than a fancy +=
        sums = into.take(target, axis=0, out=work.get(name, (len(target), into.shape[1])))
        if _csr_matvecs is not None:  # no product array to allocate and fault in
            _csr_matvecs(len(target), len(rows), add.shape[1], indptr, order, ones,
                         np.ascontiguousarray(add).ravel(), sums.ravel())
        else:
            sums += csr_matrix((ones, order, indptr), shape=(len(target), len(rows))) @ add
        into[target] = sums


#: Columns of one product in :func:`_inverse_rows`: 8·8·4096 multiply-adds
#: stay at OpenBLAS's single-thread limit (see :data:`_GEMM_SIZE`).
_INVERSE_COLUMNS = 4096


def _inverse_rows(back: np.ndarray, rows: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Apply ``back`` to the last axis of ``rows`` (n, m, b), frequency-major out.

    Fills and returns ``out`` (n, b, m) with ``out[i, u] = rows[i] @ back[u]``, so each
    output index ``u`` of a row is one contiguous run: the overlap-add that
    follows shifts whole runs instead of striding through them.
    """
    m = rows.shape[1]
    for j in range(0, m, _INVERSE_COLUMNS):
        k = min(m, j + _INVERSE_COLUMNS)
        np.matmul(back, rows[:, j:k].transpose(0, 2, 1), out=out[:, :, j:k])
    return out


def _flush(acc: _Ring, acc_w: _Ring, y0: int, y1: int, back: np.ndarray, num: np.ndarray,
           weights: np.ndarray, work: _Scratch) -> None:
    """Move the finished patch rows [y0, y1) of the accumulators onto the image.

    ``back`` is the 1-D inverse transform with the Kaiser window folded in;
    the inverse and the overlap-add run separably, vertical then
    horizontal, into ``num`` (H, W, C); the block weights go to ``weights``
    (C, hp, wp).
    """
    c = weights.shape[0]
    b = back.shape[0]
    for y, slot, n in acc.spans(y0, y1):
        part = acc.data[slot:slot + n]
        wp = part.shape[1]
        # (y, x·C·l, k) → (y, u, x·C·l) → summed over the rows u of each block
        t1 = _inverse_rows(back, part.reshape(n, wp * c * b, b),
                           work.get("vertical", (n, b, wp * c * b)))
        cols = work.get("columns", (n + b - 1, wp * c * b))  # (Y, x·C·l)
        cols.fill(0.0)
        for u in range(b):
            cols[u:u + n] += t1[:, u]
        # (Y, x·C, l) → (Y, v, x·C) → summed over the columns v of each block
        t2 = _inverse_rows(back, cols.reshape(n + b - 1, wp * c, b),
                           work.get("horizontal", (n + b - 1, b, wp * c)))
        t2 = t2.reshape(n + b - 1, b, wp, c)
        for v in range(b):
            num[y:y + n + b - 1, v:v + wp] += t2[:, v]
        weights[:, y:y + n] = np.moveaxis(acc_w.data[slot:slot + n], -1, 0)
        part.fill(0.0)
        acc_w.data[slot:slot + n].fill(0.0)


#: Orthonormal opponent colour transform (luma, red-blue, green-magenta): white
#: noise of equal strength in R, G, B stays white with the same strength.
OPPONENT = np.array([[1.0, 1.0, 1.0], [1.0, 0.0, -1.0], [0.5, -1.0, 0.5]]) / np.sqrt(
    [[3.0], [2.0], [1.5]])


def bm3d(image: np.ndarray, sigma: float | np.ndarray, first: Stage,
         second: Stage | None, *,
         workers: int = 1, progress: Report | None = None,
         span: tuple[float, float] | None = None) -> np.ndarray:
    """Denoise with BM3D (gray) or CBM3D (colour).

    Parameters
    ----------
    image : ndarray
        float32 ``(H, W, C)``; colour (C = 3) is filtered in the opponent
        space with blocks matched on luma, other channel counts jointly.
    sigma : float or ndarray
        Noise standard deviation, same scale as the pixels: one for every
        channel, or one per filtered plane (for colour the opponent planes:
        luma, red–blue, green–magenta).
    first, second : Stage
        The hard-thresholding pass and the (optional) Wiener pass.
    workers : int
        Threads per pass.
    progress : callable, optional
        Receives the completed fraction.
    span : tuple of float, optional
        The values black and white have in `image` (the same in every
        channel); blocks are then matched alike in any part of an image.
        Default: each call's own range.

    Returns
    -------
    ndarray
        float32 ``(H, W, C)`` estimate.
    """
    x = np.ascontiguousarray(np.moveaxis(image, -1, 0), dtype=np.float32)
    color = x.shape[0] == 3
    if color:
        x = _mix(OPPONENT, x)
    # match on (a multiple of) the channel mean: luma in colour
    scale = np.float32(1.0 / np.sqrt(3.0)) if color else np.float32(1.0)
    guide = x[0] * scale if color else x.mean(axis=0)
    share = 0.4 if second is not None else 1.0  # the first pass is the cheaper one
    # A second pass matching on the noisy image too, on the same grid, reuses
    # the first pass's matches.
    matches = None
    if second is not None and second.match_noisy:
        matches = Matches(first)
        if not matches.fits(second):
            matches = None
    buffers = [_Scratch() for _ in range(max(1, workers))]  # both passes use them
    with _small_pages():
        est = collaborative_stage(x, sigma, first, guide=guide, workers=workers,
                                  progress=_part(progress, 0.0, share), record=matches,
                                  buffers=buffers, span=span)
        if second is not None:
            if not second.match_noisy:
                guide = est[0] * scale if color else est.mean(axis=0)
            est = collaborative_stage(x, sigma, second, basic=est, guide=guide,
                                      workers=workers, progress=_part(progress, share, 1.0),
                                      replay=matches, buffers=buffers, span=span)
    if color:
        est = _mix(OPPONENT.T, est)
    return np.ascontiguousarray(np.moveaxis(est, 0, -1))


def _part(progress: Report | None, start: float, stop: float) -> Report | None:
    if progress is None:
        return None
    report = progress
    return lambda f: report(start + (stop - start) * f)


def _mix(matrix: np.ndarray, planes: np.ndarray) -> np.ndarray:
    """Return ``matrix @ planes`` over the leading (channel) axis, without BLAS."""
    out = np.zeros((matrix.shape[0], *planes.shape[1:]), np.float32)
    for i in range(matrix.shape[0]):
        for j in range(matrix.shape[1]):
            if matrix[i, j]:
                out[i] += np.float32(matrix[i, j]) * planes[j]
    return out

