"""Optional peer libraries (the ``bench`` extra), imported when installed."""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np


def optional(module: str) -> Any | None:
    """Import `module` or return None when it is not installed or broken."""
    try:
        return importlib.import_module(module)
    except Exception:
        return None


def to_u8(image: np.ndarray) -> np.ndarray:
    """Quantise float [0, 1] to uint8 for peers that only take 8 bits."""
    return np.rint(np.clip(image, 0, 1) * 255).astype(np.uint8)


def from_u8(image: np.ndarray) -> np.ndarray:
    out = image.astype(np.float32) / 255.0
    return out if out.ndim == 3 else out[..., None]


def per_channel(fn: Any, image: np.ndarray) -> np.ndarray:
    """Apply a 2-D function to each channel."""
    return np.stack([fn(image[..., c]) for c in range(image.shape[-1])], axis=-1).astype(
        np.float32)


def cv2_image(image: np.ndarray) -> np.ndarray:
    """float (H, W, C) RGB → uint8 BGR / gray for OpenCV."""
    u8 = to_u8(image)
    return u8[..., 0] if u8.shape[-1] == 1 else u8[..., ::-1].copy()


def from_cv2(image: np.ndarray) -> np.ndarray:
    out = from_u8(image)
    return out if out.shape[-1] == 1 else out[..., ::-1].copy()
