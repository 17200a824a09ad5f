"""Point-spread functions (blur kernels) and FFT blurring.

Shared by the synthetic blur of :mod:`photomend.synth` and the deblur
operation, so both speak about exactly the same kernels.

Every builder returns a float64 2-D array that is odd-sized, non-negative,
sums to 1 and has its centroid on the centre pixel ``(size // 2, size // 2)``.

Coordinates follow the image: ``x`` grows to the right (columns) and ``y``
grows *downwards* (rows). Angles are measured counter-clockwise as seen on
screen, from the positive ``x`` axis, so ``angle_deg=90`` points up, i.e.
towards smaller row indices.
"""

from __future__ import annotations

import itertools
import math
from typing import Literal

import numpy as np
from scipy import signal

from .errors import ImageError, ParameterError

__all__ = [
    "BlurMode",
    "blur",
    "center",
    "compose",
    "disk",
    "gaussian",
    "motion",
    "normalize",
    "trajectory",
]

BlurMode = Literal["reflect", "nearest", "wrap", "constant"]
_PadMode = Literal["symmetric", "edge", "wrap", "constant"]

# Our border names follow scipy.ndimage; numpy.pad calls them differently.
_PAD_MODES: dict[str, _PadMode] = {
    "reflect": "symmetric",  # d c b a | a b c d | d c b a
    "nearest": "edge",  # a a a a | a b c d | d d d d
    "wrap": "wrap",  # a b c d | a b c d | a b c d
    "constant": "constant",  # 0 0 0 0 | a b c d | 0 0 0 0
}


#: Largest extent (px) a built PSF may span: a kernel of this side holds
#: millions of weights, and no photograph's blur is wider.
MAX_EXTENT = 2048


def _check_positive(name: str, value: float, largest: float | None = None) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        msg = f"{name} must be a number, got {value!r}"
        raise ParameterError(msg) from None
    if not math.isfinite(v) or v <= 0:
        msg = f"{name} = {value!r} must be a finite number greater than 0"
        raise ParameterError(msg)
    if largest is not None and v > largest:
        msg = (f"{name} = {value!r} px makes a PSF wider than {MAX_EXTENT} px; "
               f"at most {largest:g}")
        raise ParameterError(msg)
    return v


def _check_kernel(psf: np.ndarray, what: str = "PSF") -> np.ndarray:
    """Return `psf` as a float64 2-D array after checking it is usable."""
    if not isinstance(psf, np.ndarray):
        psf = np.asarray(psf)
    if psf.dtype.kind not in "fiub":
        msg = f"the {what} must hold numbers, got dtype {psf.dtype}"
        raise ParameterError(msg)
    if psf.ndim != 2:
        msg = f"the {what} must be a 2-D array, got shape {psf.shape}"
        raise ParameterError(msg)
    if psf.size == 0:
        msg = f"the {what} is empty (shape {psf.shape})"
        raise ParameterError(msg)
    k = psf.astype(np.float64)
    if not np.isfinite(k).all():
        msg = f"the {what} contains NaN or infinite values"
        raise ParameterError(msg)
    return k


def _check_nonnegative_kernel(psf: np.ndarray, what: str = "PSF") -> np.ndarray:
    k = _check_kernel(psf, what)
    if (k < 0).any():
        msg = f"the {what} has negative values (minimum {k.min():.3g}); a PSF must be ≥ 0"
        raise ParameterError(msg)
    if k.sum() <= 0:
        msg = f"the {what} sums to 0; it needs at least one positive value"
        raise ParameterError(msg)
    return k


def normalize(psf: np.ndarray) -> np.ndarray:
    """Scale a non-negative kernel so that it sums to 1.

    Parameters
    ----------
    psf : ndarray
        2-D, finite, non-negative, with a positive sum.

    Returns
    -------
    ndarray
        A new float64 array with the same shape.

    Raises
    ------
    ParameterError
        For an empty, non-2-D, NaN, negative or all-zero kernel.
    """
    k = _check_nonnegative_kernel(psf)
    return k / k.sum()


