"""The result record of every generator, and the checks they share.

A generator ages a clean image and returns a :class:`Degradation`: the
degraded image together with everything needed to score a restoration of
it (the clean input, where the damage is, the blur kernel, the colour
transform and every random value that was drawn).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeAlias

import numpy as np

from ..convert import check_finite
from ..errors import ImageError, ParameterError

__all__ = ["ColorTransform", "Degradation", "Seed"]

Seed: TypeAlias = int | np.random.Generator
"""An int (reproducible stream) or a Generator (consumed as it is used)."""


class ColorTransform(Protocol):
    """A per-pixel colour transform that can be applied and undone."""

    def apply(self, image: np.ndarray) -> np.ndarray:
        """Return the transformed copy of `image`."""
        ...

    def invert(self, image: np.ndarray) -> np.ndarray:
        """Return the copy of `image` with the transform undone."""
        ...

    def curves(self, samples: int = 256) -> tuple[np.ndarray, np.ndarray]:
        """Return inputs ``(samples,)`` and per-channel outputs ``(samples, C)``."""
        ...


@dataclass(eq=False)
class Degradation:
    """A degraded image with its ground truth.

    Attributes
    ----------
    image : ndarray
        Degraded float32 ``(H, W, C)`` image. In [0, 1] except where a
        generator documents otherwise (unclipped noise).
    clean : ndarray
        A float32 copy of the input image.
    mask : ndarray or None
        float32 ``(H, W)`` in [0, 1]: how much each pixel is covered by
        local damage (the union of `masks`), 0 where the image is
        untouched. None for degradations that touch every pixel (blur,
        fading, noise, compression).
    masks : dict of str to ndarray
        Named float32 ``(H, W)`` masks per kind of damage, e.g. ``'dust'``,
        ``'hairs'``, ``'scratches'``, ``'tears'``, ``'creases'``, ``'holes'``.
    psf : ndarray or None
        The blur kernel applied, if any (see :mod:`photomend.psf`).
    color_transform : ColorTransform or None
        The exact per-pixel colour transform applied (e.g. a
        :class:`~photomend.synth.fading.Fading`), with ``apply``/``invert``.
    params : dict
        Every value drawn or used, as plain numbers, lists and dicts.
    """

    image: np.ndarray
    clean: np.ndarray
    mask: np.ndarray | None = None
    masks: dict[str, np.ndarray] = field(default_factory=dict)
    psf: np.ndarray | None = None
    color_transform: ColorTransform | None = None
    params: dict[str, Any] = field(default_factory=dict)


def _rng(seed: Seed) -> np.random.Generator:
    """Return a Generator for `seed` (a Generator is used as it is)."""
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        msg = f"seed must be a whole number ≥ 0 or a numpy.random.Generator, got {seed!r}"
        raise ParameterError(msg)
    if seed < 0:
        msg = f"seed = {seed} must be ≥ 0"
        raise ParameterError(msg)
    return np.random.default_rng(int(seed))


def _child_seed(rng: np.random.Generator) -> int:
    """Draw an independent seed for a sub-generator."""
    return int(rng.integers(0, 2**63 - 1))


def _check_image(image: np.ndarray, what: str = "clean image") -> np.ndarray:
    """Return a float32 copy of a ``(H, W, 1|3)`` float image after checks."""
    if not isinstance(image, np.ndarray):
        msg = f"the {what} must be a numpy array, got {type(image).__name__}"
        raise ImageError(msg)
    if image.ndim != 3 or image.shape[-1] not in (1, 3):
        msg = (f"the {what} must have shape (H, W, 1) or (H, W, 3), got {image.shape}; "
               "add a channel axis with image[..., None] for gray")
        raise ImageError(msg)
    if image.shape[0] == 0 or image.shape[1] == 0:
        msg = f"the {what} is empty (shape {image.shape})"
        raise ImageError(msg)
    if image.dtype.kind != "f":
        msg = (f"the {what} must be float in [0, 1], got {image.dtype}; "
               "convert it with photomend.convert.to_float32")
        raise ImageError(msg)
    check_finite(image, what)
    return image.astype(np.float32, copy=True)


def _check_shape(shape: tuple[int, ...]) -> tuple[int, int]:
    """Return ``(H, W)`` from an ``(H, W)`` or ``(H, W, C)`` shape."""
    try:
        dims = tuple(int(s) for s in shape)
    except (TypeError, ValueError):
        msg = f"shape must be (H, W) or (H, W, C) whole numbers, got {shape!r}"
        raise ParameterError(msg) from None
    if len(dims) not in (2, 3) or dims[0] <= 0 or dims[1] <= 0:
        msg = f"shape must be (H, W) or (H, W, C) with H, W ≥ 1, got {shape!r}"
        raise ParameterError(msg)
    return dims[0], dims[1]


def _number(name: str, value: float, lo: float, hi: float) -> float:
    """Check ``lo <= value <= hi`` and return it as a float."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        msg = f"{name} must be a number, got {value!r}"
        raise ParameterError(msg) from None
    if not math.isfinite(v) or not lo <= v <= hi:
        msg = f"{name} = {value!r} is out of range [{lo:g}, {hi:g}]"
        raise ParameterError(msg)
    return v


def _span(name: str, value: float | tuple[float, float], lo: float,
          hi: float) -> tuple[float, float]:
    """Check a number or a ``(low, high)`` range within ``[lo, hi]``."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            msg = f"{name} must be a number or a (low, high) pair, got {value!r}"
            raise ParameterError(msg)
        a = _number(name, value[0], lo, hi)
        b = _number(name, value[1], lo, hi)
        if a > b:
            msg = f"{name} = {value!r}: low must not exceed high"
            raise ParameterError(msg)
        return a, b
    v = _number(name, value, lo, hi)
    return v, v


def _count(name: str, value: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        msg = f"{name} must be a whole number, got {value!r}"
        raise ParameterError(msg)
    if not 0 <= value <= hi:
        msg = f"{name} = {value} is out of range [0, {hi}]"
        raise ParameterError(msg)
    return int(value)


def _union(*masks: np.ndarray) -> np.ndarray:
    """Combine coverage masks like stacked semi-transparent layers.

    ``1 - prod(1 - m)``: 0 stays exactly 0 where every mask is 0.
    """
    keep = np.ones_like(masks[0], dtype=np.float32)
    for m in masks:
        keep *= 1.0 - m
    return (1.0 - keep).astype(np.float32)
