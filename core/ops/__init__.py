"""Built-in operations; importing this package registers them all."""

from . import sharpen  # noqa: F401
