"""Paper B's class-to-class metrics (``docs/metrics.md``) as DDP-synced probe metrics.

All states are count tensors summed across processes, so every value is exact under DDP.
Conventions (documented once, used everywhere):

* matrices are indexed ``[true class, predicted / target class]``;
* a rate over a class with no samples is NaN (undefined), never 0;
* CFPS/CFNS are shares of *all* errors; with no errors at all they are 0 for every class.
"""

from __future__ import annotations

import torch
from torch import Tensor

from robustlens.metrics.accuracy import ConfusionState, NumClasses
from robustlens.metrics.base import ProbeMetric, ProbeOutput
from robustlens.metrics.functional import check_class_tensor, check_num_classes, off_diagonal, rate
from robustlens.metrics.intervals import interval_keys, wilson_entries


class ConfusionMatrix(ConfusionState):
    """Confusion counts ``confusion[a, b] = |{y = a, ŷ = b}|`` and their row-normalised form.

    ``confusion_normalized[a, b]`` is the share of class-a samples predicted as b.

    Rows of classes with no samples are NaN in ``confusion_normalized`` (the row has no
    distribution); they stay 0 in ``confusion``.
    """

    emits = ("confusion", "confusion_normalized")

    def compute(self) -> dict[str, Tensor]:
        rows = self.confmat.sum(dim=1, keepdim=True).expand_as(self.confmat)
        return {"confusion": self.confmat.clone(), "confusion_normalized": rate(self.confmat, rows)}


class ClassFalseScores(ConfusionState):
    """Class false positive / negative scores (Paper B).

    ``cfps[c] = |{ŷ = c, y ≠ c}| / |{ŷ ≠ y}|``: the share of all errors that land *in* c
    (high = "attractor" class). ``cfns[c] = |{y = c, ŷ ≠ c}| / |{ŷ ≠ y}|``: the share of
    errors whose true class is c. Both sum to 1 when there is at least one error; with no
    errors they are defined as 0 for every class (nothing is attracted), and ``num_errors``
    (= 0) is returned so that case can be told apart.

    ``cfps``/``cfns`` are defined per class (there is no scalar version), so they keep their
    names instead of ``classwise_…`` (``docs/metrics.md``, key convention).
    """

    emits = ("cfps", "cfns", "num_errors")

    def compute(self) -> dict[str, Tensor]:
        errors = off_diagonal(self.confmat)
        total = errors.sum()
        if total == 0:
            zeros = torch.zeros(self.num_classes, dtype=torch.float64, device=errors.device)
            return {"cfps": zeros, "cfns": zeros.clone(), "num_errors": total}
        return {
            "cfps": rate(errors.sum(dim=0), total),
            "cfns": rate(errors.sum(dim=1), total),
            "num_errors": total,
        }


class ErrorFlow(ConfusionState):
    """Where each class's errors go: the off-diagonal confusion counts as a flow list.

    Keys:
        ``error_flow``: long [M, 3] rows ``(source, target, count)`` for every non-zero
            off-diagonal count, sorted by count (descending), then source, then target.
        ``top_attractor``: long [K], per source class the target that receives most of
            its errors (lowest index on ties); -1 for a class without errors.
        ``top_attractor_share``: float [K], that target's share of the class's errors
            (NaN for a class without errors).
    """

    emits = ("error_flow", "top_attractor", "top_attractor_share")

    def compute(self) -> dict[str, Tensor]:
        errors = off_diagonal(self.confmat)
        src, tgt = torch.nonzero(errors, as_tuple=True)
        counts = errors[src, tgt]
        # stable lexicographic sort: (-count, source, target); nonzero already orders by (source, target)
        order = torch.sort(-counts, stable=True).indices
        flow = torch.stack([src[order], tgt[order], counts[order]], dim=1).long()
        row_errors = errors.sum(dim=1)
        top = errors.argmax(dim=1)  # first maximal index on ties
        top = top.where(row_errors > 0, torch.full_like(top, -1))
        share = rate(errors.max(dim=1).values, row_errors)
        return {"error_flow": flow.reshape(-1, 3), "top_attractor": top, "top_attractor_share": share}


