"""The benchmark runner works end to end on tiny synthetic data."""

import dataclasses
import io
import json

import numpy as np
import pytest
from PIL import Image as PILImage

from benchmarks import data, report, runner
from benchmarks.tasks import TASKS


def _tiny(task):
    sets = [name for name, _, _ in task.datasets(True)]
    return dataclasses.replace(task, datasets=lambda quick: [(s, 1, 64) for s in sets[:1]])


@pytest.mark.parametrize("name", sorted(TASKS))
def test_every_task_runs_and_reports_photomend(name, monkeypatch):
    task = _tiny(TASKS[name])
    monkeypatch.setattr(task, "methods", lambda: [
        m for m in TASKS[name].methods()
        if m.kind != "peer" or m.name.split()[0] in ("gray", "white", "Dust", "top-hat")])
    rows = runner.run_task(task, None, quick=True, seed=1, log=io.StringIO())
    assert rows
    agg = report.aggregate(rows)
    table = report.markdown(task.title, task.metrics, agg)
    assert "photomend" in table
    for r in agg:
        if r["available"]:
            assert set(r["metrics"]) == set(task.metrics)
            assert all(np.isfinite(v) or v == np.inf for v in r["metrics"].values())
            assert r["peak_mb"] >= 0


def test_synthetic_fallback_when_no_dataset(tmp_path):
    samples = data.load("Kodak24", tmp_path, limit=2, crop=32)
    assert [s.set for s in samples] == ["synthetic-rgb"] * 2
    assert samples[0].image.shape == (32, 32, 3)
    gray = data.load("Set12", None, limit=1, crop=24)
    assert gray[0].image.shape == (24, 24, 1)


def test_aggregate_means_and_throughput():
    rows = [{"task": "t", "variant": "v", "method": "m", "kind": "peer", "available": True,
             "metrics": {"PSNR": p}, "seconds": 1.0, "megapixels": 2.0, "peak_mb": mb}
            for p, mb in ((30.0, 5.0), (32.0, 7.0))]
    rows.append({"task": "t", "variant": "v", "method": "x", "kind": "photomend",
                 "available": False, "note": "not yet"})
    agg = report.aggregate(rows)
    assert agg[0]["metrics"]["PSNR"] == 31.0
    assert agg[0]["mpx_per_s"] == 2.0 and agg[0]["peak_mb"] == 7.0
    assert "n/a (not yet)" in report.markdown("T", ("PSNR",), agg)


def test_main_writes_markdown_and_json(tmp_path, monkeypatch):
    monkeypatch.setitem(TASKS, "sharpen", _tiny(TASKS["sharpen"]))
    monkeypatch.setenv("PHOTOMEND_DATA", str(tmp_path / "none"))
    assert runner.main(["--task", "sharpen", "--quick", "--out", str(tmp_path)]) == 0
    payload = json.loads((tmp_path / "results.json").read_text())
    assert "sharpen" in payload["tasks"]
    assert "photomend sharpen" in (tmp_path / "results.md").read_text()


def test_measure_sees_a_large_buffer():
    from benchmarks.measure import measure

    def allocate() -> float:
        a = np.ones((64, 1024, 1024), np.uint8)  # 64 MiB, touched
        return float(a[::4096].sum())

    _, cost = measure(allocate)
    assert 60 <= cost.peak_mb <= 200 and cost.seconds > 0


def _levin_like(folder, kernel, images=(5, 6)):
    """Write MATLAB files laid out as Levin et al.'s: sharp x, blurred y, kernel f."""
    from scipy import io as sio

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for n in images:
        x = rng.random((40, 40))
        sio.savemat(folder / f"im0{n}_flit01.mat", {"x": x, "y": x[:30, :30], "f": kernel})


