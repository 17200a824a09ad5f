"""The benchmark runner works end to end on tiny synthetic data."""

import dataclasses
import io
import json

import numpy as np
import pytest

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