class FlipRate(ProbeMetric):
    """Flip rate ``|{ŷ(clean) ≠ ŷ(probe)}| / N`` (Paper B), overall and per true class.

    A flip counts any change of decision, whether the clean prediction was right or not.
    Keys: ``flip_rate`` (scalar) and ``classwise_flip_rate`` ([K], NaN for classes without
    samples) with their Wilson intervals (``flip_rate/ci_low``, ``classwise_flip_rate/ci_low``,
    ``.../ci_high``). Needs ``ProbeOutput.clean_preds``.
    """

    full_state_update = False
    higher_is_better = False
    emits = ("flip_rate", "classwise_flip_rate", *interval_keys("flip_rate"), *interval_keys("classwise_flip_rate"))

    def __init__(self, num_classes: NumClasses = 10) -> None:
        super().__init__()
        self.num_classes = check_num_classes(num_classes)
        self.add_state("flips", default=torch.zeros(num_classes, dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("count", default=torch.zeros(num_classes, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, output: ProbeOutput) -> None:
        if output.clean_preds is None:
            raise ValueError(
                "FlipRate needs ProbeOutput.clean_preds (the prediction on the unperturbed input); "
                "the probe did not provide them: attach FlipRate only to probes that perturb inputs"
            )
        labels = check_class_tensor("labels", output.labels, self.num_classes).to(self.flips.device)
        preds = check_class_tensor("preds", output.preds, self.num_classes).to(self.flips.device)
        clean = check_class_tensor("clean_preds", output.clean_preds, self.num_classes).to(self.flips.device)
        if not labels.shape == preds.shape == clean.shape:
            raise ValueError("ProbeOutput.labels, preds and clean_preds must have the same length")
        self.flips += torch.bincount(labels[preds.ne(clean)], minlength=self.num_classes)
        self.count += torch.bincount(labels, minlength=self.num_classes)

    def compute(self) -> dict[str, Tensor]:
        level = self.interval_options.level
        return {
            "flip_rate": rate(self.flips.sum(), self.count.sum()),
            "classwise_flip_rate": rate(self.flips, self.count),
            **wilson_entries("flip_rate", self.flips.sum(), self.count.sum(), level),
            **wilson_entries("classwise_flip_rate", self.flips, self.count, level),
        }


class TargetedSuccessMatrix(ProbeMetric):
    """``S[a, t]``: fraction of class-a samples a targeted attack pushes to class t (Paper B).

    Input: ``ProbeOutput.values["targeted_success"]``, bool [B, K], column t = whether the
    attack aimed at t succeeded (an attack probe with target mode "all"). The diagonal
    (target = own class) is meaningless and reported as NaN, as are rows of classes with
    no samples. Keys: ``targeted_success`` ([K, K]) and ``targeted_success_rate`` (scalar,
    all off-diagonal successes over all off-diagonal attempts).
    """

    full_state_update = False
    key = "targeted_success"
    emits = ("targeted_success", "targeted_success_rate")

    def __init__(self, num_classes: NumClasses = 10) -> None:
        super().__init__()
        self.num_classes = check_num_classes(num_classes)
        k = num_classes
        self.add_state("hits", default=torch.zeros(k, k, dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("count", default=torch.zeros(k, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, output: ProbeOutput) -> None:
        if self.key not in output.values:
            raise ValueError(
                f"TargetedSuccessMatrix needs ProbeOutput.values[{self.key!r}] (bool [B, K]); use it with a "
                f"targeted attack probe in target mode 'all' (got values {sorted(output.values)})"
            )
        success = output.values[self.key]
        labels = check_class_tensor("labels", output.labels, self.num_classes).to(self.hits.device)
        if success.shape != (labels.numel(), self.num_classes):
            raise ValueError(
                f"values[{self.key!r}] must have shape [B, K] = [{labels.numel()}, {self.num_classes}], "
                f"got {tuple(success.shape)}"
            )
        success = success.to(self.hits.device).bool().long()
        self.hits.index_add_(0, labels, success)
        self.count += torch.bincount(labels, minlength=self.num_classes)

    def compute(self) -> dict[str, Tensor]:
        k = self.num_classes
        matrix = rate(self.hits, self.count[:, None].expand(k, k))
        matrix.fill_diagonal_(float("nan"))
        hits = off_diagonal(self.hits).sum()
        attempts = self.count.sum() * (k - 1)
        return {"targeted_success": matrix, "targeted_success_rate": rate(hits, attempts)}


__all__ = [
    "ClassFalseScores",
    "ConfusionMatrix",
    "ErrorFlow",
    "FlipRate",
    "TargetedSuccessMatrix",
]
