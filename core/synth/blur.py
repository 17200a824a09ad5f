"""Optical blur: Gaussian, defocus, linear motion and camera shake."""

from __future__ import annotations

import numpy as np

from .. import psf as psfs
from .degradation import Degradation, Seed, _check_image, _number, _rng

__all__ = ["defocus_blur", "gaussian_blur", "kernel_blur", "motion_blur"]


def _blurred(img: np.ndarray, kernel: np.ndarray, params: dict[str, object]) -> Degradation:
    return Degradation(image=psfs.blur(img, kernel, mode="reflect"), clean=img,
                       psf=kernel, params={**params, "mode": "reflect"})


def gaussian_blur(clean: np.ndarray, seed: Seed, *, sigma: float | None = None) -> Degradation:
    """Blur an image with a Gaussian kernel.

    Parameters
    ----------
    clean : ndarray
        float32 ``(H, W, C)`` image in [0, 1]; not modified.
    seed : int or numpy.random.Generator
        Draws `sigma` when it is None.
    sigma : float, optional
        Standard deviation in px, in (0, 50]; drawn in [0.8, 3].

    Returns
    -------
    Degradation
        ``psf`` is the kernel; ``photomend.psf.blur(clean, psf)``
        reproduces ``image`` exactly (reflecting borders).
    """
    img = _check_image(clean)
    rng = _rng(seed)
    s = float(rng.uniform(0.8, 3.0)) if sigma is None else _number("sigma", sigma, 1e-3, 50.0)
    return _blurred(img, psfs.gaussian(s), {"sigma": s})


def defocus_blur(clean: np.ndarray, seed: Seed, *, radius: float | None = None) -> Degradation:
    """Blur an image as an out-of-focus lens does (a uniform disk).

    Parameters
    ----------
    clean : ndarray
        float32 ``(H, W, C)`` image in [0, 1]; not modified.
    seed : int or numpy.random.Generator
        Draws `radius` when it is None.
    radius : float, optional
        Disk radius in px, in (0, 100]; drawn in [1.5, 6].

    Returns
    -------
    Degradation
        ``psf`` is :func:`photomend.psf.disk` of `radius` (softness 0.5).
    """
    img = _check_image(clean)
    rng = _rng(seed)
    r = float(rng.uniform(1.5, 6.0)) if radius is None else _number("radius", radius, 1e-3, 100.0)
    return _blurred(img, psfs.disk(r), {"radius": r, "softness": 0.5})


def motion_blur(clean: np.ndarray, seed: Seed, *, length: float | None = None,
                angle: float | None = None) -> Degradation:
    """Blur an image by straight uniform motion.

    Parameters
    ----------
    clean : ndarray
        float32 ``(H, W, C)`` image in [0, 1]; not modified.
    seed : int or numpy.random.Generator
        Draws what is left as None.
    length : float, optional
        Streak length in px, in (0, 200]; drawn in [5, 25].
    angle : float, optional
        Degrees counter-clockwise from the x axis (image y pointing down,
        see :func:`photomend.psf.motion`); drawn in [0, 180).

    Returns
    -------
    Degradation
        ``psf`` is :func:`photomend.psf.motion` of `length` and `angle`.
    """
    img = _check_image(clean)
    rng = _rng(seed)
    ln = float(rng.uniform(5.0, 25.0)) if length is None else _number("length", length,
                                                                      1e-3, 200.0)
    a = float(rng.uniform(0.0, 180.0)) if angle is None else _number("angle", angle,
                                                                     -360.0, 360.0)
    return _blurred(img, psfs.motion(ln, a), {"length": ln, "angle": a})


def _shake_path(rng: np.random.Generator, extent: float, steps: int = 64) -> np.ndarray:
    """Draw a random camera-shake trajectory ``(steps, 2)`` in ``(x, y)`` px.

    Velocity follows a random walk with inertia and a pull back to the
    start, after the trajectories of Boracchi & Foi (2012); the path is
    then scaled so that its largest extent is `extent` px.
    """
    pos = np.zeros((steps, 2))
    vel = rng.normal(0.0, 1.0, 2)
    for i in range(1, steps):  # 64 steps of a 2-D point, not pixels
        vel = 0.8 * vel + rng.normal(0.0, 0.6, 2) - 0.05 * pos[i - 1]
        if rng.random() < 0.05:  # occasional jerk
            vel += rng.normal(0.0, 2.0, 2)
        pos[i] = pos[i - 1] + vel
    span = float(np.ptp(pos, axis=0).max())
    return pos * (extent / max(span, 1e-9))


def kernel_blur(clean: np.ndarray, seed: Seed, *, psf: np.ndarray | None = None,
                size: float | None = None) -> Degradation:
    """Blur an image with a given kernel, or a random camera-shake kernel.

    Parameters
    ----------
    clean : ndarray
        float32 ``(H, W, C)`` image in [0, 1]; not modified.
    seed : int or numpy.random.Generator
        Draws the shake trajectory when `psf` is None.
    psf : ndarray, optional
        Any non-negative 2-D kernel; it is normalised and centred with
        :func:`photomend.psf.center` first, and the returned ``psf`` is that
        centred version.
    size : float, optional
        Extent of a random shake in px, in [1, 200]; drawn in [7, 25].
        Ignored when `psf` is given.

    Returns
    -------
    Degradation
        ``psf`` is the kernel applied.

    References
    ----------
    .. [1] G. Boracchi, A. Foi, "Modeling the Performance of Image
       Restoration From Motion Blur", IEEE TIP 21(8), 2012.
    """
    img = _check_image(clean)
    if psf is not None:
        return _blurred(img, psfs.center(psf), {"kind": "given"})
    rng = _rng(seed)
    extent = float(rng.uniform(7.0, 25.0)) if size is None else _number("size", size, 1.0,
                                                                        200.0)
    path = _shake_path(rng, extent)
    kernel = psfs.trajectory(path)
    return _blurred(img, kernel, {"kind": "shake", "size": extent, "path": path.tolist()})
