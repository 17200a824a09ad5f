"""photomend for Krita 5: Filter ▸ Photo Restoration, one action per operation.

Krita imports this package at start when ``[python] enable_photomend_krita``
is true in kritarc (``photomend install krita`` sets it up). Importing it
anywhere else (tests, the installer) registers nothing.
"""

import sys
import traceback

try:
    from krita import Krita
except ImportError:  # not inside Krita
    Krita = None


def _register() -> None:
    from . import loader

    try:
        loader.load_photomend()
        from .extension import PhotomendExtension

        extension = PhotomendExtension(Krita.instance())
    except Exception as exc:  # explain inside Krita instead of failing
        traceback.print_exc()
        problem = loader.startup_problem(exc)
        print(f"photomend: {problem}", file=sys.stderr)
        from .problem import ProblemExtension

        extension = ProblemExtension(Krita.instance(), problem)
    Krita.instance().addExtension(extension)


if Krita is not None and Krita.instance() is not None:
    _register()
