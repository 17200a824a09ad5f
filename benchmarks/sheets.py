"""Side-by-side comparison images, so a person can judge what numbers cannot."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from PIL import Image as PILImage
from PIL import ImageDraw

#: Height of the caption strip above each panel (px).
CAPTION = 18
#: Gap between panels (px).
GAP = 4


def to_rgb8(image: np.ndarray) -> np.ndarray:
    """Return float ``(H, W[, C])`` pixels in [0, 1] as 8-bit RGB for viewing."""
    arr = np.asarray(image, dtype=np.float32)
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.shape[-1] == 1:
        arr = np.repeat(arr, 3, axis=-1)
    return np.rint(np.clip(arr[..., :3], 0.0, 1.0) * 255).astype(np.uint8)


def side_by_side(panels: list[tuple[str, np.ndarray]], path: Path) -> Path:
    """Write `panels` (caption, image) left to right, each captioned, as a PNG.

    Panels of other sizes than the first are shown at their own size, top
    aligned. Returns the path written.
    """
    images = [to_rgb8(img) for _, img in panels]
    height = max(i.shape[0] for i in images) + CAPTION
    width = sum(i.shape[1] for i in images) + GAP * (len(images) - 1)
    sheet = PILImage.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    x = 0
    for (caption, _), img in zip(panels, images, strict=True):
        sheet.paste(PILImage.fromarray(img), (x, CAPTION))
        draw.text((x + 2, 3), caption[: max(4, img.shape[1] // 6)], fill=(0, 0, 0))
        x += img.shape[1] + GAP
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)
    return path


def slug(text: str) -> str:
    """Return `text` as a file-name-safe slug."""
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()
