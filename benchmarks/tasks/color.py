"""Colour and fade restoration of faded, colour-cast prints."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from photomend import quality, synth

from ..core import Case, Method, Task, photomend_method
from ..data import Sample
from ._peers import cv2_image, from_cv2, optional


def datasets(quick: bool):
    if quick:
        return [("Kodak24", 3, 256), ("McMaster", 2, 256)]
    return [("Kodak24", None, None), ("McMaster", None, None)]


def cases(samples: list[Sample], quick: bool, seed: int,
          roots: list[Path] | None = None) -> Iterator[Case]:
    for i, s in enumerate(samples):
        k = seed + i
        variants = {
            "contrast loss": synth.contrast_loss(s.image, k, amount=0.35).image,
            "cyan dye loss": synth.dye_fading(s.image, k, loss=(0.55, 0.15, 0.1)).image,
            "yellowing": synth.yellowing(s.image, k, amount=0.3).image,
            "all combined": synth.fade(s.image, k, contrast=0.3, dye_loss=(0.5, 0.15, 0.1),
                                       yellowing=0.25, black_lift=0.08).image,
            "good photo": s.image,
        }
        for name, image in variants.items():
            yield Case(s, name, np.asarray(image, np.float32), s.image)


def _stretch(image: np.ndarray, lo_pct: float, hi_pct: float, joint: bool) -> np.ndarray:
    axis = None if joint else (0, 1)
    lo = np.percentile(image, lo_pct, axis=axis)
    hi = np.percentile(image, hi_pct, axis=axis)
    return np.clip((image - lo) / np.maximum(hi - lo, 1e-6), 0, 1).astype(np.float32)


def gray_world(image: np.ndarray) -> np.ndarray:
    means = image.reshape(-1, 3).mean(axis=0)
    return np.clip(image * (means.mean() / np.maximum(means, 1e-6)), 0, 1).astype(np.float32)


def white_patch(image: np.ndarray) -> np.ndarray:
    white = np.percentile(image.reshape(-1, 3), 99.5, axis=0)
    return np.clip(image / np.maximum(white, 1e-6), 0, 1).astype(np.float32)


def methods() -> list[Method]:
    out = [photomend_method("restore-color", "photomend restore-color"),
           Method("gray world", lambda c: gray_world(c.degraded)),
           Method("white patch (99.5 %)", lambda c: white_patch(c.degraded)),
           Method("auto-levels per channel (0.5/99.5 %)",
                  lambda c: _stretch(c.degraded, 0.5, 99.5, joint=False))]
    cv2 = optional("cv2")
    xphoto = getattr(cv2, "xphoto", None) if cv2 is not None else None
    if xphoto is not None:
        for label, make in (("OpenCV xphoto SimpleWB", xphoto.createSimpleWB),
                            ("OpenCV xphoto GrayworldWB", xphoto.createGrayworldWB),
                            ("OpenCV xphoto LearningBasedWB", xphoto.createLearningBasedWB)):
            def run(case: Case, make=make) -> np.ndarray:
                return from_cv2(make().balanceWhite(cv2_image(case.degraded)))
            out.append(Method(label + " (8-bit)", run))
    else:
        out.append(Method("OpenCV xphoto white balance", None,
                          "pip install .[bench] (opencv-contrib)"))
    exposure = optional("skimage.exposure")
    if exposure is not None:
        out.append(Method("scikit-image rescale_intensity (0.5/99.5 %)",
                          lambda c: _stretch(c.degraded, 0.5, 99.5, joint=True)))
        out.append(Method("scikit-image equalize_adapthist", lambda c: np.asarray(
            exposure.equalize_adapthist(c.degraded), dtype=np.float32)))
    out.append(Method("no change", lambda c: c.degraded, kind="reference"))
    return out


def score(case: Case, output: np.ndarray) -> dict[str, float]:
    return {"ΔE00 mean": quality.delta_e_mean(case.clean, np.clip(output, 0, 1))}


TASK = Task("restore-color", "Colour and fade restoration (CIEDE2000 to the original)",
            ("ΔE00 mean",), datasets, cases, methods, score,
            notes="Lower is better. 'good photo' runs on the undamaged original: it "
                  "measures how much a method changes a photo that needs nothing.")
