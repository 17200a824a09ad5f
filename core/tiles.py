"""Run an operation over overlapping tiles so memory stays bounded.

Each tile is processed with a margin (the operation's halo) of real image
context around it; only the tile's own pixels are kept. For an operation
whose output at a pixel depends only on inputs within the halo, the tiled
result equals a single pass. Tiles run on a thread pool: numpy, scipy.ndimage
and scipy.fft release the GIL in their heavy loops, so both cores work.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import Any

import numpy as np

from .progress import Progress

__all__ = ["DEFAULT_TILE", "TILE_THRESHOLD", "Window", "iter_windows", "run_tiled", "workers"]

#: Core tile edge in pixels (the halo comes on top).
DEFAULT_TILE = 1024
#: Images with more pixels than this are tiled automatically.
TILE_THRESHOLD = 4_000_000

Window = tuple[slice, slice, slice, slice]


def workers() -> int:
    """Return the number of worker threads to use (cores, at most 8)."""
    return max(1, min(8, os.cpu_count() or 1))


def iter_windows(height: int, width: int, tile: int, halo: int,
                 grid: int = 1) -> Iterator[tuple[Window, Window]]:
    """Yield ``(read, keep)`` windows covering an image in tiles.

    ``read`` is the tile plus its halo clipped to the image (image
    coordinates), widened to start on a multiple of `grid`; ``keep`` is
    where the tile's own pixels sit inside the read window. Both are
    ``(rows, cols, rows, cols)`` slices: the first two the tile in image
    coordinates, the last two within the read window.
    """
    for y0 in range(0, height, tile):
        y1 = min(y0 + tile, height)
        ry0, ry1 = max(0, y0 - halo) // grid * grid, min(height, y1 + halo)
        for x0 in range(0, width, tile):
            x1 = min(x0 + tile, width)
            rx0, rx1 = max(0, x0 - halo) // grid * grid, min(width, x1 + halo)
            read = (slice(ry0, ry1), slice(rx0, rx1), slice(0, 0), slice(0, 0))
            keep = (slice(y0, y1), slice(x0, x1),
                    slice(y0 - ry0, y1 - ry0), slice(x0 - rx0, x1 - rx0))
            yield read, keep


def run_tiled(
    func: Callable[..., np.ndarray],
    image: np.ndarray,
    mask: np.ndarray | None,
    params: dict[str, Any],
    *,
    halo: int,
    grid: int = 1,
    tile: int = DEFAULT_TILE,
    progress: Progress,
    pass_mask: bool,
    pass_progress: bool,
    out_channels: int | None,
    pass_keep: bool = False,
    report: dict[str, Any] | None = None,
    planes: tuple[str, ...] = (),
) -> np.ndarray:
    """Apply `func` tile by tile and assemble the result.

    Parameters
    ----------
    func : callable
        ``func(pixels, [mask=], [progress=], **params)`` returning an array
        of the tile's height and width (``(h, w, C)`` or ``(h, w)``).
    image : ndarray
        float32 ``(H, W, C)`` input.
    mask : ndarray or None
        float32 ``(H, W)``, cropped alongside the image when `pass_mask`.
    params : dict
        Bound parameters.
    halo : int
        Context margin each tile reads around itself.
    grid : int
        Read windows start on multiples of it (the operation's sampling
        grid, so every tile samples where the whole image would).
    tile : int
        Core tile edge in pixels.
    progress : Progress
        Receives the fraction of finished tiles; cancellation stops the
        remaining tiles and raises :class:`~photomend.errors.Cancelled`.
    pass_mask, pass_progress : bool
        Whether `func` takes ``mask=`` / ``progress=``.
    pass_keep : bool
        Whether `func` takes ``keep=``: the ``(rows, cols)`` slices of the
        tile whose output is kept (the rest is context it may skip work on).
    out_channels : int or None
        Channels of the output, None for a 2-D (mask) output.
    report : dict, optional
        Passed on as ``report=`` (one dict per tile) when given. Masks a
        tile reports at its own size are assembled into image-sized float32
        masks like the output; other values keep the first tile's.
    planes : tuple of str
        Parameters holding ``(H, W)`` planes of the image (a damage mask,
        an infrared plane): each tile gets its own part of them.

    Returns
    -------
    ndarray
        The assembled float32 output.
    """
    height, width = image.shape[:2]
    shape = (height, width) if out_channels is None else (height, width, out_channels)
    out = np.empty(shape, dtype=np.float32)
    windows = list(iter_windows(height, width, tile, halo, grid))
    quiet = progress.silent()
    abort = threading.Event()  # another tile failed: skip the rest

    def work(read: Window, keep: Window) -> None:
        if abort.is_set():
            return
        quiet.check()
        kwargs = dict(params)
        for name in planes:
            if isinstance(kwargs.get(name), np.ndarray):
                kwargs[name] = kwargs[name][read[0], read[1]]
        if pass_mask:
            kwargs["mask"] = None if mask is None else mask[read[0], read[1]]
        if pass_progress:
            kwargs["progress"] = quiet
        if pass_keep:
            kwargs["keep"] = (keep[2], keep[3])
        part: dict[str, Any] = {}
        if report is not None:
            kwargs["report"] = part
        tile_in = image[read[0], read[1]]
        result = func(tile_in, **kwargs)
        out[keep[0], keep[1]] = result[keep[2], keep[3]]
        if report is not None:
            merge(part, tile_in.shape[:2], keep)

    lock = threading.Lock()

    def merge(part: dict[str, Any], size: tuple[int, ...], keep: Window) -> None:
        """Fold one tile's report into `report` (masks assembled, the rest kept once)."""
        assert report is not None
        with lock:
            for key, value in part.items():
                if isinstance(value, np.ndarray) and value.shape == size:
                    plane = report.get(key)
                    if not isinstance(plane, np.ndarray) or plane.shape != (height, width):
                        plane = report[key] = np.zeros((height, width), dtype=np.float32)
                    plane[keep[0], keep[1]] = value[keep[2], keep[3]]
                else:
                    report.setdefault(key, value)

    progress.update(0.0)
    with ThreadPoolExecutor(max_workers=workers()) as pool:
        pending = {pool.submit(work, r, k) for r, k in windows}
        done_count = 0
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_EXCEPTION)
                for fut in done:
                    fut.result()  # re-raise a tile's exception (including Cancelled)
                done_count += len(done)
                progress.update(done_count / len(windows))
        except BaseException:
            abort.set()
            for fut in pending:
                fut.cancel()
            raise
    return out
