"""Built-in synthetic test scenes, for benchmarks without a dataset."""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from scipy import ndimage

from ..convert import rgb_to_gray
from ..errors import ParameterError
from .degradation import Seed, _rng
from .noise import _smooth_noise
from .strokes import composite, render_ellipse, render_polyline

__all__ = ["SceneKind", "synthetic_scene"]

SceneKind = Literal["photo", "smooth", "texture"]


def _parse_shape(shape: tuple[int, ...]) -> tuple[int, int, int]:
    try:
        dims = tuple(int(s) for s in shape)
    except (TypeError, ValueError):
        msg = f"shape must be (H, W) or (H, W, C) whole numbers, got {shape!r}"
        raise ParameterError(msg) from None
    if len(dims) == 2:
        dims = (*dims, 1)
    if len(dims) != 3 or dims[2] not in (1, 3) or min(dims[:2]) < 8:
        msg = (f"shape must be (H, W) (gray) or (H, W, 1|3) with H, W ≥ 8, "
               f"got {shape!r}")
        raise ParameterError(msg)
    return dims[0], dims[1], dims[2]


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Paint a sky-to-ground gradient with gentle low-frequency variation."""
    y = np.linspace(0.0, 1.0, h)[:, None, None]
    x = np.linspace(0.0, 1.0, w)[None, :, None]
    top, bottom = rng.uniform(0.45, 0.9, 3), rng.uniform(0.12, 0.5, 3)
    horizon = rng.uniform(0.35, 0.65)
    t = 0.5 + 0.5 * np.tanh((y - horizon) / 0.12)
    side = rng.uniform(-0.08, 0.08, 3)
    img = top * (1.0 - t) + bottom * t + side * (x - 0.5)
    low = _smooth_noise(rng, (h, w), min(h, w) / 6.0)[..., None]
    return img + 0.05 * low * rng.uniform(0.6, 1.0, 3)


def _convex_polygon(shape: tuple[int, int], vertices: np.ndarray) -> tuple[
        tuple[slice, slice], np.ndarray] | None:
    """Anti-aliased coverage of a convex polygon with ``(y, x)`` vertices in order."""
    h, w = shape
    y0, y1 = max(0, math.floor(vertices[:, 0].min()) - 1), min(h, math.ceil(
        vertices[:, 0].max()) + 2)
    x0, x1 = max(0, math.floor(vertices[:, 1].min()) - 1), min(w, math.ceil(
        vertices[:, 1].max()) + 2)
    if y0 >= y1 or x0 >= x1:
        return None
    ys = np.arange(y0, y1, dtype=np.float64)[:, None]
    xs = np.arange(x0, x1, dtype=np.float64)[None, :]
    centre = vertices.mean(axis=0)
    sd = np.full((y1 - y0, x1 - x0), -np.inf)
    for a, b in zip(vertices, np.roll(vertices, -1, axis=0), strict=True):
        edge = b - a
        normal = np.array([edge[1], -edge[0]]) / max(float(np.hypot(*edge)), 1e-12)
        if normal @ (centre - a) > 0:  # make it point outwards
            normal = -normal
        sd = np.maximum(sd, (ys - a[0]) * normal[0] + (xs - a[1]) * normal[1])
    cov = np.clip(0.5 - sd, 0.0, 1.0).astype(np.float32)
    return (slice(y0, y1), slice(x0, x1)), cov


def _shapes(rng: np.random.Generator, img: np.ndarray, count: int) -> None:
    """Paint flat and shaded discs and polygons with crisp edges."""
    h, w = img.shape[:2]
    for _ in range(count):
        cy, cx = rng.uniform(0.1, 0.9) * h, rng.uniform(0.1, 0.9) * w
        r = rng.uniform(0.06, 0.2) * min(h, w)
        colour = rng.uniform(0.05, 0.95, 3)
        if rng.random() < 0.45:
            drawn = render_ellipse((h, w), cy, cx, r * rng.uniform(0.5, 1.0), r,
                                   rng.uniform(0, math.pi), softness=1.0)
        else:
            n = int(rng.integers(3, 7))
            angles = np.sort(rng.uniform(0, 2 * math.pi, n))
            verts = np.stack([cy + r * np.sin(angles), cx + r * np.cos(angles)], axis=1)
            drawn = _convex_polygon((h, w), verts)
        if drawn is None:
            continue
        box, cov = drawn
        # A linear shading ramp across the shape, like light falling on it.
        gy = np.arange(box[0].start, box[0].stop)[:, None] - cy
        gx = np.arange(box[1].start, box[1].stop)[None, :] - cx
        d = rng.normal(size=2)
        ramp = (gy * d[0] + gx * d[1]) / (r * max(float(np.hypot(*d)), 1e-9))
        fill = np.clip(colour + 0.12 * ramp[..., None], 0.0, 1.0)
        composite(img, box, cov, fill)


def _texture_patch(rng: np.random.Generator, img: np.ndarray, box: tuple[slice, slice],
                   amplitude: float) -> None:
    """Band-pass noise (foliage, fabric) blended into a region."""
    ph = box[0].stop - box[0].start
    pw = box[1].stop - box[1].start
    noise = rng.normal(size=(ph, pw))
    band = (ndimage.gaussian_filter(noise, 0.8) - ndimage.gaussian_filter(noise, 3.0))
    band /= max(float(band.std()), 1e-12)
    img[box] += amplitude * band[..., None] * rng.uniform(0.7, 1.0, 3)


def _grating(rng: np.random.Generator, img: np.ndarray, box: tuple[slice, slice],
             amplitude: float) -> None:
    """Blend a sinusoidal grating (fine stripes) into a region."""
    ys = np.arange(box[0].start, box[0].stop, dtype=np.float64)[:, None]
    xs = np.arange(box[1].start, box[1].stop, dtype=np.float64)[None, :]
    freq = rng.uniform(0.12, 0.3)
    theta = rng.uniform(0, math.pi)
    wave = np.sin(2 * math.pi * freq * (xs * math.cos(theta) + ys * math.sin(theta)))
    img[box] += amplitude * wave[..., None]


def _star(img: np.ndarray, cy: float, cx: float, radius: float, spokes: int) -> None:
    """Paint a Siemens star: spokes getting ever finer towards the centre."""
    h, w = img.shape[:2]
    y0, y1 = max(0, int(cy - radius) - 1), min(h, int(cy + radius) + 2)
    x0, x1 = max(0, int(cx - radius) - 1), min(w, int(cx + radius) + 2)
    ys = np.arange(y0, y1, dtype=np.float64)[:, None] - cy
    xs = np.arange(x0, x1, dtype=np.float64)[None, :] - cx
    rho = np.hypot(ys, xs)
    s = np.sin(spokes * np.arctan2(ys, xs))
    # Soft-threshold the sine with a slope that keeps edges about 1 px wide.
    pattern = 0.5 + 0.5 * np.tanh(s * np.maximum(rho, 1.0) * spokes / 4.0)
    inside = np.clip(radius - rho + 0.5, 0.0, 1.0)[..., None]
    value = (0.15 + 0.7 * pattern)[..., None]
    img[y0:y1, x0:x1] = img[y0:y1, x0:x1] * (1.0 - inside) + value * inside


def _fine_detail(rng: np.random.Generator, img: np.ndarray) -> None:
    """Thin lines, a small checkerboard and a row of dots."""
    h, w = img.shape[:2]
    for _ in range(int(rng.integers(3, 6))):
        p0 = np.array([rng.uniform(0, h), rng.uniform(0, w)])
        p1 = np.array([rng.uniform(0, h), rng.uniform(0, w)])
        drawn = render_polyline((h, w), np.stack([p0, p1]), rng.uniform(0.8, 1.5), 1.0)
        if drawn is not None:
            box, cov = drawn
            composite(img, box, cov, rng.choice([0.05, 0.95]) * np.ones(3))
    cell = 2
    size = max(4, min(h, w) // 8)
    y0, x0 = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
    yy, xx = np.mgrid[0:size, 0:size]
    board = 0.2 + 0.6 * (((yy // cell) + (xx // cell)) % 2)
    img[y0:y0 + size, x0:x0 + size] = board[..., None]
    cy = rng.uniform(0.1, 0.9) * h
    for k in range(max(3, w // 24)):
        drawn = render_ellipse((h, w), cy, (k + 0.5) * 12.0 + 2.0, 1.2, 1.2, 0.0)
        if drawn is not None:
            box, cov = drawn
            composite(img, box, cov, np.full(3, 0.1))


def synthetic_scene(shape: tuple[int, ...], seed: Seed,
                    kind: SceneKind = "photo") -> np.ndarray:
    """Draw a synthetic test scene for benchmarks without a dataset.

    Parameters
    ----------
    shape : tuple of int
        ``(H, W)`` or ``(H, W, 1)`` for gray, ``(H, W, 3)`` for RGB;
        H and W at least 8.
    seed : int or numpy.random.Generator
        The same seed always draws the same scene.
    kind : {'photo', 'smooth', 'texture'}
        ``'photo'``: smooth gradients, crisp-edged shapes, a textured and a
        striped region and fine detail (thin lines, a checkerboard, dots);
        ``'smooth'``: gradients and soft blobs only, no edges (for fading
        and colour measurements); ``'texture'``: fine texture everywhere,
        gratings and a Siemens star (for denoising and deblurring).

    Returns
    -------
    ndarray
        float32 ``(H, W, C)`` in [0.03, 0.97] (headroom for degradations).

    Notes
    -----
    Gray scenes are the Rec. 709 luma of the colour scene with the same
    seed. Edges are anti-aliased, so the scene is band-limited to about the
    pixel pitch, as a well-focused photo would be.
    """
    h, w, c = _parse_shape(shape)
    if kind not in ("photo", "smooth", "texture"):
        msg = f"kind = {kind!r} must be 'photo', 'smooth' or 'texture'"
        raise ParameterError(msg)
    rng = _rng(seed)
    img = _background(rng, h, w)
    if kind == "smooth":
        for _ in range(int(rng.integers(3, 7))):
            cy, cx = rng.uniform(0, h), rng.uniform(0, w)
            r = rng.uniform(0.1, 0.35) * min(h, w)
            ys = np.arange(h)[:, None] - cy
            xs = np.arange(w)[None, :] - cx
            bump = np.exp(-(ys**2 + xs**2) / (2 * r * r))
            img += bump[..., None] * rng.uniform(-0.25, 0.25, 3)
    elif kind == "photo":
        _shapes(rng, img, int(rng.integers(4, 8)))
        for paint in (_texture_patch, _grating):
            ph = max(4, int(h * rng.uniform(0.2, 0.35)))
            pw = max(4, int(w * rng.uniform(0.2, 0.35)))
            y0, x0 = int(rng.integers(0, h - ph + 1)), int(rng.integers(0, w - pw + 1))
            paint(rng, img, (slice(y0, y0 + ph), slice(x0, x0 + pw)), 0.08)
        _fine_detail(rng, img)
    else:
        full = (slice(0, h), slice(0, w))
        img = 0.6 * img + 0.2
        _texture_patch(rng, img, full, 0.1)
        half = (slice(0, h), slice(0, w // 2))
        _grating(rng, img, half, 0.1)
        _star(img, h / 2, w * 0.72, min(h, w) * 0.25, 24)
        _fine_detail(rng, img)
    out = (0.03 + 0.94 * np.clip(img, 0.0, 1.0)).astype(np.float32)
    return rgb_to_gray(out) if c == 1 else out
