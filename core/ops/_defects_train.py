"""Fit the defect detector's two small classifiers (maintainers only).

Private helper of :mod:`photomend.ops.defects`, not imported at run time.
It ages clean photographs with :mod:`photomend.synth` (dust, hairs,
scratches, scanner noise; the same generators the benchmark uses, with
varied amounts and noise levels), computes the features of
:mod:`photomend.ops._defects_features`, fits a one-hidden-layer perceptron
per stage with Adam on a weighted logistic loss, and rewrites
``_defects_model.py`` (about 20 minutes on two cores; the defaults
reproduce the shipped weights)::

    python -m photomend.ops._defects_train --data ../shared/datasets

The training photographs are BSD68 (gray), CBSD68 and McMaster (colour):
none of them is in the benchmark sets (Kodak24, Set12), so benchmark scores
measure images the classifiers never saw.
"""

from __future__ import annotations

import argparse
import base64
import math
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image as PILImage
from scipy import ndimage

from .. import synth
from ._defects_features import context_features, estimate_noise, pixel_features, plane
from ._defects_model import Layer, predict

__all__ = ["main"]

TRAIN_SETS = ("CBSD68", "BSD68", "McMaster")
#: Specks, hairs and scratches per megapixel ("light" and "heavy" damage).
AMOUNTS = ((150, 15, 15), (600, 60, 45))
#: Scanner noise σ (0–255 scale) drawn per training crop.
NOISE = (0.5, 1.0, 2.0, 2.0, 2.0, 3.0, 4.0, 6.0)
#: Coverage above which a pixel counts as damaged (as in the benchmark).
TRUTH_LEVEL = 0.2


def _load(root: Path) -> list[np.ndarray]:
    images = []
    for name in TRAIN_SETS:
        folder = root / name
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() not in (".png", ".tif", ".tiff"):
                continue
            with PILImage.open(path) as im:
                color = name != "BSD68"
                arr = np.asarray(im.convert("RGB" if color else "L"), np.float32) / 255.0
            images.append(arr if arr.ndim == 3 else arr[..., None])
    return images


def _crop(image: np.ndarray, rng: np.random.Generator, size: int) -> np.ndarray:
    h, w = image.shape[:2]
    y = int(rng.integers(0, h - size + 1))
    x = int(rng.integers(0, w - size + 1))
    return np.ascontiguousarray(image[y:y + size, x:x + size])


