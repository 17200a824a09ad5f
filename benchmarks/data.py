"""Benchmark images: the shared standard sets when present, else synthetic scenes.

The standard sets live outside the repository (``../shared/datasets`` next to
the checkout, ``$PHOTOMEND_DATA``, or folders given with ``--data DIR``);
they are never copied into it. Several folders can be searched in turn, so
held-out material (say, recorded blur kernels) can sit in a folder of its
own next to the standard sets.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeAlias

import numpy as np
from PIL import Image as PILImage

from photomend.synth import synthetic_scene

#: One data folder, several searched in order, or none.
Roots: TypeAlias = Path | Sequence[Path] | None

#: Known sets and whether they are colour.
SETS = {"Set12": False, "BSD68": False, "CBSD68": True, "Kodak24": True, "McMaster": True}
EXTENSIONS = {".png", ".tif", ".tiff", ".jpg", ".bmp"}


@dataclass
class Sample:
    """One clean benchmark image."""

    set: str
    name: str
    image: np.ndarray  # float32 (H, W, C) in [0, 1]

    @property
    def megapixels(self) -> float:
        return self.image.shape[0] * self.image.shape[1] / 1e6


def default_root() -> Path | None:
    """Return the dataset folder: $PHOTOMEND_DATA, else ../shared/datasets."""
    env = os.environ.get("PHOTOMEND_DATA")
    if env:
        return Path(env)
    guess = Path(__file__).resolve().parents[2] / "shared" / "datasets"
    return guess if guess.is_dir() else None


def roots(given: Roots) -> list[Path]:
    """Return the data folders to search, in order, as a list."""
    if given is None:
        return []
    return [given] if isinstance(given, Path) else list(given)


def _read(path: Path, color: bool) -> np.ndarray:
    with PILImage.open(path) as im:
        im = im.convert("RGB" if color else "L")
        arr = np.asarray(im, dtype=np.float32) / 255.0
    return arr if arr.ndim == 3 else arr[..., None]


def _center_crop(img: np.ndarray, crop: int | None) -> np.ndarray:
    if not crop:
        return img
    h, w = img.shape[:2]
    ch, cw = min(crop, h), min(crop, w)
    y, x = (h - ch) // 2, (w - cw) // 2
    return np.ascontiguousarray(img[y:y + ch, x:x + cw])


def load(set_name: str, root: Roots, *, limit: int | None = None,
         crop: int | None = None) -> list[Sample]:
    """Load up to `limit` images of a set, centre-cropped to `crop` px.

    The set is taken from the first of the folders `root` that holds it.
    Falls back to seeded synthetic scenes (marked ``synthetic``) when the
    set is not available.
    """
    color = SETS.get(set_name, True)
    folder = next((r / set_name for r in roots(root) if (r / set_name).is_dir()), None)
    if folder is not None:
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in EXTENSIONS)
        files = files[:limit] if limit else files
        return [Sample(set_name, p.stem, _center_crop(_read(p, color), crop)) for p in files]
    count = limit or 4
    size = crop or 256
    out = []
    for i in range(count):
        scene = synthetic_scene((size, size, 3 if color else 1), seed=100 + i)
        out.append(Sample(f"synthetic-{'rgb' if color else 'gray'}", f"scene{i}", scene))
    return out
