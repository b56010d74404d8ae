"""What one evaluation hands to the reporting callbacks: :class:`EvaluationResult`.

Why one typed object: reporting callbacks (class-wise tables, latent figures, anything a
user adds) need the finished metrics, the per-sample table and the images of every probe.
Passing them as one value through ``on_evaluation_end(trainer, pl_module, result)`` makes
the contract visible in a signature instead of in attributes set on the LightningModule.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from torch import Tensor


@dataclass(frozen=True)
class ProbePass:
    """The output of one probe's pass over the evaluation set (one ``Trainer.test`` call).

    Attributes:
        metrics: flat ``{"<probe>/<metric>[/<class>]": value}`` of this probe.
        table: one row per sample: ``index``, ``label`` and the probe's per-sample columns.
        images: named image batches of the first batch (e.g. ``clean``, ``adversarial``).
        cost_record: the strings of the pass's cost (device, precision, what the memory peak
            measures, batch size; ``robustlens.evaluation.cost``), its numbers are in ``metrics``.
    """

    metrics: dict[str, Any]
    table: pd.DataFrame
    images: dict[str, Tensor] = field(default_factory=dict)
    cost_record: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EvaluationResult:
    """Everything an evaluation produced, as callbacks receive it at its end.

    Attributes:
        metrics: flat ``{"<probe>/<metric>": float, "<probe>/<metric>/<class>": float,
            "<probe>/<matrix metric>": nested lists}``: exactly the ``metrics`` of ``results.json``,
            the worst case (``worst_case/...``) and probes reused on resume included.
        per_sample: one row per sample: ``index``, ``label`` and ``<probe>/<column>`` for every
            probe (the content of ``per_sample.csv``).
        images: per probe, its named first-batch image batches (``{probe: {name: [B,C,H,W]}}``);
            probes reused from an earlier, interrupted job keep the images they saved then.
        embeddings: per probe, clean-vs-probed 2-D feature embeddings
            (``{probe: {"clean": [N,2], "attacked": [M,2], "labels": [N]}}``) for probes with a
            ``LatentStructure`` metric that ran in this job.
        class_names: one name per class, in label order.
        output_dir: the job's output directory (reports go below it).
        probes: the probe names in evaluation order.
    """

    metrics: dict[str, Any]
    per_sample: pd.DataFrame
    class_names: list[str]
    output_dir: Path
    probes: list[str] = field(default_factory=list)
    images: dict[str, dict[str, Tensor]] = field(default_factory=dict)
    embeddings: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def probe_table(self, probe: str) -> pd.DataFrame:
        """``index``, ``label`` and the columns of ``probe`` with their ``<probe>/`` prefix removed."""
        prefix = f"{probe}/"
        columns = [c for c in self.per_sample.columns if c.startswith(prefix)]
        table = self.per_sample[["index", "label", *columns]]
        return table.rename(columns={c: c[len(prefix):] for c in columns})


def merge_probe_tables(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per sample: ``index, label`` and ``<probe>/<column>`` for every probe's table."""
    merged: pd.DataFrame | None = None
    for name, table in tables.items():
        if table is None or table.empty:
            continue
        renamed = table.rename(columns={c: f"{name}/{c}" for c in table.columns if c not in ("index", "label")})
        merged = renamed if merged is None else merged.merge(renamed, on=["index", "label"], how="outer")
    return merged if merged is not None else pd.DataFrame(columns=["index", "label"])
