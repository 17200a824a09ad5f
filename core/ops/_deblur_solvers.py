"""Non-blind deconvolution solvers for :mod:`photomend.ops.deblur`.

Every solver takes float32 ``(H, W, C)`` pixels, a normalised 2-D PSF and
the noise standard deviation, and returns the restored pixels. They share
one boundary model (:class:`Frame`): the image is embedded in a larger,
FFT-friendly periodic frame whose extra pixels are *unknown*; the data term
only covers the observed pixels, and the unobserved ring is re-estimated
from the current solution at every iteration (an EM / majorise-minimise
step), so nothing wraps around and the borders do not ring.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from scipy import fft as sfft
from scipy import ndimage

__all__ = [
    "Frame",
    "estimate_noise",
    "inverse",
    "plane_balance",
    "richardson_lucy",
    "richardson_lucy_steps",
    "sparse",
    "wiener",
]

#: Orthonormal luminance / opponent-colour basis (rows). Blur acts on each
#: row's combination exactly as on the channels, white noise stays white
#: with the same sigma, and the two chroma planes can be regularised more
#: strongly than luminance: colour edges stay put and do not fringe.
_OPPONENT = np.array([[1.0, 1.0, 1.0], [1.0, -1.0, 0.0], [1.0, 1.0, -2.0]])
_OPPONENT = (_OPPONENT / np.linalg.norm(_OPPONENT, axis=1, keepdims=True)).astype(np.float32)

#: Below this many pixels per plane, threads cost more than they save.
_THREAD_PIXELS = 200_000
#: FFT worker threads for large frames (the machine's cores, at most 2: the
#: planes of a colour image already run on their own threads).
_FFT_WORKERS = max(1, min(2, os.cpu_count() or 1))

#: Chroma planes get this many times the luminance regularisation.
CHROMA_WEIGHT = 4.0

Report = Callable[[float], None]


def _quiet(fraction: float) -> None:
    """Progress sink that ignores reports."""


def to_opponent(image: np.ndarray) -> np.ndarray:
    """Return ``(H, W, 3)`` RGB as luminance + two opponent planes."""
    return np.ascontiguousarray(image @ _OPPONENT.T)


def from_opponent(planes: np.ndarray) -> np.ndarray:
    """Invert :func:`to_opponent`."""
    return np.ascontiguousarray(planes @ _OPPONENT)


# ----------------------------------------------------------------------------
# Noise


def _haar_diagonal(plane: np.ndarray) -> np.ndarray:
    """Finest-scale diagonal Haar detail (orthonormal: white noise keeps sigma)."""
    h, w = plane.shape[0] // 2 * 2, plane.shape[1] // 2 * 2
    a = plane[:h, :w].astype(np.float32)
    return 0.5 * (a[0::2, 0::2] - a[0::2, 1::2] - a[1::2, 0::2] + a[1::2, 1::2])


#: Most detail coefficients the noise estimate looks at.
_NOISE_SAMPLES = 500_000


def estimate_noise(image: np.ndarray, bins: int = 8) -> float:
    """Estimate the RMS standard deviation of additive noise in an image.

    Parameters
    ----------
    image : ndarray
        ``(H, W)`` or ``(H, W, C)`` float pixels.
    bins : int
        Number of brightness classes for the noise level function.

    Returns
    -------
    float
        sqrt of the pixel-averaged noise variance, pooled over channels.

    Notes
    -----
    The finest diagonal Haar coefficients of a blurred image hold almost
    only noise; their median absolute value / 0.6745 estimates its sigma
    robustly [1]_. Noise is rarely uniform (camera noise grows with the
    signal; uniform noise in sRGB values grows with brightness once turned
    into linear light), so the estimate is made per brightness class (a
    noise level function) and the variances are averaged, which is the
    sigma an unweighted least-squares data term needs.

    References
    ----------
    .. [1] D. L. Donoho, I. M. Johnstone, "Ideal spatial adaptation by
       wavelet shrinkage", Biometrika 81(3), 1994.
    """
    img = image if image.ndim == 3 else image[..., None]
    details, levels = [], []
    for c in range(img.shape[2]):
        plane = img[..., c]
        if min(plane.shape) < 4:
            continue
        d = _haar_diagonal(plane)
        h, w = d.shape
        mean = 0.25 * (plane[0:2 * h:2, 0:2 * w:2] + plane[0:2 * h:2, 1:2 * w:2]
                       + plane[1:2 * h:2, 0:2 * w:2] + plane[1:2 * h:2, 1:2 * w:2])
        details.append(np.abs(d).ravel())
        levels.append(mean.ravel())
    if not details:
        return 0.0
    mag = np.concatenate(details)
    lev = np.concatenate(levels)
    if mag.size > _NOISE_SAMPLES:  # a regular subsample is plenty for medians
        step = mag.size // _NOISE_SAMPLES + 1
        mag, lev = mag[::step], lev[::step]
    n = mag.size
    nb = max(1, min(bins, n // 256))
    order = np.argsort(lev, kind="stable")
    variances = []
    for part in np.array_split(order, nb):
        s = float(np.median(mag[part])) / 0.6745
        variances.append((s * s, part.size))
    var = sum(v * c for v, c in variances) / n
    return math.sqrt(max(var, 0.0))


# ----------------------------------------------------------------------------
# The periodic frame


#: Least width (px) over which the ring passes from one border's mean to the
#: opposite one's, beyond both fades.
_BLEND_GAP = 24


@dataclass
class Frame:
    """An FFT frame around an ``h × w`` image for a given PSF.

    Attributes
    ----------
    shape : tuple of int
        Frame size (fast FFT lengths).
    top, left : int
        Offset of the image inside the frame.
    h, w : int
        Image size.
    otf : ndarray
        rfft2 of the PSF, centred at the origin (complex64).
    otf2 : ndarray
        ``|otf|²`` (float32).
    grad2 : ndarray
        ``|Dx|² + |Dy|²`` of the forward-difference filters (float32).
    margin : int
        The margin asked for (the frame may leave more): how far the
        image's extension into the ring reaches.
    """

    shape: tuple[int, int]
    top: int
    left: int
    h: int
    w: int
    otf: np.ndarray
    otf2: np.ndarray
    grad2: np.ndarray
    margin: int

    @classmethod
    def around(cls, h: int, w: int, psf: np.ndarray, margin: int | None = None) -> Frame:
        """Build the frame: the image plus at least one PSF size of margin."""
        kh, kw = psf.shape
        m = max(kh, kw) if margin is None else margin
        # room to pass from one border's mean to the other's beyond both fades
        gap = 2 * m + max(_BLEND_GAP, m)
        hp = sfft.next_fast_len(h + gap, real=True)
        wp = sfft.next_fast_len(w + gap, real=True)
        shape = (hp, wp)
        otf = psf_to_otf(psf, shape)
        otf2 = (otf.real ** 2 + otf.imag ** 2).astype(np.float32)
        fy = np.fft.fftfreq(hp).astype(np.float32)[:, None]
        fx = np.fft.rfftfreq(wp).astype(np.float32)[None, :]
        grad2 = (4.0 * np.sin(np.pi * fy) ** 2 + 4.0 * np.sin(np.pi * fx) ** 2).astype(np.float32)
        return cls(shape, (hp - h) // 2, (wp - w) // 2, h, w, otf, otf2, grad2, m)

    @property
    def inside(self) -> tuple[slice, slice]:
        """Slices of the image inside the frame."""
        return slice(self.top, self.top + self.h), slice(self.left, self.left + self.w)

    def extend(self, plane: np.ndarray) -> np.ndarray:
        """Embed `plane` in the frame with a smooth periodic extension.

        Within :attr:`margin` px of the image the ring is the image
        mirrored outwards, faded (raised cosine) to the local mean of the
        border it faces; further out it passes linearly from one border's
        local mean to the opposite border's, so opposite sides of the frame
        meet without a step and the blurred border is never wrapped against the
        opposite border. What lies within the margin depends only on the
        pixels near each border, not on the whole image or the frame's
        size: a tile that ends at the image's edge treats it as the whole
        image does. This only initialises the unknown ring, which the
        solvers then re-estimate.
        """
        hp, wp = self.shape
        rows = _extend_axis(plane.astype(np.float32), self.top, hp - self.h - self.top,
                            self.margin)
        out = _extend_axis(rows.T, self.left, wp - self.w - self.left, self.margin,
                           periodic=True).T
        out = np.ascontiguousarray(out, dtype=np.float32)
        out[self.inside] = plane
        return out

    def observed(self) -> np.ndarray:
        """Return the float32 frame mask: 1 on the image, 0 on the unknown ring."""
        m = np.zeros(self.shape, np.float32)
        m[self.inside] = 1.0
        return m

    @property
    def workers(self) -> int:
        """FFT threads: pocketfft splits large transforms over the cores."""
        return _FFT_WORKERS if self.shape[0] * self.shape[1] >= _THREAD_PIXELS else 1

    def fft(self, plane: np.ndarray) -> np.ndarray:
        """rfft2 of a frame-sized plane."""
        return sfft.rfft2(plane, workers=self.workers)

    def ifft(self, spectrum: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`fft`, as float32."""
        return sfft.irfft2(spectrum, s=self.shape, workers=self.workers).astype(
            np.float32, copy=False)


