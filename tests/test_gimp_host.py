"""The GIMP plug-in inside a real GIMP 3, compared with photomend.run.

One headless GIMP launch (see gimp_harness) runs every job of this module:
each registered operation with its defaults on 8-bit RGB, 16-bit RGB and
8-bit gray images, and, with a representative operation, selections (hard,
feathered, offset layers), alpha, new-layer output, linear float images,
refusals and errors, and the interactive dialogs under Xvfb: photomend's
shared Qt dialog (live preview, progress with Cancel) and, when asked for
or when PyQt5 is missing, GIMP's own procedure dialog.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import gimp_harness
import numpy as np
import pytest

import photomend
from photomend import Image
from photomend.convert import linear_to_srgb, srgb_to_linear
from photomend.hosts import FileHost, apply_operation
from photomend.hosts.install_gimp import PLUGIN_NAME
from photomend.hosts.layers import OWN_ALPHA

pytestmark = pytest.mark.host_gimp

PROCS = gimp_harness.plugin_procedures()
PREFIX = PROCS.PREFIX
OPS = photomend.operations()
IMAGE_OPS = [s for s in OPS if s.output == "image"]
REP = IMAGE_OPS[0] if IMAGE_OPS else None
#: An operation that can add the defects it found as layers (the Qt dialog offers it).
REPORTING = next((s for s in OPS if "defects" in s.extra.get("report_layers", ())), None)
W, H = 48, 40
#: A second copy of the plug-in, installed with a photomend that lacks numpy.
BROKEN = "photomend_gimp_nonumpy"
SETUP = PREFIX + "setup-problem"
#: The part of the image a damage-repair operation is pointed at.
DAMAGE_RECT = [16, 12, 14, 10]

KINDS = {
    "rgb8": ("rgb", "u8-non-linear", "R'G'B' u8", np.uint8, 3),
    "rgb16": ("rgb", "u16-non-linear", "R'G'B' u16", np.uint16, 3),
    "gray8": ("gray", "u8-non-linear", "Y' u8", np.uint8, 1),
    "rgba8": ("rgb", "u8-non-linear", "R'G'B'A u8", np.uint8, 4),
    "rgbf-linear": ("rgb", "float-linear", "RGB float", np.float32, 3),
}
#: Largest allowed difference from photomend.run, in storage levels.
LEVELS = {np.dtype(np.uint8): 1, np.dtype(np.uint16): 2}


def _pixels(kind: str, seed: int) -> np.ndarray:
    """A photo-like test image: smooth shading, edges, fine texture, specks."""
    dtype, channels = KINDS[kind][3], KINDS[kind][4]
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:H, 0:W].astype(np.float32)
    base = 0.25 + 0.5 * (x / W) * (0.6 + 0.4 * np.sin(y / 6.0))
    base[(x - 30) ** 2 + (y - 18) ** 2 < 60] += 0.3
    base[rng.random((H, W)) < 0.01] = 0.02
    color = [base + 0.05 * (i - 1) + 0.03 * rng.standard_normal((H, W)) for i in range(3)]
    planes = color[:1] if channels in (1, 2) else color
    if channels in (2, 4):
        planes.append(rng.uniform(0.0, 1.0, (H, W)))
    values = np.clip(np.stack(planes, axis=-1), 0.0, 1.0)
    if dtype == np.float32:
        return values.astype(np.float32)
    return np.rint(values * np.iinfo(dtype).max).astype(dtype)


def _damage_selection(spec: photomend.OperationSpec) -> dict[str, Any] | None:
    return {"rect": DAMAGE_RECT} if spec.mask_role == "damage" else None


def _dialog_change(spec: photomend.OperationSpec, part: float = 0.1
                   ) -> tuple[str, float] | None:
    """A value the test types into a dialog: the first float, moved up by `part`
    of its range (parameter name, value)."""
    for p in spec.params:
        if p.kind == "float" and p.default is not None and p.max is not None:
            return p.name, round(p.default + (p.max - p.default) * part, 3)
    return None


#: The values chosen in the Qt dialog, then in GIMP's dialog.
QT_PART, GIMP_PART = 0.1, 0.05


@dataclass
class Run:
    session: gimp_harness.GimpSession
    report: str
    results: dict[str, Any]
    jobs: dict[str, dict[str, Any]]  # as planned, by name

    def job(self, name: str) -> dict[str, Any]:
        out = self.results["jobs"][name]
        assert "error" not in out, f"job {name} failed inside GIMP:\n{out['error']}"
        return out

    def load(self, name: str) -> np.ndarray:
        return self.session.load(name)

    def layer(self, job: str, index: int) -> np.ndarray:
        return self.load(self.job(job)["layers"][index]["file"])

    def local_selection(self, job: str) -> np.ndarray | None:
        """The selection GIMP used, in the layer's coordinates."""
        out, spec = self.job(job), self.jobs[job]
        if out["selection"] is None:
            return None
        sel = self.load(out["selection"])
        ox, oy = spec.get("offsets", [0, 0])
        h, w = self.load(out["before"]).shape[:2]
        local = np.zeros((h, w), np.float32)
        y0, x0 = max(0, -oy), max(0, -ox)
        y1, x1 = min(h, sel.shape[0] - oy), min(w, sel.shape[1] - ox)
        if y1 > y0 and x1 > x0:
            local[y0:y1, x0:x1] = sel[y0 + oy:y1 + oy, x0 + ox:x1 + ox]
        return local


