"""Robust-fairness statistics of class-wise accuracies and of adversarial flips, from counts.

Definitions and papers: ``docs/metrics.md`` ("Robust-fairness summaries"). Every function takes
synced count states and returns float64 values; classes without samples are left out of the
summaries over classes (their accuracy is undefined), never counted as 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

from robustlens.metrics.functional.classwise import fairness_interval_entries, off_diagonal, rate
from robustlens.metrics.intervals import IntervalOptions


def gini(values: Tensor) -> Tensor:
    """Gini coefficient ``Σ_i Σ_j |a_i − a_j| / (2 n² ā)`` of non-negative ``values``.

    0 when every value is equal, ``(n − 1)/n`` when one value holds everything; NaN without
    values or when they are all 0 (the mean is 0: no inequality is defined).
    """
    v = values.reshape(-1).double()
    if v.numel() == 0 or v.mean() == 0:
        return torch.tensor(math.nan, dtype=torch.float64)
    return (v[:, None] - v[None, :]).abs().sum() / (2 * v.numel() ** 2 * v.mean())


def accuracy_dispersion(confmat: Tensor) -> dict[str, Tensor]:
    """How unequal the class-wise accuracies ``acc_c = M[c, c] / Σ_b M[c, b]`` of a confusion
    matrix are, over the classes with samples:

    * ``average_class_accuracy``: the mean of ``acc_c`` (equals the accuracy on balanced data);
    * ``best_class_accuracy`` / ``best_class``: the maximum and its class (lowest index on ties);
    * ``classwise_accuracy_variance``: population variance (ddof 0), FAT's fairness measure;
    * ``classwise_accuracy_cv``: coefficient of variation, std (ddof 0) / mean (NaN for mean 0);
    * ``classwise_accuracy_gini``: :func:`gini` of ``acc_c``.

    Without any sample every value is NaN and the class -1.
    """
    confmat = confmat.long()
    acc = rate(confmat.diagonal(), confmat.sum(dim=1))
    present = ~torch.isnan(acc)
    nan = torch.tensor(math.nan, dtype=torch.float64)
    if not present.any():
        return {"average_class_accuracy": nan, "best_class_accuracy": nan.clone(), "best_class": torch.tensor(-1),
                "classwise_accuracy_variance": nan.clone(), "classwise_accuracy_cv": nan.clone(),
                "classwise_accuracy_gini": nan.clone()}
    observed = acc[present]
    best = int(torch.nonzero(present & (acc == observed.max()))[0])
    mean, std = observed.mean(), observed.std(correction=0)
    return {
        "average_class_accuracy": mean,
        "best_class_accuracy": observed.max(),
        "best_class": torch.tensor(best),
        "classwise_accuracy_variance": observed.var(correction=0),
        "classwise_accuracy_cv": std / mean if mean > 0 else nan,
        "classwise_accuracy_gini": gini(observed),
    }


def _present(rates: np.ndarray) -> np.ndarray:
    """Resampled class-wise rates ``[B, K]`` less the classes without samples (NaN columns)."""
    return rates[:, ~np.isnan(rates).all(axis=0)]


def _gini_rows(rates: np.ndarray) -> np.ndarray:
    r = _present(rates)
    mean = r.mean(axis=1)
    spread = np.abs(r[:, :, None] - r[:, None, :]).sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(mean > 0, spread / (2 * r.shape[1] ** 2 * mean), np.nan)


def _cv_rows(rates: np.ndarray) -> np.ndarray:
    r = _present(rates)
    mean = r.mean(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(mean > 0, r.std(axis=1) / mean, np.nan)


#: the dispersion summaries with an interval, as functions of resampled class-wise accuracies
#: ``[B, K]`` (the same class-stratified bootstrap as the worst class's, ``fairness_interval_entries``)
DISPERSION_STATISTICS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "average_class_accuracy": lambda rates: _present(rates).mean(axis=1),
    "best_class_accuracy": lambda rates: _present(rates).max(axis=1),
    "classwise_accuracy_variance": lambda rates: _present(rates).var(axis=1),
    "classwise_accuracy_cv": _cv_rows,
    "classwise_accuracy_gini": _gini_rows,
}


def dispersion_interval_entries(confmat: Tensor, options: IntervalOptions) -> dict[str, Tensor]:
    """Class-stratified bootstrap intervals (``<key>/ci_low``, ``<key>/ci_high``) of the
    summaries in :data:`DISPERSION_STATISTICS`, seeded by ``options.seed``."""
    return fairness_interval_entries(confmat, options, DISPERSION_STATISTICS)


def flip_flow(flows: Tensor) -> dict[str, Tensor]:
    """Where adversarial flips go, from ``flows[a, b]`` = samples of class a, right on the clean
    input and predicted b under the probe (a ≠ b):

    * ``adversarial_flow``: the counts ``[K, K]`` (diagonal 0);
    * ``adversarial_flow_share``: row-normalised, the share of class a's flips that land in b
      (NaN rows for classes without flips);
    * ``adversarial_sent`` / ``adversarial_received``: per class, its share of all flips as the
      source / as the target (0 for every class when nothing flipped, as CFPS/CFNS).
    """
    flows = off_diagonal(flows.long())
    rows = flows.sum(dim=1, keepdim=True).expand_as(flows)
    total = flows.sum()
    k = flows.shape[0]
    if total == 0:
        zeros = torch.zeros(k, dtype=torch.float64, device=flows.device)
        sent, received = zeros, zeros.clone()
    else:
        sent, received = rate(flows.sum(dim=1), total), rate(flows.sum(dim=0), total)
    return {"adversarial_flow": flows, "adversarial_flow_share": rate(flows, rows),
            "adversarial_sent": sent, "adversarial_received": received}
