"""Overall and class-wise accuracy (Paper B; ``docs/metrics.md``) as DDP-synced probe metrics.

Why a confusion-matrix state: every class-wise quantity of Paper B (accuracy per class,
confusion, CFPS/CFNS, error flow, the fairness summaries) is a function of the ``[K, K]``
count matrix ``M[a, b] = |{i : y_i = a, ŷ_i = b}|``. Counts are summed across DDP processes
exactly (``dist_reduce_fx="sum"``) and divided once, in float64, at ``compute``: one process
and many give identical values, and 992 of 1000 is 0.992 exactly.

Every metric here assumes the evaluation module feeds each sample exactly once (a padding
DDP sampler is refused upstream; ``docs/metrics.md``, "Each sample counts once").
"""

from __future__ import annotations

from typing import Annotated

import torch
from pydantic import Field
from torch import Tensor
from torchmetrics.functional.classification import multiclass_confusion_matrix

from robustlens.metrics.base import ProbeMetric, ProbeOutput
from robustlens.metrics.functional import (
    check_class_tensor,
    check_num_classes,
    fairness_interval_entries,
    fairness_summary,
    rate,
)
from robustlens.metrics.intervals import interval_keys, wilson_entries

NumClasses = Annotated[int, Field(ge=2)]


class ConfusionState(ProbeMetric):
    """Base class: accumulates the confusion counts ``confmat[true, pred]`` of a probe.

    Subclasses only implement :meth:`compute` from ``self.confmat`` (already summed across
    processes when ``compute`` runs) and declare their keys in ``emits``.
    """

    full_state_update = False

    def __init__(self, num_classes: NumClasses = 10) -> None:
        super().__init__()
        self.num_classes = check_num_classes(num_classes)
        self.add_state(
            "confmat", default=torch.zeros(num_classes, num_classes, dtype=torch.long), dist_reduce_fx="sum"
        )

    def update(self, output: ProbeOutput) -> None:
        labels = check_class_tensor("labels", output.labels, self.num_classes)
        preds = check_class_tensor("preds", output.preds, self.num_classes)
        if labels.shape != preds.shape:
            raise ValueError(f"ProbeOutput.labels has {labels.numel()} entries but preds has {preds.numel()}")
        if labels.numel() == 0:
            return
        device = self.confmat.device
        counts = multiclass_confusion_matrix(
            preds.to(device), labels.to(device), self.num_classes, validate_args=False
        )
        self.confmat += counts.long()


class Accuracy(ConfusionState):
    """Overall accuracy ``|{ŷ_i = y_i}| / N`` (key ``accuracy``; NaN before any sample) and its
    Wilson interval (``accuracy/ci_low``, ``accuracy/ci_high``)."""

    higher_is_better = True
    emits = ("accuracy", *interval_keys("accuracy"))

    def compute(self) -> dict[str, Tensor]:
        correct, total = self.confmat.diagonal().sum(), self.confmat.sum()
        return {"accuracy": rate(correct, total), **wilson_entries("accuracy", correct, total, self.interval_options.level)}


class ClasswiseAccuracy(ConfusionState):
    """Per-class accuracy ``acc_c = M[c, c] / Σ_b M[c, b]`` (key ``classwise_accuracy``, shape [K]).

    A class with no samples gets NaN: its accuracy is undefined, and 0 would wrongly mark
    it as the weakest class in Paper B's class-wise comparisons. Per-class Wilson intervals:
    ``classwise_accuracy/ci_low`` and ``classwise_accuracy/ci_high`` (shape [K], NaN likewise).
    """

    higher_is_better = True
    emits = ("classwise_accuracy", *interval_keys("classwise_accuracy"))

    def compute(self) -> dict[str, Tensor]:
        correct, total = self.confmat.diagonal(), self.confmat.sum(dim=1)
        return {
            "classwise_accuracy": rate(correct, total),
            **wilson_entries("classwise_accuracy", correct, total, self.interval_options.level),
        }


class ClasswiseFairness(ConfusionState):
    """Robust-fairness summaries of the class-wise accuracy (FRL, Xu et al. 2021; CFA, Wei et
    al. 2023; DAFA, Lee et al. 2024), from the same confusion counts.

    Keys: ``worst_class_accuracy``, ``worst_class``, ``classwise_accuracy_spread`` (max − min),
    ``classwise_accuracy_std`` (ddof 0), ``worst_class_top_confusion`` (the class receiving
    most of the worst class's errors; DAFA observes these go to similar classes; -1 without
    errors) and ``worst_class_top_confusion_share``. Classes without samples are left out.
    See :func:`robustlens.metrics.functional.fairness_summary`.

    The worst-class accuracy, spread and std get seeded bootstrap intervals stratified by class
    (``<key>/ci_low``, ``<key>/ci_high``; :func:`~robustlens.metrics.functional.fairness_interval_entries`).
    """

    emits = (
        "worst_class_accuracy",
        "worst_class",
        "classwise_accuracy_spread",
        "classwise_accuracy_std",
        "worst_class_top_confusion",
        "worst_class_top_confusion_share",
        *interval_keys("worst_class_accuracy"),
        *interval_keys("classwise_accuracy_spread"),
        *interval_keys("classwise_accuracy_std"),
    )

    def compute(self) -> dict[str, Tensor]:
        return {**fairness_summary(self.confmat), **fairness_interval_entries(self.confmat, self.interval_options)}


__all__ = ["Accuracy", "ClasswiseAccuracy", "ClasswiseFairness", "ConfusionState", "NumClasses"]
