"""Fading and colour casts of aged prints, modelled on dye densities."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..convert import linear_to_srgb, luminance, srgb_to_linear
from ..errors import ParameterError
from .degradation import Degradation, Seed, _check_image, _number, _rng

__all__ = [
    "Fading",
    "contrast_loss",
    "dye_fading",
    "fade",
    "lifted_blacks",
    "yellowing",
]

# Relative density a yellowed paper base or varnish adds per channel: it
# absorbs mostly blue, some green, hardly any red.
_STAIN_RGB = np.array([0.05, 0.3, 1.0])


@dataclass(frozen=True, eq=False)
class Fading:
    r"""The exact per-channel forward model of a faded print.

    Attributes
    ----------
    dye_retention : ndarray
        ``(C,)`` fraction of each dye's density left, in (0, 1]. For RGB
        the channels are read through their complementary dyes: red ↔ cyan,
        green ↔ magenta, blue ↔ yellow.
    stain_density : ndarray
        ``(C,)`` optical density added by yellowed paper or varnish, ≥ 0.
    gain, offset : ndarray
        ``(C,)`` final affine map of the encoded values, ``v * gain +
        offset``: contrast loss around mid-grey and lifted blacks.
    dmax : float
        Density of pure black in the model (3.0: transmittance 1/1000).

    Notes
    -----
    For each channel, an sRGB-encoded value ``v`` is decoded to linear
    reflectance ``T`` (:func:`photomend.convert.srgb_to_linear`) and turned
    into an optical density with a floor ``eps = 10**-dmax``:

    .. math:: D = -\log_{10}\frac{T + \epsilon}{1 + \epsilon}

    so ``D`` runs from 0 (white) to ``dmax`` (black) and is exactly
    invertible. Dye fading scales the dye density, ``D' = r D`` (Beer–
    Lambert: density is proportional to the amount of dye left); the
    stain multiplies the reflectance by ``10**-s``; the result is
    re-encoded and mapped by ``gain`` and ``offset``. Every step is
    strictly increasing, so :meth:`invert` undoes :meth:`apply` to float
    rounding. Treating each channel's density as one dye's density ignores
    the unwanted side absorptions of real dyes, which is fine for
    producing believable casts with a known answer.

    References
    ----------
    .. [1] H. Wilhelm, C. Brower, "The Permanence and Care of Color
       Photographs", Preservation Publishing, 1993, ch. 2 and 5 (cyan dye
       as the least stable in dark storage; yellowing of print stain).
    """

    dye_retention: np.ndarray
    stain_density: np.ndarray
    gain: np.ndarray
    offset: np.ndarray
    dmax: float = 3.0

    @property
    def channels(self) -> int:
        """Number of channels the transform applies to."""
        return int(self.gain.shape[0])

    def _check(self, image: np.ndarray) -> np.ndarray:
        img = np.asarray(image)
        if img.ndim != 3 or img.shape[-1] != self.channels:
            msg = (f"this fading applies to (H, W, {self.channels}) images, "
                   f"got shape {img.shape}")
            raise ParameterError(msg)
        return img

    def apply(self, image: np.ndarray) -> np.ndarray:
        """Return the faded float32 copy of an ``(H, W, C)`` image.

        Values below 0 are treated as 0 (black); values above 1 follow the
        model and stay invertible.
        """
        img = self._check(image)
        eps = 10.0 ** -self.dmax
        # Negative light does not exist; clamp so the logarithm stays defined.
        t = np.clip(srgb_to_linear(img).astype(np.float64), 0.0, None)
        density = -np.log10((t + eps) / (1.0 + eps))
        t_dye = (1.0 + eps) * 10.0 ** (-density * self.dye_retention) - eps
        t_out = t_dye * 10.0 ** -self.stain_density
        v = linear_to_srgb(t_out.astype(np.float32)).astype(np.float64)
        return (v * self.gain + self.offset).astype(np.float32)

    def invert(self, image: np.ndarray) -> np.ndarray:
        """Return the float32 copy of an image with the fading undone."""
        img = self._check(image)
        v = (img.astype(np.float64) - self.offset) / self.gain
        t_out = srgb_to_linear(v.astype(np.float32)).astype(np.float64)
        t_dye = t_out * 10.0**self.stain_density
        eps = 10.0 ** -self.dmax
        density = -np.log10(np.maximum(t_dye + eps, 1e-300) / (1.0 + eps))
        t = (1.0 + eps) * 10.0 ** (-density / self.dye_retention) - eps
        return linear_to_srgb(t.astype(np.float32))

    def curves(self, samples: int = 256) -> tuple[np.ndarray, np.ndarray]:
        """Sample the per-channel tone curves.

        Returns
        -------
        x : ndarray
            ``(samples,)`` input values evenly spaced over [0, 1].
        y : ndarray
            ``(samples, C)`` output value of each channel.
        """
        if samples < 2:
            msg = f"samples = {samples} must be at least 2"
            raise ParameterError(msg)
        x = np.linspace(0.0, 1.0, samples, dtype=np.float32)
        ramp = np.repeat(x[:, None, None], self.channels, axis=2)
        return x, self.apply(ramp)[:, 0, :]

    def as_dict(self) -> dict[str, list[float] | float]:
        """Return the parameters as plain lists (for ``params`` and JSON)."""
        return {"dye_retention": self.dye_retention.tolist(),
                "stain_density": self.stain_density.tolist(),
                "gain": self.gain.tolist(), "offset": self.offset.tolist(),
                "dmax": self.dmax}


def _per_channel(name: str, value: float | Sequence[float], channels: int, lo: float,
                 hi: float) -> np.ndarray:
    if isinstance(value, (int, float, np.floating, np.integer)):
        values = [value] * channels
    else:
        values = list(value)
        if len(values) not in (1, channels):
            msg = f"{name} must be one number or one per channel ({channels}), got {value!r}"
            raise ParameterError(msg)
        values = values * channels if len(values) == 1 else values
    return np.array([_number(name, v, lo, hi) for v in values], dtype=np.float64)


def fade(clean: np.ndarray, seed: Seed, *, contrast: float | None = None,
         dye_loss: float | Sequence[float] | None = None,
         yellowing: float | None = None, black_lift: float | None = None) -> Degradation:
    """Age the colours of a print: dye fading, stain, contrast loss, lifted blacks.

    Parameters
    ----------
    clean : ndarray
        float32 ``(H, W, C)`` image in [0, 1]; not modified.
    seed : int or numpy.random.Generator
        Draws every amount left as None.
    contrast : float, optional
        Contrast lost around mid-grey, in [0, 0.8]; drawn in [0.05, 0.3].
    dye_loss : float or sequence of float, optional
        Fraction of dye density lost, one value or one per channel (cyan,
        magenta, yellow for RGB), each in [0, 0.95]. By default cyan loses
        20–50 %, yellow 10–30 %, magenta 0–15 %: the dark-fading pattern
        of chromogenic prints, which leaves a red/magenta cast.
    yellowing : float, optional
        Blue density of the yellowed base or varnish, in [0, 1]; drawn in
        [0, 0.25]. Gray images get its luminance-weighted share.
    black_lift : float, optional
        Encoded value black is lifted to, in [0, 0.5]; drawn in
        [0.02, 0.12].

    Returns
    -------
    Degradation
        ``color_transform`` is the :class:`Fading` applied, so
        ``color_transform.invert(image)`` recovers `clean` and
        ``color_transform.curves()`` gives the per-channel tone curves.
        ``params`` holds the four amounts and the transform's arrays.

    Notes
    -----
    See :class:`Fading` for the density-domain model. Contrast loss
    ``c`` and black lift ``l`` combine into ``gain = (1 - l)(1 - c)`` and
    ``offset = l + (1 - l) c / 2``.
    """
    img = _check_image(clean)
    rng = _rng(seed)
    channels = img.shape[2]
    c = float(rng.uniform(0.05, 0.3)) if contrast is None else _number(
        "contrast", contrast, 0.0, 0.8)
    if dye_loss is None:
        cmy = np.array([rng.uniform(0.2, 0.5), rng.uniform(0.0, 0.15), rng.uniform(0.1, 0.3)])
        loss = cmy if channels == 3 else np.array([float(cmy.mean())])
    else:
        loss = _per_channel("dye_loss", dye_loss, channels, 0.0, 0.95)
    y = float(rng.uniform(0.0, 0.25)) if yellowing is None else _number(
        "yellowing", yellowing, 0.0, 1.0)
    lift = float(rng.uniform(0.02, 0.12)) if black_lift is None else _number(
        "black_lift", black_lift, 0.0, 0.5)
    stain = y * _STAIN_RGB
    if channels == 1:
        stain = luminance(stain[None, None, :].astype(np.float32)).astype(np.float64).ravel()
    gain = np.full(channels, (1.0 - lift) * (1.0 - c))
    offset = np.full(channels, lift + (1.0 - lift) * c / 2.0)
    transform = Fading(dye_retention=1.0 - loss, stain_density=stain, gain=gain,
                       offset=offset)
    params = {"contrast": c, "dye_loss": loss.tolist(), "yellowing": y,
              "black_lift": lift, **transform.as_dict()}
    return Degradation(image=transform.apply(img), clean=img, color_transform=transform,
                       params=params)


def contrast_loss(clean: np.ndarray, seed: Seed, *, amount: float | None = None) -> Degradation:
    """Flatten contrast around mid-grey only (see :func:`fade`).

    `amount` in [0, 0.8]; drawn in [0.05, 0.3] when None.
    """
    rng = _rng(seed)
    a = float(rng.uniform(0.05, 0.3)) if amount is None else amount
    return fade(clean, rng, contrast=a, dye_loss=0.0, yellowing=0.0, black_lift=0.0)


def dye_fading(clean: np.ndarray, seed: Seed, *,
               loss: float | Sequence[float] | None = None) -> Degradation:
    """Fade the dyes only: a colour cast in the density domain (see :func:`fade`).

    `loss` is the fraction of density lost, one value or one per channel
    (cyan, magenta, yellow), each in [0, 0.95]; drawn as in :func:`fade`.
    """
    return fade(clean, seed, contrast=0.0, dye_loss=loss, yellowing=0.0, black_lift=0.0)


def yellowing(clean: np.ndarray, seed: Seed, *, amount: float | None = None) -> Degradation:
    """Yellow the paper or varnish only (see :func:`fade`).

    `amount` is the added blue density in [0, 1]; drawn in [0.05, 0.3].
    """
    rng = _rng(seed)
    a = float(rng.uniform(0.05, 0.3)) if amount is None else amount
    return fade(clean, rng, contrast=0.0, dye_loss=0.0, yellowing=a, black_lift=0.0)


def lifted_blacks(clean: np.ndarray, seed: Seed, *, level: float | None = None) -> Degradation:
    """Lift the black point only (see :func:`fade`).

    `level` is the value black maps to, in [0, 0.5]; drawn in [0.02, 0.12].
    """
    rng = _rng(seed)
    a = float(rng.uniform(0.02, 0.12)) if level is None else level
    return fade(clean, rng, contrast=0.0, dye_loss=0.0, yellowing=0.0, black_lift=a)
