"""Write a small text file whole or not at all (recipes, reports).

Kept apart from :mod:`photomend.fileio`, whose image codecs the hosts'
Pythons do not have.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["write_text"]


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write UTF-8 `text` to `path` whole or not at all (a recipe, a report).

    The text goes to a temporary file in the same folder, which is renamed
    into place: a failure (a full disk, Ctrl-C) leaves no partial file and
    the old file, if any, as it was. The file gets the permissions the
    umask gives new files (a temporary file's own are private). Errors
    name `path`, not the temporary file.
    """
    target = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp",
                                   dir=target.parent)
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, str(target)) from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, str(target)) from exc
    finally:
        Path(tmp).unlink(missing_ok=True)
    return target
