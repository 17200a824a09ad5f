"""Error classes raised by photomend.

Every error the core raises on purpose derives from :class:`PhotomendError`,
itself a :class:`ValueError`, so hosts can catch exactly these and show the
message to the user while any other exception keeps its traceback.
Messages are written for an artist: they name the parameter, the value and
the allowed range, or the problem with the image.
"""

from __future__ import annotations

__all__ = [
    "Cancelled",
    "FileFormatError",
    "ImageError",
    "MaskError",
    "ParameterError",
    "PhotomendError",
    "UnknownOperationError",
]


class PhotomendError(ValueError):
    """Base class of every error the core raises for bad input."""


class ParameterError(PhotomendError):
    """A parameter value is missing, of the wrong type, or out of range."""


class ImageError(PhotomendError):
    """The image has a shape, type or content the core cannot process."""


class MaskError(PhotomendError):
    """The mask (selection) is unusable: wrong shape, empty, or NaN."""


class UnknownOperationError(PhotomendError):
    """No operation is registered under the requested id."""


class FileFormatError(PhotomendError):
    """A file cannot be read or written in the requested format."""


class Cancelled(Exception):
    """The user cancelled a running operation; inputs are untouched.

    Deliberately not a :class:`PhotomendError`: cancelling is not an error
    to report, hosts simply stop and leave the image as it was.
    """
