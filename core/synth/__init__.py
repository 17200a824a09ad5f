"""A seeded degradation lab: age clean images and keep the ground truth.

Every generator takes the clean float32 ``(H, W, C)`` image and a `seed`
(an int, or a :class:`numpy.random.Generator` that it consumes), leaves the
input untouched and returns a :class:`Degradation`: the degraded image,
the clean copy, damage masks, the blur kernel, the colour transform and
every value it drew. The same int seed always gives the same result.

- surface damage: :func:`dust`, :func:`hairs`, :func:`scratches`,
  :func:`tears`, :func:`creases`, :func:`cracks`, :func:`holes`
- masks for inpainting benchmarks: :func:`blob_mask`, :func:`stroke_mask`
- colour: :func:`fade` and its parts :func:`contrast_loss`,
  :func:`dye_fading`, :func:`yellowing`, :func:`lifted_blacks`
- blur: :func:`gaussian_blur`, :func:`defocus_blur`, :func:`motion_blur`,
  :func:`kernel_blur` (kernels from :mod:`photomend.psf`)
- noise: :func:`gaussian_noise`, :func:`poisson_gaussian_noise`,
  :func:`film_grain`; compression: :func:`jpeg`
- recipes: :func:`old_photo`; test scenes: :func:`synthetic_scene`
"""

from __future__ import annotations

from .blur import defocus_blur, gaussian_blur, kernel_blur, motion_blur
from .compression import jpeg
from .degradation import ColorTransform, Degradation, Seed
from .dust import dust, hairs
from .fading import Fading, contrast_loss, dye_fading, fade, lifted_blacks, yellowing
from .holes import blob_mask, holes, stroke_mask
from .noise import film_grain, gaussian_noise, poisson_gaussian_noise
from .recipes import Severity, old_photo
from .scenes import SceneKind, synthetic_scene
from .scratches import scratches
from .tears import cracks, creases, tears

__all__ = [
    "ColorTransform",
    "Degradation",
    "Fading",
    "SceneKind",
    "Seed",
    "Severity",
    "blob_mask",
    "contrast_loss",
    "cracks",
    "creases",
    "defocus_blur",
    "dust",
    "dye_fading",
    "fade",
    "film_grain",
    "gaussian_blur",
    "gaussian_noise",
    "hairs",
    "holes",
    "jpeg",
    "kernel_blur",
    "lifted_blacks",
    "motion_blur",
    "old_photo",
    "poisson_gaussian_noise",
    "scratches",
    "stroke_mask",
    "synthetic_scene",
    "tears",
    "yellowing",
]
