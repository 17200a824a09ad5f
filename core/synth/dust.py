"""Dust specks, hairs and fibres lying on a print or scanner glass."""

from __future__ import annotations

import math

import numpy as np

from .degradation import (
    Degradation,
    Seed,
    _check_image,
    _count,
    _number,
    _rng,
    _span,
)
from .strokes import accumulate, composite, random_walk, render_ellipse, render_polyline

__all__ = ["dust", "hairs"]

_MAX_ITEMS = 100_000


def _default_count(rng: np.random.Generator, shape: tuple[int, ...], per_px: float) -> int:
    return int(min(_MAX_ITEMS, rng.poisson(shape[0] * shape[1] * per_px)))


def _tone(rng: np.random.Generator, dark: bool) -> float:
    return float(rng.uniform(0.0, 0.15) if dark else rng.uniform(0.85, 1.0))


def dust(clean: np.ndarray, seed: Seed, *, count: int | None = None,
         radius: float | tuple[float, float] = (1.0, 8.0),
         opacity: float | tuple[float, float] = (0.4, 1.0),
         softness: float | tuple[float, float] = (0.7, 2.0),
         dark_fraction: float = 0.5) -> Degradation:
    """Sprinkle dark and bright dust specks over an image.

    Parameters
    ----------
    clean : ndarray
        float32 ``(H, W, C)`` image in [0, 1]; not modified.
    seed : int or numpy.random.Generator
        Source of randomness; an int gives the same specks every time.
    count : int, optional
        Number of specks; by default Poisson-distributed with one speck per
        2500 px² on average.
    radius : float or (float, float)
        Speck radius in px, or a range drawn log-uniformly (small specks
        are more common), within [0.3, 64].
    opacity : float or (float, float)
        Peak opacity of a speck, or a range, within [0, 1].
    softness : float or (float, float)
        Edge width in px (defocus of the speck), or a range, within [0, 16].
    dark_fraction : float
        Probability that a speck is dark (dust on a positive) rather than
        bright (dust on a negative, or a hole in the emulsion).

    Returns
    -------
    Degradation
        ``masks['dust']`` and ``mask`` hold each pixel's coverage; outside
        it (coverage 0) the image equals `clean` exactly. ``params`` lists
        every speck: centre ``(y, x)``, radii, angle, softness, opacity and
        tone.

    Notes
    -----
    Each speck is a slightly irregular ellipse (a few low Fourier modes
    modulate its radius) with an anti-aliased soft edge, painted with
    ``out = out * (1 - a) + tone * a``; overlapping specks stack.
    """
    img = _check_image(clean)
    rng = _rng(seed)
    r_lo, r_hi = _span("radius", radius, 0.3, 64.0)
    o_lo, o_hi = _span("opacity", opacity, 0.0, 1.0)
    s_lo, s_hi = _span("softness", softness, 0.0, 16.0)
    p_dark = _number("dark_fraction", dark_fraction, 0.0, 1.0)
    shape = img.shape[:2]
    n = _default_count(rng, shape, 1 / 2500) if count is None else _count(
        "count", count, _MAX_ITEMS)
    out = img.copy()
    mask = np.zeros(shape, dtype=np.float32)
    specks = []
    for _ in range(n):
        r = math.exp(rng.uniform(math.log(r_lo), math.log(r_hi)))
        aspect = rng.uniform(0.6, 1.0)
        cy, cx = rng.uniform(0, shape[0]), rng.uniform(0, shape[1])
        angle = rng.uniform(0, math.pi)
        soft = rng.uniform(s_lo, s_hi)
        alpha = rng.uniform(o_lo, o_hi)
        dark = bool(rng.random() < p_dark)
        tone = _tone(rng, dark)
        wobble = rng.normal(0.0, 0.06, (3, 2)) / np.arange(1, 4)[:, None]
        drawn = render_ellipse(shape, cy, cx, r * aspect, r, angle, soft, wobble)
        specks.append({"center": [cy, cx], "radii": [r * aspect, r], "angle": angle,
                       "softness": soft, "opacity": alpha, "dark": dark, "tone": tone})
        if drawn is None:
            continue
        box, cov = drawn
        cov *= np.float32(alpha)
        composite(out, box, cov, tone)
        accumulate(mask, box, cov)
    return Degradation(image=out, clean=img, mask=mask.copy(), masks={"dust": mask},
                       params={"count": n, "specks": specks})


