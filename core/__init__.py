"""photomend: photo restoration for GIMP 3, Krita 5 and the command line.

The public, stable API::

    import photomend
    photomend.operations()                      # specs of every operation
    out = photomend.run("sharpen", pixels, radius=2.0)
    img = photomend.load("scan.tif")            # Image with metadata
    photomend.save(photomend.run("sharpen", img), "out.tif", like=img)
"""

from __future__ import annotations

from typing import Any

from .engine import run
from .errors import (
    Cancelled,
    FileFormatError,
    ImageError,
    MaskError,
    ParameterError,
    PhotomendError,
    UnknownOperationError,
)
from .image import Image
from .progress import Progress
from .registry import OperationSpec, Param, ParamSpec, operation, operations
from .registry import get as get_operation

__version__ = "0.1.0"

__all__ = [
    "Cancelled",
    "FileFormatError",
    "Image",
    "ImageError",
    "MaskError",
    "OperationSpec",
    "Param",
    "ParamSpec",
    "ParameterError",
    "PhotomendError",
    "Progress",
    "UnknownOperationError",
    "__version__",
    "get_operation",
    "load",
    "operation",
    "operations",
    "run",
    "save",
]


def load(path: Any) -> Image:
    """Read an image file (see :func:`photomend.fileio.load`)."""
    from .fileio import load as _load

    return _load(path)


def save(image: Any, path: Any, **kwargs: Any) -> Any:
    """Write an image file (see :func:`photomend.fileio.save`)."""
    from .fileio import save as _save

    return _save(image, path, **kwargs)
