"""Inpainting: blob holes and crease/scratch-like stroke masks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image as PILImage

import photomend
from photomend import quality, synth

from .. import data, sheets
from ..core import Case, Method, Task, photomend_method
from ..data import Sample
from ..measure import measure
from ._peers import cv2_image, from_cv2, optional


def datasets(quick: bool):
    if quick:
        return [("Kodak24", 2, 192), ("CBSD68", 1, 192)]
    return [("Kodak24", None, 256), ("CBSD68", 24, None)]


def cases(samples: list[Sample], quick: bool, seed: int,
          roots: list[Path] | None = None) -> Iterator[Case]:
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
    from . import _resynth  # GIMP 3 + plug-in built by .ci/resynth.sh, else n/a
    out.append(_resynth.method("Resynthesizer (heal selection)"))
    return out


def score(case: Case, output: np.ndarray) -> dict[str, float]:
    out = np.clip(output, 0, 1)
    hole = case.truth["mask"] > 0
    return {"PSNR": quality.psnr(case.clean, out),
            "PSNR hole": quality.psnr(case.clean, out, mask=hole),
            "SSIM": quality.ssim(case.clean, out)}




def _large(root: Any, height: int, width: int) -> np.ndarray:
    """A photo enlarged to ``height × width`` (a stand-in for a big scan)."""
    samples = data.load("Kodak24", root, limit=13)
    small = samples[-1].image
    return np.stack([np.asarray(PILImage.fromarray(small[..., c]).resize(
        (width, height), PILImage.Resampling.BICUBIC)) for c in range(small.shape[-1])],
        axis=-1).astype(np.float32)


def _large_aged(root: Any, height: int, width: int, seed: int,
                age: Callable[[np.ndarray, int], np.ndarray]) -> np.ndarray:
    """:func:`_large`, aged by ``age(block, seed)`` one 1000 px block at a time.

    Per block, so damage keeps the density and scratch lengths of the
    benchmark's image cases instead of growing with the diagonal.
    """
    image = _large(root, height, width)
    block = 1000
    for i, y in enumerate(range(0, height, block)):
        for j, x in enumerate(range(0, width, block)):
            view = image[y:y + block, x:x + block]
            view[...] = age(np.ascontiguousarray(view), seed + 1000 * i + 10 * j)
    return image


def _object_hole(height: int, width: int, share: float) -> np.ndarray:
    """An upright ellipse covering `share` of the image, off centre."""
    yy, xx = np.mgrid[:height, :width].astype(np.float32)
    r = np.sqrt(share * height * width / np.pi)
    inside = (((yy - 0.55 * height) / (1.2 * r)) ** 2
              + ((xx - 0.4 * width) / (r / 1.2)) ** 2) <= 1.0
    return inside.astype(np.float32)


def _crop_view(image: np.ndarray, hole: np.ndarray, longest: int = 640) -> np.ndarray:
    """The hole's neighbourhood, shrunk so its longer side is `longest` px."""
    ys, xs = np.nonzero(hole)
    h, w = hole.shape
    my, mx = (ys.max() - ys.min()) // 3, (xs.max() - xs.min()) // 3
    view = image[max(0, ys.min() - my):min(h, ys.max() + my),
                 max(0, xs.min() - mx):min(w, xs.max() + mx)]
    step = max(1, int(np.ceil(max(view.shape[:2]) / longest)))
    return view[::step, ::step]


def scale(root: Any, quick: bool, seed: int, images: Path) -> list[dict[str, Any]]:
    """Large images against the speed targets of the issue: thin defects by
    diffusion (≥ 5 Mpx/s on 24 MP), a 3 % object hole by patch (≤ 20 s at 12 MP).
    Quick mode uses 6 MP and 3 MP and scales the time target."""
    rows = []
    h, w = (2000, 3000) if quick else (4000, 6000)
    image = _large(root, h, w)
    thin = (synth.stroke_mask(image.shape, 0.02, 2.0, seed) > 0).astype(np.float32)
    damaged = image * (1 - thin[..., None])
    _, cost = measure(photomend.run, "inpaint", damaged, mask=thin, method="diffusion")
    mpx = h * w / 1e6
    rows.append({"case": f"2 % thin defects, {mpx:.0f} MP", "method": "diffusion",
                 "megapixels": mpx, "seconds": cost.seconds, "peak_mb": cost.peak_mb,
                 "target": "≥ 5 Mpx/s", "met": mpx / cost.seconds >= 5.0})
    del image, damaged, thin
    h, w = (1500, 2000) if quick else (3000, 4000)
    image = _large(root, h, w)
    hole = _object_hole(h, w, 0.03)
    damaged = image * (1 - hole[..., None])
    mpx = h * w / 1e6
    panels: list[tuple[str, np.ndarray]] = [("input", _crop_view(damaged, hole))]
    for method in ("patch", "auto"):
        out, cost = measure(photomend.run, "inpaint", damaged, mask=hole, method=method,
                            seed=seed)
        limit = 20.0 * mpx / 12.0
        rows.append({"case": f"3 % object hole, {mpx:.0f} MP", "method": method,
                     "megapixels": mpx, "seconds": cost.seconds, "peak_mb": cost.peak_mb,
                     "target": f"≤ {limit:.0f} s" if method == "patch" else "—",
                     "met": cost.seconds <= limit})
        panels.append((method, _crop_view(out, hole)))
    from . import _resynth  # peer on the same hole when built (.ci/resynth.sh)
    if _resynth.unavailable() is None and (res := _resynth.heal_timed(damaged, hole)):
        out, cost = res
        rows.append({"case": f"3 % object hole, {mpx:.0f} MP", "method": "Resynthesizer",
                     "megapixels": mpx, "seconds": cost.seconds, "peak_mb": cost.peak_mb,
                     "target": "—", "met": cost.seconds <= 20.0 * mpx / 12.0})
        panels.append(("Resynthesizer", _crop_view(out, hole)))
    panels.append(("truth", _crop_view(image, hole)))
    sheets.side_by_side(panels, images / f"object-hole-{mpx:.0f}mp.png")
    return rows


TASK = Task("inpaint", "Inpainting (holes filled; PSNR over the image and inside the hole)",
            ("PSNR", "PSNR hole", "SSIM"), datasets, cases, methods, score,
            save_images=True, scale=scale)
