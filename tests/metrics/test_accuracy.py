"""Accuracy and class-wise accuracy against hand-counted predictions (methods.md part B)."""

from __future__ import annotations

import math

import pytest
import torch

from robustlens.metrics.accuracy import Accuracy, ClasswiseAccuracy
from robustlens.metrics.base import ProbeOutput


def out(labels, preds) -> ProbeOutput:
    labels = torch.tensor(labels)
    return ProbeOutput(index=torch.arange(len(labels)), labels=labels, preds=torch.tensor(preds))


# 4 classes, class 3 has no samples. Correct: sample 0 (class 0), 3, 4 (class 1), 7 (class 2).
LABELS = [0, 0, 0, 1, 1, 2, 2, 2]
PREDS = [0, 1, 2, 1, 1, 0, 0, 2]


def test_accuracy_hand_counted_over_two_batches():
    metric = Accuracy(num_classes=4)
    metric.update(out(LABELS[:3], PREDS[:3]))
    metric.update(out(LABELS[3:], PREDS[3:]))
    assert metric.compute()["accuracy"].item() == pytest.approx(4 / 8)


def test_accuracy_all_wrong_and_all_right():
    wrong, right = Accuracy(num_classes=3), Accuracy(num_classes=3)
    wrong.update(out([0, 1, 2], [1, 2, 0]))
    right.update(out([0, 1, 2], [0, 1, 2]))
    assert wrong.compute()["accuracy"].item() == 0.0
    assert right.compute()["accuracy"].item() == 1.0


def test_classwise_accuracy_with_empty_class_is_nan():
    metric = ClasswiseAccuracy(num_classes=4)
    metric.update(out(LABELS, PREDS))
    acc = metric.compute()["classwise_accuracy"]
    assert acc.shape == (4,)
    assert acc[:3].tolist() == pytest.approx([1 / 3, 1.0, 1 / 3])
    assert math.isnan(acc[3].item())


def test_classwise_accuracy_matches_definition_on_random_data():
    gen = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 5, (200,), generator=gen)
    preds = torch.randint(0, 5, (200,), generator=gen)
    metric = ClasswiseAccuracy(num_classes=5)
    metric.update(ProbeOutput(index=torch.arange(200), labels=labels, preds=preds))
    acc = metric.compute()["classwise_accuracy"]
    for c in range(5):
        mask = labels == c
        assert acc[c].item() == pytest.approx((preds[mask] == c).float().mean().item())


def test_bad_inputs_name_the_fix():
    with pytest.raises(ValueError, match="num_classes"):
        Accuracy(num_classes=1)
    metric = Accuracy(num_classes=3)
    with pytest.raises(ValueError, match="num_classes=3"):
        metric.update(out([0, 1], [0, 7]))
    with pytest.raises(ValueError, match="integer class indices"):
        metric.update(ProbeOutput(index=torch.arange(2), labels=torch.tensor([0, 1]), preds=torch.rand(2)))
