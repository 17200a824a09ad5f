"""Fit the defect detector's network (maintainers only; needs PyTorch).

Private helper of :mod:`photomend.ops.defects`, not imported at run time
and not needed by users: the fitted weights ship as
``photomend/data/defects_net.npz`` and run on numpy
(:mod:`photomend.ops._defects_net`). PyTorch is used here only for its
automatic differentiation; install it with ``pip install torch`` (the CPU
build is enough: two cores fit the shipped weights in about 30 minutes;
``pip install -e '.[train]'``)::

    python -m photomend.ops._defects_train --data ../shared/datasets

The shipped weights came from two runs: 6000 steps from scratch, then
12164 more from those weights at a lower learning rate
(``--init first.npz --lr 5e-4 --steps 40000 --minutes 40``), which
raised the benchmark F1 from 0.680 / 0.777 to 0.695 / 0.797 (light / heavy).

It ages clean photographs with :mod:`photomend.synth` (dust, hairs,
scratches, scanner noise; the same generators the benchmark uses, with
varied amounts and noise levels; and in some copies a crease or a
network of emulsion cracks, and lettering drawn into the picture as a
negative), plus undamaged copies and synthetic
smooth and textured scenes as negatives, and fits the network of
:mod:`photomend.ops._defects_net` with a per-pixel logistic loss, dark and
bright damage as two outputs. The one-pixel band around each defect is not
scored (the benchmark's tolerance). The training photographs are BSD68
(gray), CBSD68 and McMaster (colour); none of them is in the benchmark
sets (Kodak24, Set12), so benchmark scores measure images the network
never saw. Every tenth photograph is held out to choose the decision level.
"""

from __future__ import annotations

import argparse
import importlib
import math
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image as PILImage
from scipy import ndimage

from .. import quality, synth
from ._defects_net import CHANNELS, DILATIONS, WEIGHTS_PATH, net_input, read_weights
from ._defects_noise import estimate_noise, plane

__all__ = ["main"]

TRAIN_SETS = ("CBSD68", "BSD68", "McMaster")
#: Specks, hairs and scratches per megapixel ("light" and "heavy" damage).
AMOUNTS = ((150, 15, 15), (600, 60, 45))
#: Scanner noise σ (0–255 scale) drawn per aged copy.
NOISE = (0.5, 1.0, 2.0, 2.0, 2.0, 3.0, 4.0, 6.0)
#: Coverage above which a pixel counts as damaged (as in the benchmark).
TRUTH_LEVEL = 0.2
#: Peak learning rate of Adam.
MAX_LR = 2e-3
#: Share of colour copies turned gray (scans of black-and-white prints are
#: common, and without colour cues the task is harder).
GRAY_SHARE = 0.3
#: Share of aged copies left undamaged (pure negatives).
CLEAN_SHARE = 0.15
#: Shares of damaged copies that also get a crease or a crack network, and
#: of copies (damaged or not) with lettering drawn into the picture. The
#: shipped weights saw none of these. A fine-tune of them with these
#: shares (40 min at learning rate 5e-4 with a text share of 0.3, then
#: 22 min at 3e-4 with 0.5; 2026-12-07) found more of a crease or a crack
#: network on the 12 first benchmark photos (recall 0.67 -> 0.82, 0.59 ->
#: 0.82), but scored lower on light damage (F1 0.697 -> 0.688) and marked
#: more lettering (13 % -> 17 % of letter pixels), so it was not shipped.
CREASE_SHARE = 0.3
CRACK_SHARE = 0.3
TEXT_SHARE = 0.5


def _load(root: Path) -> list[np.ndarray]:
    images = []
    for name in TRAIN_SETS:
        for path in sorted((root / name).iterdir()):
            if path.suffix.lower() not in (".png", ".tif", ".tiff"):
                continue
            with PILImage.open(path) as im:
                color = name != "BSD68"
                arr = np.asarray(im.convert("RGB" if color else "L"), np.float32) / 255.0
            images.append(arr if arr.ndim == 3 else arr[..., None])
    return images