def _make_odd(k: np.ndarray) -> np.ndarray:
    """Pad an even dimension with a zero row/column at the end."""
    pad_y = 1 - k.shape[0] % 2
    pad_x = 1 - k.shape[1] % 2
    if pad_y or pad_x:
        k = np.pad(k, ((0, pad_y), (0, pad_x)))
    return k


def _centroid(k: np.ndarray) -> tuple[float, float]:
    total = k.sum()
    ys = np.arange(k.shape[0], dtype=np.float64)
    xs = np.arange(k.shape[1], dtype=np.float64)
    return float(k.sum(axis=1) @ ys / total), float(k.sum(axis=0) @ xs / total)


def _shift_linear(k: np.ndarray, axis: int, shift: float) -> np.ndarray:
    """Shift along `axis` by `shift` px with linear interpolation.

    Linear interpolation by a fraction ``f`` is a convolution with the
    two-tap kernel ``[1 - f, f]``, whose centroid is exactly ``f``; so the
    centroid moves by exactly `shift` and the values stay non-negative
    (a spline shift would ring). The caller pads so no mass falls off.
    """
    whole = math.floor(shift)
    frac = shift - whole
    out = np.roll(k, whole, axis=axis)
    if frac > 0:
        out = (1.0 - frac) * out + frac * np.roll(out, 1, axis=axis)
    return out


def _trim_symmetric(k: np.ndarray) -> np.ndarray:
    """Remove all-zero border rows/columns, equally on both sides."""
    for axis in (0, 1):
        profile = k.sum(axis=1 - axis)
        nz = np.flatnonzero(profile > 0)
        n = k.shape[axis]
        cut = min(int(nz[0]), n - 1 - int(nz[-1]))
        if cut > 0:
            k = k[cut:n - cut, :] if axis == 0 else k[:, cut:n - cut]
    return k


def center(psf: np.ndarray) -> np.ndarray:
    """Shift a kernel so that its centroid sits on the centre pixel.

    Parameters
    ----------
    psf : ndarray
        2-D, finite, non-negative kernel with a positive sum; any size.

    Returns
    -------
    ndarray
        A new odd-sized float64 kernel summing to 1 whose centroid is
        ``(size_y // 2, size_x // 2)`` (to rounding error). It may be larger
        than the input by the shift.

    Notes
    -----
    An even dimension is first padded with one zero row/column. The
    sub-pixel part of the shift uses linear interpolation, which moves the
    centroid exactly and keeps the kernel non-negative, at the cost of a
    slight extra blur of at most half a pixel. Zero borders are trimmed
    afterwards, equally on both sides so that the centre is kept.
    """
    k = _make_odd(normalize(psf))
    cy, cx = _centroid(k)
    dy = k.shape[0] // 2 - cy
    dx = k.shape[1] // 2 - cx
    my = math.ceil(abs(dy)) + 1
    mx = math.ceil(abs(dx)) + 1
    k = np.pad(k, ((my, my), (mx, mx)))
    k = _shift_linear(k, 0, dy)
    k = _shift_linear(k, 1, dx)
    k = np.clip(k, 0.0, None)
    k[k < 1e-15 * k.max()] = 0.0  # rounding dust would stop the trim
    return _trim_symmetric(k) / k.sum()


def compose(*psfs: np.ndarray) -> np.ndarray:
    """Combine kernels into the kernel of blurring with each in turn.

    Parameters
    ----------
    *psfs : ndarray
        One or more non-negative 2-D kernels.

    Returns
    -------
    ndarray
        Their full 2-D convolution, normalised to sum 1 and centred.

    Notes
    -----
    Blurring with ``compose(a, b)`` equals blurring with `a` and then with
    `b` (up to border handling), because convolution is associative. The
    centroid of a convolution is the sum of the centroids, so centred
    inputs give a centred result; :func:`center` is still applied so that
    uncentred inputs are accepted.
    """
    if not psfs:
        msg = "compose needs at least one PSF"
        raise ParameterError(msg)
    out = normalize(psfs[0])
    for k in psfs[1:]:
        out = signal.convolve(out, normalize(k), mode="full", method="auto")
    return center(np.clip(out, 0.0, None))


