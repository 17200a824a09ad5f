"""Recipes that chain several degradations into a believable old photo."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from ..errors import ParameterError
from .blur import gaussian_blur
from .degradation import Degradation, Seed, _check_image, _child_seed, _rng, _union
from .dust import dust, hairs
from .fading import fade
from .noise import film_grain
from .scratches import scratches

__all__ = ["Severity", "old_photo"]

Severity = Literal["light", "medium", "heavy"]

# Ranges drawn per severity. Counts are per 256 × 256 px and scale with area.
_SEVERITY: dict[str, dict[str, Any]] = {
    "light": {
        "blur": (0.4, 0.8), "contrast": (0.03, 0.1),
        "dye_loss": ((0.05, 0.2), (0.0, 0.05), (0.03, 0.1)),
        "yellowing": (0.0, 0.08), "black_lift": (0.01, 0.05),
        "dust": 8.0, "dust_radius": (1.0, 4.0), "hairs": 0.5, "scratches": 0.7,
        "grain": (0.01, 0.025),
    },
    "medium": {
        "blur": (0.6, 1.2), "contrast": (0.1, 0.25),
        "dye_loss": ((0.2, 0.45), (0.0, 0.1), (0.1, 0.25)),
        "yellowing": (0.05, 0.18), "black_lift": (0.04, 0.1),
        "dust": 22.0, "dust_radius": (1.0, 6.0), "hairs": 1.5, "scratches": 2.0,
        "grain": (0.02, 0.04),
    },
    "heavy": {
        "blur": (1.0, 2.0), "contrast": (0.2, 0.4),
        "dye_loss": ((0.4, 0.7), (0.05, 0.2), (0.2, 0.4)),
        "yellowing": (0.15, 0.35), "black_lift": (0.08, 0.18),
        "dust": 55.0, "dust_radius": (1.0, 8.0), "hairs": 3.0, "scratches": 5.0,
        "grain": (0.035, 0.06),
    },
}


def old_photo(clean: np.ndarray, seed: Seed, severity: Severity = "light") -> Degradation:
    """Age an image into an old photo, keeping every piece of ground truth.

    Parameters
    ----------
    clean : ndarray
        float32 ``(H, W, C)`` image in [0, 1]; not modified.
    seed : int or numpy.random.Generator
        Source of randomness; an int always gives the same photo.
    severity : {'light', 'medium', 'heavy'}
        How old and badly kept the photo looks.

    Returns
    -------
    Degradation
        ``psf`` is the (Gaussian) blur kernel and ``color_transform`` the
        :class:`~photomend.synth.fading.Fading` applied; ``masks`` holds
        ``'dust'``, ``'hairs'`` and ``'scratches'`` coverage and ``mask``
        their union. ``params`` holds each stage's own ``params`` under
        ``'blur'``, ``'fading'``, ``'dust'``, ``'hairs'``, ``'scratches'``
        and ``'grain'``, plus ``'severity'`` and ``'order'``.

    Notes
    -----
    The stages run in the order things happen to a real print:

    1. mild Gaussian blur (lens and enlarger, :func:`gaussian_blur`);
    2. fading of the dyes, stain, contrast loss and lifted blacks
       (:func:`fade`);
    3. dust, hairs and scratches on the surface (:func:`dust`,
       :func:`hairs`, :func:`scratches`), sitting on top of the faded
       image;
    4. film grain last (:func:`film_grain`, clipped to [0, 1]).

    The photo as it was before surface damage and grain is therefore
    ``color_transform.apply(photomend.psf.blur(clean, psf))``; note that the
    fading applies to the *blurred* image. Because grain comes last, pixels
    outside ``mask`` differ from that base by the grain only.
    """
    img = _check_image(clean)
    if severity not in _SEVERITY:
        msg = f"severity = {severity!r} must be 'light', 'medium' or 'heavy'"
        raise ParameterError(msg)
    rng = _rng(seed)
    spec = _SEVERITY[severity]
    area = img.shape[0] * img.shape[1] / 256.0**2

    def draw(span: tuple[float, float]) -> float:
        return float(rng.uniform(*span))

    dye = np.array([draw(span) for span in spec["dye_loss"]])
    if img.shape[2] == 1:
        dye = np.array([dye.mean()])
    blurred = gaussian_blur(img, _child_seed(rng), sigma=draw(spec["blur"]))
    faded = fade(blurred.image, _child_seed(rng), contrast=draw(spec["contrast"]),
                 dye_loss=dye.tolist(), yellowing=draw(spec["yellowing"]),
                 black_lift=draw(spec["black_lift"]))
    dusty = dust(faded.image, _child_seed(rng), count=int(rng.poisson(spec["dust"] * area)),
                 radius=spec["dust_radius"])
    hairy = hairs(dusty.image, _child_seed(rng), count=int(rng.poisson(spec["hairs"] * area)))
    scratched = scratches(hairy.image, _child_seed(rng),
                          count=int(rng.poisson(spec["scratches"] * area)))
    grainy = film_grain(scratched.image, _child_seed(rng), strength=draw(spec["grain"]))
    masks = {"dust": dusty.masks["dust"], "hairs": hairy.masks["hairs"],
             "scratches": scratched.masks["scratches"]}
    return Degradation(
        image=grainy.image, clean=img, mask=_union(*masks.values()), masks=masks,
        psf=blurred.psf, color_transform=faded.color_transform,
        params={"severity": severity,
                "order": ["blur", "fading", "dust", "hairs", "scratches", "grain"],
                "blur": blurred.params, "fading": faded.params, "dust": dusty.params,
                "hairs": hairy.params, "scratches": scratched.params,
                "grain": grainy.params})
