"""The interval functions (``robustlens.metrics.intervals``) against values worked out by hand,
against scipy, and against their promise: a 95 % interval covers the true value 95 % of the time.

Hand values: the Wilson interval of 5 of 10 at 95 % is ``0.5 ± 1.96/1.384 · √(0.025 + 0.0096)``
= (0.2366, 0.7634) and of 0 of 10 is (0, z²/n / (1 + z²/n)) = (0, 0.2775); the t interval of
1, 2, 3, 4 is ``2.5 ± t(0.975, 3) · s/√4`` = 2.5 ± 3.1824 · 1.2910 / 2 = (0.4457, 4.5543).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from robustlens.metrics.intervals import (
    IntervalOptions,
    bootstrap_interval,
    check_level,
    class_rates_bootstrap_interval,
    grouped_mean_interval,
    grouped_t_interval,
    interval_keys,
    mean_interval,
    t_interval,
    wilson_interval,
)

Z95 = 1.959963984540054  # the 97.5 % quantile of N(0, 1)


def test_wilson_by_hand() -> None:
    low, high = wilson_interval(5, 10)
    half = Z95 / (1 + Z95**2 / 10) * math.sqrt(0.5 * 0.5 / 10 + Z95**2 / 400)
    assert (low, high) == pytest.approx((0.5 - half, 0.5 + half), abs=1e-12)
    assert (low, high) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    assert wilson_interval(0, 10) == pytest.approx((0.0, 0.27753), abs=1e-5)  # never below 0, never a point
    assert wilson_interval(10, 10) == pytest.approx((1 - 0.27753, 1.0), abs=1e-5)


@pytest.mark.parametrize(("k", "n", "level"), [(0, 1, 0.95), (1, 3, 0.9), (17, 60, 0.95), (599, 600, 0.99)])
def test_wilson_matches_scipy(k: int, n: int, level: float) -> None:
    want = stats.binomtest(k, n).proportion_ci(confidence_level=level, method="wilson")
    assert wilson_interval(k, n, level) == pytest.approx((want.low, want.high), abs=1e-12)


def test_wilson_per_class_is_vectorised_and_nan_without_samples() -> None:
    successes, counts = np.array([3, 0, 0, 12]), np.array([10, 0, 4, 12])
    low, high = wilson_interval(successes, counts)
    assert low.shape == high.shape == (4,)
    assert math.isnan(low[1]) and math.isnan(high[1])
    for c in (0, 2, 3):
        assert (low[c], high[c]) == pytest.approx(wilson_interval(int(successes[c]), int(counts[c])))


@pytest.mark.parametrize(("rate", "n"), [(0.3, 100), (0.9, 40)])
def test_wilson_covers_the_true_rate_95_percent_of_the_time(rate: float, n: int) -> None:
    draws = np.random.default_rng(0).binomial(n, rate, size=1000)
    low, high = wilson_interval(draws, np.full(1000, n))
    coverage = np.mean((low <= rate) & (rate <= high))
    assert 0.93 <= coverage <= 0.97, coverage


def test_t_interval_by_hand_and_against_scipy() -> None:
    assert t_interval([1, 2, 3, 4]) == pytest.approx((0.4457397, 4.5542603), abs=1e-6)
    s = math.sqrt(5 / 3)  # sample std (ddof 1) of 1..4
    assert t_interval([1, 2, 3, 4]) == pytest.approx(stats.t.interval(0.95, 3, 2.5, s / 2))
    assert t_interval([1, 2, 3, 4, math.nan]) == t_interval([1, 2, 3, 4])  # NaN entries are not samples
    assert all(math.isnan(b) for b in t_interval([1.0]))  # one value: its spread is unknown
    assert t_interval([2.0, 2.0, 2.0]) == (2.0, 2.0)


def test_t_coverage_by_simulation() -> None:
    rng = np.random.default_rng(1)
    covered = 0
    for _ in range(1000):
        low, high = t_interval(rng.normal(1.0, 2.0, size=15))
        covered += low <= 1.0 <= high
    assert 930 <= covered <= 970, covered


def test_grouped_t_equals_t_per_class() -> None:
    values = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 9.0, math.nan])
    groups = np.array([0, 0, 1, 1, 1, 2, 0])
    low, high = grouped_t_interval(values, groups, 4)
    assert (low[0], high[0]) == pytest.approx(t_interval([1.0, 2.0]))
    assert (low[1], high[1]) == pytest.approx(t_interval([3.0, 4.0, 5.0]))
    assert np.isnan(low[2:]).all() and np.isnan(high[2:]).all()  # one value; no value


def test_bootstrap_by_hand() -> None:
    mean = lambda r: r.mean(axis=1)  # noqa: E731
    # resample means of (0, 1) are 0, 1/2, 1 with probabilities 1/4, 1/2, 1/4
    assert bootstrap_interval([0.0, 1.0], mean) == (0.0, 1.0)
    assert bootstrap_interval([0.0, 1.0], mean, level=0.4) == (0.5, 0.5)
    assert bootstrap_interval([3.0] * 5, mean) == (3.0, 3.0)
    assert all(math.isnan(b) for b in bootstrap_interval([], mean))


def test_bootstrap_is_seeded_and_equals_scipy_percentile() -> None:
    values = np.random.default_rng(2).exponential(size=200)
    mean = lambda r: r.mean(axis=1)  # noqa: E731
    ours = bootstrap_interval(values, mean, n_resamples=3000, seed=7)
    assert bootstrap_interval(values, mean, n_resamples=3000, seed=7) == ours
    assert bootstrap_interval(values, mean, n_resamples=3000, seed=8) != ours
    want = stats.bootstrap((values,), np.mean, n_resamples=3000, method="percentile", rng=np.random.default_rng(7))
    assert ours == pytest.approx((want.confidence_interval.low, want.confidence_interval.high), rel=1e-12)


def test_stratified_bootstrap_draws_each_position_from_its_own_class() -> None:
    labels = np.repeat([0, 1, 2], [1, 5, 10])
    values = np.arange(16.0)  # class 0: 0; class 1: 1..5; class 2: 6..15
    seen = []

    def record(resampled: np.ndarray) -> np.ndarray:
        seen.append(resampled)
        return resampled.mean(axis=1)

    bootstrap_interval(values, record, n_resamples=200, strata=labels)
    resampled = np.concatenate(seen)
    assert (resampled[:, 0] == 0).all()  # a class of one image is resampled to itself
    assert np.isin(resampled[:, 1:6], np.arange(1, 6)).all() and np.isin(resampled[:, 6:], np.arange(6, 16)).all()
    assert len(np.unique(resampled[:, 1:6])) == 5  # ... and the others really resample
    # the worst class mean (class 0's single value) is then certain
    assert bootstrap_interval(values, lambda r: r[:, :1].mean(axis=1), strata=labels) == (0.0, 0.0)


def test_class_rates_bootstrap() -> None:
    worst = lambda r: np.nanmin(r, axis=1)  # noqa: E731
    spread = lambda r: np.nanmax(r, axis=1) - np.nanmin(r, axis=1)  # noqa: E731
    # all-wrong and all-right classes never change under resampling; an empty class is left out
    assert class_rates_bootstrap_interval([0, 10, 0], [10, 10, 0], worst) == (0.0, 0.0)
    assert class_rates_bootstrap_interval([0, 10, 0], [10, 10, 0], spread) == (1.0, 1.0)
    # a class of 10 at 50 %: the resampled worst class's rate is that of Binomial(10, 1/2)/10
    low, high = class_rates_bootstrap_interval([5, 10], [10, 10], worst, n_resamples=4000)
    assert (low, high) == (stats.binom.ppf(0.025, 10, 0.5) / 10, stats.binom.ppf(0.975, 10, 0.5) / 10)
    assert all(math.isnan(b) for b in class_rates_bootstrap_interval([0], [0], worst))


def test_class_rates_bootstrap_agrees_with_the_per_sample_stratified_bootstrap() -> None:
    labels = np.repeat([0, 1, 2], [30, 50, 20])
    correct = (np.random.default_rng(3).random(100) < np.array([0.5, 0.8, 0.6])[labels]).astype(float)
    successes, counts = np.bincount(labels, weights=correct), np.bincount(labels)

    def per_class_min(r: np.ndarray) -> np.ndarray:
        return np.stack([r[:, labels == c].mean(axis=1) for c in range(3)], axis=1).min(axis=1)

    from_samples = bootstrap_interval(correct, per_class_min, n_resamples=4000, strata=labels)
    from_counts = class_rates_bootstrap_interval(successes, counts, lambda r: r.min(axis=1), n_resamples=4000)
    assert from_counts == pytest.approx(from_samples, abs=0.04)


def test_mean_interval_follows_the_options() -> None:
    values = [1.0, 2.0, 3.0, 4.0]
    assert mean_interval(values, IntervalOptions()) == t_interval(values)
    boot = IntervalOptions(means="bootstrap", n_resamples=500, seed=3)
    assert mean_interval(values, boot) == bootstrap_interval(values, lambda r: r.mean(axis=1), 0.95, 500, 3)
    low, high = grouped_mean_interval([1.0, 2.0, 3.0, 5.0], [0, 0, 1, 1], 3, boot)
    assert (low[1], high[1]) == mean_interval([3.0, 5.0], boot) and math.isnan(low[2])


@pytest.mark.parametrize("bad", [95, 0, 1.0, True])
def test_a_level_outside_0_1_is_refused(bad: object) -> None:
    with pytest.raises(ValueError, match=r"in \(0, 1\), e\.g\. 0\.95"):
        check_level(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"e\.g\. 0\.95"):
        IntervalOptions(level=bad)  # type: ignore[arg-type]


def test_interval_keys_cannot_be_read_as_a_class_index() -> None:
    assert interval_keys("accuracy") == ("accuracy/ci_low", "accuracy/ci_high")
    assert interval_keys("classwise_accuracy") == ("classwise_accuracy/ci_low", "classwise_accuracy/ci_high")