def _job(session: gimp_harness.GimpSession, name: str, kind: str, spec: Any,
         **extra: Any) -> dict[str, Any]:
    base, precision, fmt, _, _ = KINDS[kind]
    pixels = _pixels(kind, seed=len(name) * 7919 + sum(map(ord, name)))
    job = {"name": name, "input": session.save(f"{name}-input.npy", pixels),
           "base": base, "precision": precision, "format": fmt,
           "procedure": PREFIX + spec.id, "selection": _damage_selection(spec)}
    job.update(extra)
    return job


def _psf_rgba() -> np.ndarray:
    """A PSF layer: a short diagonal streak painted on transparency."""
    rgba = np.zeros((20, 20, 4), np.uint8)
    for i in range(4):
        rgba[8 + i, 8 + i] = (255, 255, 255, 255)
    rgba[9, 8] = (128, 128, 128, 255)
    return rgba


def _dust_channel() -> np.ndarray:
    """A channel (image coordinates) marking a scratch to fill."""
    channel = np.zeros((52, 60), np.float32)
    channel[14:17, 10:40] = 1.0
    return channel


def _rgbi_as_rgba() -> np.ndarray:
    """An RGBI scan as GIMP opens it: the infrared plane as the layer's alpha."""
    rgba = _pixels("rgba8", seed=77)
    rgba[..., 3] = 230
    rgba[25:28, 10:13, 3] = 25  # dust: opaque to infrared
    rgba[8, 20:40, 3] = 40  # a hair
    return rgba


def _scratch_rgba() -> np.ndarray:
    """A layer (placed at DAMAGE_LAYER_AT) painted white on transparency where a scratch is."""
    rgba = np.zeros((30, 40, 4), np.uint8)
    rgba[..., :3] = 255
    rgba[6:9, 4:30, 3] = 255
    return rgba


DAMAGE_LAYER_AT = [9, 2]


def _layer_jobs(session: gimp_harness.GimpSession) -> list[dict[str, Any]]:
    """Layer parameters given a drawable: a PSF layer, a damage layer and a damage
    channel, offset from the (offset) target layer; the target itself, refused; then
    the damage chosen in the Qt dialog and in GIMP's."""
    psf = {"name": "psf", "kind": "layer", "offsets": [2, 1],
           "input": session.save("psf-layer.npy", _psf_rgba())}
    dust = {"name": "dust", "kind": "channel",
            "input": session.save("dust-channel.npy", _dust_channel())}
    scratch = {"name": "scratch", "kind": "layer", "offsets": DAMAGE_LAYER_AT,
               "input": session.save("scratch-layer.npy", _scratch_rgba())}
    deblur, remove = (photomend.get_operation(i) for i in ("deblur", "remove-defects"))
    return [
        _job(session, "damage-layer", "rgb8", remove, canvas=[60, 52], offsets=[5, 3],
             extra=[scratch], args={"damage": {"$drawable": "scratch"}}),
        _job(session, "psf-itself", "rgb8", deblur, args={"psf": {"$drawable": "source"}}),
        _job(session, "psf-layer", "rgb8", deblur, canvas=[60, 52], offsets=[5, 3],
             extra=[psf], args={"psf": {"$drawable": "psf"}, "method": "wiener"}),
        _job(session, "damage-channel", "rgb16", remove, canvas=[60, 52], offsets=[5, 3],
             extra=[dust], args={"damage": {"$drawable": "dust"}}),
        _job(session, "qt-layer", "rgb8", remove, canvas=[60, 52], offsets=[5, 3],
             extra=[dust], run_mode="INTERACTIVE"),
        _job(session, "gimp-layer", "rgb8", remove, canvas=[60, 52], offsets=[5, 3],
             extra=[dust], run_mode="INTERACTIVE"),
        _job(session, "qt-alpha-ir", "rgba8", remove, run_mode="INTERACTIVE",
             input=session.save("rgbi-as-rgba.npy", _rgbi_as_rgba())),
    ]