def test_recorded_kernels_found_normalised_centred_and_kept_once(tmp_path):
    from benchmarks import kernels
    from photomend import psf as psfs

    shake = np.zeros((9, 11))
    shake[2, 1:6] = [1, 2, 3, 2, 1]  # off centre, unnormalised
    shake[3:7, 6] = 2.0
    _levin_like(tmp_path / "holdout" / "Levin09", shake)  # two files, one kernel
    (tmp_path / "holdout" / "kernels").mkdir()
    dot = np.zeros((7, 7), np.uint8)
    dot[2:5, 3] = 255
    PILImage.fromarray(dot).save(tmp_path / "holdout" / "kernels" / "line.png")
    PILImage.fromarray(np.full((64, 64), 9, np.uint8)).save(tmp_path / "holdout" / "photo.png")
    from scipy import io as sio
    sio.savemat(tmp_path / "holdout" / "notes.mat", {"a": np.ones((3, 3)), "b": np.ones((4, 4))})
    (tmp_path / "holdout" / "broken.mat").write_bytes(b"not matlab")

    found = kernels.recorded([tmp_path / "missing", tmp_path / "holdout"])
    assert [name for name, _ in found] == ["Levin09/im05_flit01", "kernels/line"]
    for _, k in found:
        assert k.sum() == pytest.approx(1.0) and k.min() >= 0
        assert k.shape[0] % 2 == 1 and k.shape[1] % 2 == 1
        ys, xs = np.indices(k.shape)
        assert (k * ys).sum() == pytest.approx(k.shape[0] // 2, abs=1e-6)
        assert (k * xs).sum() == pytest.approx(k.shape[1] // 2, abs=1e-6)
    np.testing.assert_allclose(found[0][1], psfs.center(shake))
    np.testing.assert_allclose(found[1][1], psfs.center(dot.astype(float)))


def test_deblur_adds_recorded_variant_only_when_kernels_exist(tmp_path):
    from benchmarks.tasks import deblur

    samples = data.load("Set12", None, limit=3, crop=40)
    plain = {c.variant for c in deblur.cases(samples, True, 1, [tmp_path])}
    assert deblur.RECORDED not in plain and len(plain) == 4
    a, b = np.zeros((5, 5)), np.zeros((7, 7))
    a[2, 1:4] = 1.0
    b[1:6, 3] = 1.0
    _levin_like(tmp_path / "k1", a, images=(5,))
    _levin_like(tmp_path / "k2", b, images=(5,))
    rec = [c for c in deblur.cases(samples, True, 1, [tmp_path]) if c.variant == deblur.RECORDED]
    assert [c.truth["psf"].shape for c in rec] == [(1, 3), (5, 1), (1, 3)]  # trimmed
    # The blur applied is the kernel reported as truth.
    from photomend import psf as psfs
    from photomend.convert import linear_to_srgb, srgb_to_linear
    expect = linear_to_srgb(psfs.blur(srgb_to_linear(samples[1].image), rec[1].truth["psf"]))
    assert np.abs(rec[1].degraded - expect).mean() < 0.012  # 1 % noise on top


def test_main_searches_every_data_folder(tmp_path, monkeypatch):
    monkeypatch.setitem(TASKS, "deblur", _tiny(TASKS["deblur"]))
    monkeypatch.setenv("PHOTOMEND_DATA", str(tmp_path / "none"))
    k = np.zeros((5, 5))
    k[2, :] = 1.0
    _levin_like(tmp_path / "holdout" / "levin", k, images=(5,))
    out = tmp_path / "out"
    assert runner.main(["--task", "deblur", "--quick", "--no-scale", "--methods", "photomend",
                        "--data", str(tmp_path / "empty"), "--data-root",
                        str(tmp_path / "holdout"), "--out", str(out)]) == 0
    rows = json.loads((out / "results.json").read_text())["tasks"]["deblur"]["rows"]
    assert "camera shake (recorded)" in {r["variant"] for r in rows}


def test_files_that_are_no_kernels_are_skipped(tmp_path, capsys):
    from scipy import io as sio

    from benchmarks import kernels

    k = tmp_path / "kernels"
    k.mkdir()
    (k / "broken.png").write_bytes(b"not a png")
    np.save(k / "text.npy", np.array(["a", "b", "c"]))
    sio.savemat(k / "whole.mat", {"f": np.ones((3, 3))})
    (k / "cut.mat").write_bytes((k / "whole.mat").read_bytes()[:100])
    sio.savemat(k / "camera.mat", {"K": np.eye(3)})  # a camera matrix, not a kernel
    sio.savemat(k / "colour.mat", {"m": np.ones((3, 3))})  # an unnamed small array
    sio.savemat(k / "signed.mat", {"f": np.array([[1.0, -0.5, 1.0]])})  # a filter
    sio.savemat(k / "image.mat", {"f": np.ones((300, 300))})  # too big for a kernel
    np.save(k / "streak.npy", np.ones((1, 5)))  # a horizontal motion streak
    found = kernels.recorded([tmp_path])
    assert [name for name, _ in found] == ["kernels/streak", "kernels/whole"]
    assert found[0][1].shape == (1, 5)
    err = capsys.readouterr().err
    assert "broken.png" in err and "cut.mat" in err and "text.npy" not in err


def test_data_folders_are_searched_in_order(tmp_path):
    for name, value in (("first", 50), ("second", 200)):
        (tmp_path / name / "Set12").mkdir(parents=True)
        PILImage.fromarray(np.full((8, 8), value, np.uint8)).save(
            tmp_path / name / "Set12" / "01.png")
    samples = data.load("Set12", [tmp_path / "none", tmp_path / "first", tmp_path / "second"])
    assert samples[0].set == "Set12" and samples[0].image.max() == pytest.approx(50 / 255)


def test_no_peer_calls_unsharp_mask_with_a_negative_channel_axis():
    # scikit-image 0.26's unsharp_mask(channel_axis=-1) slices the first
    # axis and leaves most of its output uninitialised: peers pass 2.
    import re
    from pathlib import Path

    import benchmarks

    def call_at(text: str, start: int) -> str:
        depth = 0
        for end in range(start, len(text)):
            depth += {"(": 1, ")": -1}.get(text[end], 0)
            if depth == 0 and text[end] == ")":
                return text[start:end + 1]
        return text[start:]

    root = Path(benchmarks.__file__).parent
    calls = [(p.name, call_at(text, m.end() - 1)) for p in root.rglob("*.py")
             for text in [p.read_text()] for m in re.finditer(r"unsharp_mask\(", text)]
    bad = [c for c in calls if not re.search(r"channel_axis\s*=\s*2\b", c[1])]
    assert calls and not bad, bad


def test_untouched_photos_pool_into_the_psnr_rather_than_drop_out():
    # Leaving ∞ out would score a method that leaves more photos alone lower;
    # a pooled PSNR never drops when an image's PSNR rises (to ∞ or not).
    def rows(method, values):
        return [{"task": "t", "variant": "v", "method": method, "kind": "photomend",
                 "available": True, "metrics": {"PSNR": p, "F1": 0.5}, "seconds": 1.0,
                 "megapixels": 1.0, "peak_mb": 1.0} for p in values]
    agg = report.aggregate(rows("few", [40.0, 40.0, 50.0, np.inf])
                           + rows("many", [40.0, np.inf, np.inf, np.inf])
                           + rows("close", [40.0, 40.0, 50.0, 80.0]), pooled=("PSNR",))
    few, many, close = (a["metrics"]["PSNR"] for a in agg)
    assert many > few > close
    assert few == pytest.approx(-10 * np.log10((2e-4 + 1e-5) / 4))
    assert agg[0]["infinite"] == {"PSNR": 1} and agg[0]["metrics"]["F1"] == 0.5
    assert "(3/4 ∞)" in report.markdown("T", ("PSNR",), agg)
    # without pooling, the plain mean
    assert report.aggregate(rows("close", [40.0, 80.0]))[0]["metrics"]["PSNR"] == 60.0
