"""Command line of the benchmark suite: ``python -m benchmarks``."""

from __future__ import annotations

import argparse
import datetime
import platform
import sys
from pathlib import Path
from typing import Any

from . import data, report, sheets
from .core import Task
from .measure import measure
from .tasks import TASKS


def run_task(task: Task, root: data.Roots, quick: bool, seed: int,
             log: Any = sys.stderr, images: Path | None = None,
             sets: list[str] | None = None,
             only: list[str] | None = None) -> list[dict[str, Any]]:
    """Run every method of `task` on every case; return per-image rows.

    `root` is the data folder, or the folders searched in order. With
    `images`, a side-by-side picture of each case (input, every method's
    output, truth) is written there. `sets` keeps only those
    datasets, `only` only methods whose name contains one of its words
    (case-insensitive).
    """
    samples = []
    for set_name, limit, crop in task.datasets(quick):
        if sets is None or set_name in sets:
            samples += data.load(set_name, root, limit=limit, crop=crop)
    methods = task.methods()
    if only is not None:
        methods = [m for m in methods if any(w.lower() in m.name.lower() for w in only)]
    rows: list[dict[str, Any]] = []
    for case in task.cases(samples, quick, seed, data.roots(root)):
        panels: list[tuple[str, Any]] = [("input", case.degraded)]
        for method in methods:
            row: dict[str, Any] = {
                "task": task.name, "variant": case.variant, "method": method.name,
                "kind": method.kind, "image": f"{case.sample.set}/{case.sample.name}",
                "available": method.available, "note": method.note,
                "megapixels": case.sample.megapixels,
            }
            if method.fn is not None:
                output, cost = measure(method.fn, case)
                row["metrics"] = task.score(case, output)
                row["seconds"] = cost.seconds
                row["peak_mb"] = cost.peak_mb
                if getattr(output, "shape", None) == case.clean.shape:
                    panels.append((method.name, output))
            rows.append(row)
        if images is not None:
            panels.append(("truth", case.clean))
            name = sheets.slug(f"{case.variant}-{case.sample.set}-{case.sample.name}")
            sheets.side_by_side(panels, images / task.name / f"{name}.png")
        print(f"  {task.name}: {case.variant} {case.sample.set}/{case.sample.name}", file=log)
    return rows


def main(argv: list[str] | None = None) -> int:
    names = sorted(TASKS)
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--task", default="all", help=f"one of {', '.join(names)}, or all")
    parser.add_argument("--quick", action="store_true", help="a few crops per task (minutes)")
    parser.add_argument("--data", "--data-root", type=Path, action="append", default=None,
                        help="a data folder; repeat for more, searched in order before "
                             "the default ($PHOTOMEND_DATA or ../shared/datasets). Put "
                             "held-out material such as recorded blur kernels here")
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"),
                        help="where results.md, results.json and images/ go")
    parser.add_argument("--save-images", action="store_true",
                        help="side-by-side images of every case of every task "
                             "(tasks such as inpaint always save theirs)")
    parser.add_argument("--no-scale", action="store_true",
                        help="skip the large-image speed runs")
    parser.add_argument("--sets", default=None,
                        help="comma-separated datasets to keep (e.g. CBSD68,Kodak24)")
    parser.add_argument("--methods", default=None,
                        help="comma-separated words; keep methods whose name contains one "
                             "(e.g. photomend,bm3d)")
    args = parser.parse_args(argv)
    selected = names if args.task == "all" else [t.strip() for t in args.task.split(",")]
    unknown = [t for t in selected if t not in TASKS]
    if unknown:
        parser.error(f"unknown task {unknown[0]!r}; choose from {', '.join(names)} or all")
    default = data.default_root()
    root = list(args.data or [])
    if default is not None and default not in root:
        root.append(default)
    shown = ", ".join(str(r) for r in root)
    print(f"datasets: {shown if root else 'none found, using synthetic scenes'}", file=sys.stderr)

    sections, payload = [], {"date": datetime.datetime.now().isoformat(timespec="seconds"),
                             "quick": args.quick, "seed": args.seed,
                             "machine": platform.platform(), "tasks": {}}
    for name in selected:
        task = TASKS[name]
        images = args.out / "images" if (args.save_images or task.save_images) else None
        rows = run_task(task, root, args.quick, args.seed, images=images,
                        sets=None if args.sets is None else args.sets.split(","),
                        only=None if args.methods is None else args.methods.split(","))
        agg = report.aggregate(rows, pooled=task.pooled)
        sections.append(report.markdown(task.title, task.metrics, agg, task.notes))
        payload["tasks"][name] = {"rows": rows, "summary": agg}
        if task.scale is not None and not args.no_scale:
            scale_rows = task.scale(root, args.quick, args.seed, args.out / "images" / name)
            sections.append(report.scale_markdown(task.title, scale_rows))
            payload["tasks"][name]["scale"] = scale_rows
    text = "\n".join(sections)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.md").write_text(text)
    report.write_json(args.out / "results.json", payload)
    print(f"wrote {args.out / 'results.md'} and {args.out / 'results.json'}", file=sys.stderr)
    return 0