def _extend_axis(a: np.ndarray, before: int, after: int, ramp: int,
                 periodic: bool = False) -> np.ndarray:
    """Extend `a` by `before` and `after` rows (axis 0) as :meth:`Frame.extend` does.

    The gap of ``before + after`` rows wraps around from the last row to
    the first. Each row of it is the mirrored image faded over `ramp` rows
    to the local mean of the nearer border (its last or first `ramp` rows,
    averaged and smoothed along the border over `ramp` px); beyond the
    ramp the target passes linearly from one border's mean to the other's.
    `periodic`: axis 1 wraps around (it was extended already), so the
    means are smoothed around it.
    """
    n = a.shape[0]
    gap = before + after
    if gap == 0:
        return a.copy()
    ramp = max(1, ramp)
    depth = min(ramp, n)
    mode = "wrap" if periodic else "nearest"
    edge = {
        "last": ndimage.uniform_filter1d(a[n - depth:].mean(axis=0), ramp, axis=0, mode=mode),
        "first": ndimage.uniform_filter1d(a[:depth].mean(axis=0), ramp, axis=0, mode=mode),
    }
    k = np.arange(gap)
    d_last, d_first = k + 1, gap - k  # distance (rows) to the last and the first row
    middle = max(1, gap - 2 * ramp + 1)
    t = np.clip((d_last - ramp) / middle, 0.0, 1.0)
    share = t.astype(np.float32)  # of the first row's mean
    near = np.minimum(d_last, d_first)
    fade = np.clip(1.0 - near / (ramp + 1.0), 0.0, 1.0)
    weight = (0.5 - 0.5 * np.cos(np.pi * fade)).astype(np.float32)
    # rows mirrored about the nearer border (symmetric, repeating if the gap
    # is long): only the gap's rows are gathered, not a padded copy of `a`
    virtual = np.where(d_last <= d_first, n - 1 + d_last, -d_first) % (2 * n)
    src = np.where(virtual >= n, 2 * n - 1 - virtual, virtual)
    shape = (gap, *(1,) * (a.ndim - 1))
    target = ((1.0 - share).reshape(shape) * edge["last"][None]
              + share.reshape(shape) * edge["first"][None])
    ring = target + weight.reshape(shape) * (a[src] - target)
    out = np.empty((n + gap, *a.shape[1:]), dtype=np.float32)
    out[before:before + n] = a
    out[before + n:] = ring[:after]
    out[:before] = ring[after:]
    return out


