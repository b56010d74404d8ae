"""Confidence intervals of robustlens' numbers: plain functions of arrays (no state, no DDP).

Which interval for which number (``docs/metrics.md``, "Intervals"):

* a rate counted in integers (accuracy, flip rate, LGA/LRA/LAGA/LARA, per class too):
  :func:`wilson_interval`. Why Wilson: the normal ("Wald", ``p ± z·√(p(1−p)/n)``) interval
  collapses to a point at 0 % and 100 % and undercovers near them, which is exactly where
  robust accuracies under strong attacks and per-class accuracies of small classes sit;
* a mean of per-sample values (severities, norms, LAGS/LARS, per class too):
  :func:`t_interval` (Student t), or :func:`bootstrap_interval` (seeded percentile bootstrap)
  for skewed or censored quantities (``mean_interval`` chooses by :class:`IntervalOptions`);
* a summary over classes (worst-class accuracy, spread, std, Gini, ...): a bootstrap over
  samples stratified by class — :func:`bootstrap_interval` with ``strata`` from per-sample
  values, or :func:`class_rates_bootstrap_interval` from per-class counts alone.

Every function takes arrays (numpy, anything ``np.asarray`` accepts, or torch tensors on any
device) and returns ``(low, high)`` as floats for a scalar and as float64 arrays for a
vector; an interval without data (``n = 0``, or ``n < 2`` for a t interval) is NaN.
The metrics (``robustlens.metrics``) call these on their DDP-synced states, so one process
and many give the same intervals, and the bootstraps are seeded, so a rerun gives the same.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import numpy as np
import torch
from pydantic import Field
from scipy import stats
from torch import Tensor

#: the default confidence level (``evaluation.interval_level``)
DEFAULT_LEVEL = 0.95
#: the default number of bootstrap resamples (``evaluation.interval_resamples``)
DEFAULT_RESAMPLES = 1000
#: key suffixes of an interval's bounds: ``<probe>/<metric>/ci_low``, ``.../ci_high``
CI_LOW, CI_HIGH = "ci_low", "ci_high"
#: at most this many resampled values are held at once (resamples × samples), to bound memory
_CHUNK_VALUES = 4_000_000

Level = Annotated[float, Field(gt=0, lt=1)]
Interval = tuple[Any, Any]


@dataclass(frozen=True)
class IntervalOptions:
    """How a metric computes its intervals (``evaluation.interval_*`` in the config).

    Attributes:
        level: the confidence level, e.g. 0.95.
        n_resamples: bootstrap resamples (class summaries; means when ``means="bootstrap"``).
        seed: the bootstrap's seed (the job's seed), so that a rerun gives the same interval.
        means: ``"t"`` (Student t) or ``"bootstrap"`` (percentile) for means of per-sample values.
    """

    level: float = DEFAULT_LEVEL
    n_resamples: int = DEFAULT_RESAMPLES
    seed: int = 0
    means: Literal["t", "bootstrap"] = "t"

    def __post_init__(self) -> None:
        check_level(self.level)
        if isinstance(self.n_resamples, bool) or not isinstance(self.n_resamples, int) or self.n_resamples < 1:
            raise ValueError(f"interval n_resamples must be an int >= 1, got {self.n_resamples!r}")
        if self.means not in ("t", "bootstrap"):
            raise ValueError(f"interval method for means must be 't' or 'bootstrap', got {self.means!r}")


def check_level(level: float) -> float:
    """Refuse a confidence level outside (0, 1) (a common slip: ``95`` for ``0.95``)."""
    if isinstance(level, bool) or not isinstance(level, int | float) or not 0 < level < 1:
        raise ValueError(f"the interval level must be a number in (0, 1), e.g. 0.95, got {level!r}")
    return float(level)


def interval_keys(key: str) -> tuple[str, str]:
    """The keys of ``key``'s interval bounds: ``<key>/ci_low``, ``<key>/ci_high``.

    A per-class vector under ``classwise_x`` gets per-class bounds under ``classwise_x/ci_low``
    (stored flat as ``<probe>/classwise_x/ci_low/<class>``): the bound's name sits between the
    metric and the class index, so it can never be mistaken for a class index.
    """
    return f"{key}/{CI_LOW}", f"{key}/{CI_HIGH}"


def _out(low: np.ndarray, high: np.ndarray) -> Interval:
    if low.ndim == 0:
        return float(low), float(high)
    return low, high


def z_value(level: float) -> float:
    """The two-sided standard normal quantile of ``level`` (1.959964 for 0.95)."""
    return float(stats.norm.ppf(0.5 + check_level(level) / 2))


def wilson_interval(successes: Any, n: Any, level: float = DEFAULT_LEVEL) -> Interval:
    """Wilson score interval of the rate ``successes / n`` (vectorised; NaN where ``n == 0``).

    ``(p̂ + z²/2n ± z·√(p̂(1−p̂)/n + z²/4n²)) / (1 + z²/n)`` — what
    ``scipy.stats.binomtest(k, n).proportion_ci(method="wilson")`` gives for one rate (the
    tests check the two agree). Written out because binomtest takes one rate at a time and the
    per-class intervals need one call for every class at once.
    """
    k = np.asarray(_numpy(successes), dtype=np.float64)
    n = np.asarray(_numpy(n), dtype=np.float64)
    if np.any(k < 0) or np.any(k > n):
        raise ValueError("wilson_interval needs 0 <= successes <= n")
    z = z_value(level)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        denominator = 1 + z**2 / n
        centre = (p + z**2 / (2 * n)) / denominator
        half = z / denominator * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    low = np.where(n > 0, np.clip(centre - half, 0.0, 1.0), np.nan)
    high = np.where(n > 0, np.clip(centre + half, 0.0, 1.0), np.nan)
    return _out(low, high)


def t_interval(values: Any, level: float = DEFAULT_LEVEL) -> Interval:
    """Student-t interval of the mean of ``values`` (1-D; NaN entries dropped; NaN if n < 2).

    ``x̄ ± t_{(1+level)/2, n−1} · s/√n`` with the sample std ``s`` (ddof 1), as
    ``scipy.stats.t.interval(level, n − 1, x̄, s/√n)``.
    """
    v = np.asarray(_numpy(values), dtype=np.float64).reshape(-1)
    v = v[~np.isnan(v)]
    if v.size < 2:
        return math.nan, math.nan
    low, high = _t_bounds(np.array(v.mean()), np.array(v.std(ddof=1)), np.array(v.size), level)
    return _out(low, high)


def grouped_t_interval(values: Any, groups: Any, num_groups: int, level: float = DEFAULT_LEVEL) -> Interval:
    """Per-group (per-class) Student-t intervals of the mean, ``[num_groups]`` arrays each.

    NaN values are dropped; a group with fewer than two values gets NaN (its spread is unknown).
    """
    v = np.asarray(_numpy(values), dtype=np.float64).reshape(-1)
    g = np.asarray(_numpy(groups), dtype=np.int64).reshape(-1)
    keep = ~np.isnan(v)
    v, g = v[keep], g[keep]
    n = np.bincount(g, minlength=num_groups).astype(np.float64)
    sums = np.bincount(g, weights=v, minlength=num_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = sums / n
        squares = np.bincount(g, weights=(v - mean[g]) ** 2, minlength=num_groups)
        std = np.sqrt(squares / (n - 1))
    return _t_bounds(mean, std, n, level)


def _t_bounds(mean: np.ndarray, std: np.ndarray, n: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    valid = n >= 2
    df = np.where(valid, n - 1, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        half = stats.t.ppf(0.5 + check_level(level) / 2, df) * std / np.sqrt(np.where(valid, n, 1))
    return np.where(valid, mean - half, np.nan), np.where(valid, mean + half, np.nan)


def _percentiles(draws: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """The percentile interval of bootstrap draws ``[n_resamples, ...]`` (NaN draws ignored;
    a statistic without data has a NaN interval, without numpy's "All-NaN slice" warning)."""
    alpha = (1 - check_level(level)) / 2
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="All-NaN slice", category=RuntimeWarning)
        low, high = np.nanquantile(draws, [alpha, 1 - alpha], axis=0)
    return low, high


