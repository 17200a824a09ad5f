"""Inpainting: blob holes and crease/scratch-like stroke masks."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

import photomend
from photomend import quality, synth

from ..core import Case, Method, Task, photomend_method
from ..data import Sample
from ._peers import cv2_image, from_cv2, optional


def datasets(quick: bool):
    if quick:
        return [("Kodak24", 2, 192), ("CBSD68", 1, 192)]
    return [("Kodak24", None, 256), ("CBSD68", 24, None)]


def cases(samples: list[Sample], quick: bool, seed: int) -> Iterator[Case]:
    for i, s in enumerate(samples):
        shape = s.image.shape
        for variant, mask in (
            ("blobs 10 %", synth.blob_mask(shape, 0.10, seed + i)),
            ("strokes 5 %", synth.stroke_mask(shape, 0.05, 3.0, seed + i)),
        ):
            hole = (mask > 0).astype(np.float32)
            damaged = s.image * (1 - hole[..., None])  # hole content must not matter
            yield Case(s, variant, damaged.astype(np.float32), s.image, {"mask": hole})


def _pm(method: str) -> Method:
    return photomend_method(
        "inpaint", f"photomend inpaint ({method})",
        call=lambda c: photomend.run("inpaint", c.degraded, mask=c.truth["mask"], method=method))


def methods() -> list[Method]:
    out = [_pm("auto"), _pm("diffusion"), _pm("patch")]
    cv2 = optional("cv2")
    if cv2 is not None:
        def cv(flag: int):
            def run(case: Case) -> np.ndarray:
                m = (case.truth["mask"] > 0).astype(np.uint8)
                return from_cv2(cv2.inpaint(cv2_image(case.degraded), m, 3, flag))
            return run
        out += [Method("OpenCV Telea (8-bit)", cv(cv2.INPAINT_TELEA)),
                Method("OpenCV Navier–Stokes (8-bit)", cv(cv2.INPAINT_NS))]
    else:
        out.append(Method("OpenCV inpaint", None, "pip install .[bench]"))
    restoration = optional("skimage.restoration")
    if restoration is not None:
        out.append(Method("scikit-image biharmonic", lambda c: np.asarray(
            restoration.inpaint_biharmonic(c.degraded, c.truth["mask"] > 0, channel_axis=-1),
            dtype=np.float32)))
    else:
        out.append(Method("scikit-image biharmonic", None, "pip install .[bench]"))
    patchmatch = optional("patchmatch.patch_match")
    if patchmatch is not None and getattr(patchmatch, "patchmatch_available", False):
        def run_pm(case: Case) -> np.ndarray:
            img = np.rint(np.clip(case.degraded, 0, 1) * 255).astype(np.uint8)
            img = np.repeat(img, 3, axis=-1) if img.shape[-1] == 1 else img
            m = ((case.truth["mask"] > 0) * 255).astype(np.uint8)
            res = patchmatch.inpaint(img, m, patch_size=7).astype(np.float32) / 255
            return res[..., :case.degraded.shape[-1]]
        out.append(Method("PyPatchMatch (8-bit)", run_pm))
    else:
        out.append(Method("PyPatchMatch", None, "not installed or its library did not build"))
    out.append(Method("Resynthesizer", None, "GIMP plug-in, not scriptable from Python here"))
    return out


def score(case: Case, output: np.ndarray) -> dict[str, float]:
    out = np.clip(output, 0, 1)
    hole = case.truth["mask"] > 0
    return {"PSNR": quality.psnr(case.clean, out),
            "PSNR hole": quality.psnr(case.clean, out, mask=hole),
            "SSIM": quality.ssim(case.clean, out)}


TASK = Task("inpaint", "Inpainting (holes filled; PSNR over the image and inside the hole)",
            ("PSNR", "PSNR hole", "SSIM"), datasets, cases, methods, score)
