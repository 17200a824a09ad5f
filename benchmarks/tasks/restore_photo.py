"""One-click restoration of an aged photo, against a chain of the best peers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

import photomend
from photomend import quality, synth

from ..core import Case, Method, Task, photomend_method
from ..data import Sample
from ..measure import measure
from ._peers import cv2_image, from_cv2, optional
from .color import _stretch
from .defects import dust_and_scratches


def datasets(quick: bool):
    if quick:
        return [("Kodak24", 2, 256), ("McMaster", 1, 256)]
    return [("Kodak24", None, None), ("McMaster", None, None)]


def cases(samples: list[Sample], quick: bool, seed: int,
          roots: list[Path] | None = None) -> Iterator[Case]:
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
        # channel_axis=2, not -1: scikit-image 0.26's unsharp_mask slices the
        # first axis for -1 and leaves most of its output uninitialised.
        return np.asarray(filters.unsharp_mask(img, radius=1.0, amount=0.25,
                                               channel_axis=2), dtype=np.float32)

    return [*out, Method("peer chain: Dust & Scratches → auto-levels → fastNlMeans → "
                         "unsharp mask", chain),
            Method("no change", lambda c: c.degraded, kind="reference")]


def score(case: Case, output: np.ndarray) -> dict[str, float]:
    out = np.clip(output, 0, 1)
    return {"PSNR": quality.psnr(case.clean, out),
            "ΔE00 mean": quality.delta_e_mean(case.clean, out)}


def scale(root: Any, quick: bool, seed: int, images: Path) -> list[dict[str, Any]]:
    """The whole recipe on a large 16-bit aged scan (target: under a minute, 4 GB).

    24 MP (quick: 6 MP): a photo enlarged, aged per 1000 px block with the
    same "medium" recipe as the image cases (so the damage has the same
    density), as 16-bit integers; default settings and tiling."""
    from .inpaint import _large_aged

    h, w = (2000, 3000) if quick else (4000, 6000)
    image = _large_aged(root, h, w, seed, lambda block, s: np.clip(
        synth.old_photo(block, s, "medium").image, 0.0, 1.0))
    scan = np.round(image * 65535.0).astype(np.uint16)
    del image
    mpx = h * w / 1e6
    out, cost = measure(photomend.run, "restore-photo", scan)
    if np.asarray(out).dtype != np.uint16:
        msg = f"restore-photo returned {np.asarray(out).dtype} for a 16-bit scan"
        raise AssertionError(msg)
    return [{"case": f"old photo (medium), 16-bit, {mpx:.0f} MP", "method": "restore-photo",
             "megapixels": mpx, "seconds": cost.seconds, "peak_mb": cost.peak_mb,
             "target": "< 60 s and < 4 GB",
             "met": cost.seconds < 60.0 and cost.peak_mb < 4096.0}]


TASK = Task("restore-photo", "One-click old-photo restoration (fading + dust + scratches + "
            "grain + mild blur)", ("PSNR", "ΔE00 mean"), datasets, cases, methods, score,
            scale=scale,
            notes="'clean photo' runs on the undamaged original: how much each method "
                  "changes a photo that needs nothing.")