def gaussian(sigma: float, size: int | None = None) -> np.ndarray:
    """Build a sampled isotropic Gaussian kernel.

    Parameters
    ----------
    sigma : float
        Standard deviation in pixels, > 0.
    size : int, optional
        Odd side length; by default ``2 * ceil(3 * sigma) + 1`` (±3 sigma),
        at least 3.

    Returns
    -------
    ndarray
        ``(size, size)`` float64 kernel summing to 1.

    Notes
    -----
    The Gaussian is sampled at pixel centres and renormalised, like MATLAB's
    ``fspecial('gaussian')`` used by most deblurring benchmarks.
    """
    s = _check_positive("sigma", sigma, MAX_EXTENT / 6.0)
    if size is None:
        n = max(3, 2 * math.ceil(3.0 * s) + 1)
    else:
        n = _check_size(size)
    r = np.arange(n, dtype=np.float64) - n // 2
    g = np.exp(-0.5 * (r / s) ** 2)
    return normalize(np.outer(g, g))


def _check_size(size: int) -> int:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)):
        msg = f"size must be an odd whole number of pixels, got {size!r}"
        raise ParameterError(msg)
    if size <= 0 or size % 2 == 0 or size > 2 * MAX_EXTENT + 1:
        msg = (f"size = {size} must be a positive odd number of pixels (1, 3, 5, ...) "
               f"up to {2 * MAX_EXTENT + 1}")
        raise ParameterError(msg)
    return int(size)


def disk(radius: float, softness: float = 0.5) -> np.ndarray:
    """Build an anti-aliased disk: the PSF of an out-of-focus lens.

    Parameters
    ----------
    radius : float
        Radius of the disk in pixels, > 0 (half the circle of confusion).
    softness : float, optional
        Width in pixels of the linear ramp from 1 to 0 across the edge,
        centred on `radius`; 0 gives a hard, aliased edge.

    Returns
    -------
    ndarray
        Odd-sized float64 kernel summing to 1.

    Notes
    -----
    Weight ``clip((radius - r) / softness + 1/2, 0, 1)`` with ``r`` the
    distance of the pixel centre from the kernel centre. A ramp one pixel
    wide approximates the area of the pixel inside the circle, which keeps
    the kernel's response smooth when `radius` changes by a fraction.
    """
    rad = _check_positive("radius", radius, MAX_EXTENT / 2.0)
    soft = float(softness)
    if not math.isfinite(soft) or soft < 0 or soft > MAX_EXTENT / 2.0:
        msg = (f"softness = {softness!r} must be a finite number from 0 to {MAX_EXTENT // 2} "
               "(edge width in px)")
        raise ParameterError(msg)
    half = math.ceil(rad + soft / 2.0)
    r = np.arange(-half, half + 1, dtype=np.float64)
    dist = np.hypot(r[:, None], r[None, :])
    if soft > 0:
        k = np.clip((rad - dist) / soft + 0.5, 0.0, 1.0)
    else:
        k = (dist <= rad).astype(np.float64)
    if k.sum() <= 0:  # radius below half a pixel with a hard edge
        k[half, half] = 1.0
    return _trim_symmetric(k) / k.sum()


