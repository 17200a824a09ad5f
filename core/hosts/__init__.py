"""The small host interface and the one driver every host shares.

A host (GIMP, Krita, files) implements :class:`~photomend.hosts.base.Host`:
read a region, write a region, show a message, group undo, report progress.
:func:`~photomend.hosts.apply.apply_operation` does everything else, so
adapters hold no restoration logic.
"""

from .apply import apply_operation
from .base import Box, Host, grow_box
from .file import FileHost

__all__ = ["Box", "FileHost", "Host", "apply_operation", "grow_box"]