def _plan(session: gimp_harness.GimpSession) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    jobs = []
    for spec in OPS:
        for kind in ("rgb8", "rgb16", "gray8"):
            jobs.append(_job(session, f"{spec.id}-{kind}", kind, spec))
        if spec.mask_role == "damage":
            jobs.append(_job(session, f"{spec.id}-unselected", "rgb8", spec, selection=None))
    dialogs: list[dict[str, Any]] = []
    if REP is not None:
        jobs += [
            _job(session, "hard-alpha-offset", "rgba8", REP, canvas=[50, 50],
                 offsets=[-4, 5], selection={"rect": [10, 12, 24, 20]}),
            _job(session, "feathered16", "rgb16", REP, selection={"rect": [6, 5, 36, 30],
                                                                  "feather": 8}),
            _job(session, "new-layer", "rgb8", REP, args={"output": "new-layer"},
                 selection={"rect": [12, 10, 24, 20], "feather": 6}),
            _job(session, "linear-float", "rgbf-linear", REP),
            _job(session, "indexed", "rgb8", REP, base="indexed"),
            _job(session, "selection-off-layer", "rgb8", REP, canvas=[120, 40],
                 offsets=[60, 0], selection={"rect": [0, 0, 30, 30]}),
        ]
        jobs.append(_job(session, "host-mask", "rgb8", REP, canvas=[52, 44], offsets=[6, -3],
                         selection={"rect": [4, 4, 40, 30], "feather": 4},
                         host_op="test-find-dark",
                         plugin_dir=f"{session.inner}/{gimp_harness.PROFILE}/plug-ins/"
                                    f"{PLUGIN_NAME}"))
        record = [a["name"] for a in _arguments(REP)]
        qt_set, gimp_set = _changed(QT_PART, only=True), _changed(GIMP_PART, only=True)
        dialogs = [
            {"response": "ok", "set": qt_set},
            {"response": "cancel"},
            {"response": "ok", "progress": "cancel"},
            {"env": {"PHOTOMEND_GIMP_DIALOG": "gimp"}, "record": record, "response": "ok",
             "set": {k.replace("_", "-"): v for k, v in gimp_set.items()}},
            {"without_qt": True, "record": record, "response": "cancel"},
        ]
        jobs += [_job(session, "qt-ok", "rgb16", REP, run_mode="INTERACTIVE",
                      selection={"rect": [6, 5, 36, 30], "feather": 8}),
                 _job(session, "last-values", "rgb8", REP, run_mode="WITH_LAST_VALS"),
                 _job(session, "qt-cancel", "rgb8", REP, run_mode="INTERACTIVE"),
                 _job(session, "qt-progress-cancel", "rgb8", REP, run_mode="INTERACTIVE"),
                 _job(session, "gimp-ok", "rgb8", REP, run_mode="INTERACTIVE"),
                 _job(session, "gimp-cancel", "rgb8", REP, run_mode="INTERACTIVE")]
        if REPORTING is not None:  # Qt dialog with "Add what it found as layers"
            dialogs.append({"response": "ok", "report": True})
            jobs.append(_job(session, "qt-report", "rgb16", REPORTING, run_mode="INTERACTIVE",
                             selection=None))
    jobs += _layer_jobs(session)
    dialogs += [{"response": "ok", "set": {"damage": "dust (channel)"}},
                {"env": {"PHOTOMEND_GIMP_DIALOG": "gimp"}, "response": "ok",
                 "record": ["damage", "infrared"], "set": {"damage": {"$drawable": "dust"}}},
                {"response": "ok", "set": {"infrared": OWN_ALPHA}}]
    jobs.append(_job(session, "setup-problem", "rgb8", OPS[0], procedure=SETUP))
    plan = {"procedures": [PREFIX + s.id for s in OPS] + [SETUP], "jobs": jobs}
    return plan, dialogs


def _arguments(spec: Any) -> list[dict[str, Any]]:
    """The arguments the plug-in declares, as its pure module derives them."""
    return [a._asdict() for a in PROCS.arguments(spec)]


