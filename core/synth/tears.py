"""Tears, creases and emulsion cracks in a print."""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from .degradation import Degradation, Seed, _check_image, _count, _rng, _span, _union
from .strokes import (
    accumulate,
    bezier,
    composite,
    jagged_path,
    offset_path,
    render_polyline,
)

__all__ = ["cracks", "creases", "tears"]

_MAX_ITEMS = 1000


def _paper(rng: np.random.Generator, channels: int) -> np.ndarray:
    """Draw a paper-white tone, slightly warm in colour."""
    level = rng.uniform(0.9, 0.99)
    tint = np.array([1.0, 0.985, 0.94]) if channels == 3 else np.ones(1)
    return (level * tint).astype(np.float32)


def _start_on_border(rng: np.random.Generator, shape: tuple[int, int]) -> tuple[np.ndarray, float]:
    """Pick a point on a random image edge and a heading pointing inwards."""
    h, w = shape
    side = int(rng.integers(4))
    spread = math.radians(rng.uniform(-40.0, 40.0))
    if side == 0:  # top edge, heading down (+y)
        return np.array([0.0, rng.uniform(0, w - 1)]), math.pi / 2 + spread
    if side == 1:  # bottom edge, heading up
        return np.array([h - 1.0, rng.uniform(0, w - 1)]), -math.pi / 2 + spread
    if side == 2:  # left edge, heading right
        return np.array([rng.uniform(0, h - 1), 0.0]), spread
    return np.array([rng.uniform(0, h - 1), w - 1.0]), math.pi + spread


def tears(clean: np.ndarray, seed: Seed, *, count: int | None = None,
          length: float | tuple[float, float] | None = None,
          width: float | tuple[float, float] = (1.5, 5.0),
          shadow: float | tuple[float, float] = (0.3, 0.6)) -> Degradation:
    """Tear the print: jagged paper-white cracks with a shadowed edge.

    Parameters
    ----------
    clean : ndarray
        float32 ``(H, W, C)`` image in [0, 1]; not modified.
    seed : int or numpy.random.Generator
        Source of randomness.
    count : int, optional
        Number of tears; by default 1 or 2.
    length : float or (float, float), optional
        Length in px; by default 15–50 % of the image diagonal.
    width : float or (float, float)
        Width of the exposed paper in px, within [0.5, 32].
    shadow : float or (float, float)
        Opacity of the shadow cast by the lifted edge, within [0, 1].

    Returns
    -------
    Degradation
        ``masks['tears']`` and ``mask`` hold coverage of both the paper core
        and the shadow; pixels with coverage 0 equal `clean` exactly.

    Notes
    -----
    A tear starts on an image edge and runs inwards along a random walk
    with sideways jitter. A soft dark stroke offset to one side (the lifted
    flap's shadow) is painted first, then the ragged paper-white core,
    whose width varies along its length.
    """
    img = _check_image(clean)
    rng = _rng(seed)
    shape = (img.shape[0], img.shape[1])
    diag = math.hypot(*shape)
    if length is None:
        l_lo, l_hi = 0.15 * diag, 0.5 * diag
    else:
        l_lo, l_hi = _span("length", length, 1.0, 100_000.0)
    w_lo, w_hi = _span("width", width, 0.5, 32.0)
    s_lo, s_hi = _span("shadow", shadow, 0.0, 1.0)
    n = int(rng.integers(1, 3)) if count is None else _count("count", count, _MAX_ITEMS)
    out = img.copy()
    mask = np.zeros(shape, dtype=np.float32)
    drawn_tears = []
    for _ in range(n):
        ln = rng.uniform(l_lo, l_hi)
        wd = rng.uniform(w_lo, w_hi)
        shade = rng.uniform(s_lo, s_hi)
        start, heading = _start_on_border(rng, shape)
        path = jagged_path(rng, start, heading, ln, step=3.0, wander=0.12, jitter=0.7)
        nseg = len(path) - 1
        core_w = wd * np.clip(rng.uniform(0.5, 1.3, nseg), 0.3, None)
        side = rng.choice([-1.0, 1.0])
        shadow_path = offset_path(path, side * (wd / 2 + 1.5))
        paper = _paper(rng, img.shape[2])
        drawn_tears.append({"path": path.tolist(), "width": wd, "shadow": shade,
                            "shadow_side": side, "paper": paper.tolist()})
        for stroke, w_k, a_k, tone, soft in (
            (shadow_path, wd * 0.8 + 2.0, shade, np.float32(0.05), 2.5),
            (path, core_w, 1.0, paper, 0.8),
        ):
            drawn = render_polyline(shape, stroke, w_k, a_k, softness=soft)
            if drawn is None:
                continue
            box, cov = drawn
            composite(out, box, cov, tone)
            accumulate(mask, box, cov)
    return Degradation(image=out, clean=img, mask=mask.copy(), masks={"tears": mask},
                       params={"count": n, "tears": drawn_tears})