def _age(args: tuple[int, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Return (network input, target) for one aged copy.

    The target is uint8 ``(2, H, W)``: 1 dark damage, 1 bright damage,
    255 for the unscored one-pixel band around damage, else 0.
    """
    seed, clean = args
    rng = np.random.default_rng(seed)
    if clean.shape[-1] == 3 and rng.random() < GRAY_SHARE:
        clean = clean.mean(axis=-1, keepdims=True)
    if rng.random() < TEXT_SHARE:
        clean = _lettering(clean, rng)
    shape = clean.shape[:2]
    target = np.zeros((2, *shape), np.uint8)
    image = clean
    if rng.random() >= CLEAN_SHARE:
        light, heavy = AMOUNTS
        t = float(rng.uniform(0.0, 1.3))
        mpx = shape[0] * shape[1] / 1e6
        n_dust, n_hairs, n_scr = (max(1, round((a + t * (b - a)) * mpx))
                                  for a, b in zip(light, heavy, strict=True))
        d = synth.dust(clean, seed, count=n_dust)
        h = synth.hairs(d.image, seed + 1, count=n_hairs)
        s = synth.scratches(h.image, seed + 2, count=n_scr)
        masks = [m for m in (d.mask, h.mask, s.mask) if m is not None]
        # Folds and cracked emulsion: lines that run for hundreds of pixels.
        for share, make in ((CREASE_SHARE, synth.creases), (CRACK_SHARE, synth.cracks)):
            if rng.random() < share:
                s = make(s.image, seed + 4 + len(masks), count=1)
                if s.mask is not None:
                    masks.append(s.mask)
        truth = np.maximum.reduce(masks) > TRUTH_LEVEL
        change = plane(s.image, True) - plane(clean, True)
        band = ndimage.binary_dilation(truth) & ~truth
        target[0] = truth & (change < 0)
        target[1] = truth & (change >= 0)
        target[:, band] = 255
        image = s.image
    sigma = float(rng.choice(NOISE))
    noisy = synth.gaussian_noise(image, seed + 3, sigma=sigma, clip=True).image
    noisy = noisy.astype(np.float32)
    x = net_input(noisy, estimate_noise(plane(noisy, True)))
    return x.astype(np.float16), target


def _lettering(clean: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Return `clean` with a few words of lettering, part of the picture.

    Thin dark or light strokes of print, signs and captions are image
    content, not damage: copies with lettering teach the network so.
    """
    from PIL import ImageDraw, ImageFont

    h, w = clean.shape[:2]
    out = clean.copy()
    for _ in range(int(rng.integers(1, 5))):
        size = int(rng.integers(9, 42))
        font = ImageFont.load_default(size=size)
        letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
        word = "".join(rng.choice(list(letters), int(rng.integers(2, 10))))
        cover = PILImage.new("L", (w, h), 0)
        ImageDraw.Draw(cover).text((int(rng.integers(-size, w)), int(rng.integers(-size, h))),
                                   word, fill=255, font=font)
        alpha = np.asarray(cover, np.float32)[..., None] / 255.0
        tone = (rng.uniform(0.0, 0.15) if rng.random() < 0.6 else rng.uniform(0.85, 1.0))
        colour = np.clip(tone + rng.normal(0.0, 0.15, out.shape[-1]), 0.0, 1.0)
        out = out * (1.0 - alpha) + colour.astype(np.float32) * alpha
    return out.astype(np.float32)


def _scene(seed: int) -> np.ndarray:
    if seed % 2:
        return synth.synthetic_scene((256, 256, 3), seed, kind="smooth").astype(np.float32)
    return synth.synthetic_scene((256, 256, 3), seed, kind="texture").astype(np.float32)


def _build(images: list[np.ndarray], copies: int, seed: int, workers: int
           ) -> list[tuple[np.ndarray, np.ndarray]]:
    jobs = [(seed + 100 * i + k, im) for i, im in enumerate(images) for k in range(copies)]
    with ProcessPoolExecutor(workers) as pool:
        return list(pool.map(_age, jobs, chunksize=4))


def _model(torch: Any, width: int, dilations: tuple[int, ...], norm: bool = True) -> Any:
    nn = torch.nn
    layers: list[Any] = []
    c_in = CHANNELS[0]
    for d in dilations:
        layers += [nn.Conv2d(c_in, width, 3, padding=d, dilation=d, padding_mode="reflect"),
                   *([nn.BatchNorm2d(width)] if norm else []), nn.ReLU()]
        c_in = width
    head = nn.Conv2d(c_in, CHANNELS[-1], 1)
    nn.init.constant_(head.bias, math.log(0.02 / 0.98))  # start at the damage's prior
    layers.append(head)
    return nn.Sequential(*layers)


def _folded(torch: Any, net: Any) -> dict[str, np.ndarray]:
    """Return each convolution with its batch normalisation folded in."""
    out: dict[str, np.ndarray] = {}
    mods = list(net)
    convs = [i for i, m in enumerate(mods) if isinstance(m, torch.nn.Conv2d)]
    for k, i in enumerate(convs):
        w = mods[i].weight.detach().double().numpy()
        b = mods[i].bias.detach().double().numpy()
        if i + 1 < len(mods) and isinstance(mods[i + 1], torch.nn.BatchNorm2d):
            bn = mods[i + 1]
            scale = (bn.weight.detach().double() / torch.sqrt(
                bn.running_var.double() + bn.eps)).numpy()
            w = w * scale[:, None, None, None]
            b = (b - bn.running_mean.double().numpy()) * scale + bn.bias.detach().double().numpy()
        out[f"w{k}"] = w.astype(np.float32)
        out[f"b{k}"] = b.astype(np.float32)
    return out


def _batch(data: list[tuple[np.ndarray, np.ndarray]], rng: np.random.Generator, size: int,
           count: int) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for i in rng.integers(0, len(data), count):
        x, y = data[i]
        h, w = x.shape[1:]
        r, c = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
        xb, yb = x[:, r:r + size, c:c + size], y[:, r:r + size, c:c + size]
        k = int(rng.integers(0, 4))
        xb, yb = np.rot90(xb, k, axes=(1, 2)), np.rot90(yb, k, axes=(1, 2))
        if rng.random() < 0.5:
            xb, yb = xb[:, :, ::-1], yb[:, :, ::-1]
        xs.append(xb)
        ys.append(yb)
    return np.stack(xs).astype(np.float32), np.stack(ys)


def _f1_levels(torch: Any, net: Any, data: list[tuple[np.ndarray, np.ndarray]]
               ) -> dict[float, float]:
    """Mean F1 per image (1 px tolerance, as the benchmark scores) per decision level."""
    levels = (0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6)
    scores: dict[float, list[float]] = {lv: [] for lv in levels}
    with torch.no_grad():
        for x, y in data:
            prob = torch.sigmoid(net(torch.from_numpy(x.astype(np.float32))[None]))[0].numpy()
            truth = (y == 1).any(axis=0)
            for lv in levels:
                found = (prob > lv).any(axis=0)
                scores[lv].append(quality.mask_scores(truth, found, tolerance=1).f1)
    return {lv: float(np.mean(v)) for lv, v in scores.items()}


def main(argv: list[str] | None = None) -> None:
    """Train the network and write its weights."""
    torch = importlib.import_module("torch")  # maintainers only, not a dependency

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="folder holding the sets")
    parser.add_argument("--copies", type=int, default=8, help="aged copies per photograph")
    parser.add_argument("--scenes", type=int, default=60, help="synthetic negative scenes")
    parser.add_argument("--steps", type=int, default=3000, help="optimiser steps")
    parser.add_argument("--batch", type=int, default=12, help="crops per step")
    parser.add_argument("--size", type=int, default=128, help="crop edge in px")
    parser.add_argument("--minutes", type=float, default=0.0,
                        help="time allowed; the learning rate reaches zero by then (0: none)")
    parser.add_argument("--width", type=int, default=CHANNELS[1],
                        help="channels of the hidden layers")
    parser.add_argument("--dilations", default=",".join(map(str, DILATIONS)),
                        help="comma-separated dilation of each 3 × 3 layer")
    parser.add_argument("--init", type=Path, default=None,
                        help="weights file to go on from (fine-tuning; its batch "
                             "normalisation is already folded, so none is added)")
    parser.add_argument("--lr", type=float, default=MAX_LR, help="peak learning rate")
    parser.add_argument("--out", type=Path, default=WEIGHTS_PATH, help="weights file")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    torch.set_num_threads(2)
    images = _load(args.data)
    held = images[::10]
    train = [im for i, im in enumerate(images) if i % 10]
    t0 = time.time()
    data = _build(train, args.copies, 1, 2)
    data += _build([_scene(s) for s in range(args.scenes)], 1, 50_000, 2)
    val = _build(held, 2, 90_000, 2)
    print(f"{len(data)} aged copies, {len(val)} held out ({time.time() - t0:.0f} s)",
          flush=True)
    dilations = tuple(int(d) for d in args.dilations.split(","))
    if args.init is None:
        net = _model(torch, args.width, dilations)
    else:
        convs, dilations, _ = read_weights(args.init)
        net = _model(torch, convs[0][0].shape[0], dilations, norm=False)
        for m, (w, b) in zip([m for m in net if isinstance(m, torch.nn.Conv2d)], convs,
                             strict=True):
            m.weight.data = torch.from_numpy(w)
            m.bias.data = torch.from_numpy(b)
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    rng = np.random.default_rng(0)
    start = time.time()
    running = 0.0
    taken = 0
    for step in range(args.steps):
        # Warm up, then a cosine decay over the steps or the time allowed,
        # whichever runs out first, so a time-limited run still anneals.
        done = step / args.steps
        if args.minutes:
            done = max(done, (time.time() - start) / (60 * args.minutes))
        if done >= 1.0:
            print(f"time limit reached at step {step}", flush=True)
            break
        for group in opt.param_groups:
            warm = min(1.0, (step + 1) / 200)
            group["lr"] = args.lr * warm * 0.5 * (1 + math.cos(math.pi * done))
        xb, yb = _batch(data, rng, args.size, args.batch)
        x = torch.from_numpy(xb)
        y = torch.from_numpy(yb.astype(np.float32))
        scored = (y != 255).float()
        logits = net(x)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(
            logits, y.clamp(max=1.0), weight=scored, reduction="sum") / scored.sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        taken = step + 1
        running = 0.98 * running + 0.02 * loss.item() if step else loss.item()
        if step % 100 == 0:
            print(f"step {step}: loss {running:.4f} ({time.time() - start:.0f} s)", flush=True)
    net.eval()
    f1 = _f1_levels(torch, net, val)
    best = max(f1, key=lambda k: f1[k])
    print("held-out F1 by level: " + ", ".join(f"{k}: {v:.3f}" for k, v in f1.items()))
    weights = _folded(torch, net)
    weights["level"] = np.float32(best)
    weights["dilations"] = np.array(dilations, np.int32)
    weights["note"] = np.array(
        f"{len(data)} aged copies of {', '.join(TRAIN_SETS)} + synthetic scenes; "
        f"{taken} steps of {args.batch} crops of {args.size} px"
        f"{f' from {args.init.name}' if args.init else ''}; dilations {dilations}; held-out F1 "
        f"{f1[best]:.3f} at level {best}")
    np.savez_compressed(args.out, allow_pickle=False, **weights)
    print(f"wrote {args.out} (level {best}, {math.fsum(w.size for w in weights.values())} "
          "values)", flush=True)


if __name__ == "__main__":
    main()
