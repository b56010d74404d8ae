"""The maths every robustlens metric shares, as plain functions of tensors (no state, no DDP).

The :class:`~robustlens.metrics.base.ProbeMetric` classes keep and sync the states; these
functions turn the synced states into values, as ``torchmetrics.functional`` does for
torchmetrics' classes. Definitions and units: ``docs/metrics.md``.
"""

from robustlens.metrics.functional.checks import check_class_tensor, check_num_classes
from robustlens.metrics.functional.classwise import (
    CLASS_SUMMARY_STATISTICS,
    classwise_mean,
    fairness_interval_entries,
    fairness_summary,
    off_diagonal,
    rate,
)
from robustlens.metrics.functional.samples import DuplicateSamplesWarning, first_occurrence
from robustlens.metrics.functional.summaries import SUMMARY_SUFFIXES, summary, summary_keys

__all__ = [
    "CLASS_SUMMARY_STATISTICS",
    "SUMMARY_SUFFIXES",
    "DuplicateSamplesWarning",
    "check_class_tensor",
    "check_num_classes",
    "classwise_mean",
    "fairness_interval_entries",
    "fairness_summary",
    "first_occurrence",
    "off_diagonal",
    "rate",
    "summary",
    "summary_keys",
]