def creases(clean: np.ndarray, seed: Seed, *, count: int | None = None,
            width: float | tuple[float, float] = (0.8, 2.5),
            strength: float | tuple[float, float] = (0.3, 0.8)) -> Degradation:
    """Fold the print: long creases with cracked emulsion along the fold.

    Parameters
    ----------
    clean : ndarray
        float32 ``(H, W, C)`` image in [0, 1]; not modified.
    seed : int or numpy.random.Generator
        Source of randomness.
    count : int, optional
        Number of creases; by default 1–3.
    width : float or (float, float)
        Width of the cracked line in px, within [0.3, 16].
    strength : float or (float, float)
        Overall opacity of crack, shadow and highlight, within [0, 1].

    Returns
    -------
    Degradation
        ``masks['creases']`` and ``mask`` hold coverage; pixels with
        coverage 0 equal `clean` exactly.

    Notes
    -----
    A crease crosses the whole image along a gently curved line. The fold
    ridge is lit on one side and shadowed on the other (two soft offset
    strokes); on the ridge the emulsion cracks off in broken dashes that
    show the paper (smooth random opacity along the line, thresholded).
    """
    img = _check_image(clean)
    rng = _rng(seed)
    shape = (img.shape[0], img.shape[1])
    h, w = shape
    w_lo, w_hi = _span("width", width, 0.3, 16.0)
    s_lo, s_hi = _span("strength", strength, 0.0, 1.0)
    n = int(rng.integers(1, 4)) if count is None else _count("count", count, _MAX_ITEMS)
    out = img.copy()
    masks = []
    drawn_creases = []
    for _ in range(n):
        wd = rng.uniform(w_lo, w_hi)
        amount = rng.uniform(s_lo, s_hi)
        # A line through a random point at a random angle, long enough to
        # cross the image, gently bowed.
        angle = rng.uniform(0.0, math.pi)
        mid = np.array([rng.uniform(0.2 * h, 0.8 * h), rng.uniform(0.2 * w, 0.8 * w)])
        direction = np.array([math.sin(angle), math.cos(angle)])
        normal = np.array([-direction[1], direction[0]])
        reach = math.hypot(h, w)
        bow = rng.normal(0.0, 0.02) * reach
        control = np.stack([mid - direction * reach, mid + normal * bow,
                            mid + direction * reach])
        path = bezier(control, max(3, math.ceil(2 * reach / 3.0) + 1))
        nseg = len(path) - 1
        field = ndimage.gaussian_filter1d(rng.normal(0.0, 1.0, nseg), 2.0)
        field /= max(float(field.std()), 1e-6)
        cracked = amount * np.clip((field - 0.2) * 2.0, 0.0, 1.0)
        side = rng.choice([-1.0, 1.0])
        paper = _paper(rng, img.shape[2])
        drawn_creases.append({"control": control.tolist(), "width": wd, "strength": amount,
                              "shadow_side": side, "paper": paper.tolist()})
        layer = np.zeros(shape, dtype=np.float32)
        for stroke, w_k, a_k, tone, soft in (
            (offset_path(path, side * (wd + 1.0)), wd + 2.0, 0.45 * amount,
             np.float32(0.05), 3.0),
            (offset_path(path, -side * (wd + 1.0)), wd + 2.0, 0.35 * amount,
             np.float32(1.0), 3.0),
            (path, wd, cracked, paper, 0.8),
        ):
            drawn = render_polyline(shape, stroke, w_k, a_k, softness=soft)
            if drawn is None:
                continue
            box, cov = drawn
            composite(out, box, cov, tone)
            accumulate(layer, box, cov)
        masks.append(layer)
    mask = _union(*masks) if masks else np.zeros(shape, dtype=np.float32)
    return Degradation(image=out, clean=img, mask=mask.copy(), masks={"creases": mask},
                       params={"count": n, "creases": drawn_creases})


