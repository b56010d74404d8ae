"""GREAT Score (Li, Chen & Ho, *GREAT Score: Global Robustness Evaluation of Adversarial
Perturbation using Generative Models*, NeurIPS 2024, arXiv 2304.09875; the authors' code:
``IBM/GREAT-Score``) as a DDP-synced probe metric.

For samples ``x = G(z, y)`` of a class-conditional generator, ``z ~ N(0, I)``, the local score
``g(x) = √(π/2) · max(f_y(x) − max_{j≠y} f_j(x), 0)`` (``f`` the classifier's softmax) is a
certified lower bound on the minimal L2 perturbation of ``x`` when each ``f_y − f_j`` is
``√(2/π)``-Lipschitz (true of a Gaussian-smoothed classifier; the paper applies it to the
classifiers as they are, and so does robustlens). GREAT Score is the mean of ``g`` over the
generated samples: an estimate of the mean certified perturbation over the generator's
distribution, with Hoeffding's finite-sample guarantee (``g ∈ [0, √(π/2)]``).

The probe (:class:`~robustlens.evaluation.great_probe.GreatScoreProbe`) computes ``g`` per
sample into ``ProbeOutput.values["great_score"]``; this metric averages it.
"""

from __future__ import annotations

from torch import Tensor

from robustlens.metrics.base import NumClasses, ProbeOutput
from robustlens.metrics.functional import classwise_mean, summary, summary_keys
from robustlens.metrics.functional.great import SQRT_HALF_PI, hoeffding_half_width
from robustlens.metrics.intervals import interval_entries, interval_keys, mean_interval
from robustlens.metrics.latent import _PerSampleMetric

KEY = "great_score"
HOEFFDING_KEYS = (f"{KEY}_hoeffding_low", f"{KEY}_hoeffding_high")


class GreatScore(_PerSampleMetric):
    """GREAT Score: the mean local score (key ``great_score``), its statistics
    (``great_score_std``, quartiles, ...), per class (``classwise_great_score``), its t (or
    bootstrap, ``evaluation.mean_interval``) interval ``great_score/ci_low``, ``/ci_high`` and the
    paper's Hoeffding interval ``great_score_hoeffding_low``, ``_high`` (clipped to [0, √(π/2)])
    at the evaluation's interval level. Each sample index counts once.
    """

    higher_is_better = True
    emits = (*summary_keys(KEY), f"classwise_{KEY}", *interval_keys(KEY), *HOEFFDING_KEYS)

    def __init__(self, num_classes: NumClasses = 10) -> None:
        super().__init__(num_classes, [KEY])

    def update(self, output: ProbeOutput) -> None:
        if KEY not in output.values:
            raise ValueError(
                f"GreatScore needs ProbeOutput.values[{KEY!r}] (the local scores); attach it to the "
                f"GREAT Score probe (`+probe@evaluation.probes.great=great`), got values {sorted(output.values)}"
            )
        self._append(output, {KEY: output.values[KEY]})

    def compute(self) -> dict[str, Tensor]:
        labels, cols = self._gather()
        scores = cols[KEY]
        out = summary(KEY, scores)
        out[f"classwise_{KEY}"] = classwise_mean(scores, labels, self.num_classes)
        out.update(interval_entries(KEY, mean_interval(scores, self.interval_options)))
        half = hoeffding_half_width(scores.numel(), self.interval_options.level)
        mean = out[KEY]
        out[HOEFFDING_KEYS[0]] = (mean - half).clamp(0, SQRT_HALF_PI)
        out[HOEFFDING_KEYS[1]] = (mean + half).clamp(0, SQRT_HALF_PI)
        return out


__all__ = ["GreatScore"]