def trajectory(points: np.ndarray, samples_per_px: float = 4.0) -> np.ndarray:
    """Build the PSF of a camera path given as a polyline.

    Parameters
    ----------
    points : ndarray
        ``(N, 2)`` positions ``(x, y)`` in pixels (x right, y down) at equal
        time steps; ``N >= 1``. Only the shape of the path matters, not its
        offset.
    samples_per_px : float, optional
        Density of the samples splatted along the path.

    Returns
    -------
    ndarray
        Odd-sized, centred float64 kernel summing to 1.

    Notes
    -----
    Each segment receives the same exposure (the path is sampled in time),
    spread uniformly along it. Samples are splatted bilinearly, which
    anti-aliases the path and keeps its mass at the right sub-pixel place.
    """
    p = np.asarray(points, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 2 or p.shape[0] == 0:
        msg = f"points must be an (N, 2) array of (x, y) positions, got shape {p.shape}"
        raise ParameterError(msg)
    if not np.isfinite(p).all():
        msg = "points contain NaN or infinite values"
        raise ParameterError(msg)
    density = _check_positive("samples_per_px", samples_per_px)
    if len(p) == 1:
        xy = p.copy()
        weights = np.ones(1)
    else:
        parts, wparts = [], []
        nseg = len(p) - 1
        for a, b in itertools.pairwise(p):
            n = max(2, math.ceil(float(np.hypot(*(b - a))) * density) + 1)
            t = (np.arange(n) + 0.5) / n
            parts.append(a + t[:, None] * (b - a))
            wparts.append(np.full(n, 1.0 / (n * nseg)))
        xy = np.concatenate(parts)
        weights = np.concatenate(wparts)
    xy = xy - (weights @ xy) / weights.sum()  # centroid at 0
    half = math.ceil(float(np.abs(xy).max())) + 1
    n = 2 * half + 1
    fx, fy = xy[:, 0] + half, xy[:, 1] + half
    x0, y0 = np.floor(fx).astype(np.intp), np.floor(fy).astype(np.intp)
    tx, ty = fx - x0, fy - y0
    k = np.zeros((n, n))
    np.add.at(k, (y0, x0), weights * (1 - tx) * (1 - ty))
    np.add.at(k, (y0, x0 + 1), weights * tx * (1 - ty))
    np.add.at(k, (y0 + 1, x0), weights * (1 - tx) * ty)
    np.add.at(k, (y0 + 1, x0 + 1), weights * tx * ty)
    return center(k)


def motion(length: float, angle_deg: float) -> np.ndarray:
    """Build the PSF of uniform straight motion.

    Parameters
    ----------
    length : float
        Length of the streak in pixels, > 0.
    angle_deg : float
        Direction in degrees, counter-clockwise from the x axis as seen on
        screen (image rows grow downwards): 0 is a horizontal streak, 90 a
        vertical one, 45 runs from bottom-left to top-right.

    Returns
    -------
    ndarray
        Odd-sized, centred float64 kernel summing to 1.

    Notes
    -----
    The segment from ``-length/2`` to ``+length/2`` along the direction
    ``(cos a, -sin a)`` in ``(x, y)`` pixel coordinates is sampled densely
    and splatted bilinearly (see :func:`trajectory`), giving an
    anti-aliased line whose weight is uniform along its length.
    """
    ln = _check_positive("length", length, float(MAX_EXTENT))
    try:
        angle = float(angle_deg)
    except (TypeError, ValueError):
        msg = f"angle_deg must be a number, got {angle_deg!r}"
        raise ParameterError(msg) from None
    if not math.isfinite(angle):
        msg = f"angle_deg = {angle_deg!r} must be finite"
        raise ParameterError(msg)
    a = math.radians(angle)
    d = np.array([math.cos(a), -math.sin(a)]) * (ln / 2.0)
    return trajectory(np.stack([-d, d]))


def blur(image: np.ndarray, psf: np.ndarray, mode: BlurMode = "reflect") -> np.ndarray:
    """Convolve every channel of an image with a kernel, via the FFT.

    Parameters
    ----------
    image : ndarray
        ``(H, W, C)`` or ``(H, W)`` float image; not modified.
    psf : ndarray
        Odd-sized 2-D kernel, finite; used as given (not renormalised).
    mode : {'reflect', 'nearest', 'wrap', 'constant'}, optional
        How the image is extended past its border before convolving (names
        as in :mod:`scipy.ndimage`): ``'reflect'`` mirrors including the
        edge pixel (``d c b a | a b c d``), ``'nearest'`` repeats the edge,
        ``'wrap'`` is periodic (the circular model of FFT deconvolution),
        ``'constant'`` pads with zeros.

    Returns
    -------
    ndarray
        float32 array of the input's shape.

    Notes
    -----
    This is a true convolution ``y = k * x`` (the kernel is flipped), the
    image formation model of deblurring: a point light becomes the PSF
    itself. The image is padded by half the kernel size on each side,
    convolved with :func:`scipy.signal.fftconvolve` in float64 and the
    ``'valid'`` part, which has the input's size, is returned.
    """
    k = _check_kernel(psf)
    if k.shape[0] % 2 == 0 or k.shape[1] % 2 == 0:
        msg = f"the PSF must have odd sides so it has a centre pixel, got {k.shape}; use center()"
        raise ParameterError(msg)
    if mode not in _PAD_MODES:
        names = ", ".join(repr(m) for m in _PAD_MODES)
        msg = f"mode = {mode!r} is not known; use one of {names}"
        raise ParameterError(msg)
    img = np.asarray(image)
    if img.ndim not in (2, 3) or img.shape[0] == 0 or img.shape[1] == 0:
        msg = f"image must be (H, W) or (H, W, C) and not empty, got shape {img.shape}"
        raise ImageError(msg)
    if img.dtype.kind == "f" and not np.isfinite(img).all():
        msg = "the image contains NaN or infinite values"
        raise ImageError(msg)
    work = img.astype(np.float64)
    flat = work.ndim == 2
    if flat:
        work = work[..., None]
    py, px = k.shape[0] // 2, k.shape[1] // 2
    pad_mode = _PAD_MODES[mode]
    padded = np.pad(work, ((py, py), (px, px), (0, 0)), mode=pad_mode)
    out = signal.fftconvolve(padded, k[:, :, None], mode="valid", axes=(0, 1))
    out = out.astype(np.float32)
    return out[..., 0] if flat else out


# ----------------------------------------------------------------------------
# Measured PSFs (appended for the deblur operation)

__all__ += ["from_point_source"]


def _ring(values: np.ndarray, width: int) -> np.ndarray:
    """Return the pixels of the outer ring of a 2-D array, `width` px wide."""
    h, w = values.shape
    inner = np.ones((h, w), bool)
    inner[width:h - width, width:w - width] = False
    return values[inner]


def from_point_source(crop: np.ndarray, *, size: int | None = None,
                      threshold: float = 8.0) -> np.ndarray:
    """Measure a PSF from an image crop around a point source.

    Give a small crop centred on something that should be a point — a
    star, a specular glint, a small bright dot — and get back the blur that
    turned it into a blob, ready for ``photomend.run('deblur', ..., psf=)``.

    Parameters
    ----------
    crop : ndarray
        ``(H, W)`` or ``(H, W, C)`` pixels (channels are averaged), at least
        5 × 5, any numeric type. For optical blur pass linear-light values
        (:func:`photomend.convert.srgb_to_linear`); encoded values distort
        the PSF's shape.
    size : int, optional
        Odd side of the returned kernel; by default just large enough for
        the measured spot.
    threshold : float
        How many background noise sigmas the (lightly smoothed) peak must
        stand out by to count as a point source.

    Returns
    -------
    ndarray
        Odd-sized, non-negative, centred float64 kernel summing to 1.

    Raises
    ------
    ParameterError
        When the crop has no point source (a flat or noisy crop), when the
        bright area reaches the crop's edge (an edge or a large object, not
        an isolated point), when there are several comparable bright
        spots, or when the peak is clipped at full scale.
    ImageError
        For a crop that is not 2-D / 3-D, too small, or not numeric.

    Notes
    -----
    The background level and noise come from the crop's outer ring (median
    and 1.4826 × median absolute deviation), so a crop with the point near
    its middle and some dark sky around it works best. The spot is the
    connected region above ``max(3 σ, 2 % of the peak)`` around the peak,
    grown by two pixels to keep its faint wings; outside it the kernel is
    zero, which removes the noise floor. The spot is then normalised and
    shifted so its centroid is the kernel's centre (:func:`center`).
    """
    from scipy import ndimage

    try:
        level = float(threshold)
    except (TypeError, ValueError):
        level = math.nan
    if not math.isfinite(level) or level <= 0:
        msg = f"threshold = {threshold!r} must be a finite number above 0 (noise levels)"
        raise ParameterError(msg)
    arr = np.asarray(crop)
    if arr.dtype.kind not in "fiub" or arr.ndim not in (2, 3):
        msg = f"crop must be an (H, W) or (H, W, C) array of numbers, got {arr.dtype} {arr.shape}"
        raise ImageError(msg)
    full = float(np.iinfo(arr.dtype).max) if arr.dtype.kind in "iu" else 1.0
    work = arr.astype(np.float64)
    if work.ndim == 3:
        clipped = (work >= full).any(axis=2)
        work = work.mean(axis=2)
    else:
        clipped = work >= full
    h, w = work.shape
    if h < 5 or w < 5:
        msg = f"the crop is {w}×{h} px; a point-source crop needs at least 5×5 px"
        raise ImageError(msg)
    if not np.isfinite(work).all():
        msg = "the crop contains NaN or infinite values"
        raise ImageError(msg)
    ring = _ring(work, max(1, min(h, w) // 8))
    background = float(np.median(ring))
    noise = 1.4826 * float(np.median(np.abs(ring - background)))
    span = float(work.max() - work.min())
    noise = max(noise, 1e-6 * span, 1e-12)
    d = work - background
    # A sigma-1 Gaussian averages noise down by 2√π ≈ 3.5 while a PSF's peak
    # survives, so the detection test runs on the smoothed crop.
    smooth = ndimage.gaussian_filter(d, 1.0, mode="nearest")
    peak_at = np.unravel_index(int(np.argmax(smooth)), smooth.shape)
    peak_level = float(smooth[peak_at]) / (noise / (2.0 * math.sqrt(math.pi)))
    if peak_level < level:
        msg = (f"no point source in the crop: its brightest spot stands only "
               f"{max(peak_level, 0.0):.1f} noise levels above the background (needs "
               f"{level:g}); crop around a star, a specular glint or a small bright dot")
        raise ParameterError(msg)
    peak = float(d.max())
    level = max(3.0 * noise, 0.02 * peak)
    labels, count = ndimage.label(d > level, structure=np.ones((3, 3)))
    spot_label = labels[peak_at]
    if spot_label == 0:  # the smoothed peak fell between pixels above the level
        spot_label = labels.flat[int(np.argmax(np.where(labels > 0, d, -np.inf)))]
    spot = labels == spot_label
    if spot[0].any() or spot[-1].any() or spot[:, 0].any() or spot[:, -1].any():
        msg = ("the bright area around the brightest spot reaches the edge of the crop, so "
               "it is not an isolated point; crop a larger area around a single small dot")
        raise ParameterError(msg)
    if count > 1:
        peaks = ndimage.maximum(d, labels, index=np.arange(1, count + 1))
        others = [float(p) for i, p in enumerate(peaks, start=1) if i != spot_label]
        if others and max(others) > 0.5 * float(d[spot].max()):
            msg = (f"the crop holds {1 + sum(p > 0.5 * peak for p in others)} comparable "
                   "bright spots; crop around just one")
            raise ParameterError(msg)
    if (clipped & spot).sum() >= 2:
        msg = (f"the point source is clipped ({int((clipped & spot).sum())} pixels at full "
               "scale), so its shape is lost; use a fainter point or a 16-bit/raw image")
        raise ParameterError(msg)
    keep = ndimage.binary_dilation(spot, structure=np.ones((3, 3)), iterations=2)
    kernel = center(np.where(keep, np.clip(d, 0.0, None), 0.0))
    if size is not None:
        n = _check_size(size)
        kh, kw = kernel.shape
        out = np.zeros((max(n, kh), max(n, kw)))
        oy, ox = (out.shape[0] - kh) // 2, (out.shape[1] - kw) // 2
        out[oy:oy + kh, ox:ox + kw] = kernel
        cy, cx = (out.shape[0] - n) // 2, (out.shape[1] - n) // 2
        kernel = normalize(out[cy:cy + n, cx:cx + n])
    return kernel
