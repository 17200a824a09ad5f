"""The defect detector's convolutional network, evaluated with numpy.

Private helper of :mod:`photomend.ops.defects`. The network is a context
aggregation network [1]_: eight 3 × 3 convolutions with rectified outputs
whose dilations grow (1, 1, 2, 4, 8, 16, 1, 1), 16 channels each, so
every output pixel sees a 69 × 69 px neighbourhood at full resolution,
followed by a 1 × 1 convolution to two logits (dark damage, bright
damage). Without pooling it is translation-equivariant, so overlapping
tiles reproduce one pass exactly. Each layer pads its input by reflection. The weights
(``photomend/data/defects_net.npz``) are fitted by
``python -m photomend.ops._defects_train``.

Evaluation keeps every layer in one of two buffers with a shared border,
read as flat ``(pixels, channels)`` matrices: each kernel tap is then a
constant offset and a layer is nine small matrix products over contiguous
rows, written straight into the next layer's buffer. This is about four
times faster than building a patch matrix (im2col), and the products are
small enough to stay on the calling thread.

References
----------
.. [1] F. Yu, V. Koltun, "Multi-scale context aggregation by dilated
   convolutions", ICLR 2016.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np

__all__ = ["CHANNELS", "DILATIONS", "VIEWS", "WEIGHTS_PATH", "averaged_logits", "decision_level",
           "logits", "net_input", "reach", "read_weights"]

#: Channels of the input, the hidden layers and the output (the training
#: default; the shipped weights file records its own shapes).
CHANNELS = (4, 16, 16, 16, 16, 16, 16, 16, 16, 2)
#: Dilation of each 3 × 3 layer (the training default; a weights file that
#: records ``dilations`` is run with those).
DILATIONS = (1, 1, 2, 4, 8, 16, 1, 1)
WEIGHTS_PATH = Path(__file__).resolve().parent.parent / "data" / "defects_net.npz"
#: Scale of the noise-level input plane (σ on 0–1 times this).
NOISE_SCALE = np.float32(25.5)
#: Pixels per matrix product. Small products stay in cache, and OpenBLAS
#: runs products under 65536 · 4 multiply-adds on the calling thread: its
#: own threads would fight the engine's tile threads (and any host's), which
#: made a layer ten times slower on a busy machine.
_CHUNK = 1024


def net_input(image: np.ndarray, sigma: float) -> np.ndarray:
    """Return the network's input planes ``(4, H, W)``.

    Parameters
    ----------
    image : ndarray
        float32 ``(H, W, C)`` perceptual pixels, C = 1 or 3.
    sigma : float
        Noise standard deviation of the channel mean (0–1 scale).

    Returns
    -------
    ndarray
        float32: centred brightness, two opponent colour planes (zero for
        gray images) and the noise level as a constant plane.
    """
    img = np.asarray(image, np.float32)
    lum = img.mean(axis=-1, dtype=np.float32) - np.float32(0.5)
    out = np.zeros((4, *lum.shape), np.float32)
    out[0] = lum
    if img.shape[-1] == 3:
        r, g, b = img[..., 0], img[..., 1], img[..., 2]
        out[1] = r - b
        out[2] = np.float32(0.5) * (r + b) - g
    out[3] = np.float32(sigma) * NOISE_SCALE
    return out


def read_weights(path: Path) -> tuple[list[tuple[np.ndarray, np.ndarray]], tuple[int, ...],
                                      float]:
    """Read a weights file: per layer ``(weight (out, in, kh, kw), bias)``, dilations, level.

    Files that do not record their dilations use :data:`DILATIONS`.
    """
    with np.load(path) as f:
        dilations = tuple(int(d) for d in f["dilations"]) if "dilations" in f else DILATIONS
        convs = [(f[f"w{i}"].astype(np.float32), f[f"b{i}"].astype(np.float32))
                 for i in range(len(dilations) + 1)]
        return convs, dilations, float(f["level"])


@cache
def _weights() -> tuple[tuple[tuple[np.ndarray, np.ndarray], ...], tuple[int, ...], float]:
    convs, dilations, level = read_weights(WEIGHTS_PATH)
    # (kh * kw, in, out): one (in, out) matrix per kernel tap.
    layers = tuple((np.ascontiguousarray(w.transpose(2, 3, 1, 0).reshape(-1, *w.shape[1::-1])),
                    b) for w, b in convs)
    return layers, dilations, level


def decision_level() -> float:
    """Return the probability the network was calibrated to cut at."""
    return _weights()[2]


def reach() -> int:
    """Return the distance (px) beyond which pixels no longer affect an output."""
    return sum(_weights()[1])


def _padded(h: int, w: int, c: int, margin: int) -> np.ndarray:
    """Allocate a layer buffer: ``(h, w)`` pixels inside a `margin` px border.

    The pixels start at row ``margin + 1`` and column `margin`: a spare row
    above and below keeps the flat reads of :func:`_conv3` in range.
    """
    return np.zeros((h + 2 * margin + 2, w + 2 * margin, c), np.float32)


def _reflect(buf: np.ndarray, margin: int, d: int) -> None:
    """Fill the `d` px band around the pixels of a :func:`_padded` buffer by reflection."""
    if d == 0:
        return
    m, top = margin, margin + 1
    h, w = buf.shape[0] - 2 * m - 2, buf.shape[1] - 2 * m
    rows, cols = slice(top, top + h), slice(m - d, m + w + d)
    buf[rows, m - d:m] = buf[rows, m + d:m:-1]
    buf[rows, m + w:m + w + d] = buf[rows, m + w - 2:m + w - 2 - d:-1]
    buf[top - d:top, cols] = buf[top + d:top:-1, cols]
    buf[top + h:top + h + d, cols] = buf[top + h - 2:top + h - 2 - d:-1, cols]


def _conv3(src: np.ndarray, margin: int, d: int, mats: np.ndarray, bias: np.ndarray,
           dest: np.ndarray) -> None:
    """Dilated 3 × 3 convolution then ReLU, channels last, from `src` into `dest`.

    Both are :func:`_padded` buffers of the same size; `src` has its `d` px
    band filled (:func:`_reflect`). Each is read as one flat ``(pixels,
    channels)`` matrix in which every tap of the kernel is a constant
    offset, so each tap is a plain matrix product over contiguous rows (no
    patch matrix is built) and outputs land at the same flat positions in
    `dest`. The border columns of `dest` receive meaningless values, which
    no valid pixel reads before the next :func:`_reflect` overwrites them.
    """
    top = margin + 1
    h, wide = src.shape[0] - 2 * margin - 2, src.shape[1]
    flat, out = src.reshape(-1, src.shape[2]), dest.reshape(-1, dest.shape[2])
    tap = np.empty((_CHUNK, mats.shape[2]), np.float32)
    offsets = [((dy - 1) * wide + (dx - 1)) * d for dy in range(3) for dx in range(3)]
    end = (top + h) * wide
    for s in range(top * wide, end, _CHUNK):
        n = min(_CHUNK, end - s)
        a, t = out[s:s + n], tap[:n]
        np.matmul(flat[s + offsets[0]:s + offsets[0] + n], mats[0], out=a)
        for k in range(1, 9):
            np.matmul(flat[s + offsets[k]:s + offsets[k] + n], mats[k], out=t)
            a += t
        a += bias
        np.maximum(a, 0.0, out=a)


def logits(planes: np.ndarray) -> np.ndarray:
    """Run the network on :func:`net_input` planes.

    Parameters
    ----------
    planes : ndarray
        float32 ``(4, H, W)``; images smaller than the widest dilation
        are padded by reflection first and the result is cropped back.

    Returns
    -------
    ndarray
        float32 ``(2, H, W)`` logits of dark and bright damage.
    """
    layers, dilations, _ = _weights()
    _, h, w = planes.shape
    # Each layer reflects by its dilation, which needs more pixels than that.
    grow = max(dilations) + 2
    ph, pw = max(0, grow - h), max(0, grow - w)
    x = np.ascontiguousarray(planes.transpose(1, 2, 0))
    if ph or pw:
        x = np.pad(x, ((0, ph), (0, pw), (0, 0)), mode="symmetric")
    hp, wp = x.shape[:2]
    # Two buffers with one border wide enough for every dilation, used in
    # turn: each layer writes straight into the next one's input.
    m = max(dilations)
    first = _padded(hp, wp, x.shape[2], m)
    first[m + 1:m + 1 + hp, m:m + wp] = x
    bufs = [_padded(hp, wp, layers[0][0].shape[2], m) for _ in range(2)]
    src = first
    for i, ((mat, bias), d) in enumerate(zip(layers[:-1], dilations, strict=True)):
        _reflect(src, m, d)
        dest = bufs[i % 2]
        _conv3(src, m, d, mat, bias, dest)
        src = dest
    mat, bias = layers[-1]
    out = np.empty((hp, wp, mat.shape[2]), np.float32)
    rows = max(1, _CHUNK * 8 // wp)  # the head is a 1 × 1 layer with two outputs
    for r in range(0, hp, rows):
        r1 = min(hp, r + rows)
        feats = src[m + 1 + r:m + 1 + r1, m:m + wp].reshape(-1, src.shape[2])
        out[r:r1] = (feats @ mat[0]).reshape(r1 - r, wp, -1)
    out += bias
    return np.ascontiguousarray(out[:h, :w].transpose(2, 0, 1))


#: The eight ways of turning and mirroring an image (flip rows, flip
#: columns, transpose), in the order :func:`averaged_logits` takes them:
#: the mirror images first, then their transposes.
VIEWS = ((False, False, False), (False, True, False), (True, False, False), (True, True, False),
         (False, False, True), (False, True, True), (True, False, True), (True, True, True))


def averaged_logits(planes: np.ndarray, passes: int = 1) -> np.ndarray:
    """Run the network on `passes` turned or mirrored views; average the logits.

    Parameters
    ----------
    planes : ndarray
        float32 ``(4, H, W)`` :func:`net_input` planes.
    passes : int
        1 to 8: how many of :data:`VIEWS` to look through (1 is
        :func:`logits` alone).

    Returns
    -------
    ndarray
        float32 ``(2, H, W)``: the mean of the views' logits, each turned
        back.

    Notes
    -----
    The network is not invariant to turning and mirroring, and its
    mistakes differ from view to view, while damage looks damaged in all
    of them: averaging views (test-time augmentation) cuts both misses and
    false alarms. On 20 CBSD68 training photographs with the benchmark's
    damage, F1 rose from 0.724 to 0.746 (4 passes) and 0.761 (8 passes)
    for light damage and from 0.828 to 0.845 (4 and 8) for heavy damage.
    On the benchmark (Kodak24, Set12) F1 rose from 0.695 to 0.723 (4) and
    0.732 (8), and from 0.793 to 0.807 and 0.810. On synthetic textured
    scenes it can lose instead (one such scene: 0.578 with one pass, 0.437
    with eight), where the views disagree about real damage. A view of a
    tile is a tile of the view of the image, so tiles still reproduce one
    pass exactly.
    """
    passes = max(1, min(int(passes), len(VIEWS)))
    total: np.ndarray | None = None
    for flip_rows, flip_cols, transpose in VIEWS[:passes]:
        view = planes.transpose(0, 2, 1) if transpose else planes
        view = view[:, ::-1 if flip_rows else 1, ::-1 if flip_cols else 1]
        z = logits(np.ascontiguousarray(view))
        z = z[:, ::-1 if flip_rows else 1, ::-1 if flip_cols else 1]
        z = z.transpose(0, 2, 1) if transpose else z
        total = z.copy() if total is None else total + z  # (copies are contiguous)
    assert total is not None
    if passes > 1:
        total /= np.float32(passes)
    return total
