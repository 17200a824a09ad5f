"""Built-in operations; importing this package registers them all.

Every public module here (name not starting with ``_``) holds operations
and is imported automatically, so adding an operation touches only its own
module.
"""

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    if not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")
