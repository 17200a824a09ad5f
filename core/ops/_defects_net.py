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

References
----------
.. [1] F. Yu, V. Koltun, "Multi-scale context aggregation by dilated
   convolutions", ICLR 2016.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np

__all__ = ["CHANNELS", "DILATIONS", "REACH", "WEIGHTS_PATH", "logits", "net_input"]

#: Channels of the input, the hidden layers and the output.
CHANNELS = (4, 16, 16, 16, 16, 16, 16, 16, 16, 2)
#: Dilation of each 3 × 3 layer.
DILATIONS = (1, 1, 2, 4, 8, 16, 1, 1)
#: Distance (px) beyond which pixels no longer affect an output pixel.
REACH = sum(DILATIONS)
WEIGHTS_PATH = Path(__file__).resolve().parent.parent / "data" / "defects_net.npz"
#: Scale of the noise-level input plane (σ on 0–1 times this).
NOISE_SCALE = np.float32(25.5)
#: Output rows computed at once (bounds the temporary memory).
_ROWS = 64


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


@cache
def _weights() -> tuple[tuple[tuple[np.ndarray, np.ndarray], ...], float]:
    with np.load(WEIGHTS_PATH) as f:
        n = len(DILATIONS) + 1
        layers = []
        for i in range(n):
            w = f[f"w{i}"].astype(np.float32)  # (out, in, kh, kw)
            # (kh * kw * in, out) for a channels-last patch matrix.
            mat = np.ascontiguousarray(w.transpose(2, 3, 1, 0).reshape(-1, w.shape[0]))
            layers.append((mat, f[f"b{i}"].astype(np.float32)))
        return tuple(layers), float(f["level"])


def decision_level() -> float:
    """Return the probability the network was calibrated to cut at."""
    return _weights()[1]


def _conv3(x: np.ndarray, mat: np.ndarray, bias: np.ndarray, d: int) -> np.ndarray:
    """Dilated 3 × 3 convolution with reflect padding, then ReLU (channels last)."""
    h, w, c = x.shape
    pad = np.pad(x, ((d, d), (d, d), (0, 0)), mode="reflect")
    out = np.empty((h, w, mat.shape[1]), np.float32)
    patch = np.empty((min(_ROWS, h), w, 9 * c), np.float32)
    for r0 in range(0, h, _ROWS):
        r1 = min(h, r0 + _ROWS)
        p = patch[: r1 - r0]
        for k in range(9):
            dy, dx = divmod(k, 3)
            p[..., k * c:(k + 1) * c] = pad[r0 + dy * d: r1 + dy * d, dx * d: dx * d + w]
        res = p.reshape(-1, 9 * c) @ mat
        res += bias
        np.maximum(res, 0.0, out=res)
        out[r0:r1] = res.reshape(r1 - r0, w, -1)
    return out


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
    layers, _ = _weights()
    _, h, w = planes.shape
    # Each layer reflects by its dilation, which needs more pixels than that.
    grow = max(DILATIONS) + 1
    ph, pw = max(0, grow - h), max(0, grow - w)
    x = np.ascontiguousarray(planes.transpose(1, 2, 0))
    if ph or pw:
        x = np.pad(x, ((0, ph), (0, pw), (0, 0)), mode="symmetric")
    for (mat, bias), d in zip(layers[:-1], DILATIONS, strict=True):
        x = _conv3(x, mat, bias, d)
    mat, bias = layers[-1]
    out = x[:h, :w].reshape(-1, x.shape[-1]) @ mat
    out += bias
    return np.ascontiguousarray(out.reshape(h, w, -1).transpose(2, 0, 1))
