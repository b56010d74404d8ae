"""Paper A's latent-space metrics (``docs/metrics.md``) as DDP-synced probe metrics.

* :class:`LatentAccuracy` — LGA, LRA, LAGA_ρ, LARA_ρ (fraction of samples still classified
  correctly) and LLNA (mean of the per-image noise accuracy a probe puts in
  ``values["accuracy"]``).
* :class:`LatentSeverity` — LAGS, LARS: the plain mean of ``ProbeOutput.norm`` (= ‖Δl‖ₛ),
  with std, min, quartiles and max. Not censored: a point without an adversarial code keeps
  the norm of its final perturbation (the probe decides that number).
* :class:`PerturbationStats` — the same statistics of each named per-sample value
  (``latent_norm``, ``norm_growth``, ``image_l2s``, ``image_l1``), Paper A's second finding.

Why per-sample ``cat`` states instead of running sums: quantiles need every value, and
keeping the sample index lets ``compute`` count a sample exactly once (and warn) even when a
DDP sampler padded the last batch with repeats (``docs/metrics.md``, "Each sample counts once"). 600 samples per
probe make this cheap. Statistics follow NumPy's defaults (std with ddof=0, linearly
interpolated quantiles), as the authors' scripts did. Every metric also returns its
per-class vector (``classwise_<name>``, NaN for a class without samples), and the mean and
every per-class mean their intervals (``<name>/ci_low``, ``classwise_<name>/ci_low``, ...):
Wilson for a share of 0/1 verdicts, else Student t or the seeded bootstrap
(``evaluation.mean_interval``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import torch
from pydantic import Field
from torch import Tensor
from torchmetrics.utilities import dim_zero_cat

from robustlens.metrics.base import ProbeMetric, ProbeOutput
from robustlens.metrics.functional import (
    check_class_tensor,
    check_num_classes,
    classwise_mean,
    first_occurrence,
    summary,
    summary_keys,
)
from robustlens.metrics.intervals import (
    grouped_mean_interval,
    interval_entries,
    interval_keys,
    mean_interval,
    wilson_entries,
)

NumClasses = Annotated[int, Field(ge=2)]
PERTURBATION_KEYS: tuple[str, ...] = ("latent_norm", "norm_growth", "image_l2s", "image_l1")


class _PerSampleMetric(ProbeMetric):
    """Keeps (index, label, value columns) per sample; ``compute`` sees each index once."""

    full_state_update = False

    def __init__(self, num_classes: NumClasses, columns: Sequence[str]) -> None:
        super().__init__()
        self.num_classes = check_num_classes(num_classes)
        self.columns = tuple(columns)
        self.add_state("index", default=[], dist_reduce_fx="cat")
        self.add_state("labels", default=[], dist_reduce_fx="cat")
        for c in self.columns:
            self.add_state(f"col_{c}", default=[], dist_reduce_fx="cat")

    def _append(self, output: ProbeOutput, cols: dict[str, Tensor], keep: Tensor | None = None) -> None:
        index = output.index.reshape(-1)
        labels = check_class_tensor("labels", output.labels, self.num_classes)
        if keep is not None:
            index, labels = index[keep], labels[keep]
            cols = {k: v[keep] for k, v in cols.items()}
        self.index.append(index.long().to(self.device))
        self.labels.append(labels.to(self.device))
        for c in self.columns:
            getattr(self, f"col_{c}").append(cols[c].reshape(-1).double().to(self.device))

    def _gather(self) -> tuple[Tensor, dict[str, Tensor]]:
        """Labels and columns with each sample index counted once (first occurrence kept)."""
        if isinstance(self.index, list) and not self.index:
            empty = torch.zeros(0, dtype=torch.float64)
            return torch.zeros(0, dtype=torch.long), {c: empty for c in self.columns}
        index = dim_zero_cat(self.index).cpu()
        labels = dim_zero_cat(self.labels).cpu()
        cols = {c: dim_zero_cat(getattr(self, f"col_{c}")).cpu() for c in self.columns}
        keep = first_occurrence(index, owner=type(self).__name__)
        return labels[keep], {c: v[keep] for c, v in cols.items()}

    def _mean_intervals(self, name: str, values: Tensor, labels: Tensor) -> dict[str, Tensor]:
        """Intervals of the mean of ``values`` and of its per-class means (``classwise_<name>``)."""
        options = self.interval_options
        per_class = grouped_mean_interval(values, labels, self.num_classes, options)
        return {
            **interval_entries(name, mean_interval(values, options)),
            **interval_entries(f"classwise_{name}", per_class),
        }


def _with_intervals(name: str) -> tuple[str, ...]:
    """``name``, ``classwise_<name>`` and the interval keys of both."""
    return (name, f"classwise_{name}", *interval_keys(name), *interval_keys(f"classwise_{name}"))


class LatentAccuracy(_PerSampleMetric):
    """LGA / LRA / LAGA_ρ / LARA_ρ / LLNA: mean per-sample accuracy (keys ``accuracy``,
    ``classwise_accuracy``). A sample's accuracy is ``values["accuracy"]`` when the probe
    gives one (LLNA's rate over noise draws), else ``preds == labels``.

    Intervals: Wilson when every per-sample score is 0 or 1 (a share of verdicts: LGA, LRA,
    LAGA, LARA), else the interval of a mean (LLNA's per-image rates)."""

    higher_is_better = True
    emits = _with_intervals("accuracy")

    def __init__(self, num_classes: NumClasses = 10) -> None:
        super().__init__(num_classes, ["score"])

    def update(self, output: ProbeOutput) -> None:
        score = output.values.get("accuracy")
        if score is None:
            score = output.correct.double()
        self._append(output, {"score": score})

    def compute(self) -> dict[str, Tensor]:
        labels, cols = self._gather()
        v = cols["score"]
        mean = v.mean() if v.numel() else torch.tensor(float("nan"), dtype=torch.float64)
        out = {"accuracy": mean, "classwise_accuracy": classwise_mean(v, labels, self.num_classes)}
        if bool(((v == 0) | (v == 1)).all()):  # verdicts: a count of successes
            level = self.interval_options.level
            counts = torch.bincount(labels, minlength=self.num_classes)
            successes = torch.bincount(labels, weights=v, minlength=self.num_classes).round().long()
            out.update(wilson_entries("accuracy", int(v.sum()), v.numel(), level))
            out.update(wilson_entries("classwise_accuracy", successes, counts, level))
        else:
            out.update(self._mean_intervals("accuracy", v, labels))
        return out


class LatentSeverity(_PerSampleMetric):
    """LAGS / LARS: ``severity`` = plain mean of ``ProbeOutput.norm`` plus std/min/quartiles/max
    and ``classwise_severity``."""

    higher_is_better = True
    emits = (*summary_keys("severity"), *_with_intervals("severity")[1:])

    def __init__(self, num_classes: NumClasses = 10) -> None:
        super().__init__(num_classes, ["norm"])

    def update(self, output: ProbeOutput) -> None:
        if output.norm is None:
            raise ValueError(
                "LatentSeverity needs ProbeOutput.norm (use it with a latent minimum-search probe)"
            )
        self._append(output, {"norm": output.norm})

    def compute(self) -> dict[str, Tensor]:
        labels, cols = self._gather()
        out = summary("severity", cols["norm"])
        out["classwise_severity"] = classwise_mean(cols["norm"], labels, self.num_classes)
        out.update(self._mean_intervals("severity", cols["norm"], labels))
        return out


class PerturbationStats(_PerSampleMetric):
    """Mean/std/quartiles of each per-sample value in ``keys`` (keys ``<value>``, ``<value>_std``,
    …, ``classwise_<value>``).

    Args:
        keys: names in ``ProbeOutput.values``.
        only_successful: Paper A reports statistics of the *found* adversarial perturbations,
            so samples whose probe did not succeed are left out (set False for all samples).
    """

    def __init__(
        self, num_classes: NumClasses = 10, keys: list[str] | None = None, only_successful: bool = True
    ) -> None:
        keys = list(keys) if keys is not None else list(PERTURBATION_KEYS)
        super().__init__(num_classes, keys)
        self.only_successful = only_successful

    @property
    def emits(self) -> tuple[str, ...]:
        return tuple(key for c in self.columns for key in (*summary_keys(c), *_with_intervals(c)[1:]))

    def update(self, output: ProbeOutput) -> None:
        missing = [k for k in self.columns if k not in output.values]
        if missing:
            raise ValueError(
                f"ProbeOutput.values lacks {missing}; the probe gives {sorted(output.values)}: "
                "set `keys` of PerturbationStats to names the probe produces"
            )
        keep = None
        if self.only_successful:
            if output.success is None:
                raise ValueError("only_successful=True needs ProbeOutput.success; set only_successful: false")
            keep = output.success.reshape(-1).bool()
        self._append(output, {k: output.values[k] for k in self.columns}, keep)

    def compute(self) -> dict[str, Tensor]:
        labels, cols = self._gather()
        out: dict[str, Tensor] = {}
        for k, v in cols.items():
            out.update(summary(k, v))
            out[f"classwise_{k}"] = classwise_mean(v, labels, self.num_classes)
            out.update(self._mean_intervals(k, v, labels))
        return out
