"""Dust, hairs and scratches: detection (F1) and removal (PSNR)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

import photomend
from photomend import quality, synth
from photomend.convert import luminance

from ..core import Case, Method, Task, photomend_method
from ..data import Sample
from ..measure import measure
from ._peers import optional

#: Specks, hairs and scratches per megapixel.
SEVERITY = {"light": (150, 15, 15), "heavy": (600, 60, 45)}
GRAIN = 2.0  # σ of the scanner noise added on top (0–255 scale)


def datasets(quick: bool):
    if quick:
        return [("Kodak24", 2, 256), ("Set12", 1, 256)]
    return [("Kodak24", None, None), ("Set12", None, None)]


def _damage(clean: np.ndarray, seed: int, severity: str) -> tuple[np.ndarray, np.ndarray]:
    mpx = clean.shape[0] * clean.shape[1] / 1e6
    n_dust, n_hairs, n_scratches = (max(1, round(k * mpx)) for k in SEVERITY[severity])
    d = synth.dust(clean, seed, count=n_dust)
    h = synth.hairs(d.image, seed + 1, count=n_hairs)
    s = synth.scratches(h.image, seed + 2, count=n_scratches)
    truth = np.maximum.reduce([d.mask, h.mask, s.mask])
    noisy = synth.gaussian_noise(s.image, seed + 3, sigma=GRAIN, clip=True).image
    return noisy.astype(np.float32), (truth > 0.2).astype(np.float32)


def cases(samples: list[Sample], quick: bool, seed: int,
          roots: list[Path] | None = None, *, with_clean: bool = False) -> Iterator[Case]:
    for severity in SEVERITY:
        for i, s in enumerate(samples):
            image, truth = _damage(s.image, seed + 10 * i, severity)
            yield Case(s, severity, image, s.image, {"mask": truth})
    if with_clean:
        for s in samples:
            yield Case(s, "undamaged", s.image.copy(), s.image,
                       {"mask": np.zeros(s.image.shape[:2], np.float32)})


def removal_cases(samples: list[Sample], quick: bool, seed: int,
                  roots: list[Path] | None = None) -> Iterator[Case]:
    return cases(samples, quick, seed, with_clean=True)


def dust_and_scratches(image: np.ndarray, radius: int = 2, threshold: float = 0.04
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Photoshop-style Dust & Scratches: median where it differs by > threshold.

    Returns the filtered image and the mask of replaced pixels.
    """
    size = 2 * radius + 1
    med = ndimage.median_filter(image, size=(size, size, 1), mode="reflect")
    diff = np.abs(luminance(image) - luminance(med))
    mask = diff > threshold
    return np.where(mask[..., None], med, image).astype(np.float32), mask.astype(np.float32)


def tophat_detector(image: np.ndarray, size: int = 9, k: float = 4.0) -> np.ndarray:
    """Black + white top-hat on luminance, thresholded at k robust noise σ."""
    lum = luminance(image)
    footprint = np.ones((size, size), bool)
    th = np.maximum(ndimage.black_tophat(lum, footprint=footprint),
                    ndimage.white_tophat(lum, footprint=footprint))
    lap = lum - ndimage.uniform_filter(lum, 3)
    sigma = 1.4826 * np.median(np.abs(lap - np.median(lap))) * 1.5 + 1e-4
    return (th > k * sigma).astype(np.float32)


def detect_methods() -> list[Method]:
    out = [photomend_method("detect-defects", "photomend detect-defects"),
           photomend_method("detect-defects", "photomend detect-defects (1 pass)", passes=1),
           photomend_method("detect-defects", "photomend detect-defects (8 passes)", passes=8)]
    out.append(Method("Dust & Scratches (median 5×5, threshold 0.04)",
                      lambda c: dust_and_scratches(c.degraded)[1]))
    out.append(Method("top-hat detector (9×9, 4σ)", lambda c: tophat_detector(c.degraded)))
    return out