def _damage(clean: np.ndarray, seed: int, rng: np.random.Generator
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (damaged noisy image, truth mask, signed luminance change)."""
    light, heavy = AMOUNTS
    t = float(rng.random())
    amounts = [a + t * (b - a) for a, b in zip(light, heavy, strict=True)]
    mpx = clean.shape[0] * clean.shape[1] / 1e6
    n_dust, n_hairs, n_scratches = (max(1, round(k * mpx)) for k in amounts)
    d = synth.dust(clean, seed, count=n_dust)
    h = synth.hairs(d.image, seed + 1, count=n_hairs)
    s = synth.scratches(h.image, seed + 2, count=n_scratches)
    masks = [m for m in (d.mask, h.mask, s.mask) if m is not None]
    truth = np.maximum.reduce(masks) > TRUTH_LEVEL
    noise = float(rng.choice(NOISE))
    noisy = synth.gaussian_noise(s.image, seed + 3, sigma=noise, clip=True).image
    change = plane(s.image, True) - plane(clean, True)
    return noisy.astype(np.float32), truth, change


def _pick(pos: np.ndarray, neg: np.ndarray, hardness: np.ndarray,
          rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sample pixel indices with labels and weights restoring the true mix.

    All defect pixels (up to 4000), 4000 random background pixels weighted
    up to the background's real share, and the 2000 hardest background
    pixels (largest top-hat) at weight 1.
    """
    pi, ni = np.flatnonzero(pos.ravel()), np.flatnonzero(neg.ravel())
    w_pos = 1.0
    if pi.size > 4000:
        w_pos = pi.size / 4000
        pi = rng.choice(pi, 4000, replace=False)
    rnd = rng.choice(ni, min(4000, ni.size), replace=False)
    hard = ni[np.argpartition(hardness.ravel()[ni], -2000)[-2000:]]
    idx = np.concatenate([pi, rnd, hard])
    y = np.concatenate([np.ones(pi.size), np.zeros(rnd.size + hard.size)])
    w = np.concatenate([np.full(pi.size, w_pos), np.full(rnd.size, ni.size / max(rnd.size, 1)),
                        np.ones(hard.size)])
    return idx, y.astype(np.float32), w.astype(np.float32)


def _sample(args: tuple[int, np.ndarray]) -> dict[str, Any]:
    i, clean = args
    rng = np.random.default_rng(1000 + i)
    noisy, truth, change = _damage(clean, 5000 + 7 * i, rng)
    sigma = estimate_noise(plane(noisy, True))
    near = ndimage.binary_dilation(truth, iterations=1)  # 1 px tolerance band: no label
    out: dict[str, Any] = {}
    for dark in (True, False):
        feats = pixel_features(noisy, sigma, dark)
        pos = truth & ((change < 0) if dark else (change > 0))
        idx, y, w = _pick(pos, ~near, feats[4], rng)
        out[str(dark)] = (feats, idx, y, w)
    return out


def _fit(x: np.ndarray, y: np.ndarray, w: np.ndarray, hidden: int, epochs: int,
         seed: int) -> Layer:
    """Fit ``sigmoid(W2 relu(W1 (x - mu) / sd + b1) + b2)`` with Adam."""
    rng = np.random.default_rng(seed)
    mu = x.mean(0)
    sd = x.std(0) + 1e-6
    xn = ((x - mu) / sd).astype(np.float32)
    p = {"w1": rng.normal(0, math.sqrt(2 / x.shape[1]), (x.shape[1], hidden)).astype(np.float32),
         "b1": np.zeros(hidden, np.float32),
         "w2": rng.normal(0, math.sqrt(1 / hidden), (hidden, 1)).astype(np.float32),
         "b2": np.zeros(1, np.float32)}
    m = {k: np.zeros_like(v) for k, v in p.items()}
    v = {k: np.zeros_like(a) for k, a in p.items()}
    w = (w / w.mean()).astype(np.float32)
    step, batch, lr = 0, 4096, 3e-3
    for epoch in range(epochs):
        order = rng.permutation(len(xn))
        loss = 0.0
        for start in range(0, len(xn), batch):
            idx = order[start:start + batch]
            xb, yb, wb = xn[idx], y[idx], w[idx]
            hid = np.maximum(xb @ p["w1"] + p["b1"], 0.0)
            z = (hid @ p["w2"] + p["b2"])[:, 0]
            loss += float((wb * (np.logaddexp(0, z) - yb * z)).sum())
            g = (wb * (1 / (1 + np.exp(-z)) - yb) / len(idx)).astype(np.float32)[:, None]
            dh = (g @ p["w2"].T) * (hid > 0)
            grads = {"w2": hid.T @ g + 1e-5 * p["w2"], "b2": g.sum(0),
                     "w1": xb.T @ dh + 1e-5 * p["w1"], "b1": dh.sum(0)}
            step += 1
            for k in p:
                m[k] = 0.9 * m[k] + 0.1 * grads[k]
                v[k] = 0.999 * v[k] + 0.001 * grads[k] ** 2
                p[k] -= lr * (m[k] / (1 - 0.9 ** step)) / (
                    np.sqrt(v[k] / (1 - 0.999 ** step)) + 1e-8)
        print(f"  epoch {epoch + 1}/{epochs}: loss {loss / len(xn):.4f}", flush=True)
    return Layer(mu=mu.astype(np.float32), sd=sd.astype(np.float32), w1=p["w1"], b1=p["b1"],
                 w2=p["w2"][:, 0], b2=float(p["b2"][0]))


def _encode(a: np.ndarray) -> str:
    text = base64.b64encode(np.ascontiguousarray(a, dtype="<f4").tobytes()).decode()
    return "\n".join(f'    "{text[i:i + 88]}"' for i in range(0, len(text), 88))


def _write(path: Path, stages: list[Layer], note: str) -> None:
    source = path.read_text()
    head = source.split("# --- generated by _defects_train.py")[0]
    parts = ["# --- generated by _defects_train.py; do not edit below ---\n",
             f"# {note}\n", "_DATA: dict[str, tuple[object, object]] = {\n"]
    for s_i, layer in enumerate(stages):
        for name in ("mu", "sd", "w1", "b1", "w2"):
            arr = getattr(layer, name)
            key = f"{s_i}.{name}"
            parts.append(f'    "{key}": ({tuple(arr.shape)!r}, (\n{_encode(arr)}\n    )),\n')
        parts.append(f'    "{s_i}.b2": ((), {layer.b2!r}),\n')
    parts.append("}\n")
    path.write_text(head + "".join(parts))


def main(argv: list[str] | None = None) -> None:
    """Train both stages and rewrite ``_defects_model.py``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="folder holding the sets")
    parser.add_argument("--crops", type=int, default=2, help="crops per photograph")
    parser.add_argument("--size", type=int, default=256, help="crop edge in px")
    parser.add_argument("--hidden", type=int, nargs=2, default=(64, 32),
                        help="hidden units of stage 1 and stage 2")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name(
        "_defects_model.py"), help="model module to rewrite")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    crops = [_crop(im, rng, args.size) for im in _load(args.data) for _ in range(args.crops)]
    print(f"{len(crops)} training crops", flush=True)
    with ThreadPoolExecutor(2) as pool:
        samples = list(pool.map(_sample, enumerate(crops)))
    nf = samples[0]["True"][0].shape[0]

    def gather(fn: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        xs, ys, ws = [], [], []
        for s in samples:
            for key in ("True", "False"):
                feats, idx, y, w = s[key]
                f = fn(s, key, feats)
                xs.append(f.reshape(f.shape[0], -1)[:, idx].T)
                ys.append(y)
                ws.append(w)
        return np.concatenate(xs), np.concatenate(ys), np.concatenate(ws)

    x1, y1, w1 = gather(lambda s, key, f: f)
    print(f"stage 1: {x1.shape[0]} samples, {nf} features", flush=True)
    stage1 = _fit(x1, y1, w1, hidden=args.hidden[0], epochs=10, seed=1)
    for s in samples:
        for key in ("True", "False"):
            f = s[key][0]
            s["p" + key] = predict(stage1, f)

    x2, y2, w2 = gather(lambda s, key, f: context_features(
        s["p" + key], s["p" + ("False" if key == "True" else "True")], f))
    print(f"stage 2: {x2.shape[1]} features", flush=True)
    stage2 = _fit(x2, y2, w2, hidden=args.hidden[1], epochs=10, seed=2)
    note = (f"{len(crops)} crops of {args.size} px from {', '.join(TRAIN_SETS)}; "
            f"stage 1 {nf}-{args.hidden[0]}-1, stage 2 {x2.shape[1]}-{args.hidden[1]}-1")
    _write(args.out, [stage1, stage2], note)
    print(f"wrote {args.out}", flush=True)


if __name__ == "__main__":
    main()