def bootstrap_interval(
    values: Any,
    statistic: Callable[[np.ndarray], np.ndarray],
    level: float = DEFAULT_LEVEL,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    strata: Any = None,
) -> Interval:
    """Seeded percentile-bootstrap interval of ``statistic(values)``.

    Args:
        values: per-sample values, shape ``[n]`` (or ``[n, d]`` for several columns per sample,
            e.g. the two jobs of a paired comparison).
        statistic: maps resampled values ``[B, n]`` (``[B, n, d]``) to ``[B]`` (vectorised over
            resamples), e.g. ``lambda v: v.mean(axis=1)``.
        strata: per-sample stratum (class) labels ``[n]``: every resample keeps each sample's
            position and draws it from the samples of its own stratum, so class sizes are fixed
            and ``statistic`` may use the original ``strata`` to group the resampled values.
        seed: the resampling seed (numpy ``default_rng``).

    Why not ``scipy.stats.bootstrap``: it refuses a sample of one observation, and a stratified
    bootstrap needs one sample per class (RobustBench's ImageNet subset has 37 classes of one
    image); its multi-sample form also resamples strata in an order the statistic cannot see.
    Without strata the draws and percentiles are those of ``scipy.stats.bootstrap(method=
    "percentile")`` with the same seed (the tests check it).
    """
    draws = bootstrap_draws(values, statistic, n_resamples, seed, strata)
    if draws.size == 0:
        return math.nan, math.nan
    low, high = _percentiles(draws, level)
    return _out(np.asarray(low), np.asarray(high))


