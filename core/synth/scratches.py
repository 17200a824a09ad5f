"""Long thin scratches in the emulsion, straight or gently curved."""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from .degradation import Degradation, Seed, _check_image, _count, _number, _rng, _span
from .strokes import accumulate, bezier, composite, render_polyline

__all__ = ["scratches"]

_MAX_SCRATCHES = 10_000


def _smooth_profile(rng: np.random.Generator, n: int, sigma: float) -> np.ndarray:
    """Smooth random values in [0, 1] along a curve (fading in and out)."""
    raw = ndimage.gaussian_filter1d(rng.normal(0.0, 1.0, n), sigma, mode="nearest")
    raw = raw / max(float(raw.std()), 1e-6)
    return (0.5 + 0.5 * np.tanh(raw)).astype(np.float64)


def scratches(clean: np.ndarray, seed: Seed, *, count: int | None = None,
              length: float | tuple[float, float] | None = None,
              width: float | tuple[float, float] = (1.0, 4.0),
              opacity: float | tuple[float, float] = (0.3, 0.9),
              bend: float | tuple[float, float] = (0.0, 0.06),
              dark_fraction: float = 0.5, vertical_fraction: float = 0.6) -> Degradation:
    """Draw long thin scratches across an image.

    Parameters
    ----------
    clean : ndarray
        float32 ``(H, W, C)`` image in [0, 1]; not modified.
    seed : int or numpy.random.Generator
        Source of randomness.
    count : int, optional
        Number of scratches; by default ``1 + Poisson(2 * H * W / 256²)``.
    length : float or (float, float), optional
        Length in px; by default 30–100 % of the image diagonal.
    width : float or (float, float)
        Width in px, within [0.3, 16].
    opacity : float or (float, float)
        Peak opacity, within [0, 1]; it also varies smoothly along each
        scratch, which fades in and out like a real one.
    bend : float or (float, float)
        Sagitta of the curve as a fraction of its length, within [0, 0.5]:
        0 is a straight line, 0.05 a gentle arc.
    dark_fraction : float
        Probability that a scratch is dark rather than bright.
    vertical_fraction : float
        Probability that a scratch runs within ±5° of vertical (along the
        film path, like a cine or roll-film scratch); others take any angle.

    Returns
    -------
    Degradation
        ``masks['scratches']`` and ``mask`` hold coverage; pixels with
        coverage 0 equal `clean` exactly. ``params['scratches']`` holds
        the control points and appearance of each one.

    Notes
    -----
    Each scratch is a quadratic Bézier curve, centred anywhere in the
    image, rendered with exact band-coverage anti-aliasing.
    """
    img = _check_image(clean)
    rng = _rng(seed)
    shape = img.shape[:2]
    diag = math.hypot(*shape)
    if length is None:
        l_lo, l_hi = 0.3 * diag, diag
    else:
        l_lo, l_hi = _span("length", length, 1.0, 100_000.0)
    w_lo, w_hi = _span("width", width, 0.3, 16.0)
    o_lo, o_hi = _span("opacity", opacity, 0.0, 1.0)
    b_lo, b_hi = _span("bend", bend, 0.0, 0.5)
    p_dark = _number("dark_fraction", dark_fraction, 0.0, 1.0)
    p_vert = _number("vertical_fraction", vertical_fraction, 0.0, 1.0)
    if count is None:
        n = 1 + int(rng.poisson(2.0 * shape[0] * shape[1] / 256**2))
        n = min(n, _MAX_SCRATCHES)
    else:
        n = _count("count", count, _MAX_SCRATCHES)
    out = img.copy()
    mask = np.zeros(shape, dtype=np.float32)
    drawn_scratches = []
    for _ in range(n):
        ln = rng.uniform(l_lo, l_hi)
        wd = rng.uniform(w_lo, w_hi)
        alpha = rng.uniform(o_lo, o_hi)
        sag = rng.uniform(b_lo, b_hi) * rng.choice([-1.0, 1.0])
        dark = bool(rng.random() < p_dark)
        tone = float(rng.uniform(0.0, 0.2) if dark else rng.uniform(0.8, 1.0))
        if rng.random() < p_vert:
            angle = math.pi / 2 + math.radians(rng.uniform(-5.0, 5.0))
        else:
            angle = rng.uniform(0.0, math.pi)
        mid = np.array([rng.uniform(0, shape[0]), rng.uniform(0, shape[1])])
        direction = np.array([math.sin(angle), math.cos(angle)])
        normal = np.array([-direction[1], direction[0]])
        # A quadratic Bézier's midpoint lies halfway to its control point.
        control = np.stack([mid - direction * ln / 2, mid + normal * 2 * sag * ln,
                            mid + direction * ln / 2])
        path = bezier(control, max(3, math.ceil(ln / 8.0) + 1))
        nseg = len(path) - 1
        along = alpha * (0.4 + 0.6 * _smooth_profile(rng, nseg, max(1.0, nseg / 8)))
        widths = wd * (0.8 + 0.2 * _smooth_profile(rng, nseg, max(1.0, nseg / 6)))
        drawn_scratches.append({"control": control.tolist(), "width": wd, "opacity": alpha,
                                "bend": sag, "dark": dark, "tone": tone})
        drawn = render_polyline(shape, path, widths, along, softness=1.0)
        if drawn is None:
            continue
        box, cov = drawn
        composite(out, box, cov, tone)
        accumulate(mask, box, cov)
    return Degradation(image=out, clean=img, mask=mask.copy(), masks={"scratches": mask},
                       params={"count": n, "scratches": drawn_scratches})
