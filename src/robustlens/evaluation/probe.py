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
from torchmetrics import Metric

Batch = tuple[Tensor, Tensor, Tensor]  # (x in [0,1], y, dataset index)


@dataclass
class ProbeOutput:
    """Per-sample facts one probe produced for one batch (all tensors have length B).

    Attributes:
        index: sample indices (dataset index, or the index a generated sample is keyed on).
        labels: the true class of each probed input.
        preds: the classifier's prediction under the probe.
        clean_preds: the prediction on the unperturbed input (flip rate); ``None`` if n/a.
        success: whether the probe changed a correct decision / reached its target.
        norm: perturbation size per sample in the probe's norm (``nan`` where n/a).
        iterations: model evaluations spent per sample.
        target: target class of a targeted probe.
        values: further named per-sample scalars (e.g. ``latent_norm``, ``image_l2s``).
        inputs: the perturbed inputs (kept only when a metric asks for them, e.g. features).
        images: named image batches for grids (logged for the first batch only).
    """

    index: Tensor
    labels: Tensor
    preds: Tensor
    clean_preds: Tensor | None = None
    success: Tensor | None = None
    norm: Tensor | None = None
    iterations: Tensor | None = None
    target: Tensor | None = None
    values: dict[str, Tensor] = field(default_factory=dict)
    inputs: Tensor | None = None
    images: dict[str, Tensor] = field(default_factory=dict)

    @property
    def correct(self) -> Tensor:
        return self.preds.eq(self.labels)

    def per_sample_columns(self) -> dict[str, Tensor]:
        """The per-sample scalars that go into the results table (besides index/label)."""
        cols: dict[str, Tensor] = {"pred": self.preds}
        for name in ("success", "norm", "iterations", "target"):
            value = getattr(self, name)
            if value is not None:
                cols[name] = value
        cols.update(self.values)
        return cols


@dataclass
class ProbeContext:
    """What the evaluation module hands every probe besides the batch."""

    seed: int = 0
    generator: nn.Module | None = None  # a robustlens Generator for latent probes
    clean_logits: Tensor | None = None  # logits on the clean batch (computed once per batch)
    extras: dict[str, Any] = field(default_factory=dict)


class ProbeMetric(Metric, abc.ABC):
    """A torchmetrics Metric fed with :class:`ProbeOutput`; DDP-synced by torchmetrics.

    ``compute()`` returns a flat mapping ``{metric_name: value}`` where ``value`` is a
    scalar tensor or a per-class vector (stored as ``"<probe>/<name>/<class>"``) or a
    matrix (stored as nested lists, e.g. confusion matrices).
    """

    #: whether the metric needs ``ProbeOutput.inputs`` (so probes keep them)
    needs_inputs: bool = False

    @abc.abstractmethod
    def update(self, output: ProbeOutput) -> None: ...

    @abc.abstractmethod
    def compute(self) -> dict[str, Tensor]: ...


class Probe(nn.Module, abc.ABC):
    """Base class of every probe. Subclasses implement :meth:`run`.

    Args:
        metrics: the probe's own metrics, by name (the evaluation config may add defaults).
        is_attack: whether the probe counts towards the pointwise worst case over attacks.
    """

    is_attack: bool = False

    def __init__(self, metrics: dict[str, ProbeMetric] | None = None):
        super().__init__()
        self.metrics = nn.ModuleDict(dict(metrics or {}))

    @abc.abstractmethod
    def run(self, model: nn.Module, batch: Batch, context: ProbeContext) -> ProbeOutput:
        """Probe ``model`` on ``batch``; must not modify the batch tensors."""

    def describe(self) -> dict[str, Any]:
        """Parameters recorded with the results (attack settings, library versions)."""
        return {"type": type(self).__name__}

    @torch.no_grad()
    def update_metrics(self, output: ProbeOutput) -> None:
        for metric in self.metrics.values():
            metric.update(output)