def bootstrap_draws(
    values: Any,
    statistic: Callable[[np.ndarray], np.ndarray],
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    strata: Any = None,
) -> np.ndarray:
    """The ``[n_resamples]`` bootstrap replicates of ``statistic`` behind :func:`bootstrap_interval`
    (empty without samples); a paired comparison reads its p-value from them."""
    v = np.asarray(_numpy(values), dtype=np.float64)
    n = v.shape[0] if v.ndim else 0
    if n == 0:
        return np.zeros(0)
    rng = np.random.default_rng(seed)
    draw = _stratified_draw(n, strata, rng)
    per_chunk = max(1, _CHUNK_VALUES // max(n * (v[0].size if v.ndim > 1 else 1), 1))
    draws = []
    for start in range(0, n_resamples, per_chunk):
        positions = draw(min(per_chunk, n_resamples - start))
        draws.append(np.asarray(statistic(v[positions]), dtype=np.float64))
    return np.concatenate(draws, axis=0)


def _stratified_draw(n: int, strata: Any, rng: np.random.Generator) -> Callable[[int], np.ndarray]:
    """A function giving ``[B, n]`` resampled positions, each within its position's stratum."""
    if strata is None:
        return lambda b: rng.integers(0, n, size=(b, n))
    s = np.asarray(_numpy(strata)).reshape(-1)
    if s.size != n:
        raise ValueError(f"strata has {s.size} entries for {n} samples")
    order = np.argsort(s, kind="stable")
    _, first, inverse, sizes = np.unique(s[order], return_index=True, return_inverse=True, return_counts=True)
    offset, size = np.empty(n, np.int64), np.empty(n, np.int64)
    offset[order], size[order] = first[inverse], sizes[inverse]
    return lambda b: order[offset + rng.integers(0, size, size=(b, n))]


def class_rates_bootstrap_interval(
    successes: Any,
    counts: Any,
    statistic: Callable[[np.ndarray], np.ndarray],
    level: float = DEFAULT_LEVEL,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> Interval:
    """Bootstrap interval, stratified by class, of a summary of the class-wise rates.

    ``successes[c]`` of ``counts[c]`` samples of class c succeeded (e.g. the diagonal and row
    sums of a confusion matrix). Resampling the ``counts[c]`` samples of class c with
    replacement gives ``Binomial(counts[c], successes[c]/counts[c])`` successes, so the
    resampled rates are drawn from that law directly — the same bootstrap as
    :func:`bootstrap_interval` with ``strata=labels``, from counts alone (exact under DDP,
    where only the summed counts exist) and in ``O(K)`` per resample instead of ``O(N)``.

    ``statistic`` maps resampled rates ``[B, K]`` (NaN for a class without samples) to ``[B]``.
    """
    k = np.asarray(_numpy(successes), dtype=np.int64).reshape(-1)
    n = np.asarray(_numpy(counts), dtype=np.int64).reshape(-1)
    if not (n > 0).any():
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    p = np.where(n > 0, k / np.maximum(n, 1), 0.0)
    draws = rng.binomial(n, p, size=(n_resamples, n.size))
    with np.errstate(invalid="ignore", divide="ignore"):
        rates = np.where(n > 0, draws / n, np.nan)
    low, high = _percentiles(np.asarray(statistic(rates), dtype=np.float64), level)
    return _out(np.asarray(low), np.asarray(high))


def mean_interval(values: Any, options: IntervalOptions) -> Interval:
    """The interval of the mean of ``values`` (NaN dropped) by ``options.means``: t or bootstrap."""
    if options.means == "t":
        return t_interval(values, options.level)
    v = np.asarray(_numpy(values), dtype=np.float64).reshape(-1)
    v = v[~np.isnan(v)]
    return bootstrap_interval(v, lambda r: r.mean(axis=1), options.level, options.n_resamples, options.seed)


def grouped_mean_interval(values: Any, groups: Any, num_groups: int, options: IntervalOptions) -> Interval:
    """Per-group intervals of the mean by ``options.means`` (``[num_groups]`` arrays each)."""
    if options.means == "t":
        return grouped_t_interval(values, groups, num_groups, options.level)
    v = np.asarray(_numpy(values), dtype=np.float64).reshape(-1)
    g = np.asarray(_numpy(groups), dtype=np.int64).reshape(-1)
    low, high = np.full(num_groups, np.nan), np.full(num_groups, np.nan)
    for c in range(num_groups):
        low[c], high[c] = mean_interval(v[g == c], options)
    return low, high


def interval_entries(key: str, interval: Interval) -> dict[str, Tensor]:
    """``{<key>/ci_low: low, <key>/ci_high: high}`` as float64 tensors, as a metric returns them."""
    low_key, high_key = interval_keys(key)
    low, high = interval
    return {low_key: torch.as_tensor(low, dtype=torch.float64), high_key: torch.as_tensor(high, dtype=torch.float64)}


def wilson_entries(key: str, successes: Any, n: Any, level: float = DEFAULT_LEVEL) -> dict[str, Tensor]:
    """:func:`interval_entries` of the Wilson interval of ``successes / n`` (tensors accepted)."""
    return interval_entries(key, wilson_interval(successes, n, level))


def _numpy(value: Any) -> Any:
    """A tensor (on any device) as a numpy array; anything else as it is."""
    return value.detach().cpu().numpy() if isinstance(value, Tensor) else value


__all__ = [
    "CI_HIGH",
    "CI_LOW",
    "DEFAULT_LEVEL",
    "DEFAULT_RESAMPLES",
    "IntervalOptions",
    "Level",
    "bootstrap_draws",
    "bootstrap_interval",
    "check_level",
    "class_rates_bootstrap_interval",
    "grouped_mean_interval",
    "grouped_t_interval",
    "interval_entries",
    "interval_keys",
    "mean_interval",
    "t_interval",
    "wilson_entries",
    "wilson_interval",
    "z_value",
]
