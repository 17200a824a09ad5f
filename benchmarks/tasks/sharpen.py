"""Sharpening a mildly soft image."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from photomend import psf as psfs
from photomend import quality

from ..core import Case, Method, Task, photomend_method
from ..data import Sample
from ._peers import optional


def datasets(quick: bool):
    return [("Kodak24", 3, 192)] if quick else [("Kodak24", None, None)]


def cases(samples: list[Sample], quick: bool, seed: int,
          roots: list[Path] | None = None) -> Iterator[Case]:
    kernel = psfs.gaussian(1.0)
    for s in samples:
        yield Case(s, "gaussian σ=1", psfs.blur(s.image, kernel), s.image)


def methods() -> list[Method]:
    out = [photomend_method("sharpen", "photomend sharpen (radius 1, amount 1.5)",
                            radius=1.0, amount=1.5)]
    filters = optional("skimage.filters")
    if filters is not None:
        def unsharp(case: Case) -> np.ndarray:
            # channel_axis must be given as 2, not -1: scikit-image 0.26's
            # unsharp_mask slices the first axis for -1 and leaves most of its
            # output uninitialised (garbage, now and then NaN).
            return np.asarray(filters.unsharp_mask(case.degraded, radius=1.0, amount=1.5,
                                                   channel_axis=2), dtype=np.float32)
        out.append(Method("scikit-image unsharp_mask (radius 1, amount 1.5)", unsharp))
    else:
        out.append(Method("scikit-image unsharp_mask", None, "pip install .[bench]"))
    out.append(Method("no change", lambda c: c.degraded, kind="reference"))
    return out


def score(case: Case, output: np.ndarray) -> dict[str, float]:
    out = np.clip(output, 0, 1)
    return {"PSNR": quality.psnr(case.clean, out), "SSIM": quality.ssim(case.clean, out)}


TASK = Task("sharpen", "Sharpening (Gaussian σ = 1 softness)", ("PSNR", "SSIM"),
            datasets, cases, methods, score)

