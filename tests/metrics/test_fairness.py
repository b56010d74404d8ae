"""The robust-fairness set on cases small enough to compute by hand (the metric table checks the
same classes against numpy references, in one process and on two ranks)."""

from __future__ import annotations

import math

import pytest
import torch

from robustlens.metrics.base import ProbeOutput
from robustlens.metrics.fairness import AdversarialFlow, BoundaryError, ClasswiseDispersion
from robustlens.metrics.functional.fairness import gini


def output(labels: list[int], preds: list[int], clean: list[int] | None = None) -> ProbeOutput:
    n = len(labels)
    return ProbeOutput(index=torch.arange(n), labels=torch.tensor(labels), preds=torch.tensor(preds),
                       clean_preds=None if clean is None else torch.tensor(clean))


def test_dispersion_of_accuracies_09_06_03() -> None:
    # 10 samples per class; class 0: 9 right, class 1: 6, class 2: 3; class 3 has no sample
    labels = [0] * 10 + [1] * 10 + [2] * 10
    preds = [0] * 9 + [1] + [1] * 6 + [0] * 4 + [2] * 3 + [1] * 7
    metric = ClasswiseDispersion(num_classes=4)
    metric.update(output(labels, preds))
    out = metric.compute()
    # by hand: mean 0.6; variance (0.09 + 0 + 0.09) / 3 = 0.06; cv = sqrt(0.06) / 0.6;
    # gini = (|0.9-0.6| + |0.9-0.3| + |0.6-0.3|) * 2 / (2 * 3² * 0.6) = 2.4 / 10.8
    assert out["average_class_accuracy"].item() == pytest.approx(0.6)
    assert (out["best_class_accuracy"].item(), out["best_class"].item()) == (pytest.approx(0.9), 0)
    assert out["classwise_accuracy_variance"].item() == pytest.approx(0.06)
    assert out["classwise_accuracy_cv"].item() == pytest.approx(math.sqrt(0.06) / 0.6)
    assert out["classwise_accuracy_gini"].item() == pytest.approx(2.4 / 10.8)


def test_gini_extremes() -> None:
    assert gini(torch.tensor([0.5, 0.5, 0.5])).item() == 0
    assert gini(torch.tensor([1.0, 0.0, 0.0, 0.0])).item() == pytest.approx(3 / 4)  # (n-1)/n
    assert math.isnan(gini(torch.zeros(3)).item()) and math.isnan(gini(torch.zeros(0)).item())


def test_boundary_error_counts_only_clean_right_then_wrong() -> None:
    #            sample: 0  1  2  3  4  5
    labels = [0, 0, 0, 1, 1, 1]
    clean = [0, 0, 1, 1, 1, 0]  # sample 2 and 5 are wrong already on the clean input
    preds = [2, 0, 2, 0, 1, 0]  # flips: sample 0 (0 -> 2) and sample 3 (1 -> 0)
    boundary = BoundaryError(num_classes=3)
    boundary.update(output(labels, preds, clean))
    out = boundary.compute()
    assert out["boundary_error"].item() == pytest.approx(2 / 6)
    assert out["classwise_boundary_error"][:2].tolist() == pytest.approx([1 / 3, 1 / 3])
    assert math.isnan(out["classwise_boundary_error"][2].item())
    # robust error - clean error per class: class 0 2/3 - 1/3, class 1 2/3 - 1/3 (no clean error repaired)
    flow = AdversarialFlow(num_classes=3)
    flow.update(output(labels, preds, clean))
    f = flow.compute()
    assert f["adversarial_flow"].tolist() == [[0, 0, 1], [1, 0, 0], [0, 0, 0]]
    assert f["adversarial_sent"].tolist() == [0.5, 0.5, 0.0]
    assert f["adversarial_received"].tolist() == [0.5, 0.0, 0.5]
    assert f["adversarial_flow_share"][0].tolist() == [0.0, 0.0, 1.0]


def test_a_probe_without_clean_predictions_is_refused_with_the_fix() -> None:
    with pytest.raises(ValueError, match="clean_preds"):
        BoundaryError(num_classes=3).update(output([0], [1]))
