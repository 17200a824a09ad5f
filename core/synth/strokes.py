"""Anti-aliased rendering of curves and blobs, and random curve shapes.

Shared by dust, hairs, scratches, tears, creases and the stroke masks.
Points are ``(y, x)`` pixel coordinates with pixel centres on integers.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import signal

__all__: list[str] = []

Box = tuple[slice, slice]


def _band_coverage(dist: np.ndarray, width: float | np.ndarray,
                   softness: float) -> np.ndarray:
    """Return how much of a pixel a band of `width` covers at distance `dist`.

    The pixel is modelled as a box `softness` wide across the band; its
    overlap with the band ``[-width/2, width/2]`` is exact for a straight
    band, so a line thinner than a pixel gets a peak below 1 rather than
    an exaggerated, too-dark core. `softness` 0 gives a hard edge.
    """
    half = np.asarray(width) / 2.0
    if softness <= 0:
        return (dist <= half).astype(np.float32)
    s = softness / 2.0
    overlap = np.minimum(dist + s, half) - np.maximum(dist - s, -half)
    return np.clip(overlap / softness, 0.0, 1.0).astype(np.float32)


def render_polyline(shape: tuple[int, int], points: np.ndarray,
                    width: float | np.ndarray, opacity: float | np.ndarray = 1.0,
                    softness: float = 1.0) -> tuple[Box, np.ndarray] | None:
    """Render a polyline as an anti-aliased coverage patch.

    Parameters
    ----------
    shape : (int, int)
        Image height and width.
    points : ndarray
        ``(N, 2)`` vertices ``(y, x)``, ``N >= 2``.
    width : float or ndarray
        Stroke width in px, one value or one per segment (``N - 1``).
    opacity : float or ndarray
        Peak opacity, one value or one per segment.
    softness : float
        Edge width in px (1 = box-filter anti-aliasing).

    Returns
    -------
    (box, patch) or None
        The slices of the image the stroke touches and its float32
        coverage there (the maximum over segments of opacity × band
        coverage, so joints are not counted twice); None if the stroke
        lies outside the image.

    Notes
    -----
    Distances are computed segment by segment, each over its own small
    bounding box, so long strokes cost time proportional to their area.
    """
    h, w = shape
    nseg = len(points) - 1
    widths = np.broadcast_to(np.asarray(width, dtype=np.float64), (nseg,))
    alphas = np.broadcast_to(np.asarray(opacity, dtype=np.float64), (nseg,))
    reach = float(widths.max()) / 2.0 + softness / 2.0 + 1.0
    y0 = max(0, math.floor(points[:, 0].min() - reach))
    y1 = min(h, math.ceil(points[:, 0].max() + reach) + 1)
    x0 = max(0, math.floor(points[:, 1].min() - reach))
    x1 = min(w, math.ceil(points[:, 1].max() + reach) + 1)
    if y0 >= y1 or x0 >= x1:
        return None
    patch = np.zeros((y1 - y0, x1 - x0), dtype=np.float32)
    for k in range(nseg):
        a, b = points[k], points[k + 1]
        r = widths[k] / 2.0 + softness / 2.0 + 1.0
        sy0 = max(y0, math.floor(min(a[0], b[0]) - r))
        sy1 = min(y1, math.ceil(max(a[0], b[0]) + r) + 1)
        sx0 = max(x0, math.floor(min(a[1], b[1]) - r))
        sx1 = min(x1, math.ceil(max(a[1], b[1]) + r) + 1)
        if sy0 >= sy1 or sx0 >= sx1:
            continue
        ys = np.arange(sy0, sy1, dtype=np.float64)[:, None]
        xs = np.arange(sx0, sx1, dtype=np.float64)[None, :]
        dist = _segment_distance(ys, xs, a, b)
        cov = _band_coverage(dist, widths[k], softness) * np.float32(alphas[k])
        view = patch[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0]
        np.maximum(view, cov, out=view)
    return (slice(y0, y1), slice(x0, x1)), patch


def _segment_distance(ys: np.ndarray, xs: np.ndarray, a: np.ndarray,
                      b: np.ndarray) -> np.ndarray:
    """Distance from pixel centres to the segment ``a``–``b``."""
    dy, dx = b[0] - a[0], b[1] - a[1]
    ll = dy * dy + dx * dx
    py, px = ys - a[0], xs - a[1]
    if ll == 0:
        return np.hypot(py, px)
    t = np.clip((py * dy + px * dx) / ll, 0.0, 1.0)
    return np.hypot(py - t * dy, px - t * dx)


def render_ellipse(shape: tuple[int, int], cy: float, cx: float, ry: float, rx: float,
                   angle: float, softness: float = 1.0,
                   wobble: np.ndarray | None = None) -> tuple[Box, np.ndarray] | None:
    """Render an anti-aliased, optionally irregular, ellipse.

    Parameters
    ----------
    shape : (int, int)
        Image height and width.
    cy, cx : float
        Centre.
    ry, rx : float
        Semi-axes in px before rotation.
    angle : float
        Rotation in radians.
    softness : float
        Edge width in px.
    wobble : ndarray, optional
        Fourier coefficients ``(K, 2)`` (cos, sin) of a relative radius
        modulation over the polar angle, making dust look less perfect.

    Returns
    -------
    (box, patch) or None
        As :func:`render_polyline`, coverage in [0, 1].

    Notes
    -----
    The signed distance is approximated by ``(rho - 1) * r_min`` with
    ``rho`` the normalised elliptic radius, exact on circles and good
    enough for the mild eccentricities used here.
    """
    h, w = shape
    grow = 1.0 if wobble is None else 1.0 + float(np.abs(wobble).sum())
    # The coverage ends where (rho - 1) * r_min = softness / 2, i.e. at
    # rho = 1 + softness / (2 r_min): scale the long semi-axis by that.
    reach = grow * max(ry, rx) * (1.0 + softness / (2.0 * min(ry, rx))) + 1.0
    y0, y1 = max(0, math.floor(cy - reach)), min(h, math.ceil(cy + reach) + 1)
    x0, x1 = max(0, math.floor(cx - reach)), min(w, math.ceil(cx + reach) + 1)
    if y0 >= y1 or x0 >= x1:
        return None
    ys = np.arange(y0, y1, dtype=np.float64)[:, None] - cy
    xs = np.arange(x0, x1, dtype=np.float64)[None, :] - cx
    c, s = math.cos(angle), math.sin(angle)
    u = c * xs + s * ys
    v = -s * xs + c * ys
    rho = np.hypot(u / rx, v / ry)
    if wobble is not None:
        theta = np.arctan2(v, u)
        scale = np.ones_like(theta)
        for k, (ca, sa) in enumerate(wobble, start=2):
            scale += ca * np.cos(k * theta) + sa * np.sin(k * theta)
        rho = rho / scale
    sd = (rho - 1.0) * min(rx, ry)
    if softness > 0:
        cov = np.clip(0.5 - sd / softness, 0.0, 1.0)
    else:
        cov = (sd <= 0).astype(np.float64)
    return (slice(y0, y1), slice(x0, x1)), cov.astype(np.float32)


def bezier(control: np.ndarray, samples: int) -> np.ndarray:
    """Evaluate a Bézier curve with ``(K, 2)`` control points at `samples` points."""
    k = len(control) - 1
    t = np.linspace(0.0, 1.0, samples)[:, None]
    coeffs = np.array([math.comb(k, i) for i in range(k + 1)], dtype=np.float64)
    i = np.arange(k + 1)
    basis = coeffs * t**i * (1.0 - t) ** (k - i)
    return basis @ control


def random_walk(rng: np.random.Generator, start: np.ndarray, heading: float, length: float,
                step: float, turn: float, persistence: float = 0.9) -> np.ndarray:
    """Return a smooth random walk: a curly hair or fibre.

    The turning rate itself is an AR(1) process (`persistence`), so the
    path curves gently and consistently instead of zig-zagging. `turn` is
    the standard deviation of the heading change per step in radians.
    """
    n = max(2, math.ceil(length / step) + 1)
    noise = rng.normal(0.0, turn, n - 1)
    # rate[i] = persistence * rate[i-1] + (1 - persistence) * 3 * noise[i]
    rate = signal.lfilter([(1.0 - persistence) * 3.0], [1.0, -persistence], noise)
    angles = heading + np.cumsum(rate)
    steps = np.stack([np.sin(angles), np.cos(angles)], axis=1) * step
    return np.vstack([start, start + np.cumsum(steps, axis=0)])


def jagged_path(rng: np.random.Generator, start: np.ndarray, heading: float, length: float,
                step: float, wander: float, jitter: float) -> np.ndarray:
    """Return a jagged path: a slowly wandering heading plus sideways jitter.

    `wander` is the per-step heading noise (radians), `jitter` the
    sideways displacement of each vertex in px, which gives a tear its
    ragged look.
    """
    n = max(2, math.ceil(length / step) + 1)
    angles = heading + np.cumsum(rng.normal(0.0, wander, n - 1))
    steps = np.stack([np.sin(angles), np.cos(angles)], axis=1) * step
    path = np.vstack([start, start + np.cumsum(steps, axis=0)])
    return path + _normals(path) * rng.normal(0.0, jitter, (n, 1))


def _normals(path: np.ndarray) -> np.ndarray:
    """Return unit normals ``(N, 2)`` of a polyline (left of the direction of travel)."""
    tangent = np.gradient(path, axis=0)
    norm = np.hypot(tangent[:, 0], tangent[:, 1])[:, None]
    tangent = tangent / np.maximum(norm, 1e-12)
    return np.stack([-tangent[:, 1], tangent[:, 0]], axis=1)


def offset_path(path: np.ndarray, distance: float) -> np.ndarray:
    """Shift a polyline sideways by `distance` px along its normals."""
    return path + _normals(path) * distance


def composite(image: np.ndarray, box: Box, alpha: np.ndarray,
              value: float | np.ndarray) -> None:
    """Paint `value` over ``image[box]`` with coverage `alpha`, in place.

    Where `alpha` is 0 the pixels are left bit-for-bit unchanged.
    """
    region = image[box]
    a = alpha[..., None]
    col = np.asarray(value, dtype=np.float32)
    image[box] = np.where(a > 0, region * (1.0 - a) + col * a, region)


def accumulate(mask: np.ndarray, box: Box, alpha: np.ndarray) -> None:
    """Add coverage to a union mask in place: ``m = 1 - (1 - m)(1 - a)``."""
    region = mask[box]
    mask[box] = 1.0 - (1.0 - region) * (1.0 - alpha)
