"""Mutants of the intervals and comparisons (issue 24): each a plausible slip the named tests must catch."""

from __future__ import annotations

from tests.mutants.mutant import Mutant

INTERVALS = "src/robustlens/metrics/intervals.py"
SIGNIFICANCE = "src/robustlens/metrics/significance.py"

MUTANTS: list[Mutant] = [
    Mutant(
        name="wald_instead_of_wilson",
        area="intervals",
        path=INTERVALS,
        old="        centre = (p + z**2 / (2 * n)) / denominator\n"
            "        half = z / denominator * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))",
        new="        centre = p\n        half = z * np.sqrt(p * (1 - p) / n)",
        tests=("tests/metrics/test_intervals.py::test_wilson_by_hand",
               "tests/metrics/test_intervals.py::test_wilson_covers_the_true_rate_95_percent_of_the_time"),
    ),
    Mutant(
        name="normal_quantile_instead_of_student_t",
        area="intervals",
        path=INTERVALS,
        old="half = stats.t.ppf(0.5 + check_level(level) / 2, df) * std",
        new="half = stats.norm.ppf(0.5 + check_level(level) / 2) * std",
        tests=("tests/metrics/test_intervals.py::test_t_interval_by_hand_and_against_scipy",),
    ),
    Mutant(
        name="bootstrap_not_stratified_by_class",
        area="intervals",
        path=INTERVALS,
        old="return lambda b: order[offset + rng.integers(0, size, size=(b, n))]",
        new="return lambda b: rng.integers(0, n, size=(b, n))",
        tests=("tests/metrics/test_intervals.py::test_stratified_bootstrap_draws_each_position_from_its_own_class",),
    ),
    Mutant(
        name="ddp_merge_drops_a_ranks_samples",
        area="intervals",
        path="src/robustlens/metrics/classwise.py",
        old='self.add_state("count", default=torch.zeros(num_classes, dtype=torch.long), dist_reduce_fx="sum")',
        new='self.add_state("count", default=torch.zeros(num_classes, dtype=torch.long), dist_reduce_fx="max")',
        tests=("tests/metrics/test_metric_table.py::test_metric_equals_its_definition[flip_rate-2]",),
    ),
    Mutant(
        name="console_plus_minus_full_width",
        area="intervals",
        path="src/robustlens/evaluation/console.py",
        old="half = (high - low) / 2",
        new="half = high - low",
        tests=("tests/evaluation/test_console.py::test_a_value_with_an_interval_reads_value_plus_minus_half_width",),
    ),
    Mutant(
        name="holm_order_wrong",
        area="intervals",
        path=SIGNIFICANCE,
        old='order = valid[np.argsort(p[valid], kind="stable")]',
        new='order = valid[np.argsort(-p[valid], kind="stable")]',
        tests=("tests/metrics/test_significance.py::test_holm_by_hand_and_against_statsmodels",),
    ),
    Mutant(
        name="mcnemar_one_sided",
        area="intervals",
        path=SIGNIFICANCE,
        old="return float(stats.binomtest(c, b + c, 0.5).pvalue)",
        new='return float(stats.binomtest(c, b + c, 0.5, alternative="greater").pvalue)',
        tests=("tests/metrics/test_significance.py::test_mcnemar_by_hand",),
    ),
    Mutant(
        name="comparison_ignores_the_seed",
        area="intervals",
        path="src/robustlens/report/paired.py",
        old="    if ref_seed != other_seed:",
        new="    if False:",
        tests=("tests/report/test_compare_table.py::test_jobs_that_do_not_share_samples_are_refused[seed]",),
    ),
]
