"""Recorded blur kernels (measured camera shake) found in the data folders.

Recorded kernels, such as the eight of Levin et al. (2009), are not part of
the shared standard sets; when a data folder holds some, the deblurring
tasks add a "recorded camera shake" variant. Two layouts are recognised,
anywhere below a data folder:

- MATLAB files (``.mat``) holding a kernel under ``f``, ``k``, ``K``,
  ``kernel``, ``psf`` or ``blur_kernel`` (Levin's files hold the sharp image
  ``x``, the blurred ``y`` and the kernel ``f``), or as their only small
  2-D array;
- images (PNG, TIFF, BMP) and ``.npy`` arrays in a folder, or with a name,
  containing ``kernel`` or ``psf``.

Every kernel is normalised and centred (:func:`photomend.psf.center`, as the
deblur operation does with any given PSF), and a kernel found in several
files (Levin's sets repeat each kernel for four images) is kept once.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
from PIL import Image as PILImage

from photomend import psf as psfs

#: Names under which a MATLAB file stores its kernel, in order of preference.
MAT_KEYS = ("f", "k", "K", "kernel", "psf", "blur_kernel")
#: Largest kernel side accepted (px): anything larger is an image.
MAX_SIDE = 101
IMAGE_SUFFIXES = {".png", ".tif", ".tiff", ".bmp"}
#: Folders never searched: the standard image sets, which hold no kernels.
_SKIP = {"Set12", "BSD68", "CBSD68", "Kodak24", "McMaster", "RNI15", ".git"}


def _kernel_like(a: object) -> bool:
    if not isinstance(a, np.ndarray) or a.ndim != 2 or a.dtype.kind not in "iuf":
        return False
    return 3 <= min(a.shape) and max(a.shape) <= MAX_SIDE


def _from_mat(path: Path) -> np.ndarray | None:
    from scipy import io as sio

    try:
        content = sio.loadmat(path)
    except (sio.matlab.MatReadError, ValueError, NotImplementedError, OSError):
        return None  # not a MATLAB file, or v7.3 (HDF5), which scipy cannot read
    for key in MAT_KEYS:
        if _kernel_like(content.get(key)):
            return np.asarray(content[key], dtype=np.float64)
    small = [v for k, v in content.items() if not k.startswith("__") and _kernel_like(v)]
    return np.asarray(small[0], dtype=np.float64) if len(small) == 1 else None


def _from_array_file(path: Path) -> np.ndarray | None:
    if path.suffix.lower() == ".npy":
        a = np.load(path, allow_pickle=False)
    else:
        with PILImage.open(path) as im:
            a = np.asarray(im.convert("F") if im.mode not in ("I;16", "I", "F") else im)
    return np.asarray(a, dtype=np.float64) if _kernel_like(a) else None


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
    k = np.where(k < 0, 0.0, k)
    return psfs.center(k)


def recorded(roots: Iterable[Path]) -> list[tuple[str, np.ndarray]]:
    """Return ``(name, kernel)`` for every distinct kernel below `roots`.

    Parameters
    ----------
    roots : iterable of Path
        Data folders, searched in order; missing ones are skipped.

    Returns
    -------
    list of (str, ndarray)
        The file's stem (relative path for clarity when stems repeat) and
        the normalised, centred float64 kernel, in path order.
    """
    found: list[tuple[str, np.ndarray]] = []
    for root in roots:
        if not root.is_dir():
            continue
        for path in _candidates(root):
            raw = _from_mat(path) if path.suffix.lower() == ".mat" else _from_array_file(path)
            k = None if raw is None else _usable(raw)
            if k is None or any(k.shape == g.shape and np.allclose(k, g, atol=1e-9)
                                for _, g in found):
                continue
            found.append((path.relative_to(root).with_suffix("").as_posix(), k))
    return found
