"""Make ``sample-aged.png``, the damaged photo ``photomend demo`` restores.

The source is the "astronaut" photograph of Eileen Collins (NASA, public
domain) as shipped in scikit-image's sample data: 512 × 512 px, 8-bit sRGB.
It is aged with photomend's own seeded degradation,
:func:`photomend.synth.old_photo` at ``medium`` severity with seed
:data:`SEED` (blur, dye fading and yellowing, dust, hairs, scratches, film
grain) and stored as a 16-bit RGB PNG without ICC profile or other
metadata.

Run once by a developer; the committed PNG is the reference. The result
depends on the synthesis code, so a later run with a changed
:mod:`photomend.synth` gives a different (equally valid) image::

    pip install scikit-image          # only needed to locate astronaut.png
    python core/data/make_sample.py --overwrite

or, with the image file at hand (e.g. unpacked from the scikit-image wheel
at ``skimage/data/astronaut.png``)::

    python core/data/make_sample.py --source astronaut.png --overwrite
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path
from typing import Final

import numpy as np
from PIL import Image as PILImage

#: Seed of the ageing; changing it changes the sample.
SEED = 1995  # Eileen Collins first piloted the shuttle (STS-63) in 1995.
SEVERITY: Final = "medium"
SIZE = 512
HERE = Path(__file__).resolve().parent
TARGET = HERE / "sample-aged.png"


def _astronaut_path() -> Path:
    """Return the astronaut.png shipped inside an installed scikit-image."""
    try:
        import skimage
    except ImportError:
        msg = "scikit-image is not installed; pass --source path/to/astronaut.png"
        raise SystemExit(msg) from None
    return Path(skimage.__file__).parent / "data" / "astronaut.png"


def load_clean(path: Path, size: int = SIZE) -> np.ndarray:
    """Read the photo as float32 RGB in [0, 1], centre-cropped to a square of `size` px."""
    with PILImage.open(path) as im:
        rgb = im.convert("RGB")
        side = min(rgb.size)
        left, top = (rgb.width - side) // 2, (rgb.height - side) // 2
        square = rgb.crop((left, top, left + side, top + side))
        if side != size:
            square = square.resize((size, size), PILImage.Resampling.LANCZOS)
        return np.asarray(square, dtype=np.float32) / 255.0


def age(clean: np.ndarray, seed: int = SEED) -> np.ndarray:
    """Return `clean` aged by :func:`photomend.synth.old_photo`, float32 in [0, 1]."""
    from photomend.synth import old_photo

    aged = old_photo(clean, seed=seed, severity=SEVERITY).image
    return np.clip(aged, 0.0, 1.0).astype(np.float32)


def main(argv: list[str] | None = None) -> int:
    """Write the sample; print its path, size and SHA-256."""
    from photomend.fileio import save
    from photomend.image import Image

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, help="astronaut.png (default: from scikit-image)")
    parser.add_argument("--output", type=Path, default=TARGET, help=f"default: {TARGET}")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing file")
    args = parser.parse_args(argv)
    clean = load_clean(args.source or _astronaut_path())
    image = Image(color=age(clean), dtype=np.dtype(np.uint16))
    path = save(image, args.output, dtype=np.uint16, overwrite=args.overwrite)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    print(f"{path}: {path.stat().st_size} bytes, sha256 {digest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
