"""The pieces every benchmark task is made of."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import photomend

from .data import Sample


@dataclass
class Case:
    """One degraded input with its ground truth."""

    sample: Sample
    variant: str
    degraded: np.ndarray
    clean: np.ndarray
    truth: dict[str, Any] = field(default_factory=dict)


@dataclass
class Method:
    """A way to restore a case: photomend, a peer, or a reference."""

    name: str
    fn: Callable[[Case], Any] | None
    note: str = ""
    kind: str = "peer"  # "photomend", "peer" or "reference"

    @property
    def available(self) -> bool:
        return self.fn is not None


def photomend_method(op_id: str, label: str | None = None,
                     call: Callable[[Case], Any] | None = None, **params: Any) -> Method:
    """A photomend operation as a method; not available until it is registered."""
    name = label or f"photomend {op_id}"
    ids = {s.id for s in photomend.operations()}
    if op_id not in ids:
        return Method(name, None, "operation not implemented yet", kind="photomend")
    if call is None:
        def call(case: Case) -> Any:
            return photomend.run(op_id, case.degraded, **params)
    return Method(name, call, kind="photomend")


@dataclass
class Task:
    """A benchmark task: which images, how to degrade them, how to score."""

    name: str
    title: str
    metrics: tuple[str, ...]
    datasets: Callable[[bool], list[tuple[str, int | None, int | None]]]
    #: ``cases(samples, quick, seed, roots)``: the degraded inputs; `roots`
    #: are the data folders, for tasks that read more than images.
    cases: Callable[[list[Sample], bool, int, list[Path]], Iterator[Case]]
    methods: Callable[[], list[Method]]
    score: Callable[[Case, Any], dict[str, float]]
    notes: str = ""
    higher_is_better: dict[str, bool] = field(default_factory=dict)
    #: Save a side-by-side image per case (input, every method, truth).
    save_images: bool = False
    #: Large-image runs against speed targets: ``scale(root, quick, seed,
    #: images_dir)`` returns rows (see :func:`benchmarks.report.scale_markdown`).
    scale: Callable[[Any, bool, int, Any], list[dict[str, Any]]] | None = None
    #: Metrics (PSNRs) averaged as the PSNR of the mean squared error over
    #: the images, for tasks where a method may leave an image untouched
    #: (∞): a mean of decibels cannot hold an ∞, and leaving those images
    #: out would score a method that leaves more alone on its harder cases.
    pooled: tuple[str, ...] = ()
