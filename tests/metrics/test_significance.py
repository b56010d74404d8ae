"""Paired tests (``robustlens.metrics.significance``) by hand and against scipy / statsmodels."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from robustlens.metrics.functional import CLASS_SUMMARY_STATISTICS
from robustlens.metrics.significance import (
    bootstrap_p_value,
    holm,
    mcnemar_exact,
    paired_class_summary_difference,
    paired_mean_difference,
    paired_rate_difference,
)

REFERENCE = np.array([1, 1, 1, 0, 0, 1, 1, 1], dtype=bool)
OTHER = np.array([0, 0, 0, 0, 1, 1, 1, 1], dtype=bool)


def test_mcnemar_by_hand() -> None:
    # 3 samples right only in the reference, 1 only in the other: P(X <= 1 | Bin(4, 1/2)) * 2 = 2 * 5/16
    assert mcnemar_exact(REFERENCE, OTHER) == pytest.approx(0.625)
    assert mcnemar_exact(REFERENCE, REFERENCE) == 1.0  # no discordant pair: no evidence
    # 10 discordant pairs, all one way: 2 / 2**10
    assert mcnemar_exact(np.ones(12, bool), np.r_[np.zeros(10, bool), np.ones(2, bool)]) == pytest.approx(2 / 1024)


def test_mcnemar_against_scipy() -> None:
    rng = np.random.default_rng(0)
    ref, oth = rng.random(300) < 0.6, rng.random(300) < 0.5
    b, c = int(np.sum(ref & ~oth)), int(np.sum(~ref & oth))
    assert mcnemar_exact(ref, oth) == pytest.approx(stats.binomtest(c, b + c, 0.5).pvalue, rel=1e-12)


def test_paired_rate_difference() -> None:
    d = paired_rate_difference(REFERENCE, OTHER, n_resamples=2000, seed=1)
    assert (d.reference, d.other, d.difference) == pytest.approx((6 / 8, 4 / 8, -2 / 8))
    assert d.p_value == pytest.approx(0.625) and d.test == "mcnemar" and d.n == 8
    assert d.ci_low < d.difference < d.ci_high <= 0.25


def test_paired_t_against_scipy() -> None:
    rng = np.random.default_rng(2)
    ref = rng.exponential(size=50)
    oth = ref + rng.normal(0.3, 0.5, size=50)
    oth[3] = math.nan  # a pair with a NaN is no pair
    d = paired_mean_difference(ref, oth)
    keep = ~np.isnan(oth)
    diff = oth[keep] - ref[keep]
    assert d.n == 49 and d.difference == pytest.approx(diff.mean())
    assert d.p_value == pytest.approx(stats.ttest_rel(oth[keep], ref[keep]).pvalue, rel=1e-12)
    want = stats.t.interval(0.95, 48, diff.mean(), diff.std(ddof=1) / math.sqrt(49))
    assert (d.ci_low, d.ci_high) == pytest.approx(want)


def test_paired_wilcoxon_against_scipy() -> None:
    rng = np.random.default_rng(3)
    ref = rng.exponential(size=40)
    oth = ref * rng.uniform(0.8, 1.5, size=40)
    d = paired_mean_difference(ref, oth, test="wilcoxon", n_resamples=500, seed=0)
    assert d.p_value == pytest.approx(stats.wilcoxon(oth, ref).pvalue, rel=1e-12) and d.test == "wilcoxon"
    assert d.ci_low < d.difference < d.ci_high


def test_identical_jobs_differ_by_nothing() -> None:
    values = np.array([0.1, 0.4, 0.2])
    d = paired_mean_difference(values, values)
    assert d.difference == 0 and d.p_value == 1.0 and (d.ci_low, d.ci_high) == (0.0, 0.0)
    labels = np.array([0, 0, 1, 1, 2, 2, 2, 2])
    same = paired_class_summary_difference(REFERENCE, REFERENCE, labels, CLASS_SUMMARY_STATISTICS["worst_class_accuracy"], 3)
    assert same.difference == 0 and same.p_value == 1.0 and (same.ci_low, same.ci_high) == (0.0, 0.0)


def test_paired_class_summary_difference_by_hand() -> None:
    labels = np.repeat([0, 1], 20)
    reference = np.r_[np.zeros(20, bool), np.ones(20, bool)]  # class 0 always wrong: worst class 0.0
    other = np.r_[np.ones(10, bool), np.zeros(10, bool), np.ones(20, bool)]  # class 0 at 50 %
    worst = CLASS_SUMMARY_STATISTICS["worst_class_accuracy"]
    d = paired_class_summary_difference(reference, other, labels, worst, 2, n_resamples=1000, seed=0)
    assert (d.reference, d.other, d.difference) == (0.0, 0.5, 0.5)
    # class 0's resampled accuracy in the other job is Binomial(20, 1/2)/20 (2.5 % and 97.5 % quantiles
    # 0.3 and 0.7); the reference's stays 0. 1000 replicates put the bounds within one step (0.05) of them
    assert stats.binom.ppf(0.025, 20, 0.5) / 20 == 0.3
    assert 0.25 <= d.ci_low <= 0.3 and 0.7 <= d.ci_high <= 0.75
    assert d.p_value == pytest.approx(1 / 1000)  # no replicate at or below 0: the bootstrap's floor
    assert d.test == "bootstrap" and d.n == 40


def test_bootstrap_p_value_by_hand() -> None:
    assert bootstrap_p_value(np.array([-1.0, 1.0, 2.0, 3.0])) == 0.5  # 2 * min(1/4, 3/4)
    assert bootstrap_p_value(np.zeros(5)) == 1.0
    assert math.isnan(bootstrap_p_value(np.array([])))


def test_holm_by_hand_and_against_statsmodels() -> None:
    p = np.array([0.01, 0.04, 0.03, 0.5])
    # sorted 0.01, 0.03, 0.04, 0.5 times 4, 3, 2, 1 = 0.04, 0.09, 0.08 -> 0.09 (monotone), 0.5
    np.testing.assert_allclose(holm(p), [0.04, 0.09, 0.09, 0.5])
    np.testing.assert_allclose(holm([0.01, math.nan, 0.02]), [0.02, math.nan, 0.02])  # NaN is not a test
    multipletests = pytest.importorskip("statsmodels.stats.multitest").multipletests  # the dev extra has it
    rng = np.random.default_rng(4)
    for _ in range(20):
        values = rng.uniform(0, 0.2, size=7)
        np.testing.assert_allclose(holm(values), multipletests(values, method="holm")[1], rtol=1e-12)


def test_unpaired_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="one entry per sample in both jobs"):
        mcnemar_exact([1, 0], [1, 0, 1])
