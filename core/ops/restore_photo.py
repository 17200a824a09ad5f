"""One-click old-photo restoration: a recipe of the other operations."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import numpy as np

from ..engine import context_box, run
from ..progress import Progress
from ..registry import Param, operation
from ..registry import get as get_operation
from ._color_fade import MIN_SIDE as MIN_FADE_SIDE
from ._color_fade import FadeModel, estimate_fade
from ._color_tone import CURVE_SAMPLES
from .defects import PASSES

__all__ = ["BLUR_THRESHOLDS", "NOISE_FLOOR", "SHARPEN_SPREAD", "blur_spread", "restore_photo"]

#: Estimated noise (0–255 scale) below which denoising is skipped: a clean
#: scan is left alone rather than smoothed.
NOISE_FLOOR = 1.0
#: Smallest estimated blur, per kind, that is worth deconvolving (px).
BLUR_THRESHOLDS = {"gaussian": ("sigma", 1.0), "defocus": ("radius", 1.5),
                   "motion": ("length", 4.0)}
#: Blur spread (px, see :func:`blur_spread`) up to which a photo counts as sharp
#: and is not sharpened, and from which it gets the full sharpening amount
#: (smoothly in between). Measured after the earlier steps: undamaged
#: Kodak24 and McMaster photos read 0.44-0.67, the same photos aged with
#: a Gaussian blur of 0.6-1.2 px 0.68-0.90 (or ~0.45 where the blur was
#: taken for a small defocus disk).
SHARPEN_SPREAD = (0.65, 0.8)
#: Smallest image side blur can be estimated on (:func:`~.deblur.estimate_psf`).
_MIN_BLUR_SIDE = 16
#: The blur is estimated on the centre square of at most this side (px): a
#: few megapixels hold plenty of edges for one global PSF, and on a 24 MP
#: scan the whole image took 4 s.
BLUR_SAMPLE = 2048


def blur_spread(psf: np.ndarray) -> float:
    """Return the blur of a PSF as the sigma (px) of a Gaussian of equal spread.

    The root mean square distance from the PSF's centroid, per axis:
    ``sigma`` for a Gaussian, ``r / 2`` for a uniform disk of radius
    ``r``, ``L / sqrt(24)`` for a motion streak of length ``L``.
    """
    p = np.maximum(np.asarray(psf, dtype=np.float64), 0.0)
    total = float(p.sum())
    if p.ndim != 2 or total <= 0.0:
        return 0.0
    p = p / total
    y, x = np.indices(p.shape)
    cy, cx = float((p * y).sum()), float((p * x).sum())
    return float(np.sqrt((p * ((y - cy) ** 2 + (x - cx) ** 2)).sum() / 2.0))


def _centre(image: np.ndarray, side: int) -> np.ndarray:
    """Return the centre of `image`, at most `side` px each way (a view)."""
    h, w = image.shape[:2]
    y, x = max(0, (h - side) // 2), max(0, (w - side) // 2)
    return image[y:y + min(h, side), x:x + min(w, side)]


def _blur_worth_undoing(kind: str, params: dict[str, float]) -> bool:
    if kind not in BLUR_THRESHOLDS:
        return False  # free-form shake estimates are left to the Deblur dialog
    name, least = BLUR_THRESHOLDS[kind]
    return float(params.get(name, 0.0)) >= least


#: Dye layers of a colour print, by the channel whose light each absorbs.
DYES = ("cyan", "magenta", "yellow")


def _fade(model: FadeModel) -> dict[str, Any]:
    """Return a fade estimate as report data: veil, and per dye its retention and stain."""
    out: dict[str, Any] = {"black_in": float(model.black_in), "black_out": float(model.black_out),
                           "gain": float(model.gain)}
    if len(model.retention) == len(DYES):
        out["dye_retention"] = dict(zip(DYES, map(float, model.retention), strict=True))
        out["stain"] = dict(zip(DYES, map(float, model.stain), strict=True))
    return out


def _summary(info: dict[str, Any]) -> str:
    """Return the estimates of a run as short text.

    E.g. "noise σ 3.2, blur gaussian sigma 0.8, black 0.24, dyes cyan 54 %
    magenta 95 % yellow 96 %, stain yellow 0.16 magenta 0.04".
    """
    parts = [f"noise σ {float(info['noise_sigma']):.1f}"]
    blur = info.get("blur")
    if blur and blur["kind"] != "none":
        values = " ".join(f"{k} {float(v):.3g}" for k, v in blur.items() if k != "kind")
        parts.append(f"blur {blur['kind']}" + (f" {values}" if values else ""))
    fade = info.get("fade")
    if fade:
        if fade["black_in"] != fade["black_out"] or fade["gain"] != 1.0:
            parts.append(f"black {fade['black_in']:.2f}")
        kept = fade.get("dye_retention", {})
        if any(r < 0.995 for r in kept.values()):
            parts.append("dyes " + " ".join(f"{d} {100 * r:.0f} %" for d, r in kept.items()))
        stain = sorted(fade.get("stain", {}).items(), key=lambda ds: -ds[1])
        if stain and stain[0][1] >= 0.005:
            parts.append("stain " + " ".join(f"{d} {s:.2f}" for d, s in stain if s >= 0.005))
    return ", ".join(parts)


@operation("restore-photo", label="_Restore Old Photo", menu="Restore",
           report_layers=("defects",), scan_infrared="infrared")
def restore_photo(
    image: np.ndarray,
    *,
    defects: Annotated[bool, Param(
        "Find dust, hairs and scratches and fill them in.", label="Remove dust and "
        "scratches")] = True,
    defects_sensitivity: Annotated[float, Param(
        "How readily marks are taken for damage (as in Remove Dust and Scratches).",
        min=0.0, max=1.0, step=0.05, label="Dust sensitivity")] = 0.5,
    color: Annotated[bool, Param(
        "Undo fading and colour casts.", label="Restore colour")] = True,
    color_strength: Annotated[float, Param(
        "How much of the estimated colour correction to apply.", min=0.0, max=1.0,
        step=0.05, label="Colour strength")] = 1.0,
    denoise: Annotated[bool, Param(
        "Reduce grain and noise (skipped when the scan measures clean).",
        label="Reduce noise")] = True,
    denoise_strength: Annotated[float, Param(
        "Share of the measured grain to remove: 1 removes it all, 0.7 keeps a "
        "little for a natural look.", min=0.0, max=1.0, step=0.05,
        label="Noise reduction")] = 0.85,
    deblur: Annotated[bool, Param(
        "Undo misfocus or motion blur, only when the photo measures blurred.",
        label="Deblur when blurred")] = True,
    deblur_strength: Annotated[float, Param(
        "Deblur's strength: how much noise and ringing are held back "
        "when blur is measured: lower is sharper but noisier, higher is smoother.",
        min=0.0, max=1.0, step=0.05, label="Deblur strength")] = 0.5,
    sharpen: Annotated[bool, Param(
        "Finish with a gentle unsharp mask, as far as the photo measures soft "
        "(a sharp photo is left as it is).", label="Sharpen")] = True,
    sharpen_amount: Annotated[float, Param(
        "Strength of the final sharpening on a soft photo.", min=0.0, max=2.0,
        step=0.05, label="Sharpen amount")] = 0.25,
    method: Annotated[Literal["fast", "quality"], Param(
        "'fast' fills dust and scratches smoothly from their surroundings and "
        "denoises in one pass: a 24-megapixel scan in under a minute on two "
        "cores. 'quality' also looks for damage four times (turned and "
        "mirrored), copies texture into damage in textured areas and denoises "
        "in two passes, about six times slower, for fewer specks missed and a "
        "little more texture inside the filled ones.", label="Method")] = "fast",
    infrared: Annotated[np.ndarray | None, Param(
        "Infrared plane (H, W) of an RGBI film scan (an RGBI TIFF's own is used "
        "by itself; in a host: the layer holding it): dust and scratches are then "
        "found in it, as in Remove Dust and Scratches.",
        kind="array", layer="plane", advanced=True)] = None,
    mask: np.ndarray | None = None,
    progress: Progress | None = None,
    report: dict[str, Any] | None = None,
) -> np.ndarray:
    """Restore an old photo in one step: dust, colour, noise, blur, detail.

    Runs, in order, Remove Dust and Scratches, Restore Faded Colour, Denoise,
    Deblur (only when blur is measured) and Sharpen (as far as the photo
    measures soft), each with every
    parameter chosen from the image (noise level, blur, fade), so a result
    can be fine-tuned step by step afterwards.

    Parameters
    ----------
    image : ndarray
        float32 ``(H, W, C)`` perceptual pixels.
    defects, color, denoise, deblur, sharpen : bool
        Switch each step on or off.
    defects_sensitivity : float
        Sensitivity of the defect detector.
    color_strength : float
        Strength of the colour restoration.
    denoise_strength : float
        Share of the measured noise removed (``grain = 1 - strength``).
    deblur_strength : float
        Strength of the deblur step (its regularisation, as Deblur's
        `strength`), when blur is measured.
    sharpen_amount : float
        Amount of the final unsharp mask (radius 1 px, threshold at the
        noise level so grain is not sharpened) on a photo that measures
        soft; scaled down to 0 for sharper ones (:data:`SHARPEN_SPREAD`).
    method : {'fast', 'quality'}
        'fast' looks for damage in one network pass, fills it by diffusion
        and denoises with one hard-thresholding pass; 'quality' finds and
        fills damage as Remove Dust and Scratches does by default (four
        network passes; ``auto``: copied texture blended in where the
        surroundings are textured) and denoises with both BM3D passes. See
        the notes.
    infrared : ndarray, optional
        ``(H, W)`` infrared plane of an RGBI film scan, for the defects step
        (see :func:`~photomend.ops.defects.remove_defects`).
    mask : ndarray, optional
        Selection; every step works only inside it (the engine blends).
    progress : Progress, optional
        Progress and cancellation across all steps.
    report : dict, optional
        Filled with the estimates made: ``noise_sigma`` (0–255),
        ``blur`` (kind and parameters of the blur estimate, made when
        deblur or sharpening is on and the image is at least 16 px on
        each side; else None), ``blur_spread`` (its :func:`blur_spread`
        in px, 0 without an estimate), ``steps`` (what ran with
        which parameters), ``fade`` (the fading and cast estimated for the
        colour step: ``black_in``/``black_out``/``gain`` of the veil, and
        per dye, cyan, magenta and yellow, its ``dye_retention`` and the
        ``stain`` density added by yellowing; None when the step did not
        run), ``defects`` (the defect mask) and ``summary`` (the estimates
        as short text, which hosts add to the names of the report layers).

    Returns
    -------
    ndarray
        The restored float32 image.

    Notes
    -----
    The order follows what each step needs: defects are removed first
    because specks would otherwise be read as detail by the colour
    statistics and as signal by the denoiser; colour is restored before
    denoising so the noise estimate sees the final tone scale; blur is
    estimated on the denoised image (its centre :data:`BLUR_SAMPLE` px
    square on large scans), where noise no longer hides the
    spectrum; sharpening comes last, with a threshold at the measured
    noise level so that remaining grain is not amplified, and in
    proportion to how soft the photo measures (the :func:`blur_spread`
    of the blur estimate, :data:`SHARPEN_SPREAD`), so a sharp, undamaged
    photo comes back nearly as it was. The spread is measured before
    deblurring: a photo blurred enough to be deblurred is also sharpened
    in full, as a finish.

    The 'fast' method exists for large scans: on a 24 MP 16-bit scan of the
    benchmark's "old photo" it takes 54.7 s against 319 s with 'quality'
    (two cores, 2.1 GB peak), while on the benchmark's Kodak24 and
    McMaster photos the two score 19.17 dB PSNR each and a mean CIEDE2000
    of 12.70 against 12.64 (clean photos: 61.48 against 67.06 dB): after
    fading, grain and blur, the texture copied into specks, the second
    denoising pass and the extra looks for damage are worth little, and
    what remains of the time is the defect detector.
    """
    from .deblur import estimate_psf  # deferred: ops import each other lazily
    from .denoise import estimate_noise, noise_split

    prog = progress if progress is not None else Progress()
    out = image
    steps: list[dict[str, Any]] = []
    info: dict[str, Any] = {"steps": steps, "noise_sigma": None, "blur": None,
                            "blur_spread": 0.0, "fade": None}

    def step(op_id: str, start: float, stop: float, **params: Any) -> None:
        nonlocal out
        sub: dict[str, Any] = {}
        # Blended through the selection once, by the engine around this recipe.
        result = run(op_id, out, mask, prog.span(start, stop), blend=False, report=sub,
                     **params)
        assert isinstance(result, np.ndarray)
        out = result
        # (not the scan's infrared plane: it belongs to this image alone)
        steps.append({"op": op_id,
                      "params": get_operation(op_id).portable(sub.get("params", params))})
        if "defects" in sub:
            info["defects"] = sub["defects"]

    if defects:
        step("remove-defects", 0.0, 0.3, sensitivity=defects_sensitivity, infrared=infrared,
             method="diffusion" if method == "fast" else "auto",
             passes=1 if method == "fast" else PASSES)
    # The fade is estimated where Restore Faded Colour would: from the selection.
    region, selected = out, None
    if mask is not None and (mask > 0).any():
        box = context_box(mask, 0)
        region, selected = out[box], mask[box]
    if color and min(region.shape[:2]) >= MIN_FADE_SIDE:  # else too small to estimate
        model = estimate_fade(region, mask=selected)
        info["fade"] = _fade(model)
        step("restore-color", 0.3, 0.4, strength=color_strength,
             curves=model.curves(CURVE_SAMPLES))
    measured = estimate_noise(out)
    noise = measured.sigma
    info["noise_sigma"] = float(noise)
    if denoise and noise >= NOISE_FLOOR and denoise_strength > 0:
        step("denoise", 0.4, 0.75, sigma=noise, grain=1.0 - denoise_strength,
             luma_share=noise_split(measured), method=method)
    prog.update(0.75)
    spread = 0.0
    wanted = deblur or (sharpen and sharpen_amount > 0)
    if wanted and min(out.shape[:2]) >= _MIN_BLUR_SIDE:
        # Parametric families only: the recipe deblurs only those (a free-form
        # kernel is left to the Deblur dialog), and they are quick to fit.
        est = estimate_psf(_centre(out, BLUR_SAMPLE), "parametric")
        spread = blur_spread(est.psf)
        info["blur"] = {"kind": est.kind, **{k: float(v) for k, v in est.params.items()}}
        info["blur_spread"] = spread
        if deblur and _blur_worth_undoing(est.kind, est.params):
            step("deblur", 0.8, 0.95, psf=est.psf, strength=deblur_strength)
    lo, hi = SHARPEN_SPREAD
    amount = sharpen_amount * float(np.clip((spread - lo) / (hi - lo), 0.0, 1.0))
    if sharpen and amount > 0:
        residual = noise * (1.0 - denoise_strength) if denoise else noise
        step("sharpen", 0.95, 1.0, radius=1.0, amount=amount,
             threshold=min(1.0, 2.0 * residual / 255.0))
    if report is not None:
        info["summary"] = _summary(info)
        report.update(info)
    return out
