"""Rates, per-class means and robust-fairness summaries from counts.

Exact rates: counts stay integers in the metric states and are divided once, in float64,
here, so 992 of 1000 is stored as 0.992 (a float32 division would give 0.99199998).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

from robustlens.metrics.intervals import IntervalOptions, class_rates_bootstrap_interval, interval_entries


def rate(num: Tensor, den: Tensor) -> Tensor:
    """``num / den`` in float64, NaN where ``den == 0`` (a quantity without data is undefined, not 0)."""
    num, den = torch.as_tensor(num).double(), torch.as_tensor(den).double()
    out = num / den.where(den != 0, torch.ones_like(den))
    return out.where(den != 0, torch.full_like(out, math.nan))


def classwise_mean(values: Tensor, labels: Tensor, num_classes: int) -> Tensor:
    """Per-class mean of ``values`` in float64 (NaN for a class without samples)."""
    values, labels = values.reshape(-1).double(), labels.reshape(-1).long()
    sums = torch.zeros(num_classes, dtype=torch.float64, device=values.device).index_add_(0, labels, values)
    counts = torch.bincount(labels, minlength=num_classes)
    return rate(sums, counts)


def off_diagonal(matrix: Tensor) -> Tensor:
    """A copy of ``matrix`` with its diagonal set to zero (the errors of a confusion matrix)."""
    out = matrix.clone()
    out.fill_diagonal_(0)
    return out


def fairness_summary(confmat: Tensor) -> dict[str, Tensor]:
    """Robust-fairness summaries of a confusion matrix ``confmat[true, pred]`` (counts).

    Over the classes that have samples (class-wise accuracy ``acc_c = M[c, c] / Σ_b M[c, b]``):

    * ``worst_class_accuracy`` = min_c acc_c and ``worst_class`` = its class (lowest index on ties);
    * ``classwise_accuracy_spread`` = max_c acc_c − min_c acc_c;
    * ``classwise_accuracy_std`` = population std (ddof 0) of acc_c;
    * ``worst_class_top_confusion`` = the class receiving most of the worst class's errors
      (lowest index on ties; -1 when the worst class has no errors) and
      ``worst_class_top_confusion_share`` = its share of those errors (NaN without errors).

    Without any sample every value is NaN (the classes -1).
    """
    confmat = confmat.long()
    acc = rate(confmat.diagonal(), confmat.sum(dim=1))
    present = ~torch.isnan(acc)
    nan = torch.tensor(math.nan, dtype=torch.float64)
    if not present.any():
        none = torch.tensor(-1)
        return {
            "worst_class_accuracy": nan, "worst_class": none, "classwise_accuracy_spread": nan,
            "classwise_accuracy_std": nan, "worst_class_top_confusion": none.clone(),
            "worst_class_top_confusion_share": nan.clone(),
        }
    observed = acc[present]
    worst = int(torch.nonzero(present & (acc == observed.min()))[0])
    errors = off_diagonal(confmat)[worst]
    has_errors = errors.sum() > 0
    top = int(errors.argmax()) if has_errors else -1  # argmax: first maximal index on ties
    return {
        "worst_class_accuracy": observed.min(),
        "worst_class": torch.tensor(worst),
        "classwise_accuracy_spread": observed.max() - observed.min(),
        "classwise_accuracy_std": observed.std(correction=0),
        "worst_class_top_confusion": torch.tensor(top),
        "worst_class_top_confusion_share": rate(errors.max(), errors.sum()),
    }


#: the robust-fairness summaries with an interval, as functions of resampled class-wise
#: accuracies ``[B, K]`` (NaN = a class without samples, left out as in :func:`fairness_summary`)
CLASS_SUMMARY_STATISTICS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "worst_class_accuracy": lambda rates: np.nanmin(rates, axis=1),
    "classwise_accuracy_spread": lambda rates: np.nanmax(rates, axis=1) - np.nanmin(rates, axis=1),
    "classwise_accuracy_std": lambda rates: np.nanstd(rates, axis=1),
}


def fairness_interval_entries(
    confmat: Tensor, options: IntervalOptions,
    statistics: dict[str, Callable[[np.ndarray], np.ndarray]] = CLASS_SUMMARY_STATISTICS,
) -> dict[str, Tensor]:
    """Bootstrap intervals, stratified by class, of the summaries in ``statistics`` (default
    :data:`CLASS_SUMMARY_STATISTICS`; the dispersion summaries pass their own).

    Every class keeps its sample count and its samples are resampled with replacement (drawn
    from the per-class counts, :func:`~robustlens.metrics.intervals.class_rates_bootstrap_interval`),
    seeded by ``options.seed``: one process and many, a rerun and a resumed job give the same bounds.
    """
    confmat = confmat.long().cpu()
    correct, counts = confmat.diagonal().numpy(), confmat.sum(dim=1).numpy()
    out: dict[str, Tensor] = {}
    for key, statistic in statistics.items():
        interval = class_rates_bootstrap_interval(
            correct, counts, statistic, options.level, options.n_resamples, options.seed
        )
        out.update(interval_entries(key, interval))
    return out
