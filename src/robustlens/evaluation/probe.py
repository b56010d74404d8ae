"""A probe = one way of perturbing the evaluation inputs (an attack, a perturbation, a
corruption, a latent search, or nothing) plus the metrics computed on what it produces.

Probes know how to turn a batch into per-sample facts (:class:`ProbeOutput`); metrics
(:class:`ProbeMetric`) only consume those facts. The :class:`~robustlens.evaluation.module.EvaluationModule`
runs every probe on every batch inside ``Trainer.test`` and writes the results.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from robustlens.attacks.precision import check_precision
from robustlens.evaluation.latent_codes import LatentCodeCache
from robustlens.metrics.base import ProbeMetric, ProbeOutput, check_distinct_keys
from robustlens.utils.parameters import Configurable

Batch = tuple[Tensor, Tensor, Tensor]  # (x in [0,1], y, dataset index)


@dataclass
class ProbeContext:
    """What the evaluation module hands every probe besides the batch."""

    seed: int = 0
    generator: nn.Module | None = None  # a robustlens Generator for latent probes
    clean_logits: Tensor | None = None  # logits on the clean batch (computed once per batch)
    target: Tensor | int | None = None  # the class aimed at (target_mode='given' without target_class)
    latent_codes: LatentCodeCache = field(default_factory=LatentCodeCache)  # shared by the latent probes


class Probe(Configurable, nn.Module, abc.ABC):
    """Base class of every probe. Subclasses implement :meth:`run`.

    Args:
        metrics: the probe's own metrics, by name (the evaluation config may add defaults);
            two of them declaring the same result key is an error (one would overwrite the other).
    """

    #: the metrics describe themselves in results.json under their own keys
    undescribed = ("metrics",)
    #: the arithmetic of the probe's search passes (``robustlens.attacks.precision``); ``None``
    #: until :meth:`use_precision` applies ``evaluation.precision`` (a probe's own value wins)
    precision: str | None = None

    def __init__(self, metrics: dict[str, ProbeMetric | None] | None = None):
        super().__init__()
        # a metric set to null in the config (`metrics.<name>: null`) is a removed default
        metrics = {name: metric for name, metric in (metrics or {}).items() if metric is not None}
        check_distinct_keys(metrics, owner=type(self).__name__)
        self.metrics = nn.ModuleDict(metrics)

    @abc.abstractmethod
    def run(self, model: nn.Module, batch: Batch, context: ProbeContext) -> ProbeOutput:
        """Probe ``model`` on ``batch``; must not modify the batch tensors."""

    def set_model(self, model: nn.Module) -> None:
        """Hook: the classifier under evaluation, handed to every metric of the probe before the
        first batch (:meth:`ProbeMetric.set_model <robustlens.metrics.base.ProbeMetric.set_model>`)."""
        for metric in self.metrics.values():
            metric.set_model(model)

    def set_memory_budget(self, megabytes: float | None) -> None:
        """Hook: the memory a batch may take (``evaluation.memory_budget_mb``); a probe that can
        split its batches honours it (the latent probes), the default ignores it."""

    @property
    def metrics_need_inputs(self) -> bool:
        """Whether a metric of the probe reads the probed inputs (``ProbeMetric.needs_inputs``)."""
        return any(metric.needs_inputs for metric in self.metrics.values())

    @property
    def in_worst_case(self) -> bool:
        """Whether the probe counts towards the pointwise worst case over attacks
        (``worst_case/*``). Only probes of bounded attacks do (``AttackProbe``)."""
        return False

    @property
    def faithful_search(self) -> bool:
        """Whether the probe runs an authors' procedure, which only fp32 reproduces."""
        return False

    def use_precision(self, default: str) -> None:
        """Apply the evaluation's precision unless the probe sets its own; refuse a name that does
        not exist and anything but fp32 for a faithful probe (:class:`PrecisionError`)."""
        self.precision = check_precision(self.precision or default, faithful=self.faithful_search)

    @property
    def search_precision(self) -> str:
        """The precision the probe's searches run in (fp32 until one is applied)."""
        return self.precision or "fp32"

    def _describe_extra(self) -> dict[str, Any]:
        """Every probe records the precision its searches ran in."""
        return {"precision": self.search_precision}

    @torch.no_grad()
    def update_metrics(self, output: ProbeOutput) -> None:
        for metric in self.metrics.values():
            metric.update(output)
