"""Is a difference between two evaluations of the same samples real? Paired tests and Holm.

Two jobs that evaluated the same samples (same data, subset and seed) give paired per-sample
values, and a paired test is far more sensitive than comparing two intervals: the samples that
both classifiers get right (or wrong) say nothing about which is better, and a paired test
leaves them out. Which test for which number (``docs/metrics.md``, "Comparisons"):

* a share of per-sample verdicts (accuracy): the exact McNemar test —
  ``scipy.stats.binomtest(c, b + c, 1/2)`` on the discordant pairs (``b`` right only in the
  reference, ``c`` right only in the other job);
* a mean of per-sample values (severity, norm, LLNA's per-image rate): the paired t-test
  (``scipy.stats.ttest_rel``) or the Wilcoxon signed-rank test (``scipy.stats.wilcoxon``);
* a summary over classes (worst-class accuracy, spread, std): a paired bootstrap stratified by
  class (both jobs resampled with the same samples), whose p-value is twice the smaller share
  of replicates on either side of 0.

Every difference is ``other − reference``, with a seeded paired-bootstrap percentile interval
(the t interval of the per-sample differences for the t-test). :func:`holm` adjusts the
p-values of a whole table (Holm 1979): a tiny step-down rule, written out rather than taken from
statsmodels, which robustlens does not depend on (the tests check the two agree).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy import stats

from robustlens.metrics.intervals import DEFAULT_LEVEL, DEFAULT_RESAMPLES, bootstrap_draws, check_level, t_interval

NormTest = Literal["t", "wilcoxon"]


@dataclass(frozen=True)
class PairedDifference:
    """``other − reference`` of one number, its interval and the paired test's p-value.

    Attributes:
        reference / other: the number in each job (on the paired samples).
        difference: ``other − reference``.
        ci_low / ci_high: its interval at the requested level.
        p_value: the paired test's two-sided p-value (before any multiple-test correction).
        test: which test gave it (``mcnemar``, ``t``, ``wilcoxon``, ``bootstrap``).
        n: the number of paired samples.
    """

    reference: float
    other: float
    difference: float
    ci_low: float
    ci_high: float
    p_value: float
    test: str
    n: int


def mcnemar_exact(reference: Any, other: Any) -> float:
    """Two-sided exact McNemar p-value of paired verdicts (1.0 without a discordant pair)."""
    ref, oth = _paired_bool(reference, other)
    b = int(np.sum(ref & ~oth))  # right only in the reference
    c = int(np.sum(~ref & oth))  # right only in the other job
    if b + c == 0:
        return 1.0
    return float(stats.binomtest(c, b + c, 0.5).pvalue)


def paired_rate_difference(
    reference: Any, other: Any, level: float = DEFAULT_LEVEL, n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0
) -> PairedDifference:
    """Difference of two shares of per-sample verdicts: exact McNemar, paired-bootstrap interval."""
    ref, oth = _paired_bool(reference, other)
    pairs = np.stack([ref, oth], axis=1).astype(np.float64)
    draws = bootstrap_draws(pairs, _mean_difference, n_resamples, seed)
    low, high = _bounds(draws, level)
    return PairedDifference(
        float(ref.mean()) if ref.size else math.nan, float(oth.mean()) if oth.size else math.nan,
        float(oth.mean() - ref.mean()) if ref.size else math.nan, low, high, mcnemar_exact(ref, oth), "mcnemar",
        int(ref.size),
    )


def paired_mean_difference(
    reference: Any,
    other: Any,
    test: NormTest = "t",
    level: float = DEFAULT_LEVEL,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> PairedDifference:
    """Difference of the means of paired per-sample values (pairs with a NaN are left out).

    ``test="t"``: ``scipy.stats.ttest_rel`` and the t interval of the differences;
    ``test="wilcoxon"``: ``scipy.stats.wilcoxon`` (skewed or censored values, e.g. norms capped
    at a search's bound) and a paired-bootstrap interval of the mean difference.
    """
    ref = np.asarray(reference, dtype=np.float64).reshape(-1)
    oth = np.asarray(other, dtype=np.float64).reshape(-1)
    _same_length(ref, oth)
    keep = ~(np.isnan(ref) | np.isnan(oth))
    ref, oth = ref[keep], oth[keep]
    diff = oth - ref
    n = int(diff.size)
    means = (float(ref.mean()), float(oth.mean()), float(diff.mean())) if n else (math.nan,) * 3
    if n < 2:
        return PairedDifference(*means, math.nan, math.nan, math.nan, test, n)
    if test == "t":
        low, high = t_interval(diff, level)
        p = 1.0 if not diff.any() else float(stats.ttest_rel(oth, ref).pvalue)
        if math.isnan(p):  # every difference equal but not 0: no spread, the difference is certain
            p = 0.0
    elif test == "wilcoxon":
        low, high = _bounds(bootstrap_draws(np.stack([ref, oth], axis=1), _mean_difference, n_resamples, seed), level)
        p = 1.0 if not diff.any() else float(stats.wilcoxon(oth, ref).pvalue)
    else:
        raise ValueError(f"paired test for means must be 't' or 'wilcoxon', got {test!r}")
    return PairedDifference(*means, low, high, p, test, n)


def paired_class_summary_difference(
    reference: Any,
    other: Any,
    labels: Any,
    statistic: Callable[[np.ndarray], np.ndarray],
    num_classes: int,
    level: float = DEFAULT_LEVEL,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> PairedDifference:
    """Difference of a summary of class-wise accuracies (worst class, spread, std, ...).

    ``statistic`` maps class-wise accuracies ``[B, K]`` (NaN for a class without samples) to
    ``[B]`` (``robustlens.metrics.functional.CLASS_SUMMARY_STATISTICS``). Both jobs are
    resampled with the same samples, stratified by class; the p-value is the bootstrap's
    two-sided ``2 · min(P*(d ≤ 0), P*(d ≥ 0))`` (at least 1/n_resamples, never 0).
    """
    ref, oth = _paired_bool(reference, other)
    y = np.asarray(labels, dtype=np.int64).reshape(-1)
    _same_length(ref, y)
    onehot = np.eye(num_classes)[y]  # [n, K]
    counts = onehot.sum(axis=0)

    def class_rates(verdicts: np.ndarray) -> np.ndarray:  # [B, n] -> [B, K]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(counts > 0, verdicts @ onehot / counts, np.nan)

    def difference(resampled: np.ndarray) -> np.ndarray:  # [B, n, 2] -> [B]
        return statistic(class_rates(resampled[..., 1])) - statistic(class_rates(resampled[..., 0]))

    pairs = np.stack([ref, oth], axis=1).astype(np.float64)
    observed = [float(statistic(class_rates(v[None].astype(np.float64)))[0]) for v in (ref, oth)]
    draws = bootstrap_draws(pairs, difference, n_resamples, seed, strata=y)
    low, high = _bounds(draws, level)
    p = bootstrap_p_value(draws)
    return PairedDifference(observed[0], observed[1], observed[1] - observed[0], low, high, p, "bootstrap", int(y.size))


def bootstrap_p_value(draws: np.ndarray) -> float:
    """Two-sided bootstrap p-value of "the difference is 0": ``2 · min(P*(d ≤ 0), P*(d ≥ 0))``,
    floored at ``1/len(draws)`` (a finite bootstrap cannot show a smaller one) and capped at 1."""
    d = np.asarray(draws, dtype=np.float64)
    d = d[~np.isnan(d)]
    if d.size == 0:
        return math.nan
    if not d.any():
        return 1.0
    tail = min(np.mean(d <= 0), np.mean(d >= 0))
    return float(min(1.0, max(2 * tail, 1 / d.size)))


def holm(p_values: Any) -> np.ndarray:
    """Holm's step-down adjustment of a family of p-values (NaN entries stay NaN, not counted).

    Sorted ascending, the i-th smallest (1-based) becomes ``max_{j ≤ i} min(1, (m − j + 1) p_(j))``:
    rejecting where the adjusted value is below α controls the family-wise error rate at α.
    """
    p = np.asarray(p_values, dtype=np.float64).reshape(-1)
    out = np.full(p.shape, np.nan)
    valid = np.flatnonzero(~np.isnan(p))
    m = valid.size
    if m == 0:
        return out
    order = valid[np.argsort(p[valid], kind="stable")]
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(scaled)
    return out


def _mean_difference(resampled: np.ndarray) -> np.ndarray:
    """``[B, n, 2]`` paired resamples → mean of column 1 − mean of column 0."""
    return resampled[..., 1].mean(axis=1) - resampled[..., 0].mean(axis=1)


def _bounds(draws: np.ndarray, level: float) -> tuple[float, float]:
    if draws.size == 0:
        return math.nan, math.nan
    alpha = (1 - check_level(level)) / 2
    low, high = np.nanquantile(draws, [alpha, 1 - alpha])
    return float(low), float(high)


def _same_length(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape:
        raise ValueError(f"paired values need one entry per sample in both jobs, got {a.size} and {b.size}")


def _paired_bool(reference: Any, other: Any) -> tuple[np.ndarray, np.ndarray]:
    ref = np.asarray(reference).reshape(-1).astype(bool)
    oth = np.asarray(other).reshape(-1).astype(bool)
    _same_length(ref, oth)
    return ref, oth


__all__ = [
    "NormTest",
    "PairedDifference",
    "bootstrap_p_value",
    "holm",
    "mcnemar_exact",
    "paired_class_summary_difference",
    "paired_mean_difference",
    "paired_rate_difference",
]
