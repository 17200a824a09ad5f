"""Denoising: additive Gaussian noise at the literature's σ (0–255 scale)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

import photomend
from photomend import quality, synth
from photomend.ops.denoise import estimate_noise

from ..core import Case, Method, Task, photomend_method
from ..data import Sample
from ._peers import cv2_image, from_cv2, optional, per_channel

SIGMAS_FULL = (15, 25, 50)
SIGMAS_QUICK = (25,)
#: Absolute relative error of photomend's automatic noise estimate (photomend rows only).
SIGMA_ERROR = "σ est. error %"


class _Photomend(np.ndarray):
    """photomend's output, marked so that :func:`score` adds the noise-estimate error."""


def datasets(quick: bool):
    if quick:
        return [("Set12", 3, 128), ("Kodak24", 2, 128)]
    return [("Set12", None, None), ("CBSD68", None, None), ("Kodak24", None, None)]


def cases(samples: list[Sample], quick: bool, seed: int,
          roots: list[Path] | None = None) -> Iterator[Case]:
    for sigma in SIGMAS_QUICK if quick else SIGMAS_FULL:
        for i, s in enumerate(samples):
            deg = synth.gaussian_noise(s.image, seed + i, sigma=sigma, clip=False)
            yield Case(s, f"σ={sigma}", deg.image, s.image, {"sigma": sigma / 255.0})


def _photomend(case: Case) -> np.ndarray:
    spec = photomend.get_operation("denoise")
    params = {"sigma": case.truth["sigma"] * 255} if any(
        p.name == "sigma" for p in spec.params) else {}
    return np.asarray(photomend.run("denoise", case.degraded, **params)).view(_Photomend)


def methods() -> list[Method]:
    out = [photomend_method("denoise", "photomend denoise", call=_photomend)]
    bm3d = optional("bm3d")
    if bm3d is not None:
        def run_bm3d(case: Case) -> np.ndarray:
            z, s = case.degraded, case.truth["sigma"]
            if z.shape[-1] == 3:
                return np.asarray(bm3d.bm3d_rgb(z, s), dtype=np.float32)
            return np.asarray(bm3d.bm3d(z[..., 0], s), dtype=np.float32)[..., None]
        out.append(Method("bm3d (CBM3D for colour)", run_bm3d))
    else:
        out.append(Method("bm3d", None, "pip install .[bench]"))
    cv2 = optional("cv2")
    if cv2 is not None:
        def run_nlm(case: Case) -> np.ndarray:
            h = 0.9 * case.truth["sigma"] * 255
            z = cv2_image(case.degraded)
            if z.ndim == 2:
                return from_cv2(cv2.fastNlMeansDenoising(z, None, h, 7, 21))
            return from_cv2(cv2.fastNlMeansDenoisingColored(z, None, h, h, 7, 21))
        out.append(Method("OpenCV fastNlMeans", run_nlm))
    else:
        out.append(Method("OpenCV fastNlMeans", None, "pip install .[bench]"))
    restoration = optional("skimage.restoration")
    if restoration is not None:
        def run_sk_nlm(case: Case) -> np.ndarray:
            s = case.truth["sigma"]
            return np.asarray(restoration.denoise_nl_means(
                case.degraded, h=0.8 * s, sigma=s, patch_size=7, patch_distance=11,
                fast_mode=True, channel_axis=-1), dtype=np.float32).reshape(case.degraded.shape)

        def run_wavelet(case: Case) -> np.ndarray:
            return np.asarray(restoration.denoise_wavelet(
                case.degraded, sigma=case.truth["sigma"], method="BayesShrink", mode="soft",
                rescale_sigma=True, channel_axis=-1), dtype=np.float32)

        def run_tv(case: Case) -> np.ndarray:
            return per_channel(lambda c: restoration.denoise_tv_chambolle(
                c, weight=0.8 * case.truth["sigma"]), case.degraded)
        out += [Method("scikit-image NL-means", run_sk_nlm),
                Method("scikit-image wavelet (BayesShrink)", run_wavelet),
                Method("scikit-image TV (Chambolle)", run_tv)]
    else:
        out.append(Method("scikit-image", None, "pip install .[bench]"))
    return out


def score(case: Case, output: np.ndarray) -> dict[str, float]:
    """Return PSNR and SSIM, plus the noise-estimate error for photomend's output.

    Parameters
    ----------
    case : Case
        The noisy input, its clean original and the true σ (0–1 scale).
    output : ndarray
        A method's result.

    Returns
    -------
    dict
        ``PSNR`` and ``SSIM`` against the clean image; for photomend also
        `SIGMA_ERROR`: the absolute relative error (%) of the σ that
        ``denoise`` would measure by itself (it is given the true σ here,
        like the peers), computed outside the timed run.
    """
    out = np.clip(np.asarray(output), 0, 1)
    metrics = {"PSNR": quality.psnr(case.clean, out), "SSIM": quality.ssim(case.clean, out)}
    if isinstance(output, _Photomend):
        estimate = estimate_noise(case.degraded).sigma
        metrics[SIGMA_ERROR] = float(100.0 * abs(estimate / (255.0 * case.truth["sigma"]) - 1.0))
    return metrics


TASK = Task("denoise", "Denoising (additive Gaussian noise, σ on the 0–255 scale)",
            ("PSNR", "SSIM", SIGMA_ERROR), datasets, cases, methods, score,
            notes="Noise is added without clipping, as in the literature; outputs are "
                  "clipped to [0, 1] before scoring. Peers and photomend are given the "
                  f"true σ; '{SIGMA_ERROR}' is the mean absolute error of photomend's "
                  "automatic estimate (the σ denoise uses when none is given), photomend "
                  "rows only (nan for peers).")
