"""Statistics of perturbation sizes, and robust accuracy as a function of ε from one
minimal-norm run.

Both metrics keep the per-sample values (``dist_reduce_fx="cat"``) together with the sample
indices, and ``compute`` counts each index once (:func:`~robustlens.metrics.functional.first_occurrence`,
which warns about repeats; ``docs/metrics.md``, "Each sample counts once").
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor
from torchmetrics.utilities import dim_zero_cat

from robustlens.metrics.base import ProbeMetric, ProbeOutput
from robustlens.metrics.functional import first_occurrence, rate, summary, summary_keys
from robustlens.metrics.intervals import interval_entries, interval_keys, mean_interval, wilson_entries


def _cat(state: Tensor | list[Tensor]) -> Tensor:
    if isinstance(state, list) and not state:
        return torch.empty(0)
    return dim_zero_cat(state)


class NormStatistics(ProbeMetric):
    """Mean, std, min, quartiles and max of ``output.norm`` over samples (Paper A reports
    exactly these for its severities and perturbation sizes).

    Args:
        successful_only: use only samples where ``output.success`` is True (the size of the
            perturbations that *worked*); by default every sample counts, which is Paper A's
            uncensored convention (a failed search contributes its final perturbation).
        name: key of the mean, e.g. ``"severity"`` gives ``severity``, ``severity_std``,
            ``severity_median``, … (:func:`~robustlens.metrics.functional.summary`).

    ``std`` is the population standard deviation (ddof = 0, numpy's default); NaN norms
    (non-additive perturbations) are ignored; with no samples every statistic is NaN. The mean
    has an interval (``<name>/ci_low``, ``<name>/ci_high``): Student t, or a seeded percentile
    bootstrap with ``evaluation.mean_interval=bootstrap`` (skewed or censored norms).
    """

    full_state_update = False

    def __init__(self, successful_only: bool = False, name: str = "norm"):
        super().__init__()
        self.successful_only = successful_only
        self.name = name
        self.add_state("index", default=[], dist_reduce_fx="cat")
        self.add_state("norms", default=[], dist_reduce_fx="cat")

    @property
    def emits(self) -> tuple[str, ...]:
        return (*summary_keys(self.name), *interval_keys(self.name))

    def update(self, output: ProbeOutput) -> None:
        if output.norm is None:
            raise ValueError("NormStatistics needs ProbeOutput.norm; this probe reports no perturbation size")
        keep = torch.ones_like(output.index, dtype=torch.bool)
        if self.successful_only:
            if output.success is None:
                raise ValueError("NormStatistics(successful_only=True) needs ProbeOutput.success")
            keep = output.success.bool()
        self.index.append(output.index[keep].detach().long())
        self.norms.append(output.norm[keep].detach().double())

    def compute(self) -> dict[str, Tensor]:
        index, norms = _cat(self.index), _cat(self.norms).double()
        norms = norms[first_occurrence(index, owner=type(self).__name__)]
        return {
            **summary(self.name, norms, drop_nan=True),
            **interval_entries(self.name, mean_interval(norms, self.interval_options)),
        }


class RobustAccuracyCurve(ProbeMetric):
    """Robust accuracy at every ε of ``eps_grid`` from a single minimal-norm run (as Foolbox).

    A sample is robust at ε iff it is classified correctly on the clean input and its
    minimal adversarial norm is > ε. The minimal norm is ``values["min_norm"]`` when the
    probe reports it (FMN: ``+inf`` where no adversarial was found), else ``norm`` where
    ``success`` and ``+inf`` elsewhere — for a bounded attack (PGD at ε₀) the curve is then
    only meaningful at ε ≥ ε₀'s found norms, so use a minimal-norm attack.

    Returns ``{"robust_accuracy@<eps>": value}`` (``<eps>`` formatted with ``:g``) and each
    value's Wilson interval (``robust_accuracy@<eps>/ci_low``, ``.../ci_high``).
    """

    full_state_update = False

    @property
    def emits(self) -> tuple[str, ...]:
        keys = [f"robust_accuracy@{eps:g}" for eps in self.eps_grid]
        return tuple(k for key in keys for k in (key, *interval_keys(key)))

    def __init__(self, eps_grid: Sequence[float]):
        super().__init__()
        grid = [float(e) for e in eps_grid]
        if not grid or any(not e >= 0 for e in grid):
            raise ValueError(f"eps_grid must be a non-empty list of numbers >= 0, got {list(eps_grid)!r}")
        self.eps_grid = grid
        self.add_state("index", default=[], dist_reduce_fx="cat")
        self.add_state("min_norm", default=[], dist_reduce_fx="cat")
        self.add_state("clean_correct", default=[], dist_reduce_fx="cat")

    def update(self, output: ProbeOutput) -> None:
        if output.clean_preds is None:
            raise ValueError("RobustAccuracyCurve needs ProbeOutput.clean_preds (clean predictions)")
        if "min_norm" in output.values:
            mn = output.values["min_norm"].float()
        else:
            if output.norm is None or output.success is None:
                raise ValueError("RobustAccuracyCurve needs values['min_norm'] or both norm and success")
            mn = torch.where(output.success.bool(), output.norm.float(),
                             torch.full_like(output.norm, math.inf, dtype=torch.float32))
        self.index.append(output.index.detach().long())
        self.min_norm.append(mn.detach())
        self.clean_correct.append(output.clean_preds.eq(output.labels).detach())

    def compute(self) -> dict[str, Tensor]:
        index = _cat(self.index)
        keep = first_occurrence(index, owner=type(self).__name__)
        # float32 on purpose: a norm of 0.1 (as float32) must not count as "> 0.1"
        mn = _cat(self.min_norm).float()[keep]
        correct = _cat(self.clean_correct).bool()[keep]
        out: dict[str, Tensor] = {}
        for eps in self.eps_grid:
            robust = correct & (mn > eps)
            key = f"robust_accuracy@{eps:g}"
            out[key] = rate(robust.sum(), robust.numel())
            out.update(wilson_entries(key, robust.sum(), robust.numel(), self.interval_options.level))
        return out
