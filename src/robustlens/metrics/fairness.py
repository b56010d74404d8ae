"""The robust-fairness metrics beyond the worst class (``docs/metrics.md``, "Robust-fairness
summaries"), as DDP-synced probe metrics over count states:

* :class:`ClasswiseDispersion`: average and best class, variance (FAT, Ma, Wang & Liu,
  NeurIPS 2022), coefficient of variation and Gini coefficient of the class-wise accuracy;
* :class:`BoundaryError`: FRL's boundary error per class (Xu, Liu, Li, Jain & Tang, ICML 2021,
  *To be robust or to be fair*): the share of a class right on the clean input and wrong under
  the probe, ``R_bdy = R_rob − R_nat`` for an attack that never repairs a clean error;
* :class:`AdversarialFlow`: the source → target flow of the adversarial examples (samples right
  on the clean input, wrong under the probe), sending and receiving sides.

The worst class, the spread (best − worst) and the std are :class:`~robustlens.metrics.accuracy.ClasswiseFairness`'.
"""

from __future__ import annotations

import torch
from torch import Tensor

from robustlens.metrics.accuracy import ConfusionState
from robustlens.metrics.base import NumClasses, ProbeMetric, ProbeOutput
from robustlens.metrics.functional import check_class_tensor, rate
from robustlens.metrics.functional.fairness import (
    DISPERSION_STATISTICS,
    accuracy_dispersion,
    dispersion_interval_entries,
    flip_flow,
)
from robustlens.metrics.intervals import interval_keys, wilson_entries


class ClasswiseDispersion(ConfusionState):
    """Average and best class, variance, CV and Gini of the class-wise accuracy.

    See :func:`robustlens.metrics.functional.fairness.accuracy_dispersion`; classes without
    samples are left out. Every summary but ``best_class`` has a class-stratified bootstrap
    interval (``<key>/ci_low``, ``<key>/ci_high``), as the worst-class accuracy has.
    """

    emits = ("average_class_accuracy", "best_class_accuracy", "best_class", "classwise_accuracy_variance",
             "classwise_accuracy_cv", "classwise_accuracy_gini",
             *(key for name in DISPERSION_STATISTICS for key in interval_keys(name)))

    def compute(self) -> dict[str, Tensor]:
        return {**accuracy_dispersion(self.confmat), **dispersion_interval_entries(self.confmat, self.interval_options)}


class _CleanVersusProbe(ProbeMetric):
    """Base class: checks and moves the labels, probe and clean predictions of a batch."""

    full_state_update = False

    def __init__(self, num_classes: NumClasses = 10) -> None:
        super().__init__()
        self.num_classes = int(num_classes)

    def _triple(self, output: ProbeOutput, device: torch.device) -> tuple[Tensor, Tensor, Tensor]:
        if output.clean_preds is None:
            raise ValueError(
                f"{type(self).__name__} needs ProbeOutput.clean_preds (the prediction on the unperturbed "
                "input); attach it only to probes that perturb inputs (attacks, noise, latent searches)"
            )
        labels = check_class_tensor("labels", output.labels, self.num_classes).to(device)
        preds = check_class_tensor("preds", output.preds, self.num_classes).to(device)
        clean = check_class_tensor("clean_preds", output.clean_preds, self.num_classes).to(device)
        if not labels.shape == preds.shape == clean.shape:
            raise ValueError("ProbeOutput.labels, preds and clean_preds must have the same length")
        return labels, preds, clean


class BoundaryError(_CleanVersusProbe):
    """FRL's boundary error: ``P(ŷ_clean = y, ŷ_probe ≠ y)``, overall and per class.

    Keys: ``boundary_error`` and ``classwise_boundary_error`` ([K], NaN for classes without
    samples). With the clean error ``R_nat`` and the probe's error ``R_rob`` it is
    ``R_rob − R_nat`` whenever the probe never turns a clean error into a right answer (true for
    untargeted attacks, whose start is the clean input). Wilson intervals: ``boundary_error/ci_low``,
    ``/ci_high`` and the per-class ``classwise_boundary_error/ci_low``, ``/ci_high``.
    """

    higher_is_better = False
    emits = ("boundary_error", "classwise_boundary_error", *interval_keys("boundary_error"),
             *interval_keys("classwise_boundary_error"))

    def __init__(self, num_classes: NumClasses = 10) -> None:
        super().__init__(num_classes)
        self.add_state("crossed", default=torch.zeros(num_classes, dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("count", default=torch.zeros(num_classes, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, output: ProbeOutput) -> None:
        labels, preds, clean = self._triple(output, self.crossed.device)
        crossed = clean.eq(labels) & preds.ne(labels)
        self.crossed += torch.bincount(labels[crossed], minlength=self.num_classes)
        self.count += torch.bincount(labels, minlength=self.num_classes)

    def compute(self) -> dict[str, Tensor]:
        level = self.interval_options.level
        return {"boundary_error": rate(self.crossed.sum(), self.count.sum()),
                "classwise_boundary_error": rate(self.crossed, self.count),
                **wilson_entries("boundary_error", self.crossed.sum(), self.count.sum(), level),
                **wilson_entries("classwise_boundary_error", self.crossed, self.count, level)}


class AdversarialFlow(_CleanVersusProbe):
    """Source → target counts of the probe's adversarial examples (right on the clean input,
    wrong under the probe) and their shares. See
    :func:`robustlens.metrics.functional.fairness.flip_flow`; CFPS/CFNS (:class:`~robustlens.metrics.classwise.ClassFalseScores`)
    are the same sides over *all* errors, clean errors included.
    """

    emits = ("adversarial_flow", "adversarial_flow_share", "adversarial_sent", "adversarial_received")

    def __init__(self, num_classes: NumClasses = 10) -> None:
        super().__init__(num_classes)
        k = num_classes
        self.add_state("flows", default=torch.zeros(k, k, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, output: ProbeOutput) -> None:
        labels, preds, clean = self._triple(output, self.flows.device)
        flipped = clean.eq(labels) & preds.ne(labels)
        pairs = labels[flipped] * self.num_classes + preds[flipped]
        self.flows += torch.bincount(pairs, minlength=self.num_classes**2).view(self.num_classes, self.num_classes)

    def compute(self) -> dict[str, Tensor]:
        return flip_flow(self.flows)


__all__ = ["AdversarialFlow", "BoundaryError", "ClasswiseDispersion"]
