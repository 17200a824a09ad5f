"""Deblurring with a known PSF, and blind deblurring."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np

import photomend
from photomend import psf as psfs
from photomend import quality, synth
from photomend.convert import linear_to_srgb, srgb_to_linear

from .. import kernels
from ..core import Case, Method, Task, photomend_method
from ..data import Sample
from ._peers import optional, per_channel

NOISE = 0.01  # 1 % of full scale


#: Variant of the recorded camera-shake kernels (present when a data folder
#: holds some, see :mod:`benchmarks.kernels`).
RECORDED = "camera shake (recorded)"


def _kernels(seed: int) -> list[tuple[str, np.ndarray]]:
    shake = synth.kernel_blur(np.zeros((8, 8, 1), np.float32), seed, size=15).psf
    return [("gaussian σ=2", psfs.gaussian(2.0)), ("disk r=4", psfs.disk(4.0)),
            ("motion 15px@30°", psfs.motion(15.0, 30.0)), ("camera shake", shake)]


def _variants(samples: list[Sample], seed: int, roots: list[Path] | None
              ) -> Iterator[tuple[str, list[np.ndarray]]]:
    """Yield each variant with the kernel of every sample, in sample order.

    The recorded kernels, if any, take turns: sample ``i`` gets kernel
    ``i mod n``, so the variant costs as much as the others and, with at
    least as many samples as kernels, every kernel is used.
    """
    for name, kernel in _kernels(seed):
        yield name, [kernel] * len(samples)
    recorded = kernels.recorded(roots or [])
    if recorded:
        names = ", ".join(f"{n} ({k.shape[0]}×{k.shape[1]})" for n, k in recorded)
        print(f"  deblur: {len(recorded)} recorded kernels: {names}", file=sys.stderr)
        yield RECORDED, [recorded[i % len(recorded)][1] for i in range(len(samples))]
    else:
        where = ", ".join(str(r) for r in roots or []) or "no data folder"
        print(f"  deblur: no recorded blur kernels in {where}; "
              f"the {RECORDED!r} variant is skipped", file=sys.stderr)


def datasets(quick: bool):
    if quick:
        return [("Set12", 2, 128), ("Kodak24", 1, 128)]
    return [("Set12", None, 256), ("Kodak24", 8, 256)]


def cases(samples: list[Sample], quick: bool, seed: int,
          roots: list[Path] | None = None) -> Iterator[Case]:
    for kname, per_sample in _variants(samples, seed, roots):
        for i, (s, kernel) in enumerate(zip(samples, per_sample, strict=True)):
            # Optical blur mixes light: blur in linear light, store sRGB.
            blurred = linear_to_srgb(psfs.blur(srgb_to_linear(s.image), kernel))
            noisy = synth.gaussian_noise(blurred, seed + i, sigma=NOISE * 255).image
            yield Case(s, kname, noisy.astype(np.float32), s.image, {"psf": kernel})


def _score(case: Case, output: np.ndarray) -> dict[str, float]:
    # Scored away from the image border (one kernel size): outside the frame
    # the blur saw pixels nobody has, so every method is judged on the same
    # recoverable interior, whatever boundary model it assumes.
    m = max(case.truth["psf"].shape)
    out = np.clip(output, 0, 1)[m:-m, m:-m]
    ref = case.clean[m:-m, m:-m]
    return {"PSNR": quality.psnr(ref, out), "SSIM": quality.ssim(ref, out)}


def methods() -> list[Method]:
    out = [photomend_method(
        "deblur", "photomend deblur (known PSF)",
        call=lambda c: photomend.run("deblur", c.degraded, psf=c.truth["psf"]))]
    restoration = optional("skimage.restoration")
    if restoration is None:
        return [*out, Method("scikit-image restoration", None, "pip install .[bench]")]

    def wiener_tuned(case: Case) -> np.ndarray:
        # Oracle-tuned balance: the best of a grid, judged against the truth
        # (generous to the peer).
        best, best_psnr = None, -np.inf
        for balance in (1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1):
            res = per_channel(lambda c, b=balance: restoration.wiener(
                c, case.truth["psf"], b, clip=False), case.degraded)
            p = quality.psnr(case.clean, np.clip(res, 0, 1))
            if p > best_psnr:
                best, best_psnr = res, p
        assert best is not None
        return best

    def unsupervised(case: Case) -> np.ndarray:
        rng = np.random.default_rng(0)
        return per_channel(lambda c: restoration.unsupervised_wiener(
            c, case.truth["psf"], clip=False, rng=rng)[0], case.degraded)

    def rl(case: Case) -> np.ndarray:
        return per_channel(lambda c: restoration.richardson_lucy(
            np.clip(c, 1e-6, None), case.truth["psf"], num_iter=30, clip=False),
            case.degraded)

    return [*out, Method("scikit-image Wiener (oracle-tuned balance)", wiener_tuned),
            Method("scikit-image unsupervised Wiener", unsupervised),
            Method("scikit-image Richardson–Lucy (30 it.)", rl),
            Method("no change", lambda c: c.degraded, kind="reference")]


def blind_methods() -> list[Method]:
    out = [photomend_method("deblur", "photomend deblur (blind)",
                            call=lambda c: photomend.run("deblur", c.degraded)),
           Method("photomend sharpen (stand-in)",
                  lambda c: photomend.run("sharpen", c.degraded, radius=2.0, amount=1.0))]
    filters = optional("skimage.filters")
    if filters is not None:
        out.append(Method("scikit-image unsharp_mask (stand-in)", lambda c: np.asarray(
            filters.unsharp_mask(c.degraded, radius=2.0, amount=1.0, channel_axis=2),
            dtype=np.float32)))
    out.append(Method("no change", lambda c: c.degraded, kind="reference"))
    return out


TASK = Task("deblur", "Deblurring with a known PSF (1 % Gaussian noise)", ("PSNR", "SSIM"),
            datasets, cases, methods, _score,
            notes="Every method gets the true PSF. Wiener's balance is chosen per image "
                  "against the ground truth (an upper bound for that peer). Scores "
                  "exclude a border one kernel wide. The blur is applied in linear light "
                  "(as a lens or motion blurs light), the images are stored sRGB-encoded. "
                  "'camera shake' is a synthetic shake path; 'camera shake (recorded)' "
                  "uses measured kernels found in the data folders (such as Levin et "
                  "al. 2009), taking turns over the images, and is left out when none "
                  "is there.")
BLIND_TASK = Task("blind-deblur", "Blind deblurring (PSF unknown, 1 % noise)",
                  ("PSNR", "SSIM"), datasets, cases, blind_methods, _score,
                  notes="No packaged blind-deconvolution peer exists; sharpening filters "
                        "stand in. Compare with the known-PSF table for the gap.")