def psf_to_otf(psf: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Return the rfft2 of `psf` zero-padded to `shape`, centre at the origin."""
    kh, kw = psf.shape
    pad = np.zeros(shape, np.float32)
    pad[:kh, :kw] = psf
    pad = np.roll(pad, (-(kh // 2), -(kw // 2)), axis=(0, 1))
    return sfft.rfft2(pad, workers=1).astype(np.complex64)


# ----------------------------------------------------------------------------
# Colour handling shared by the linear solvers


def _planes(image: np.ndarray) -> tuple[np.ndarray, list[float], bool]:
    """Return the planes to restore, their regularisation weights, and opponent flag."""
    if image.shape[2] == 3:
        return to_opponent(image), [1.0, CHROMA_WEIGHT, CHROMA_WEIGHT], True
    return image, [1.0] * image.shape[2], False


def _finish(planes: np.ndarray, opponent: bool) -> np.ndarray:
    return from_opponent(planes) if opponent else planes


# ----------------------------------------------------------------------------
# Sparse gradient prior (half-quadratic splitting)

#: Range of the splitting weight beta (Krishnan & Fergus 2009).
_BETA0, _BETA_MAX = 1.0, 256.0


def _sparse_iterations(noise: float) -> int:
    """Default outer iterations: 12 for visible noise, more as it vanishes.

    The weaker the noise, the larger the data weight and the closer the
    solution sits to the inverse filter, where the unknown-border (EM)
    refill and the splitting both need more steps to settle.
    """
    extra = 6.0 * math.log2(max(0.005 / max(noise, 1e-6), 1.0))
    return int(min(30, 12 + round(extra)))
#: Data weight lambda = _SPARSE_LAMBDA / sigma²  (tuned on CBSD68/BSD68 crops).
_SPARSE_LAMBDA = 0.2
_CHROMA_QUAD = 1000.0
#: Exponent of the hyper-Laplacian gradient prior |∇x|^alpha.
_ALPHA = 0.8


def _shrink(v: np.ndarray, beta: float, alpha: float) -> np.ndarray:
    """Approximately minimise ``|w|^alpha + beta/2 (w - v)²`` per pixel.

    alpha = 1 is soft thresholding; otherwise the generalised p-shrinkage
    of Chartrand (2009), which is exact at alpha = 1 and tracks the true
    hyper-Laplacian minimiser closely at the strengths used here.
    """
    tau = np.float32(1.0 / beta)
    if alpha == 1.0:
        return v - np.clip(v, -tau, tau)
    a = np.abs(v) + np.float32(1e-12)
    t = np.float32(tau ** (2.0 - alpha)) * a ** np.float32(alpha - 1.0)
    return np.sign(v) * np.maximum(a - t, np.float32(0.0))


def _grad(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Periodic forward differences (x[i+1] - x[i])."""
    gx = np.empty_like(x)
    np.subtract(x[:, 1:], x[:, :-1], out=gx[:, :-1])
    np.subtract(x[:, :1], x[:, -1:], out=gx[:, -1:])
    gy = np.empty_like(x)
    np.subtract(x[1:], x[:-1], out=gy[:-1])
    np.subtract(x[:1], x[-1:], out=gy[-1:])
    return gx, gy


def _grad_adjoint(wx: np.ndarray, wy: np.ndarray) -> np.ndarray:
    """Adjoint of :func:`_grad`: ``Dxᵀ wx + Dyᵀ wy``."""
    out = np.empty_like(wx)
    np.subtract(wx[:, :-1], wx[:, 1:], out=out[:, 1:])
    np.subtract(wx[:, -1:], wx[:, :1], out=out[:, :1])
    out[1:] += wy[:-1] - wy[1:]
    out[:1] += wy[-1:] - wy[:1]
    return out


def sparse(image: np.ndarray, psf: np.ndarray, noise: float, *, strength: float = 1.0,
           iterations: int = 0, alpha: float | None = None, report: Report = _quiet) -> np.ndarray:
    """Deconvolve with a hyper-Laplacian gradient prior by half-quadratic splitting.

    Parameters
    ----------
    image : ndarray
        float32 ``(H, W, C)`` blurred pixels.
    psf : ndarray
        Normalised 2-D PSF.
    noise : float
        Noise standard deviation (> 0).
    strength : float
        Multiplier of the regularisation (1 = tuned default).
    iterations : int
        Outer iterations; 0 uses the default schedule (beta 1 → 256).
    alpha : float, optional
        Prior exponent in (0, 1] for luminance (default :data:`_ALPHA`).
    report : callable
        Receives the completed fraction.

    Returns
    -------
    ndarray
        float32 restored pixels.

    Notes
    -----
    Minimises ``λ/2 ‖M(k ∗ x − y)‖² + Σ |∇x|^α`` where ``M`` selects the
    observed pixels of the periodic frame. Splitting ``w ≈ ∇x`` with weight
    ``β`` alternates a per-pixel shrinkage for ``w`` and an exact FFT solve
    for ``x`` [1]_; the unobserved ring is refilled with ``k ∗ x`` before
    each solve. ``β`` grows geometrically so the split tightens. Planes are
    restored in parallel threads (numpy and pocketfft release the GIL).

    References
    ----------
    .. [1] D. Krishnan, R. Fergus, "Fast image deconvolution using
       hyper-Laplacian priors", NIPS 2009.
    """
    planes, weights, opponent = _planes(image)
    h, w, nc = planes.shape
    frame = Frame.around(h, w, psf)
    observed = frame.observed()
    sigma2 = max(noise, 1e-4) ** 2
    n_iter = iterations or _sparse_iterations(noise)
    rate = (_BETA_MAX / _BETA0) ** (1.0 / n_iter)
    otf, otf2, grad2 = frame.otf, frame.otf2, frame.grad2
    out = np.empty_like(planes)
    progress = _Counter(report, nc * n_iter)

    def restore(c: int) -> None:
        if c > 0 and opponent and _CHROMA_QUAD:
            gain = np.conj(otf) / (otf2 + np.float32(_CHROMA_QUAD * sigma2 * strength) * grad2)
            out[..., c] = _filter_em(planes[..., c:c + 1], frame, [gain], _quiet)[..., 0]
            for _ in range(n_iter):
                progress.step()
            return
        lam = np.float32(_SPARSE_LAMBDA / (sigma2 * strength * weights[c]))
        a = (_ALPHA if alpha is None else alpha) if c == 0 or not opponent else 1.0
        lam_otf_c = np.conj(otf) * lam
        lam_otf2 = otf2 * lam
        y = frame.extend(planes[..., c])
        x = y.copy()
        spec_x = frame.fft(x)
        beta = _BETA0
        for _ in range(n_iter):
            gx, gy = _grad(x)
            dtw = _grad_adjoint(_shrink(gx, beta, a), _shrink(gy, beta, a))
            kx = frame.ifft(otf * spec_x)
            kx += observed * (y - kx)  # observed pixels from y, the ring from k ∗ x
            num = lam_otf_c * frame.fft(kx)
            num += np.float32(beta) * frame.fft(dtw)
            num *= 1.0 / (lam_otf2 + np.float32(beta) * grad2)
            spec_x = num
            x = frame.ifft(spec_x)
            beta *= rate
            progress.step()
        out[..., c] = x[frame.inside]

    _each_plane(restore, nc, h * w)
    return _finish(out, opponent)


class _Counter:
    """Progress over a known number of steps, counted on any thread.

    Only the thread that created it calls the host's callback: host progress
    bars (GIMP, Qt) must not be driven from worker threads. Cancellation
    raised by the callback therefore also surfaces on that thread.
    """

    def __init__(self, report: Report, total: int) -> None:
        self._report = report
        self._total = max(1, total)
        self._done = 0
        self._lock = threading.Lock()
        self._owner = threading.get_ident()

    def step(self) -> None:
        with self._lock:
            self._done += 1
            done = self._done
        if threading.get_ident() == self._owner:
            self._report(done / self._total)


def _each_plane(work: Callable[[int], None], count: int, pixels: int) -> None:
    """Run ``work(c)`` for every plane, the first on this thread, others on one more.

    Plane 0 (luminance, the expensive one for the sparse prior) runs here so
    progress and cancellation stay on the caller's thread.
    """
    if count == 1 or pixels < _THREAD_PIXELS:
        for c in range(count):
            work(c)
        return

    def others() -> None:
        for c in range(1, count):
            work(c)

    with ThreadPoolExecutor(max_workers=1) as pool:
        rest = pool.submit(others)
        try:
            work(0)
        finally:
            rest.result()


# ----------------------------------------------------------------------------
# Wiener and regularised inverse filters

#: EM passes that re-estimate the unknown ring for the one-shot filters.
_EM_PASSES = 3
#: The Wiener filter's image spectrum is fitted where the observed power
#: exceeds this many times the noise power.
SIGNAL_MARGIN = 2.0


def _filter_em(planes: np.ndarray, frame: Frame, gains: list[np.ndarray],
               report: Report) -> np.ndarray:
    """Apply per-plane linear filters with EM re-estimation of the ring."""
    observed = frame.observed()
    out = np.empty_like(planes)
    nc = planes.shape[2]
    for c in range(nc):
        y = frame.extend(planes[..., c])
        fill = y
        spec_x = None
        for p in range(_EM_PASSES + 1):
            if spec_x is not None:
                kx = frame.ifft(frame.otf * spec_x)
                fill = kx + observed * (y - kx)
            spec_x = gains[c] * frame.fft(fill)
            report((c * (_EM_PASSES + 1) + p + 1) / (nc * (_EM_PASSES + 1)))
        assert spec_x is not None
        out[..., c] = frame.ifft(spec_x)[frame.inside]
    return out


def _spectrum_scale(y: np.ndarray, frame: Frame, sigma2: float) -> float:
    """Fit A in the natural-image model ``S_x(ω) = A / |∇(ω)|²``.

    Uses the frequencies the PSF passes well (``|K|² > 0.25``), where the
    observed power is ``|K|² S_x + sigma²``, and of those the ones where
    the image stands clearly above the noise (power over
    :data:`SIGNAL_MARGIN` σ²). A smooth picture has next to nothing at
    most frequencies: fitted there too, A came out near zero and the
    filter flattened the whole image.
    """
    spec = frame.fft(y)
    n = float(y.size)
    power = (spec.real ** 2 + spec.imag ** 2) / n
    passed = (frame.otf2 > 0.25) & (frame.grad2 > 1e-3)
    if passed.sum() < 16:
        passed = frame.grad2 > 1e-3
    good = passed & (power > SIGNAL_MARGIN * sigma2)
    if good.sum() < 16:
        good = passed  # no signal to speak of: the noise decides
    est = (power[good] - sigma2) * frame.grad2[good] / np.maximum(frame.otf2[good], 1e-6)
    return float(max(np.median(est), 1e-8))


def wiener(image: np.ndarray, psf: np.ndarray, noise: float, *, strength: float = 1.0,
           balance: Sequence[float] | None = None, report: Report = _quiet) -> np.ndarray:
    """Deconvolve with a Wiener filter whose SNR is estimated from the image.

    `balance` gives each plane's noise-to-signal weight (as
    :func:`plane_balance` fits it); None fits it to `image`.

    Notes
    -----
    ``X = K* Y / (|K|² + σ² / S_x)`` with the noise σ measured by
    :func:`estimate_noise` and the image spectrum modelled as
    ``S_x = A / |∇|²`` (the 1/f² law of natural images), ``A`` fitted to
    the observed spectrum where the PSF passes. Colour is filtered in a
    luminance/opponent basis with the chroma SNR lowered
    (:data:`CHROMA_WEIGHT`), which keeps colour edges from fringing.
    """
    planes, weights, opponent = _planes(image)
    h, w, nc = planes.shape
    frame = Frame.around(h, w, psf)
    if balance is None:
        balance = _fit_balance(planes, frame, noise, "wiener")
    gains = []
    for c in range(nc):
        reg = np.float32(strength * weights[c] * balance[c])
        gains.append(np.conj(frame.otf) / (frame.otf2 + reg * frame.grad2 + np.float32(1e-7)))
    return _finish(_filter_em(planes, frame, gains, report), opponent)


def _gcv_epsilon(spec_power: np.ndarray, otf2: np.ndarray) -> float:
    """Choose the Tikhonov constant by generalised cross-validation.

    ``GCV(ε) = ‖(I − H_ε) y‖² / tr(I − H_ε)²`` with the influence matrix
    ``H_ε = |K|² / (|K|² + ε)`` diagonal in the Fourier basis [2]_.
    """
    p = spec_power.ravel().astype(np.float64)
    k2 = otf2.ravel().astype(np.float64)
    if p.size > 200_000:  # a regular subsample keeps the search cheap
        step = p.size // 200_000 + 1
        p, k2 = p[::step], k2[::step]
    best, best_score = 1e-2, np.inf
    for eps in np.logspace(-6, 0, 37):
        resid = eps / (k2 + eps)
        score = float((resid ** 2 * p).sum() / resid.sum() ** 2)
        if score < best_score:
            best, best_score = float(eps), score
    return best


def inverse(image: np.ndarray, psf: np.ndarray, noise: float, *, strength: float = 1.0,
            balance: Sequence[float] | None = None, report: Report = _quiet) -> np.ndarray:
    """Deconvolve with a Tikhonov-regularised inverse filter.

    `balance` gives each plane's Tikhonov constant (as :func:`plane_balance`
    fits it); None fits it to `image`.

    Notes
    -----
    ``X = K* Y / (|K|² + ε)``: the plain inverse ``Y / K`` where the PSF
    passes, attenuated where it does not. ``ε`` is chosen per plane by
    generalised cross-validation [2]_ (no noise model needed), then scaled
    by `strength`.

    References
    ----------
    .. [2] G. H. Golub, M. Heath, G. Wahba, "Generalized cross-validation as
       a method for choosing a good ridge parameter", Technometrics 21(2),
       1979.
    """
    planes, weights, opponent = _planes(image)
    h, w, nc = planes.shape
    frame = Frame.around(h, w, psf)
    if balance is None:
        balance = _fit_balance(planes, frame, noise, "inverse")
    gains = []
    for c in range(nc):
        reg = np.float32(balance[c] * strength * weights[c])
        gains.append(np.conj(frame.otf) / (frame.otf2 + reg))
    return _finish(_filter_em(planes, frame, gains, report), opponent)


def _fit_balance(planes: np.ndarray, frame: Frame, noise: float, method: str) -> list[float]:
    """Fit each plane's regularisation for the Wiener or the inverse filter."""
    out = []
    for c in range(planes.shape[2]):
        y = frame.extend(planes[..., c])
        if method == "wiener":
            sigma2 = max(noise, 1e-4) ** 2
            out.append(sigma2 / _spectrum_scale(y, frame, sigma2))
        else:  # GCV finds the balance from the data alone
            spec = frame.fft(y)
            out.append(_gcv_epsilon(spec.real ** 2 + spec.imag ** 2, frame.otf2))
    return out


def plane_balance(image: np.ndarray, psf: np.ndarray, noise: float, method: str
                  ) -> list[float]:
    """Fit the regularisation :func:`wiener` or :func:`inverse` would use on `image`.

    Parameters
    ----------
    image : ndarray
        float32 ``(H, W, C)`` blurred pixels (the whole image, or a sample
        of it that stands for the whole).
    psf : ndarray
        Normalised 2-D PSF.
    noise : float
        Noise standard deviation (used by the Wiener fit).
    method : {'wiener', 'inverse'}
        Which filter's regularisation to fit.

    Returns
    -------
    list of float
        One value per plane the filter restores (luminance and two colour
        planes for RGB, else each channel): the Wiener filter's noise-to-
        signal weight ``σ² / A``, or the inverse filter's ``ε``. Passing
        them as ``balance`` gives every tile of a large image the same
        filter, so no seams show.
    """
    if method not in ("wiener", "inverse"):
        msg = f"plane_balance fits 'wiener' or 'inverse', not {method!r}"
        raise ValueError(msg)
    planes, _, _ = _planes(image)
    h, w, _ = planes.shape
    return _fit_balance(planes, Frame.around(h, w, psf), noise, method)


# ----------------------------------------------------------------------------
# Richardson–Lucy

#: Default iteration cap and damping threshold (in noise sigmas).
_RL_MAX_ITER, _RL_DAMP = 60, 1.0


def richardson_lucy(image: np.ndarray, psf: np.ndarray, noise: float, *,
                    strength: float = 1.0, iterations: int = 0,
                    report: Report = _quiet) -> np.ndarray:
    """Deconvolve by damped Richardson–Lucy with a discrepancy stopping rule.

    With `iterations` 0 the iteration stops by the rule below (at most
    60 steps); a positive `iterations` runs exactly that many (tiles of a
    large image take the count :func:`richardson_lucy_steps` found on the
    whole, so they all stop alike).

    Notes
    -----
    The multiplicative update ``x ← x · kᵀ(M y / k∗x) / kᵀM`` keeps ``x``
    non-negative; ``M`` restricts it to the observed pixels, which removes
    boundary artefacts [3]_. White's damping [4]_ blends the ratio toward 1
    where the data are already fitted within ``strength`` noise sigmas, so
    noise is not amplified there. Iteration stops when the mean squared
    residual over all channels reaches the noise variance (Morozov's
    discrepancy principle); the channels stop together, so they stay
    equally sharp and edges do not grow colour fringes.

    References
    ----------
    .. [3] M. Bertero, P. Boccacci, "A simple method for the reduction of
       boundary effects in the Richardson-Lucy approach to image
       deconvolution", A&A 437, 2005.
    .. [4] R. L. White, "Image restoration using the damped Richardson-Lucy
       method", Proc. SPIE 2198, 1994.
    """
    return _richardson_lucy(image, psf, noise, strength, iterations, report)[0]


def richardson_lucy_steps(image: np.ndarray, psf: np.ndarray, noise: float, *,
                          strength: float = 1.0) -> int:
    """Return how many steps :func:`richardson_lucy`'s stopping rule takes on `image`."""
    return _richardson_lucy(image, psf, noise, strength, 0, _quiet)[1]


def _richardson_lucy(image: np.ndarray, psf: np.ndarray, noise: float, strength: float,
                     iterations: int, report: Report) -> tuple[np.ndarray, int]:
    """Run damped Richardson–Lucy; return the result and the steps taken."""
    h, w, nc = image.shape
    frame = Frame.around(h, w, psf)
    observed = frame.observed()
    otf, otf_c = frame.otf, np.conj(frame.otf)
    norm = frame.ifft(otf_c * frame.fft(observed))
    norm = np.maximum(norm, np.float32(1e-3))
    sigma = max(noise, 1e-4)
    floor = np.float32(max(sigma, 1e-3))
    thresh2 = np.float32((_RL_DAMP * strength * sigma) ** 2)
    steps = iterations if iterations > 0 else _RL_MAX_ITER
    inside = frame.inside
    offsets, ys, xs = [], [], []
    for c in range(nc):
        plane = image[..., c]
        offset = np.float32(max(0.0, -float(plane.min())) + floor)  # keep data positive
        y = frame.extend(plane) + offset
        offsets.append(offset)
        ys.append(y)
        xs.append(np.maximum(y, floor))
    done = 0
    for i in range(steps):
        ratios, misfit = [], 0.0
        for c in range(nc):
            kx = np.maximum(frame.ifft(otf * frame.fft(xs[c])), np.float32(1e-6))
            resid = (ys[c] - kx) * observed
            misfit += float((resid[inside] ** 2).mean()) / nc
            u = np.minimum(resid * resid / thresh2, np.float32(1.0))
            damp = u ** 9 * (10.0 - 9.0 * u)  # White's N = 10 damping factor
            ratios.append(observed * (1.0 + damp * resid / kx))
        if iterations <= 0 and misfit <= sigma * sigma:
            break
        for c in range(nc):
            xs[c] = xs[c] * frame.ifft(otf_c * frame.fft(ratios[c])) / norm
        done = i + 1
        report(done / steps)
    out = np.empty_like(image)
    for c in range(nc):
        out[..., c] = xs[c][inside] - offsets[c]
    return out, done