def remove_methods() -> list[Method]:
    out = [photomend_method("remove-defects", "photomend remove-defects"),
           photomend_method("remove-defects", "photomend remove-defects (1 pass)", passes=1),
           photomend_method("remove-defects", "photomend remove-defects (8 passes)", passes=8)]
    if "inpaint" in {s.id for s in photomend.operations()}:
        # The target compares with the true mask filled by the same method.
        from photomend.ops.defects import fill_defects

        method = photomend.registry.get("remove-defects").defaults()["method"]

        def truth_fill(case: Case) -> np.ndarray:
            if not case.truth["mask"].any():
                return case.degraded
            # remove-defects' own fill (inpaint's engine) of the true mask.
            return fill_defects(case.degraded, case.truth["mask"] > 0, method)
        out.append(Method(f"photomend fill ({method}) of the true mask (reference)",
                          truth_fill,
                          kind="reference"))
    cv2 = optional("cv2")
    out.append(Method("Dust & Scratches (median 5×5, threshold 0.04)",
                      lambda c: dust_and_scratches(c.degraded)[0]))
    if cv2 is not None:
        from ._peers import cv2_image, from_cv2

        def tophat_telea(case: Case) -> np.ndarray:
            m = tophat_detector(case.degraded).astype(np.uint8)
            return from_cv2(cv2.inpaint(cv2_image(case.degraded), m, 3, cv2.INPAINT_TELEA))
        out.append(Method("top-hat + OpenCV Telea (8-bit)", tophat_telea))
    out.append(Method("no change", lambda c: c.degraded, kind="reference"))
    return out


def detect_score(case: Case, output: np.ndarray) -> dict[str, float]:
    s = quality.mask_scores(case.truth["mask"], output, tolerance=1)
    return {"F1": s.f1, "precision": s.precision, "recall": s.recall}


def remove_score(case: Case, output: np.ndarray) -> dict[str, float]:
    out = np.clip(output, 0, 1)
    undamaged = ndimage.binary_dilation(case.truth["mask"] > 0, iterations=2) == 0
    return {"PSNR": quality.psnr(case.clean, out),
            "PSNR undamaged": quality.psnr(case.degraded, out, mask=undamaged)}


def _large_damaged(root: Any, height: int, width: int, seed: int) -> np.ndarray:
    """A big stand-in scan with light damage at the density of the image cases."""
    from .inpaint import _large_aged

    return _large_aged(root, height, width, seed,
                       lambda block, s: _damage(block, s, "light")[0])


def scale(root: Any, quick: bool, seed: int, images: Path) -> list[dict[str, Any]]:
    """Detection and removal of light damage on a large image (≥ 5 Mpx/s target).

    24 MP (quick: 6 MP), with the operations' default tiling."""
    h, w = (2000, 3000) if quick else (4000, 6000)
    image = _large_damaged(root, h, w, seed)
    mpx = h * w / 1e6
    rows = []
    for op in ("detect-defects", "remove-defects"):
        _, cost = measure(photomend.run, op, image)
        rows.append({"case": f"light damage, {mpx:.0f} MP", "method": op,
                     "megapixels": mpx, "seconds": cost.seconds, "peak_mb": cost.peak_mb,
                     "target": "≥ 5 Mpx/s" if op == "remove-defects" else "—",
                     "met": mpx / cost.seconds >= 5.0})
    return rows


DETECT_TASK = Task("detect-defects", "Dust, hair and scratch detection (1 px tolerance)",
                   ("F1", "precision", "recall"), datasets, cases, detect_methods,
                   detect_score,
                   notes="'photomend detect-defects' runs its defaults (4 passes).")
REMOVE_TASK = Task("remove-defects", "Dust, hair and scratch removal", (
    "PSNR", "PSNR undamaged"), datasets, removal_cases, remove_methods, remove_score,
    scale=scale, pooled=("PSNR", "PSNR undamaged"),
    notes="'PSNR undamaged' compares output and input away from the true damage "
          "(collateral damage: ∞ = untouched). The 'undamaged' variant runs on the clean "
          "photos themselves: its PSNR is how much a method changes a photo without damage. "
          "Both PSNRs are those of the mean squared error over the photos (a photo that "
          "comes back untouched, ∞, counts 0; brackets count them), not means of "
          "decibels. 'photomend remove-defects' runs its defaults (4 passes).")
