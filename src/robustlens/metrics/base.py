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

from robustlens.metrics.intervals import IntervalOptions


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

    ``compute()`` returns a flat mapping ``{key: value}`` where ``value`` is a scalar tensor,
    a per-class vector (stored as ``"<probe>/<key>/<class>"``) or a matrix (stored as nested
    lists, e.g. confusion matrices). Keys follow one convention (``docs/metrics.md``): the
    headline value is ``<name>`` (a mean is the plain name), its statistics ``<name>_std``,
    ``<name>_q25``, …, its per-class vector ``classwise_<name>``, and the bounds of a headline
    value's confidence interval ``<name>/ci_low`` and ``<name>/ci_high``
    (:mod:`robustlens.metrics.intervals`).

    Every metric declares the keys it returns in :attr:`emits` before it sees data, so that a
    probe can refuse two metrics that would write the same key (one would silently win).
    """

    #: whether the metric needs ``ProbeOutput.inputs`` (so probes keep them)
    needs_inputs: bool = False
    #: how the metric's intervals are computed (level, bootstrap resamples and seed);
    #: the evaluation sets the configured ones with :meth:`set_interval_options`
    interval_options: IntervalOptions = IntervalOptions()

    def set_interval_options(self, options: IntervalOptions) -> None:
        """Use ``options`` (``evaluation.interval_*``) for the intervals :meth:`compute` returns."""
        self.interval_options = options

    @property
    def emits(self) -> tuple[str, ...]:
        """The keys :meth:`compute` returns. Subclasses override it; a metric that does not
        declare its keys cannot be checked for collisions (its keys are checked after compute)."""
        return ()

    @abc.abstractmethod
    def update(self, output: ProbeOutput) -> None: ...

    @abc.abstractmethod
    def compute(self) -> dict[str, Tensor]: ...


def check_distinct_keys(metrics: dict[str, ProbeMetric], owner: str = "probe") -> None:
    """Refuse metrics of one probe that declare the same output key (the later would overwrite
    the earlier in results.json). The error names both metrics and how to fix it."""
    seen: dict[str, str] = {}
    clashes: list[str] = []
    for metric_name, metric in metrics.items():
        for key in getattr(metric, "emits", ()):
            if key in seen:
                clashes.append(
                    f"`{key}` from both `{seen[key]}` ({type(metrics[seen[key]]).__name__}) and "
                    f"`{metric_name}` ({type(metric).__name__})"
                )
            else:
                seen[key] = metric_name
    if clashes:
        raise ValueError(
            f"{owner}: two metrics would write the same result key: {'; '.join(clashes)}. Drop one "
            "(`metrics.<name>: null`) or give it another name (e.g. NormStatistics' `name`)"
        )
