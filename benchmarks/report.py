"""Markdown and JSON output of benchmark results."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any


def aggregate(rows: list[dict[str, Any]], pooled: tuple[str, ...] = ()
              ) -> list[dict[str, Any]]:
    """Average per (task, variant, method) over images.

    Metrics named in `pooled` (PSNRs) are averaged as the PSNR of the mean
    squared error over the images (an untouched image, ∞, counts 0), the
    others as plain means; images at ∞ are counted in ``"infinite"``.
    """
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    order: list[tuple[str, str, str]] = []
    for r in rows:
        key = (r["task"], r["variant"], r["method"])
        if key not in groups:
            order.append(key)
        groups[key].append(r)
    out = []
    for key in order:
        items = groups[key]
        first = items[0]
        agg: dict[str, Any] = {"task": key[0], "variant": key[1], "method": key[2],
                               "kind": first["kind"], "available": first["available"],
                               "note": first.get("note", ""), "images": len(items)}
        if first["available"]:
            metric_names = list(first["metrics"])
            agg["metrics"] = {m: (_pooled_psnr if m in pooled else _mean)(
                [i["metrics"][m] for i in items]) for m in metric_names}
            untouched = {m: sum(1 for i in items if math.isinf(i["metrics"][m]))
                         for m in metric_names}
            agg["infinite"] = {m: n for m, n in untouched.items() if n}
            seconds = sum(i["seconds"] for i in items)
            mpx = sum(i["megapixels"] for i in items)
            agg["seconds"] = seconds / len(items)
            agg["mpx_per_s"] = mpx / seconds if seconds > 0 else math.inf
            agg["peak_mb"] = max(i["peak_mb"] for i in items)
        out.append(agg)
    return out


def _mean(values: list[float]) -> float:
    """Plain mean; with some values infinite, the mean of the finite ones."""
    finite = [v for v in values if math.isfinite(v)]
    if len(finite) < len(values):
        return math.inf if not finite else float(sum(finite) / len(finite))
    return float(sum(values) / len(values))


def _pooled_psnr(values: list[float]) -> float:
    """PSNR of the mean squared error behind per-image PSNRs (∞ counts 0)."""
    mse = sum(10.0 ** (-v / 10.0) for v in values if math.isfinite(v)) / len(values)
    return math.inf if mse == 0.0 else -10.0 * math.log10(mse)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        if math.isinf(v):
            return "∞"
        return f"{v:.3f}" if abs(v) < 10 else f"{v:.2f}"
    return str(v)


def markdown(task_title: str, metrics: tuple[str, ...], rows: list[dict[str, Any]],
             notes: str = "") -> str:
    """Render aggregated rows of one task as a markdown table."""
    head = ["variant", "method", *metrics, "s/image", "Mpx/s", "peak MB"]
    lines = [f"### {task_title}", ""]
    if notes:
        lines += [notes, ""]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        if r["available"]:
            infinite = r.get("infinite", {})
            cells = [r["variant"], r["method"],
                     *(_fmt(r["metrics"].get(m, math.nan))
                       + (f" ({infinite[m]}/{r['images']} ∞)" if infinite.get(m) else "")
                       for m in metrics),
                     _fmt(r["seconds"]), _fmt(r["mpx_per_s"]), _fmt(r["peak_mb"])]
        else:
            cells = [r["variant"], r["method"], *(["n/a"] * len(metrics)), "n/a", "n/a",
                     f"n/a ({r['note']})"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def scale_markdown(task_title: str, rows: list[dict[str, Any]]) -> str:
    """Render large-image runs: what ran, on what, how fast, against which target.

    Each row has ``case``, ``method``, ``megapixels``, ``seconds``,
    ``peak_mb``, ``target`` (text) and ``met`` (bool).
    """
    head = ["case", "method", "Mpx", "seconds", "Mpx/s", "peak MB", "target", "met"]
    lines = [f"#### {task_title}: large images", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        rate = r["megapixels"] / r["seconds"] if r["seconds"] > 0 else math.inf
        cells = [r["case"], r["method"], _fmt(float(r["megapixels"])), _fmt(r["seconds"]),
                 _fmt(rate), _fmt(r["peak_mb"]), r["target"], "yes" if r["met"] else "**no**"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_json(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=1, default=float))
