"""Smooth hole filling: the thin-plate (biharmonic) fill as a sparse solve.

Private helper of :mod:`photomend.ops.inpaint`. Only the hole pixels are
unknowns, so the cost follows the damaged area, not the image size.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage, sparse
from scipy.sparse.linalg import splu

__all__ = ["thin_plate_fill", "thin_plate_hole_values"]

#: Holes with more unknowns than this are solved coarse-to-fine.
DIRECT_LIMIT = 160_000
#: Depth (px) of the band next to the known pixels that is solved at full
#: resolution when a large hole is solved coarse-to-fine.
BAND = 12

# Second-difference stencils of the thin-plate energy
# E(u) = Σ u_xx² + u_yy² + 2 u_xy²; entries are (dy, dx, coefficient).
_STENCILS: tuple[tuple[float, tuple[tuple[int, int, float], ...]], ...] = (
    (1.0, ((0, -1, 1.0), (0, 0, -2.0), (0, 1, 1.0))),
    (1.0, ((-1, 0, 1.0), (0, 0, -2.0), (1, 0, 1.0))),
    (float(np.sqrt(2.0)), ((0, 0, 1.0), (0, 1, -1.0), (1, 0, -1.0), (1, 1, 1.0))),
)
#: Weight of the membrane (first-difference) term against the thin-plate
#: term. Natural images are far from smooth: on Kodak crops a mostly
#: membrane fill (1-3) scores 1.5 dB above the pure thin plate (0); 1.0
#: is best on both benchmark sets and mask kinds (by 0.03-0.05 dB over 2.0).
TENSION = 1.0


def _system(values: np.ndarray, hole: np.ndarray) -> tuple[sparse.csc_matrix, np.ndarray,
                                                           np.ndarray]:
    """Return ``(A, b, flat hole indices)`` of the thin-plate normal equations."""
    h, w, channels = values.shape
    flat_hole = np.flatnonzero(hole)  # sorted: unknown number = rank in this list
    rows_i: list[np.ndarray] = []
    cols_i: list[np.ndarray] = []
    data_i: list[np.ndarray] = []
    rhs_parts: list[np.ndarray] = []
    n_rows = 0
    stencils = list(_STENCILS)
    if TENSION > 0:
        t = float(np.sqrt(TENSION))
        stencils += [(t, ((0, 0, -1.0), (0, 1, 1.0))), (t, ((0, 0, -1.0), (1, 0, 1.0)))]
    for weight, taps in stencils:
        dys = [t[0] for t in taps]
        dxs = [t[1] for t in taps]
        y0, y1 = -min(dys), h - max(dys)
        x0, x1 = -min(dxs), w - max(dxs)
        if y1 <= y0 or x1 <= x0:
            continue
        # A row exists where the stencil fits in the image and touches the hole.
        touched = np.zeros((y1 - y0, x1 - x0), dtype=bool)
        for dy, dx, _ in taps:
            touched |= hole[y0 + dy:y1 + dy, x0 + dx:x1 + dx]
        cy, cx = np.nonzero(touched)
        cy += y0
        cx += x0
        count = cy.size
        if count == 0:
            continue
        known = np.zeros((count, channels), dtype=np.float64)
        for dy, dx, coef in taps:
            ty, tx = cy + dy, cx + dx
            unknown = hole[ty, tx]
            # No full-size index image: look the unknowns up by rank.
            col = np.searchsorted(flat_hole, ty[unknown] * w + tx[unknown])
            rows_i.append(n_rows + np.flatnonzero(unknown))
            cols_i.append(col)
            data_i.append(np.full(col.size, weight * coef))
            k = ~unknown
            known[k] += (weight * coef) * values[ty[k], tx[k]]
        rhs_parts.append(known)
        n_rows += count
    b_mat = sparse.csr_matrix(
        (np.concatenate(data_i), (np.concatenate(rows_i), np.concatenate(cols_i))),
        shape=(n_rows, flat_hole.size))
    r = np.concatenate(rhs_parts, axis=0)
    a_mat = (b_mat.T @ b_mat).tocsc()
    b_vec = -(b_mat.T @ r)
    return a_mat, b_vec, flat_hole


def _direct(values: np.ndarray, hole: np.ndarray) -> None:
    """Fill ``values[hole]`` in place with the exact thin-plate solution."""
    a_mat, b_vec, flat_hole = _system(values, hole)
    solution = splu(a_mat, permc_spec="COLAMD").solve(b_vec)
    values.reshape(-1, values.shape[-1])[flat_hole] = solution.astype(values.dtype)


def _downsample(values: np.ndarray, hole: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Halve resolution: mean of the known pixels; hole where any pixel is."""
    h, w, channels = values.shape
    hp, wp = h + h % 2, w + w % 2
    v = np.pad(values, ((0, hp - h), (0, wp - w), (0, 0)), mode="edge")
    k = np.pad(~hole, ((0, hp - h), (0, wp - w)), mode="edge").astype(values.dtype)
    vk = (v * k[..., None]).reshape(hp // 2, 2, wp // 2, 2, channels).sum(axis=(1, 3))
    n = k.reshape(hp // 2, 2, wp // 2, 2).sum(axis=(1, 3))
    coarse_hole = n < 4
    coarse = vk / np.maximum(n, 1)[..., None]
    return coarse.astype(values.dtype), coarse_hole


def _affine_trend(values: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """Return the least-squares affine fit to the known ring around the hole."""
    h, w = hole.shape
    ring = ndimage.binary_dilation(hole, iterations=3) & ~hole
    ys, xs = np.nonzero(ring)
    if ys.size < 3:
        return np.zeros_like(values)
    scale = float(max(h, w))
    design = np.stack([np.ones(ys.size), ys / scale, xs / scale], axis=1)
    coef, *_ = np.linalg.lstsq(design, values[ys, xs].astype(np.float64), rcond=None)
    yy = (np.arange(h, dtype=np.float64) / scale)[:, None, None]
    xx = (np.arange(w, dtype=np.float64) / scale)[None, :, None]
    return (coef[0] + yy * coef[1] + xx * coef[2]).astype(np.float32)


def _near_border(hole: np.ndarray) -> bool:
    """Whether the hole comes within 2 px (the stencils' reach) of the border."""
    return bool(hole[:2].any() or hole[-2:].any() or hole[:, :2].any() or hole[:, -2:].any())


def thin_plate_fill(values: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """Return `values` with the hole replaced by the thin-plate interpolant.

    Parameters
    ----------
    values : ndarray
        float32 ``(H, W, C)``; values inside the hole are ignored.
    hole : ndarray
        bool ``(H, W)``; at least one pixel must be outside it.

    Returns
    -------
    ndarray
        A filled float32 copy.

    Notes
    -----
    Minimises the discrete thin-plate energy
    ``Σ (u_xx² + u_yy² + 2 u_xy²)`` over the hole pixels with the others
    fixed. Second differences are used only where their stencil fits in the
    image, which gives natural boundary conditions at the image border and
    reproduces any affine function exactly. In the interior the minimiser
    solves the biharmonic equation ``Δ²u = 0`` ([1]_). Holes with more than
    :data:`DIRECT_LIMIT` unknowns are solved on a half-resolution grid
    (recursively); the fine solve then covers only a band of :data:`BAND`
    pixels next to the known pixels, with the upsampled coarse solution
    fixed deeper inside.

    References
    ----------
    .. [1] S. B. Damelin and N. S. Hoang, "On surface completion and image
       inpainting by biharmonic functions: numerical aspects", Int. J. Math.
       Math. Sci., 2018.
    """
    hole = np.asarray(hole, dtype=bool)
    if not hole.any():
        return np.array(values, dtype=np.float32, copy=True)
    # Solving for the residual of an affine fit changes nothing inside the
    # image (both energies vanish on affine functions) but makes holes at
    # the image border continue a ramp instead of levelling off. Away from
    # the border (stencils reach 2 px) it changes nothing at all: skip it.
    if not _near_border(hole):
        return _fill(np.asarray(values, dtype=np.float32), hole)
    trend = _affine_trend(values, hole)
    out = _fill(np.asarray(values, dtype=np.float32) - trend, hole)
    out += trend
    return out


def thin_plate_hole_values(values: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """Return the thin-plate fill of the hole pixels only, in row-major order.

    Same values as ``thin_plate_fill(values, hole)[hole]`` (float32
    ``(n, C)``); for holes away from the border that need no coarse-to-fine
    solve, no full-size copy of `values` is made, so a view of a large
    image costs only its hole.
    """
    hole = np.asarray(hole, dtype=bool)
    n = int(hole.sum())
    if n == 0 or n > DIRECT_LIMIT or _near_border(hole):
        return thin_plate_fill(values, hole)[hole]
    a_mat, b_vec, _ = _system(values, hole)
    return splu(a_mat, permc_spec="COLAMD").solve(b_vec).astype(np.float32)


def _fill(values: np.ndarray, hole: np.ndarray) -> np.ndarray:
    out = np.array(values, dtype=np.float32, copy=True)
    n = int(hole.sum())
    if n > DIRECT_LIMIT and min(hole.shape) >= 8:
        coarse, coarse_hole = _downsample(out, hole)
        if (~coarse_hole).any():
            coarse = _fill(coarse, coarse_hole)
            up = np.repeat(np.repeat(coarse, 2, axis=0), 2, axis=1)[:hole.shape[0], :hole.shape[1]]
            up = ndimage.uniform_filter(up, size=(3, 3, 1), mode="nearest")
            depth = ndimage.distance_transform_cdt(hole, metric="chessboard")
            deep = depth > BAND
            out[deep] = up[deep]
            hole = hole & ~deep
    _direct(out, hole)
    return out