@pytest.fixture(scope="module")
def gimp():
    reason = gimp_harness.unavailable()
    if reason:
        pytest.skip(reason)
    session = gimp_harness.GimpSession()
    try:
        report = session.install_plugin()
        session.install_broken_copy(BROKEN, "raise ModuleNotFoundError(\"No module named "
                                            "'numpy'\", name='numpy')\n")
        plan, dialogs = _plan(session)
        results = session.run(plan, dialogs)
        jobs = {job["name"]: job for job in plan["jobs"]}
        yield Run(session, report, results, jobs)
    finally:
        session.close()


def _assert_levels(actual: np.ndarray, expected: np.ndarray, what: str) -> None:
    assert actual.shape == expected.shape and actual.dtype == expected.dtype, what
    tol = LEVELS[actual.dtype]
    diff = np.abs(actual.astype(np.int64) - expected.astype(np.int64))
    assert diff.max() <= tol, (f"{what}: {int((diff > tol).sum())} values differ by more than "
                               f"{tol} levels (max {int(diff.max())})")


def _assert_channel(channel: np.ndarray, expected: np.ndarray, kind: str) -> None:
    """Compare a mask read from a channel ("Y float") in the channel's own levels.

    GIMP stores channels of 8-bit non-linear images as "Y' u8" (perceptual
    levels), of other images linearly at the image's bit depth.
    """
    _, precision, _, dtype, _ = KINDS[kind]
    if precision == "u8-non-linear":
        channel, expected = linear_to_srgb(channel), linear_to_srgb(expected)
    top = np.iinfo(dtype).max
    levels = LEVELS[np.dtype(dtype)]
    np.testing.assert_allclose(channel * top, expected * top, rtol=0, atol=levels + 1e-3)


