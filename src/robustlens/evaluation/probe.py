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

from robustlens.evaluation.latent_codes import LatentCodeCache
from robustlens.metrics.base import ProbeMetric, ProbeOutput, check_distinct_keys

Batch = tuple[Tensor, Tensor, Tensor]  # (x in [0,1], y, dataset index)


@dataclass
class ProbeContext:
    """What the evaluation module hands every probe besides the batch."""

    seed: int = 0
    generator: nn.Module | None = None  # a robustlens Generator for latent probes
    clean_logits: Tensor | None = None  # logits on the clean batch (computed once per batch)
    target: Tensor | int | None = None  # the class aimed at (target_mode='given' without target_class)
    latent_codes: LatentCodeCache = field(default_factory=LatentCodeCache)  # shared by the latent probes


class Probe(nn.Module, abc.ABC):
    """Base class of every probe. Subclasses implement :meth:`run`.

    Args:
        metrics: the probe's own metrics, by name (the evaluation config may add defaults);
            two of them declaring the same result key is an error (one would overwrite the other).
    """

    def __init__(self, metrics: dict[str, ProbeMetric] | None = None):
        super().__init__()
        # a metric set to null in the config (`metrics.<name>: null`) is a removed default
        metrics = {name: metric for name, metric in (metrics or {}).items() if metric is not None}
        check_distinct_keys(metrics, owner=type(self).__name__)
        self.metrics = nn.ModuleDict(metrics)

    @abc.abstractmethod
    def run(self, model: nn.Module, batch: Batch, context: ProbeContext) -> ProbeOutput:
        """Probe ``model`` on ``batch``; must not modify the batch tensors."""

    @property
    def in_worst_case(self) -> bool:
        """Whether the probe counts towards the pointwise worst case over attacks
        (``worst_case/*``). Only probes of bounded attacks do (``AttackProbe``)."""
        return False

    def describe(self) -> dict[str, Any]:
        """Parameters recorded with the results (attack settings, library versions)."""
        return {"type": type(self).__name__}

    @torch.no_grad()
    def update_metrics(self, output: ProbeOutput) -> None:
        for metric in self.metrics.values():
            metric.update(output)
