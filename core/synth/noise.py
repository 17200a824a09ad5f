"""Sensor noise and film grain."""

from __future__ import annotations

import numpy as np
from scipy import fft, ndimage

from ..convert import luminance
from .degradation import Degradation, Seed, _check_image, _number, _rng

__all__ = ["film_grain", "gaussian_noise", "poisson_gaussian_noise"]


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """Return white noise low-passed by a Gaussian of `sigma` px, unit variance.

    Large `sigma` is filtered in the Fourier domain (periodic borders), as a
    spatial kernel of 8 sigma taps would cost minutes on big images.
    """
    white = rng.standard_normal(shape)
    if sigma < 4.0:
        smooth = ndimage.gaussian_filter(white, sigma, mode="reflect")
    else:
        spectrum = ndimage.fourier_gaussian(fft.rfft2(white), sigma, n=shape[1])
        smooth = fft.irfft2(spectrum, s=shape)
    return smooth / max(float(smooth.std()), 1e-12)


def gaussian_noise(clean: np.ndarray, seed: Seed, *, sigma: float | None = None,
                   clip: bool = False) -> Degradation:
    """Add white Gaussian noise with a standard deviation in 0–255 units.

    Parameters
    ----------
    clean : ndarray
        float32 ``(H, W, C)`` image in [0, 1]; not modified.
    seed : int or numpy.random.Generator
        Source of the noise (and of `sigma` when None).
    sigma : float, optional
        Standard deviation on the 0–255 scale, as denoising papers report
        it (15, 25, 50, ...), in [0, 255]; drawn in [5, 50]. The noise
        added to the [0, 1] image has standard deviation ``sigma / 255``.
    clip : bool, optional
        Clip the result to [0, 1]. Off by default, following the usual
        denoising benchmark protocol (e.g. BM3D, DnCNN): the noisy image is
        ``clean + n`` with values outside [0, 1] kept, so the noise is
        exactly zero-mean Gaussian. Clipping biases dark and bright areas.

    Returns
    -------
    Degradation
        ``params['sigma']`` (0–255 units) and ``params['clip']``.
    """
    img = _check_image(clean)
    rng = _rng(seed)
    s = float(rng.uniform(5.0, 50.0)) if sigma is None else _number("sigma", sigma, 0.0, 255.0)
    noisy = img.astype(np.float64) + rng.standard_normal(img.shape) * (s / 255.0)
    if clip:
        noisy = np.clip(noisy, 0.0, 1.0)
    return Degradation(image=noisy.astype(np.float32), clean=img,
                       params={"sigma": s, "clip": bool(clip)})


def poisson_gaussian_noise(clean: np.ndarray, seed: Seed, *, peak: float | None = None,
                           sigma: float | None = None, clip: bool = False) -> Degradation:
    """Add signal-dependent Poisson–Gaussian noise (photon shot + read noise).

    Parameters
    ----------
    clean : ndarray
        float32 ``(H, W, C)`` image in [0, 1]; not modified. Values below
        0 count as 0 photons.
    seed : int or numpy.random.Generator
        Source of the noise (and of the amounts left as None).
    peak : float, optional
        Expected photon count at value 1, in [0.1, 1e6]; drawn
        log-uniformly in [10, 500]. Fewer photons, more noise.
    sigma : float, optional
        Standard deviation of the signal-independent part, 0–255 units,
        in [0, 255]; drawn in [0, 10].
    clip : bool, optional
        Clip the result to [0, 1]; off by default as for
        :func:`gaussian_noise`.

    Returns
    -------
    Degradation
        ``params`` holds `peak`, `sigma` and the model's ``a = 1 / peak``
        and ``b = (sigma / 255)**2``, so that the variance at value ``x``
        is ``a * x + b``.

    Notes
    -----
    ``y = Poisson(peak * x) / peak + N(0, (sigma / 255)^2)``, the model of
    Foi et al. [1]_, applied to the values as given (apply it to linear
    data to mimic a raw sensor).

    References
    ----------
    .. [1] A. Foi, M. Trimeche, V. Katkovnik, K. Egiazarian, "Practical
       Poissonian-Gaussian noise modeling and fitting for single-image
       raw-data", IEEE TIP 17(10), 2008.
    """
    img = _check_image(clean)
    rng = _rng(seed)
    p = (float(np.exp(rng.uniform(np.log(10.0), np.log(500.0)))) if peak is None
         else _number("peak", peak, 0.1, 1e6))
    s = float(rng.uniform(0.0, 10.0)) if sigma is None else _number("sigma", sigma, 0.0, 255.0)
    photons = rng.poisson(np.clip(img.astype(np.float64), 0.0, None) * p)
    noisy = photons / p + rng.standard_normal(img.shape) * (s / 255.0)
    if clip:
        noisy = np.clip(noisy, 0.0, 1.0)
    return Degradation(image=noisy.astype(np.float32), clean=img,
                       params={"peak": p, "sigma": s, "a": 1.0 / p, "b": (s / 255.0) ** 2,
                               "clip": bool(clip)})


