"""Mutants of the metric families (accuracy, class-wise, CFPS/CFNS, latent, perturbation,
fairness, worst case) and of their merging across DDP ranks."""

from __future__ import annotations

from tests.mutants.mutant import Mutant

_M = "src/robustlens/metrics/"
_TABLE = "tests/metrics/test_metric_table.py::test_metric_equals_its_definition"

MUTANTS: list[Mutant] = [
    # the interval counts every padded copy: n too large, the interval too narrow
    Mutant("out_of_range_interval_over_all_copies", "metrics", _M + "validity.py",
           '**wilson_entries("out_of_range_fraction", count, unique.numel(), self.interval_options.level)',
           '**wilson_entries("out_of_range_fraction", count, index.numel(), self.interval_options.level)',
           (_TABLE + "[out_of_range-1]",)),
    Mutant("accuracy_wrong_denominator", "metrics", _M + "accuracy.py",
           "correct, total = self.confmat.diagonal().sum(), self.confmat.sum()",
           "correct, total = self.confmat.diagonal().sum(), self.confmat.sum(dim=0).max()",
           (_TABLE + "[accuracy-1]",)),
    Mutant("classwise_accuracy_by_prediction", "metrics", _M + "accuracy.py",
           "correct, total = self.confmat.diagonal(), self.confmat.sum(dim=1)",
           "correct, total = self.confmat.diagonal(), self.confmat.sum(dim=0)",
           (_TABLE + "[classwise_accuracy-1]",)),
    Mutant("cfps_counts_true_class", "metrics", _M + "classwise.py",
           '"cfps": rate(errors.sum(dim=0), total)', '"cfps": rate(errors.sum(dim=1), total)',
           (_TABLE + "[class_false_scores-1]",)),
    Mutant("fairness_sample_std", "metrics", _M + "functional/classwise.py",
           '"classwise_accuracy_std": observed.std(correction=0)', '"classwise_accuracy_std": observed.std()',
           (_TABLE + "[fairness-1]",)),
    Mutant("fairness_worst_is_best", "metrics", _M + "functional/classwise.py",
           "worst = int(torch.nonzero(present & (acc == observed.min()))[0])",
           "worst = int(torch.nonzero(present & (acc == observed.max()))[0])",
           (_TABLE + "[fairness-1]",)),
    Mutant("latent_duplicates_counted", "metrics", _M + "latent.py",
           "return labels[keep], {c: v[keep] for c, v in cols.items()}", "return labels, cols",
           (_TABLE + "[latent_accuracy-1]",)),
    Mutant("summary_sample_std", "metrics", _M + "functional/summaries.py",
           "v.std(correction=0)", "v.std()",
           (_TABLE + "[norm_statistics-1]",)),
    Mutant("robust_curve_counts_norm_equal_eps", "metrics", _M + "perturbation.py",
           "robust = correct & (mn > eps)", "robust = correct & (mn >= eps)",
           (_TABLE + "[robust_accuracy_curve-1]",)),
    Mutant("norm_statistics_keep_failures", "metrics", _M + "perturbation.py",
           "keep = output.success.bool()", "keep = ~output.success.bool()",
           (_TABLE + "[norm_statistics_successful-1]",)),
    Mutant("worst_case_is_best_case", "metrics", "src/robustlens/evaluation/worst_case.py",
           'broken.scatter_reduce_(0, position, 1 - correct, reduce="amax")',
           'broken.scatter_reduce_(0, position, 1 - correct, reduce="amin")',
           ("tests/metrics/test_metric_table.py::test_metric_equals_its_definition[worst_case-1]",)),
    Mutant("ddp_confusion_max_not_sum", "ddp", _M + "accuracy.py",
           'default=torch.zeros(num_classes, num_classes, dtype=torch.long), dist_reduce_fx="sum"',
           'default=torch.zeros(num_classes, num_classes, dtype=torch.long), dist_reduce_fx="max"',
           (_TABLE + "[accuracy-2]",)),
    Mutant("ddp_flip_counts_not_summed", "ddp", _M + "classwise.py",
           'self.add_state("flips", default=torch.zeros(num_classes, dtype=torch.long), dist_reduce_fx="sum")',
           'self.add_state("flips", default=torch.zeros(num_classes, dtype=torch.long), dist_reduce_fx="max")',
           (_TABLE + "[flip_rate-2]",)),
]
