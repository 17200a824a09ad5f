"""One-click restoration of an aged photo, against a chain of the best peers."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from photomend import quality, synth

from ..core import Case, Method, Task, photomend_method
from ..data import Sample
from ._peers import cv2_image, from_cv2, optional
from .color import _stretch
from .defects import dust_and_scratches


def datasets(quick: bool):
    if quick:
        return [("Kodak24", 2, 256), ("McMaster", 1, 256)]
    return [("Kodak24", None, None), ("McMaster", None, None)]


def cases(samples: list[Sample], quick: bool, seed: int) -> Iterator[Case]:
    for i, s in enumerate(samples):
        aged = synth.old_photo(s.image, seed + i, "medium").image
        yield Case(s, "old photo (medium)", np.clip(aged, 0, 1).astype(np.float32), s.image)
    for s in samples:
        yield Case(s, "clean photo", s.image.copy(), s.image)


def methods() -> list[Method]:
    out = [photomend_method("restore-photo", "photomend restore-photo")]
    cv2 = optional("cv2")
    restoration = optional("skimage.restoration")
    filters = optional("skimage.filters")
    if cv2 is None or restoration is None or filters is None:
        return [*out, Method("peer chain", None, "pip install .[bench]")]

    def chain(case: Case) -> np.ndarray:
        # The best classical peer of each step, in photomend's order.
        img = dust_and_scratches(case.degraded)[0]
        img = _stretch(img, 0.5, 99.5, joint=False)
        sigma = float(np.mean(restoration.estimate_sigma(img, channel_axis=-1))) * 255
        h = max(1.0, 0.9 * sigma)
        img = from_cv2(cv2.fastNlMeansDenoisingColored(cv2_image(img), None, h, h, 7, 21))
        return np.asarray(filters.unsharp_mask(img, radius=1.0, amount=0.25,
                                               channel_axis=-1), dtype=np.float32)

    return [*out, Method("peer chain: Dust & Scratches → auto-levels → fastNlMeans → "
                         "unsharp mask", chain),
            Method("no change", lambda c: c.degraded, kind="reference")]


def score(case: Case, output: np.ndarray) -> dict[str, float]:
    out = np.clip(output, 0, 1)
    return {"PSNR": quality.psnr(case.clean, out),
            "ΔE00 mean": quality.delta_e_mean(case.clean, out)}


TASK = Task("restore-photo", "One-click old-photo restoration (fading + dust + scratches + "
            "grain + mild blur)", ("PSNR", "ΔE00 mean"), datasets, cases, methods, score,
            notes="'clean photo' runs on the undamaged original: how much each method "
                  "changes a photo that needs nothing.")
