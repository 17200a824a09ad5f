"""Recorded blur kernels (measured camera shake) found in the data folders.

Recorded kernels, such as the eight of Levin et al. (2009), are not part of
the shared standard sets; when a data folder holds some, the deblurring
tasks add a "recorded camera shake" variant. Two layouts are recognised,
anywhere below a data folder:

- MATLAB files (``.mat``) holding a kernel under one of :data:`MAT_KEYS`
  (Levin's files hold the sharp image ``x``, the blurred ``y`` and the
  kernel ``f``);
- images (PNG, TIFF, BMP) and ``.npy`` arrays in a folder, or with a name,
  containing ``kernel`` or ``psf``.

Every kernel is normalised and centred (:func:`photomend.psf.center`, as the
deblur operation does with any given PSF), and a kernel found in several
files (Levin's sets repeat each kernel for four images) is kept once.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
from PIL import Image as PILImage

from photomend import psf as psfs

from .data import SETS

#: Names under which a MATLAB file stores its kernel, in order of preference.
MAT_KEYS = ("f", "k", "kernel", "psf", "PSF", "blur_kernel")
#: Largest kernel side accepted (px): anything larger is an image.
MAX_SIDE = 101
#: Largest share of a kernel's mass allowed below zero (rounding in a
#: measured kernel); more means the array is something else.
NEGATIVE_SHARE = 0.05
IMAGE_SUFFIXES = {".png", ".tif", ".tiff", ".bmp"}
#: Folders never searched: the standard image sets, which hold no kernels.
_SKIP = {*SETS, "RNI15", ".git"}


def _kernel_shape(shape: tuple[int, ...]) -> bool:
    return len(shape) == 2 and min(shape) >= 1 and 3 <= max(shape) <= MAX_SIDE


def _from_mat(path: Path) -> np.ndarray | None:
    from scipy import io as sio

    # Look before loading: a data folder may hold large .mat files of images.
    shapes = {name: shape for name, shape, _ in sio.whosmat(path)}
    for key in MAT_KEYS:
        if key in shapes and _kernel_shape(tuple(shapes[key])):
            value = sio.loadmat(path, variable_names=[key])[key]
            if value.dtype.kind in "iuf":
                return np.asarray(value, dtype=np.float64)
    return None


def _from_array_file(path: Path) -> np.ndarray | None:
    if path.suffix.lower() == ".npy":
        a = np.load(path, mmap_mode="r", allow_pickle=False)
        if a.dtype.kind not in "iuf" or not _kernel_shape(a.shape):
            return None
        return np.array(a, dtype=np.float64)
    with PILImage.open(path) as im:
        if not _kernel_shape((im.height, im.width)):
            return None
        a = np.asarray(im.convert("F") if im.mode not in ("I;16", "I", "F") else im)
    return np.asarray(a, dtype=np.float64)


def _candidates(root: Path) -> Iterator[Path]:
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP)
        where = Path(folder)
        for name in sorted(files):
            path = where / name
            suffix = path.suffix.lower()
            named = any(w in part.lower() for part in path.relative_to(root).parts
                        for w in ("kernel", "psf"))
            if suffix == ".mat" or (named and (suffix in IMAGE_SUFFIXES or suffix == ".npy")):
                yield path


def _usable(k: np.ndarray) -> np.ndarray | None:
    """Clip rounding negatives, then normalise and centre; None if no kernel."""
    if not np.isfinite(k).all() or k.max() <= 0:
        return None
    positive = k[k > 0].sum()
    if -k[k < 0].sum() > NEGATIVE_SHARE * positive:
        return None
    return psfs.center(np.where(k < 0, 0.0, k))


def _read(path: Path) -> np.ndarray | None:
    """Return the kernel a file holds, or None; warn about unreadable files."""
    try:
        raw = _from_mat(path) if path.suffix.lower() == ".mat" else _from_array_file(path)
        return None if raw is None else _usable(raw)
    except Exception as exc:  # any unreadable file is skipped, not fatal
        print(f"  kernels: skipped {path}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return None


def recorded(roots: Iterable[Path]) -> list[tuple[str, np.ndarray]]:
    """Return ``(name, kernel)`` for every distinct kernel below `roots`.

    Parameters
    ----------
    roots : iterable of Path
        Data folders, searched in order; missing ones are skipped.

    Returns
    -------
    list of (str, ndarray)
        The file's path below its data folder, without suffix, and the
        normalised, centred float64 kernel, in path order. Files that
        cannot be read are skipped with a warning on stderr.
    """
    found: list[tuple[str, np.ndarray]] = []
    for root in roots:
        if not root.is_dir():
            continue
        for path in _candidates(root):
            k = _read(path)
            if k is None or any(k.shape == g.shape and np.allclose(k, g, atol=1e-9)
                                for _, g in found):
                continue
            found.append((path.relative_to(root).with_suffix("").as_posix(), k))
    return found