def _gimp_merge(before: np.ndarray, raw: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """What GIMP's shadow merge makes of `raw` through a selection: a linear-light
    blend of 16-bit perceptual levels."""
    scale = 65535.0
    lin0, lin1 = srgb_to_linear(before / scale), srgb_to_linear(raw / scale)
    blended = linear_to_srgb(lin0 + mask[..., None] * (lin1 - lin0))
    return np.rint(np.clip(blended, 0, 1) * scale).astype(np.uint16)


# ------------------------------------------------------------------ tests


def test_installer_checked_gimps_python(gimp):
    assert "Installed the photomend GIMP plug-in" in gimp.report
    assert "Problem" not in gimp.report, gimp.report


@pytest.mark.parametrize("op_id", [s.id for s in OPS])
def test_procedure_is_registered_from_the_registry(gimp, op_id):
    spec = photomend.get_operation(op_id)
    info = gimp.results["procedures"][PREFIX + op_id]
    assert not info.get("missing"), (f"{PREFIX + op_id} is not registered; GIMP said:\n"
                                     + gimp.session.log[-4000:])
    assert info["menu_paths"] == [f"<Image>/Filters/Restore/{spec.menu}"]
    assert info["menu_label"] == spec.label + "..."
    assert info["blurb"] == spec.summary
    assert info["image_types"] == "RGB*, GRAY*"
    declared = {a["name"]: a for a in info["arguments"]}
    assert list(declared)[:3] == ["run-mode", "image", "drawables"]
    for arg in _arguments(spec):
        got = declared[arg["name"]]
        assert got["nick"] == arg["nick"] and got["blurb"] == arg["blurb"]
        assert got["default"] == arg["default"]
        if arg["kind"] in ("double", "int"):
            assert (got["minimum"], got["maximum"]) == (arg["min"], arg["max"])
        if arg["kind"] == "choice":
            assert got["choices"] == [c[0] for c in arg["choices"]]
    assert len(declared) == 3 + len(_arguments(spec))


@pytest.mark.parametrize("kind", ["rgb8", "rgb16", "gray8"])
@pytest.mark.parametrize("op_id", [s.id for s in OPS])
def test_every_operation_matches_the_core(gimp, op_id, kind):
    spec = photomend.get_operation(op_id)
    name = f"{op_id}-{kind}"
    out = gimp.job(name)
    assert out["status"] == "success", out["message"]
    before = gimp.load(out["before"])
    np.testing.assert_array_equal(before, gimp.load(gimp.jobs[name]["input"]))
    mask = gimp.local_selection(name)
    expected = photomend.run(op_id, before, mask=mask, **spec.defaults())
    if spec.output == "mask":
        assert [c["name"] for c in out["channels"]] == [spec.plain_label]
        _assert_channel(gimp.load(out["channels"][0]["file"]), expected, kind)
        np.testing.assert_array_equal(gimp.layer(name, 0), before)
    else:
        assert [layer["name"] for layer in out["layers"]] == ["source"]
        _assert_levels(gimp.layer(name, 0), expected, name)


@pytest.mark.parametrize("op_id", [s.id for s in OPS if s.mask_role == "damage"])
def test_repair_without_a_selection_is_refused(gimp, op_id):
    out = gimp.job(f"{op_id}-unselected")
    before = gimp.load(out["before"])
    with pytest.raises(photomend.MaskError) as core:
        apply_operation(FileHost(Image.from_array(before)), op_id)
    assert (out["status"], out["message"]) == ("execution-error", str(core.value))
    np.testing.assert_array_equal(gimp.layer(f"{op_id}-unselected", 0), before)


needs_rep = pytest.mark.skipif(REP is None, reason="no image operation is registered")


@needs_rep
def test_hard_selection_on_offset_layer_keeps_alpha(gimp):
    out = gimp.job("hard-alpha-offset")
    assert out["status"] == "success", out["message"]
    before, after = gimp.load(out["before"]), gimp.layer("hard-alpha-offset", 0)
    mask = gimp.local_selection("hard-alpha-offset")
    assert set(np.unique(mask)) == {0.0, 1.0}
    # The selection, in image coordinates, lands at the layer's offset.
    rows, cols = np.nonzero(mask)
    assert (cols.min(), rows.min()) == (10 + 4, 12 - 5)
    np.testing.assert_array_equal(after[..., 3], before[..., 3])
    np.testing.assert_array_equal(after[mask == 0], before[mask == 0])
    expected = photomend.run(REP.id, before, mask=mask, **REP.defaults())
    _assert_levels(after, expected, "hard selection")
    assert (after[mask == 1] != before[mask == 1]).any()


@needs_rep
def test_feathered_selection_is_blended_once_by_gimp_in_linear_light(gimp):
    out = gimp.job("feathered16")
    assert out["status"] == "success", out["message"]
    before, after = gimp.load(out["before"]), gimp.layer("feathered16", 0)
    mask = gimp.local_selection("feathered16")
    partial = (mask > 0) & (mask < 1)
    assert partial.sum() > 1000 and mask.max() > 0.99
    raw = photomend.run(REP.id, before, mask=mask, blend=False, **REP.defaults())
    np.testing.assert_array_equal(after[mask == 0], before[mask == 0])
    # Partly selected: between the original and the result...
    lo, hi = np.minimum(before, raw).astype(int) - 2, np.maximum(before, raw).astype(int) + 2
    assert ((after >= lo) & (after <= hi))[partial].all()
    # ...weighted by the selection in linear light (GIMP's shadow merge).
    _assert_levels(after, _gimp_merge(before, raw, mask), "feathered, linear-light blend")


@needs_rep
def test_new_layer_output_leaves_the_source_alone(gimp):
    out = gimp.job("new-layer")
    assert out["status"] == "success", out["message"]
    assert [layer["name"] for layer in out["layers"]] == [REP.plain_label, "source"]
    assert out["layers"][0]["offsets"] == out["layers"][1]["offsets"]
    before = gimp.load(out["before"])
    np.testing.assert_array_equal(gimp.layer("new-layer", 1), before)
    mask = gimp.local_selection("new-layer")
    expected = photomend.run(REP.id, before, mask=mask, **REP.defaults())
    _assert_levels(gimp.layer("new-layer", 0), expected, "new layer")


@needs_rep
def test_linear_float_image_is_processed_in_linear_values(gimp):
    out = gimp.job("linear-float")
    assert out["status"] == "success", out["message"]
    before = gimp.load(out["before"])
    expected = photomend.run(REP.id, Image(before, transfer="linear"),
                             mask=gimp.local_selection("linear-float"), **REP.defaults())
    np.testing.assert_allclose(gimp.layer("linear-float", 0), expected.color, rtol=0, atol=2e-5)


@needs_rep
def test_indexed_image_is_refused_with_a_message(gimp):
    out = gimp.job("indexed")
    assert out["status"] == "execution-error"
    assert "indexed" in out["message"] and "Image ▸ Mode ▸ RGB" in out["message"]
    np.testing.assert_array_equal(gimp.layer("indexed", 0), gimp.load(out["before"]))


@needs_rep
def test_core_error_reaches_the_caller_as_the_status_message(gimp):
    out = gimp.job("selection-off-layer")
    assert out["status"] == "execution-error"
    assert out["message"] == (f"{REP.plain_label}: the selection is empty on this layer; "
                              "nothing to do")
    np.testing.assert_array_equal(gimp.layer("selection-off-layer", 0),
                                  gimp.load(out["before"]))


@needs_rep
def test_detection_mask_goes_to_a_new_channel(gimp, scratch_registry):
    out = gimp.job("host-mask")
    gimp_harness.register_test_ops(photomend)
    before = gimp.load(out["before"])
    mask = gimp.local_selection("host-mask")
    found = photomend.run("test-find-dark", before, mask=mask)
    assert 0 < (found > 0.5).sum() < found.size
    spec = gimp.jobs["host-mask"]
    (ox, oy), (cw, ch) = spec["offsets"], spec["canvas"]
    # The channel is image-sized: the layer's result lands at its offsets.
    expected = np.zeros((ch, cw), np.float32)
    y0, x0, y1, x1 = max(0, oy), max(0, ox), min(ch, oy + H), min(cw, ox + W)
    expected[y0:y1, x0:x1] = found[y0 - oy:y1 - oy, x0 - ox:x1 - ox]
    assert [c["name"] for c in out["channels"]] == ["Find Dark"]
    _assert_channel(gimp.load(out["channels"][0]["file"]), expected, "rgb8")
    np.testing.assert_array_equal(gimp.layer("host-mask", 0), before)


def test_plugin_without_numpy_explains_the_setup_problem(gimp):
    info = gimp.results["procedures"][SETUP]
    assert not info.get("missing")
    assert info["menu_paths"] == ["<Image>/Filters/Restore"]
    out = gimp.job("setup-problem")
    assert out["status"] == "execution-error"
    message = out["message"]
    assert "numpy is missing in GIMP's Python (/usr/bin/python3" in message
    vendor = f"{gimp.session.inner}/{gimp_harness.PROFILE}/plug-ins/{BROKEN}/vendor"
    assert f'--target "{vendor}" numpy scipy' in message


def _dialog_log(gimp) -> list[dict[str, Any]]:
    path = gimp.session.work / "dialogs.json.log"
    assert path.is_file(), "the plug-in never showed its dialog:\n" + gimp.session.log[-4000:]
    log = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(log) == 8 + (REPORTING is not None), log
    for record in log:
        assert "error" not in record, record["error"]
    return log


def _changed(part: float, only: bool = False) -> dict[str, Any]:
    """The parameters after a dialog moved the first float by `part` of its range
    (`only`: just that one)."""
    change = _dialog_change(REP, part)
    values = {} if only else REP.defaults()
    if change:
        values[change[0]] = change[1]
    return values


def _gimp_defaults(**values: Any) -> dict[str, Any]:
    """GIMP's arguments of REP: defaults, changed by parameter name."""
    return {a["name"]: values.get(a["param"], a["default"]) for a in _arguments(REP)}


def _unchanged(gimp, name: str) -> None:
    out = gimp.job(name)
    assert out["status"] == "cancel", out["message"]
    assert [layer["name"] for layer in out["layers"]] == ["source"]
    np.testing.assert_array_equal(gimp.layer(name, 0), gimp.load(out["before"]))


@needs_rep
def test_qt_dialog_previews_live_and_applies_through_the_selection(gimp):
    first = _dialog_log(gimp)[0]
    assert first["kind"] == "qt" and first["visible"], first
    assert first["title"] == REP.plain_label and first["output"] == "in-place"
    shown = {k: v for k, v in REP.defaults().items() if k in first["values"]}
    assert first["values"] == shown  # a fresh profile: the defaults
    # The live preview ran with the values shown, then with the values set.
    assert first["preview"] == {k: v for k, v in REP.defaults().items()
                                if k in first["preview"]}
    assert first["preview_after_set"] == {**first["preview"], **_changed(QT_PART, only=True)}
    out = gimp.job("qt-ok")
    assert out["status"] == "success", out["message"]
    assert [layer["name"] for layer in out["layers"]] == ["source"]
    before, after = gimp.load(out["before"]), gimp.layer("qt-ok", 0)
    mask = gimp.local_selection("qt-ok")
    assert ((mask > 0) & (mask < 1)).sum() > 1000
    # Written raw and blended once, by GIMP, through the feathered selection.
    raw = photomend.run(REP.id, before, mask=mask, blend=False, **_changed(QT_PART))
    np.testing.assert_array_equal(after[mask == 0], before[mask == 0])
    _assert_levels(after, _gimp_merge(before, raw, mask), "after the Qt dialog")
    assert "crashed" not in gimp.session.log  # e.g. Qt tearing the plug-in down


@needs_rep
def test_repeat_uses_the_values_chosen_in_the_qt_dialog(gimp):
    out = gimp.job("last-values")
    assert out["status"] == "success", out["message"]
    expected = photomend.run(REP.id, gimp.load(out["before"]),
                             mask=gimp.local_selection("last-values"), **_changed(QT_PART))
    _assert_levels(gimp.layer("last-values", 0), expected, "with last values")


@needs_rep
def test_qt_dialog_remembers_its_values_and_cancel_changes_nothing(gimp):
    record = _dialog_log(gimp)[1]
    assert record["kind"] == "qt"
    expected = {k: v for k, v in _changed(QT_PART).items() if k in record["values"]}
    assert record["values"] == expected
    _unchanged(gimp, "qt-cancel")


@needs_rep
def test_cancel_in_the_qt_progress_dialog_changes_nothing(gimp):
    assert _dialog_log(gimp)[2]["kind"] == "qt"
    path = gimp.session.work / "dialogs.json.progress"
    cancelled = [json.loads(line) for line in path.read_text().splitlines()]
    assert cancelled == [{"step": 2, "label": REP.plain_label}]
    _unchanged(gimp, "qt-progress-cancel")


@needs_rep
def test_gimp_dialog_on_request_shows_every_argument_and_applies(gimp):
    first = _dialog_log(gimp)[3]
    assert first["kind"] == "gimp" and first["mapped"], first
    assert first["title"] == REP.plain_label
    for arg in _arguments(REP):
        assert arg["nick"].replace("_", "") in first["labels"]
    # GIMP's last values hold what was chosen in the Qt dialog.
    assert first["values"] == _gimp_defaults(**_changed(QT_PART, only=True))
    # Spin widgets use the registry's step and its decimals.
    assert first["spins"] == {a["name"]: [a["digits"], a["step"], a["step"] * 10]
                              for a in _arguments(REP) if a["step"]}, first
    out = gimp.job("gimp-ok")
    assert out["status"] == "success", out["message"]
    before = gimp.load(out["before"])
    expected = photomend.run(REP.id, before, mask=gimp.local_selection("gimp-ok"),
                             **_changed(GIMP_PART))
    _assert_levels(gimp.layer("gimp-ok", 0), expected, "after GIMP's dialog")


@needs_rep
@pytest.mark.skipif(REPORTING is None, reason="no operation declares report layers")
def test_qt_dialog_adds_the_report_as_channels(gimp):
    out = gimp.job("qt-report")
    assert out["status"] == "success", out["message"]
    record = [r for r in _dialog_log(gimp) if r.get("title") == REPORTING.plain_label][-1]
    assert record["report_offered"]
    (channel,) = out["channels"]
    assert channel["name"].startswith(f"{REPORTING.plain_label}: defects (noise σ ")
    before = gimp.load(out["before"])
    report: dict = {}
    photomend.run(REPORTING.id, before, report=report)
    _assert_channel(gimp.load(channel["file"]), report["defects"], "rgb16")


def _local_plane(channel: np.ndarray, offsets: list[int], shape: tuple[int, ...]) -> np.ndarray:
    x, y = offsets
    return channel[y:y + shape[0], x:x + shape[1]]


def test_psf_from_a_layer_argument(gimp):
    """deblur's psf argument takes a layer: it is read as what is painted on it."""
    from photomend.hosts.layers import layer_array

    out = gimp.job("psf-layer")
    assert out["status"] == "success", out["message"]
    assert [layer["name"] for layer in out["layers"]] == ["source", "psf"]
    before = gimp.load(out["before"])
    psf = photomend.get_operation("deblur").param("psf")
    kernel = layer_array(psf, Image.from_array(_psf_rgba()))
    assert kernel.shape == (4, 4)
    expected = photomend.run("deblur", before, psf=kernel, method="wiener")
    _assert_levels(gimp.layer("psf-layer", 0), expected, "deblurred with the PSF layer")
    assert not np.array_equal(expected, before)


def _assert_dust_filled(gimp, name: str, what: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Job `name` ran remove-defects with the dust channel as its damage: the core's
    result, lined up with the (offset) layer. Returns before, after and the plane."""
    out = gimp.job(name)
    assert out["status"] == "success", out["message"]
    before = gimp.load(out["before"])
    plane = _local_plane(_dust_channel(), gimp.jobs[name]["offsets"], before.shape)
    expected = photomend.run("remove-defects", before, damage=plane)
    after = gimp.layer(name, 0)
    _assert_levels(after, expected, what)
    return before, after, plane


def test_damage_from_a_channel_argument_lines_up_with_an_offset_layer(gimp):
    before, after, plane = _assert_dust_filled(gimp, "damage-channel",
                                               "filled through the damage channel")
    np.testing.assert_array_equal(after[plane == 0], before[plane == 0])
    assert not np.array_equal(after[plane > 0], before[plane > 0])


def test_damage_from_an_offset_layer_argument(gimp):
    out = gimp.job("damage-layer")
    assert out["status"] == "success", out["message"]
    before = gimp.load(out["before"])
    canvas = np.zeros((52, 60), np.float32)  # the scratch layer in image coordinates
    x, y = DAMAGE_LAYER_AT
    canvas[y:y + 30, x:x + 40] = _scratch_rgba()[..., 3] / 255.0
    plane = _local_plane(canvas, gimp.jobs["damage-layer"]["offsets"], before.shape)
    assert plane.sum() > 50
    expected = photomend.run("remove-defects", before, damage=plane)
    after = gimp.layer("damage-layer", 0)
    _assert_levels(after, expected, "filled through the offset damage layer")
    np.testing.assert_array_equal(after[plane == 0], before[plane == 0])


def test_the_layer_being_changed_is_refused_as_a_layer_parameter(gimp):
    out = gimp.job("psf-itself")
    assert out["status"] == "execution-error"
    assert out["message"] == ("PSF: “source” is the layer being changed; choose another "
                              "layer or channel")
    np.testing.assert_array_equal(gimp.layer("psf-itself", 0), gimp.load(out["before"]))


def test_qt_dialog_offers_the_other_drawables_for_layer_parameters(gimp):
    record = _dialog_log(gimp)[-3]
    assert record["kind"] == "qt" and record["title"] == "Remove Dust and Scratches"
    assert record["values"]["damage"] is None
    _assert_dust_filled(gimp, "qt-layer", "damage chosen in the Qt dialog")


def test_gimp_dialog_shows_a_drawable_chooser_for_layer_parameters(gimp):
    record = _dialog_log(gimp)[-2]
    assert record["kind"] == "gimp" and record["mapped"], record
    assert record["values"] == {"damage": None, "infrared": None}
    assert record["widgets"]["damage"] == "DrawableChooser"
    for param in ("damage", "infrared"):
        nick = PROCS.arguments(photomend.get_operation("remove-defects"))
        assert any(a.name == param and a.nick.replace("_", "") in record["labels"]
                   for a in nick)
    _assert_dust_filled(gimp, "gimp-layer", "damage chosen in GIMP's dialog")


def test_qt_dialog_offers_the_layers_alpha_as_an_rgbi_scans_infrared(gimp):
    """GIMP opens an RGBI TIFF with its infrared plane as alpha: choose it as Infrared."""
    record = _dialog_log(gimp)[-1]
    assert record["kind"] == "qt" and record["title"] == "Remove Dust and Scratches"
    out = gimp.job("qt-alpha-ir")
    assert out["status"] == "success", out["message"]
    before = gimp.load(out["before"])
    infrared = before[..., 3].astype(np.float32) / 255.0
    expected = photomend.run("remove-defects", before, infrared=infrared)
    after = gimp.layer("qt-alpha-ir", 0)
    _assert_levels(after, expected, "cleaned from the alpha as infrared")
    dust = np.zeros(infrared.shape, bool)
    dust[25:28, 10:13] = dust[8, 20:40] = True
    assert (after[..., :3] != before[..., :3]).any(axis=-1)[dust].mean() > 0.8
    np.testing.assert_array_equal(after[..., 3], before[..., 3])  # alpha untouched


def test_gimp_dialog_without_pyqt5_and_cancel_changes_nothing(gimp):
    record = _dialog_log(gimp)[4]
    assert record["kind"] == "gimp"
    assert record["values"] == _gimp_defaults(**_changed(GIMP_PART, only=True))
    _unchanged(gimp, "gimp-cancel")