def hairs(clean: np.ndarray, seed: Seed, *, count: int | None = None,
          length: float | tuple[float, float] = (15.0, 120.0),
          width: float | tuple[float, float] = (0.6, 2.0),
          opacity: float | tuple[float, float] = (0.5, 1.0),
          curl: float | tuple[float, float] = (0.02, 0.3),
          dark_fraction: float = 0.8) -> Degradation:
    """Lay thin curly hairs and fibres over an image.

    Parameters
    ----------
    clean : ndarray
        float32 ``(H, W, C)`` image in [0, 1]; not modified.
    seed : int or numpy.random.Generator
        Source of randomness.
    count : int, optional
        Number of hairs; by default Poisson-distributed with one per
        40 000 px², plus one.
    length : float or (float, float)
        Length along the curve in px, within [2, 10000].
    width : float or (float, float)
        Width in px at the thickest point, within [0.2, 10].
    opacity : float or (float, float)
        Peak opacity, within [0, 1].
    curl : float or (float, float)
        Standard deviation of the heading change per 2-px step, in radians,
        within [0, 1]: 0 is straight, 0.3 curly.
    dark_fraction : float
        Probability that a hair is dark rather than bright.

    Returns
    -------
    Degradation
        ``masks['hairs']`` and ``mask`` hold coverage; pixels with coverage
        0 equal `clean` exactly. ``params['hairs']`` holds each path.

    Notes
    -----
    A hair is a random walk whose turning rate is itself smoothed (an
    AR(1) process), tapered towards both ends, rendered with an exact
    band-coverage anti-aliasing of its distance field.
    """
    img = _check_image(clean)
    rng = _rng(seed)
    l_lo, l_hi = _span("length", length, 2.0, 10000.0)
    w_lo, w_hi = _span("width", width, 0.2, 10.0)
    o_lo, o_hi = _span("opacity", opacity, 0.0, 1.0)
    c_lo, c_hi = _span("curl", curl, 0.0, 1.0)
    p_dark = _number("dark_fraction", dark_fraction, 0.0, 1.0)
    shape = img.shape[:2]
    n = (_default_count(rng, shape, 1 / 40000) + 1) if count is None else _count(
        "count", count, _MAX_ITEMS)
    out = img.copy()
    mask = np.zeros(shape, dtype=np.float32)
    drawn_hairs = []
    for _ in range(n):
        ln = rng.uniform(l_lo, l_hi)
        wd = rng.uniform(w_lo, w_hi)
        alpha = rng.uniform(o_lo, o_hi)
        turn = rng.uniform(c_lo, c_hi)
        dark = bool(rng.random() < p_dark)
        tone = _tone(rng, dark)
        start = np.array([rng.uniform(0, shape[0]), rng.uniform(0, shape[1])])
        path = random_walk(rng, start, rng.uniform(0, 2 * math.pi), ln, 2.0, turn)
        t = np.linspace(0.0, 1.0, len(path) - 1)
        taper = wd * (0.5 + 0.5 * np.sin(math.pi * np.clip(t, 0.05, 0.95)))
        drawn_hairs.append({"path": path.tolist(), "width": wd, "opacity": alpha,
                            "curl": turn, "dark": dark, "tone": tone})
        drawn = render_polyline(shape, path, taper, alpha, softness=1.0)
        if drawn is None:
            continue
        box, cov = drawn
        composite(out, box, cov, tone)
        accumulate(mask, box, cov)
    return Degradation(image=out, clean=img, mask=mask.copy(), masks={"hairs": mask},
                       params={"count": n, "hairs": drawn_hairs})
