"""What every robustlens metric consumes and is: per-sample facts (:class:`ProbeOutput`) and the
torchmetrics base class (:class:`ProbeMetric`) fed with them.

They live in the metrics room so that metrics never import the evaluation machinery that
produces the facts: a metric knows nothing of attacks, probes or Lightning.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field

from torch import Tensor
from torchmetrics import Metric


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