def film_grain(clean: np.ndarray, seed: Seed, *, strength: float | None = None,
               size: float | None = None, chroma: float = 0.3,
               clip: bool = True) -> Degradation:
    """Add film grain: clumped, strongest in the mid-tones, mostly luminance.

    Parameters
    ----------
    clean : ndarray
        float32 ``(H, W, C)`` image in [0, 1]; not modified.
    seed : int or numpy.random.Generator
        Source of the grain (and of the amounts left as None).
    strength : float, optional
        Standard deviation of the grain at mid-grey, in [0, 0.5]; drawn in
        [0.015, 0.05].
    size : float, optional
        Grain clump size (Gaussian correlation sigma) in px, in [0, 10];
        drawn in [0.5, 1.5]. 0 gives white (uncorrelated) grain.
    chroma : float, optional
        Share of independent per-channel grain in RGB images, in [0, 1];
        the rest is common to all channels (luminance grain).
    clip : bool, optional
        Clip the result to [0, 1] (on by default: grain is a look, not a
        benchmark noise model).

    Returns
    -------
    Degradation
        ``params`` holds `strength`, `size`, `chroma` and `clip`.

    Notes
    -----
    ``y = x + strength * m(L) * g`` where ``g`` is white noise low-passed
    with a Gaussian of `size` and rescaled to unit variance, and
    ``m(L) = 2 sqrt(L (1 - L))`` of the clean luminance ``L``: grain is
    most visible in mid-tones and vanishes in clipped black and white,
    which makes it multiplicative-like rather than additive.
    """
    img = _check_image(clean)
    rng = _rng(seed)
    a = float(rng.uniform(0.015, 0.05)) if strength is None else _number("strength", strength,
                                                                         0.0, 0.5)
    sz = float(rng.uniform(0.5, 1.5)) if size is None else _number("size", size, 0.0, 10.0)
    mix = _number("chroma", chroma, 0.0, 1.0)
    h, w, c = img.shape

    def grain(shape: tuple[int, ...]) -> np.ndarray:
        g = rng.standard_normal(shape)
        if sz > 0:
            g = ndimage.gaussian_filter(g, sigma=(sz, sz, 0)[: g.ndim], mode="reflect")
        return g / max(float(g.std()), 1e-12)

    common = grain((h, w, 1))
    if c == 3 and mix > 0:
        field = np.sqrt(1.0 - mix) * common + np.sqrt(mix) * grain((h, w, 3))
    else:
        field = np.broadcast_to(common, (h, w, c))
    lum = np.clip(luminance(img).astype(np.float64), 0.0, 1.0)
    weight = 2.0 * np.sqrt(lum * (1.0 - lum))
    out = img + a * weight[..., None] * field
    if clip:
        out = np.clip(out, 0.0, 1.0)
    return Degradation(image=out.astype(np.float32), clean=img,
                       params={"strength": a, "size": sz, "chroma": mix, "clip": bool(clip)})
