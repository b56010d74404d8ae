"""The functional core against hand-computed cases: summaries, per-class means, exact rates,
de-duplication (and its warning), the robust-fairness summaries, and the key-collision check."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
from torch import Tensor

from robustlens.metrics.accuracy import Accuracy, ClasswiseAccuracy, ClasswiseFairness
from robustlens.metrics.base import ProbeMetric, ProbeOutput, check_distinct_keys
from robustlens.metrics.functional import (
    DuplicateSamplesWarning,
    classwise_mean,
    fairness_summary,
    first_occurrence,
    rate,
    summary,
    summary_keys,
)
from robustlens.metrics.latent import LatentAccuracy, LatentSeverity, PerturbationStats
from robustlens.metrics.perturbation import NormStatistics


def test_summary_keys_follow_the_convention():
    assert summary_keys("severity") == (
        "severity", "severity_std", "severity_min", "severity_q25", "severity_median", "severity_q75", "severity_max"
    )


def test_summary_hand_computed_and_float64():
    s = summary("x", torch.tensor([1.0, 2.0, 3.0, 4.0]))
    assert s["x"].dtype == torch.float64
    assert [s[k].item() for k in summary_keys("x")] == [2.5, math.sqrt(1.25), 1.0, 1.75, 2.5, 3.25, 4.0]
    assert math.isnan(summary("x", torch.tensor([float("nan")]), drop_nan=True)["x_median"].item())
    assert summary("x", torch.tensor([float("nan"), 5.0]), drop_nan=True)["x"].item() == 5.0


def test_classwise_mean_hand_computed_with_an_empty_class():
    out = classwise_mean(torch.tensor([1.0, 3.0, 10.0]), torch.tensor([0, 0, 2]), 4)
    assert out[0].item() == 2.0 and out[2].item() == 10.0
    assert math.isnan(out[1].item()) and math.isnan(out[3].item())


def test_rates_from_counts_are_exact():
    assert rate(torch.tensor(992), torch.tensor(1000)).item() == 0.992  # not 0.9919999837875366
    assert math.isnan(rate(torch.tensor(0), torch.tensor(0)).item())
    metric = Accuracy(num_classes=2)
    labels = torch.zeros(1000, dtype=torch.long)
    preds = torch.cat([torch.zeros(992, dtype=torch.long), torch.ones(8, dtype=torch.long)])
    metric.update(ProbeOutput(index=torch.arange(1000), labels=labels, preds=preds))
    assert float(metric.compute()["accuracy"]) == 0.992


def test_first_occurrence_keeps_first_of_each_index_in_index_order():
    index = torch.tensor([7, 3, 7, 1, 3])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no owner: no warning (a plain helper call)
        keep = first_occurrence(index)
    assert keep.tolist() == [3, 1, 0]  # indices 1, 3, 7 at their first positions
    assert first_occurrence(torch.zeros(0, dtype=torch.long)).numel() == 0


def test_samples_evaluated_twice_are_counted_once_and_named_in_a_warning():
    metric = LatentSeverity(num_classes=2)
    out = ProbeOutput(index=torch.tensor([0, 1]), labels=torch.tensor([0, 1]), preds=torch.tensor([0, 1]),
                      norm=torch.tensor([1.0, 3.0]))
    metric.update(out)
    metric.update(ProbeOutput(index=torch.tensor([1]), labels=torch.tensor([1]), preds=torch.tensor([1]),
                              norm=torch.tensor([100.0])))  # sample 1 again, as a padding sampler would
    with pytest.warns(DuplicateSamplesWarning, match="LatentSeverity: 1 samples were evaluated twice"):
        result = metric.compute()
    assert result["severity"].item() == 2.0  # (1 + 3) / 2: the repeat does not count


def confmat(rows: list[list[int]]) -> Tensor:
    return torch.tensor(rows)


def test_fairness_summary_hand_computed():
    # class accuracies: 0 → 8/10, 1 → 2/5 (errors: 3 to class 2, 0 to class 0), 2 → 6/6
    m = confmat([[8, 1, 1], [0, 2, 3], [0, 0, 6]])
    f = fairness_summary(m)
    accs = torch.tensor([0.8, 0.4, 1.0], dtype=torch.float64)
    assert f["worst_class_accuracy"].item() == 0.4
    assert int(f["worst_class"]) == 1
    assert f["classwise_accuracy_spread"].item() == pytest.approx(0.6, abs=1e-15)
    assert f["classwise_accuracy_std"].item() == pytest.approx(accs.std(correction=0).item(), abs=1e-15)
    assert int(f["worst_class_top_confusion"]) == 2
    assert f["worst_class_top_confusion_share"].item() == 1.0


def test_fairness_summary_ties_empty_classes_and_no_errors():
    # class 1 has no samples (left out); classes 0 and 2 tie at 1/2: the lower index is the worst;
    # class 0's 2 errors split 1/1 between classes 1 and 2: the lower index receives "most"
    f = fairness_summary(confmat([[2, 1, 1], [0, 0, 0], [0, 1, 1]]))
    assert int(f["worst_class"]) == 0 and f["worst_class_accuracy"].item() == 0.5
    assert f["classwise_accuracy_spread"].item() == 0.0 and f["classwise_accuracy_std"].item() == 0.0
    assert int(f["worst_class_top_confusion"]) == 1 and f["worst_class_top_confusion_share"].item() == 0.5
    perfect = fairness_summary(confmat([[3, 0], [0, 2]]))
    assert perfect["worst_class_accuracy"].item() == 1.0
    assert int(perfect["worst_class_top_confusion"]) == -1 and math.isnan(perfect["worst_class_top_confusion_share"])
    empty = fairness_summary(torch.zeros(3, 3, dtype=torch.long))
    assert math.isnan(empty["worst_class_accuracy"]) and int(empty["worst_class"]) == -1


def test_fairness_metric_agrees_with_classwise_accuracy():
    gen = torch.Generator().manual_seed(1)
    labels, preds = torch.randint(0, 6, (300,), generator=gen), torch.randint(0, 6, (300,), generator=gen)
    out = ProbeOutput(index=torch.arange(300), labels=labels, preds=preds)
    fair, cw = ClasswiseFairness(6), ClasswiseAccuracy(6)
    fair.update(out)
    cw.update(out)
    f, acc = fair.compute(), cw.compute()["classwise_accuracy"]
    assert set(f) == set(fair.emits)
    assert f["worst_class_accuracy"].item() == acc.min().item()
    assert int(f["worst_class"]) == int(acc.argmin())
    assert f["classwise_accuracy_spread"].item() == (acc.max() - acc.min()).item()
    worst = int(f["worst_class"])
    errors = torch.bincount(preds[(labels == worst) & (preds != worst)], minlength=6)
    assert int(f["worst_class_top_confusion"]) == int(errors.argmax())


@pytest.mark.parametrize(
    "metric",
    [Accuracy(3), ClasswiseAccuracy(3), ClasswiseFairness(3), NormStatistics(name="severity"),
     LatentSeverity(3), PerturbationStats(3, keys=["latent_norm"], only_successful=False)],
    ids=lambda m: type(m).__name__,
)
def test_declared_keys_are_the_computed_keys(metric: ProbeMetric):
    out = ProbeOutput(index=torch.arange(4), labels=torch.tensor([0, 1, 2, 0]), preds=torch.tensor([0, 1, 1, 0]),
                      success=torch.tensor([True, False, True, True]), norm=torch.tensor([0.1, 0.2, 0.3, 0.4]),
                      values={"latent_norm": torch.tensor([1.0, 2.0, 3.0, 4.0])})
    metric.update(out)
    assert set(metric.compute()) == set(metric.emits)


def test_two_metrics_writing_one_key_is_an_error_naming_both():
    with pytest.raises(ValueError, match=r"`accuracy` from both `accuracy` \(Accuracy\) and `latent` \(LatentAccuracy\)"):
        check_distinct_keys({"accuracy": Accuracy(3), "latent": LatentAccuracy(3)}, owner="probe lga")
    check_distinct_keys({"accuracy": Accuracy(3), "classwise_accuracy": ClasswiseAccuracy(3)})  # distinct: fine


def test_a_probe_refuses_colliding_metrics_at_construction():
    from robustlens.evaluation.clean_probe import CleanProbe

    with pytest.raises(ValueError, match="severity"):
        CleanProbe(metrics={"a": NormStatistics(name="severity"), "b": LatentSeverity(3)})