def cracks(clean: np.ndarray, seed: Seed, *, count: int | None = None,
           size: float | tuple[float, float] = (80.0, 200.0),
           width: float | tuple[float, float] = (0.8, 2.0),
           opacity: float | tuple[float, float] = (0.5, 0.95)) -> Degradation:
    """Crack the emulsion: branching networks of thin paper-white lines.

    Parameters
    ----------
    clean : ndarray
        float32 ``(H, W, C)`` image in [0, 1]; not modified.
    seed : int or numpy.random.Generator
        Source of randomness.
    count : int, optional
        Number of networks; by default 1–2.
    size : float or (float, float)
        Length of each network's trunk in px, within [10, 10000];
        branches are shorter.
    width : float or (float, float)
        Line width in px, within [0.3, 8].
    opacity : float or (float, float)
        Peak opacity of the lines, within [0, 1].

    Returns
    -------
    Degradation
        ``masks['cracks']`` and ``mask`` hold coverage; pixels with
        coverage 0 equal `clean` exactly.

    Notes
    -----
    Gelatin that dried out or was flexed cracks along jagged lines that
    fork as they run, and the paper shows through. Each network grows
    from a trunk (a jagged path); along every line, each few pixels a
    branch may leave at 30-70 degrees, about half as long as its parent,
    down to branches of about 12 px.
    """
    img = _check_image(clean)
    rng = _rng(seed)
    shape = (img.shape[0], img.shape[1])
    h, w = shape
    l_lo, l_hi = _span("size", size, 10.0, 10000.0)
    w_lo, w_hi = _span("width", width, 0.3, 8.0)
    o_lo, o_hi = _span("opacity", opacity, 0.0, 1.0)
    n = int(rng.integers(1, 3)) if count is None else _count("count", count, _MAX_ITEMS)
    out = img.copy()
    layer = np.zeros(shape, dtype=np.float32)
    drawn = []
    for _ in range(n):
        paper = _paper(rng, img.shape[2])
        wd = rng.uniform(w_lo, w_hi)
        alpha = rng.uniform(o_lo, o_hi)
        start = np.array([rng.uniform(0.2 * h, 0.8 * h), rng.uniform(0.2 * w, 0.8 * w)])
        todo = [(start, rng.uniform(0.0, 2.0 * math.pi), rng.uniform(l_lo, l_hi), wd)]
        lines = 0
        while todo and lines < 200:
            origin, heading, length, line_width = todo.pop()
            lines += 1
            path = jagged_path(rng, origin, heading, length, 3.0, 0.12, 0.35)
            stroke = render_polyline(shape, path, line_width, alpha)
            if stroke is not None:
                box, cov = stroke
                composite(out, box, cov, paper)
                accumulate(layer, box, cov)
            if length < 24.0:
                continue
            for k in range(2, len(path) - 1, 4):
                if rng.random() < 0.3:
                    turn = rng.choice([-1.0, 1.0]) * math.radians(rng.uniform(30.0, 70.0))
                    todo.append((path[k], heading + turn, length * rng.uniform(0.35, 0.6),
                                 max(0.3, line_width * 0.8)))
        drawn.append({"start": start.tolist(), "lines": lines, "width": wd,
                      "opacity": alpha, "paper": paper.tolist()})
    return Degradation(image=out, clean=img, mask=layer.copy(), masks={"cracks": layer},
                       params={"count": n, "cracks": drawn})
