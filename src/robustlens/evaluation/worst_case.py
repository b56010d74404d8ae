"""The pointwise worst case over attack probes, as a torchmetrics metric.

Why pointwise: a sample counts as robust only if *every* attack in the worst case failed on it.
The mean of the attacks' accuracies or "robust to at least one attack" are both higher and
would overstate robustness; the worst case is never one attack's number, hence its own
``worst_case/`` prefix in the results.

Why a metric: the attack probes run in separate ``Trainer.test`` passes, each rank seeing its
own samples. The metric keeps ``(index, label, correct)`` per sample and probe as ``cat`` states,
so torchmetrics gathers them from every rank at :meth:`compute`, exactly as the other metrics
are synced; rows of probes reused from an earlier job are added once (on rank 0) from their
saved per-sample table. Rates are counted in integers and divided in float64.
"""

from __future__ import annotations

from typing import Annotated

import pandas as pd
import torch
from pydantic import Field
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

from robustlens.metrics.intervals import IntervalOptions, wilson_entries

PREFIX = "worst_case"


class WorstCaseAccuracy(Metric):
    """Accuracy under the pointwise worst case over the probes fed to it.

    ``update(probe, index, labels, correct)`` once per batch of every probe in the worst case;
    ``compute()`` returns ``accuracy`` (robust samples / samples) and ``classwise_accuracy``
    (per class; ``nan`` for a class without samples), both float64, with their Wilson intervals
    (``accuracy/ci_low``, ``classwise_accuracy/ci_low``, ``.../ci_high``) at the level of
    :attr:`interval_options`.

    A sample that a probe did not cover is judged on the probes that did; a probe fed the same
    sample twice is an error (the evaluation must count every sample once).

    Args:
        num_classes: number of classes of the data.
        probes: the names of the probes in the worst case (fixed up front so that every rank
            numbers them alike).
    """

    full_state_update = False
    interval_options: IntervalOptions = IntervalOptions()

    def __init__(self, num_classes: Annotated[int, Field(ge=1)], probes: list[str]):
        super().__init__()
        self.num_classes = int(num_classes)
        self.probe_names = list(probes)
        self.add_state("index", default=[], dist_reduce_fx="cat")
        self.add_state("labels", default=[], dist_reduce_fx="cat")
        self.add_state("correct", default=[], dist_reduce_fx="cat")
        self.add_state("probe_id", default=[], dist_reduce_fx="cat")
        # every state is float64 (exact for indices below 2**53): torchmetrics fills the state of a
        # rank that saw no sample with an empty tensor of the metric's dtype, and gathering needs
        # one dtype on all ranks
        self.set_dtype(torch.float64)

    def set_interval_options(self, options: IntervalOptions) -> None:
        """Use ``options`` (``evaluation.interval_*``) for the intervals :meth:`compute` returns."""
        self.interval_options = options

    def _probe_id(self, probe: str) -> int:
        if probe not in self.probe_names:
            raise KeyError(f"probe {probe!r} is not in this worst case ({', '.join(self.probe_names)})")
        return self.probe_names.index(probe)

    def update(self, probe: str, index: Tensor, labels: Tensor, correct: Tensor) -> None:  # type: ignore[override]
        n = len(index)
        if not (len(labels) == len(correct) == n):
            raise ValueError(f"index, labels and correct must have one entry per sample, got {n}, {len(labels)}, {len(correct)}")
        as_state = {"dtype": torch.float64, "device": self.device}
        self.index.append(index.detach().reshape(-1).to(**as_state))
        self.labels.append(labels.detach().reshape(-1).to(**as_state))
        self.correct.append(correct.detach().reshape(-1).to(**as_state))
        self.probe_id.append(torch.full((n,), float(self._probe_id(probe)), **as_state))

    def update_from_table(self, probe: str, table: pd.DataFrame) -> None:
        """Add a finished probe's per-sample table (``index``, ``label``, ``pred``) in one go."""
        self.update(
            probe,
            torch.as_tensor(table["index"].to_numpy(copy=True), device=self.device),
            torch.as_tensor(table["label"].to_numpy(copy=True), device=self.device),
            torch.as_tensor((table["pred"] == table["label"]).to_numpy(copy=True), device=self.device),
        )

    def compute(self) -> dict[str, Tensor]:
        level = self.interval_options.level
        if (len(self.index) if isinstance(self.index, list) else self.index.numel()) == 0:  # a tensor once synced
            nan = torch.tensor(float("nan"), dtype=torch.float64)
            zeros = torch.zeros(self.num_classes, dtype=torch.long)
            return {"accuracy": nan, "classwise_accuracy": torch.full((self.num_classes,), float("nan"), dtype=torch.float64),
                    **wilson_entries("accuracy", 0, 0, level), **wilson_entries("classwise_accuracy", zeros, zeros, level)}
        index, labels = dim_zero_cat(self.index).long(), dim_zero_cat(self.labels).long()
        correct, probe = dim_zero_cat(self.correct).long(), dim_zero_cat(self.probe_id).long()
        samples, position = torch.unique(index, return_inverse=True)
        pairs = position * (int(probe.max()) + 1) + probe
        if torch.unique(pairs).numel() != pairs.numel():
            raise RuntimeError(
                "a sample reached the worst case twice for one probe (a padding distributed sampler, or a "
                "reused probe added on every rank?); the evaluation must count every sample once"
            )
        broken = torch.zeros(len(samples), dtype=torch.long, device=index.device)
        broken.scatter_reduce_(0, position, 1 - correct, reduce="amax")
        sample_label = torch.zeros(len(samples), dtype=torch.long, device=index.device)
        sample_label.scatter_(0, position, labels)
        robust = 1 - broken
        count = torch.bincount(sample_label, minlength=self.num_classes).double()
        robust_count = torch.bincount(sample_label, weights=robust.double(), minlength=self.num_classes)
        return {
            "accuracy": robust.sum().double() / len(samples),
            "classwise_accuracy": torch.where(count > 0, robust_count / count.clamp(min=1), torch.nan),
            **wilson_entries("accuracy", robust.sum(), len(samples), level),
            **wilson_entries("classwise_accuracy", robust_count.round().long(), count.long(), level),
        }


def worst_case_probes(probes: dict) -> list[str]:
    """The names of the probes that enter the worst case (``Probe.in_worst_case``), in order."""
    return [name for name, probe in probes.items() if probe.in_worst_case]
