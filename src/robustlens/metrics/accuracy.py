"""Overall and class-wise accuracy (Paper B, ``methods.md`` part B) as DDP-synced probe metrics.

Why a confusion-matrix state: every class-wise quantity of Paper B (accuracy per class,
confusion, CFPS/CFNS, error flow) is a function of the ``[K, K]`` count matrix
``M[a, b] = |{i : y_i = a, ŷ_i = b}|``. Counts are summed across DDP processes exactly
(``dist_reduce_fx="sum"``), so one process and many give identical results.

Every metric here assumes the evaluation module feeds each sample exactly once (DDP
samplers that pad the last batch must be undone before ``update``; see ``landscape.md``
pitfall 5).
"""

from __future__ import annotations

from typing import Annotated

import torch
from pydantic import Field
from torch import Tensor
from torchmetrics.functional.classification import multiclass_confusion_matrix

from robustlens.metrics.base import ProbeMetric, ProbeOutput

NumClasses = Annotated[int, Field(ge=2)]


def check_num_classes(num_classes: int) -> int:
    """Refuse a class count that makes class-wise metrics meaningless."""
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(
            f"num_classes must be an int >= 2, got {num_classes!r}; set it to the dataset's class "
            "count (e.g. `num_classes: ${data.num_classes}` in the metric config)"
        )
    return num_classes


def check_class_tensor(name: str, values: Tensor, num_classes: int) -> Tensor:
    """Return ``values`` as a flat long tensor after checking every entry is a class index."""
    if values.is_floating_point():
        raise ValueError(f"ProbeOutput.{name} must hold integer class indices, got dtype {values.dtype}")
    values = values.reshape(-1).long()
    if values.numel() and (values.min().item() < 0 or values.max().item() >= num_classes):
        raise ValueError(
            f"ProbeOutput.{name} holds class indices in [{values.min().item()}, {values.max().item()}] "
            f"but the metric was built with num_classes={num_classes}; set num_classes to the "
            "dataset's class count"
        )
    return values


def safe_divide(num: Tensor, den: Tensor) -> Tensor:
    """``num / den`` in float, NaN where ``den == 0`` (a quantity without data is undefined, not 0)."""
    num = num.double()
    den = den.double()
    out = num / den.where(den != 0, torch.ones_like(den))
    return out.where(den != 0, torch.full_like(out, float("nan"))).float()


class ConfusionState(ProbeMetric):
    """Base class: accumulates the confusion counts ``confmat[true, pred]`` of a probe.

    Subclasses only implement :meth:`compute` from ``self.confmat`` (already summed across
    processes when ``compute`` runs).
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
    """Overall accuracy ``|{ŷ_i = y_i}| / N`` (key ``accuracy``; NaN before any sample)."""

    higher_is_better = True

    def compute(self) -> dict[str, Tensor]:
        return {"accuracy": safe_divide(self.confmat.diagonal().sum(), self.confmat.sum())}


class ClasswiseAccuracy(ConfusionState):
    """Per-class accuracy ``acc_c = M[c, c] / Σ_b M[c, b]`` (key ``classwise_accuracy``, shape [K]).

    A class with no samples gets NaN: its accuracy is undefined, and 0 would wrongly mark
    it as the weakest class in Paper B's class-wise comparisons.
    """

    higher_is_better = True

    def compute(self) -> dict[str, Tensor]:
        return {"classwise_accuracy": safe_divide(self.confmat.diagonal(), self.confmat.sum(dim=1))}
