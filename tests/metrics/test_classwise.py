"""Paper B's class-to-class metrics against hand-counted cases (methods.md part B)."""

from __future__ import annotations

import pytest
import torch

from robustlens.metrics.base import ProbeOutput
from robustlens.metrics.classwise import (
    ClassFalseScores,
    ConfusionMatrix,
    ErrorFlow,
    FlipRate,
    TargetedSuccessMatrix,
)

NAN = float("nan")

# 4 classes, class 3 has no samples; class 1 has no errors.
# errors: 0->1 (once), 0->2 (once), 2->0 (twice) => 4 errors
LABELS = [0, 0, 0, 1, 1, 2, 2, 2]
PREDS = [0, 1, 2, 1, 1, 0, 0, 2]


def out(labels, preds, **kw) -> ProbeOutput:
    labels = torch.tensor(labels)
    return ProbeOutput(index=torch.arange(len(labels)), labels=labels, preds=torch.tensor(preds), **kw)


def assert_equal_nan(actual: torch.Tensor, expected: list) -> None:
    assert torch.allclose(actual.double(), torch.tensor(expected, dtype=torch.double), equal_nan=True), actual


def test_confusion_counts_and_normalised_rows():
    metric = ConfusionMatrix(num_classes=4)
    metric.update(out(LABELS[:5], PREDS[:5]))
    metric.update(out(LABELS[5:], PREDS[5:]))
    res = metric.compute()
    assert res["confusion"].tolist() == [[1, 1, 1, 0], [0, 2, 0, 0], [2, 0, 1, 0], [0, 0, 0, 0]]
    assert_equal_nan(
        res["confusion_normalized"],
        [[1 / 3, 1 / 3, 1 / 3, 0], [0, 1, 0, 0], [2 / 3, 0, 1 / 3, 0], [NAN] * 4],
    )


def test_cfps_cfns_hand_counted_and_sum_to_one():
    metric = ClassFalseScores(num_classes=4)
    metric.update(out(LABELS, PREDS))
    res = metric.compute()
    # errors land in class 0 twice, in 1 once, in 2 once (of 4)
    assert res["cfps"].tolist() == pytest.approx([0.5, 0.25, 0.25, 0.0])
    # errors come from class 0 twice, from class 2 twice
    assert res["cfns"].tolist() == pytest.approx([0.5, 0.0, 0.5, 0.0])
    assert res["num_errors"].item() == 4
    assert res["cfps"].sum().item() == pytest.approx(1.0)
    assert res["cfns"].sum().item() == pytest.approx(1.0)


def test_cfps_definition_on_random_data():
    gen = torch.Generator().manual_seed(1)
    labels = torch.randint(0, 6, (300,), generator=gen)
    preds = torch.randint(0, 6, (300,), generator=gen)
    metric = ClassFalseScores(num_classes=6)
    metric.update(ProbeOutput(index=torch.arange(300), labels=labels, preds=preds))
    res = metric.compute()
    wrong = preds != labels
    n_wrong = wrong.sum().item()
    for c in range(6):
        assert res["cfps"][c].item() == pytest.approx(((preds == c) & wrong).sum().item() / n_wrong)
        assert res["cfns"][c].item() == pytest.approx(((labels == c) & wrong).sum().item() / n_wrong)


def test_cfps_without_errors_is_zero_and_all_errors_case():
    perfect = ClassFalseScores(num_classes=3)
    perfect.update(out([0, 1, 2, 2], [0, 1, 2, 2]))
    res = perfect.compute()
    assert res["cfps"].tolist() == [0.0, 0.0, 0.0]
    assert res["cfns"].tolist() == [0.0, 0.0, 0.0]
    assert res["num_errors"].item() == 0

    all_wrong = ClassFalseScores(num_classes=3)
    all_wrong.update(out([0, 1, 2, 0], [1, 0, 1, 1]))  # every sample wrong
    res = all_wrong.compute()
    # errors: 0->1, 1->0, 2->1, 0->1 => land in 1 three times, in 0 once
    assert res["cfps"].tolist() == pytest.approx([0.25, 0.75, 0.0])
    assert res["cfns"].tolist() == pytest.approx([0.5, 0.25, 0.25])


def test_error_flow_sorted_and_top_attractor():
    metric = ErrorFlow(num_classes=4)
    metric.update(out(LABELS, PREDS))
    res = metric.compute()
    assert res["error_flow"].tolist() == [[2, 0, 2], [0, 1, 1], [0, 2, 1]]
    # class 0 sends one error each to 1 and 2 -> tie broken by lowest index
    assert res["top_attractor"].tolist() == [1, -1, 0, -1]
    assert_equal_nan(res["top_attractor_share"], [0.5, NAN, 1.0, NAN])


def test_error_flow_without_errors_is_empty():
    metric = ErrorFlow(num_classes=3)
    metric.update(out([0, 1], [0, 1]))
    res = metric.compute()
    assert res["error_flow"].shape == (0, 3)
    assert res["top_attractor"].tolist() == [-1, -1, -1]


def test_flip_rate_counts_any_change_of_decision():
    metric = FlipRate(num_classes=4)
    # flips: sample 1 (clean 1 -> 0, a wrong clean decision made right) and sample 2 (1 -> 2)
    metric.update(out([0, 0, 1, 1, 2], [0, 0, 2, 1, 2], clean_preds=torch.tensor([0, 1, 1, 1, 2])))
    res = metric.compute()
    assert res["flip_rate"].item() == pytest.approx(2 / 5)
    assert_equal_nan(res["classwise_flip_rate"], [0.5, 0.5, 0.0, NAN])


def test_flip_rate_needs_clean_preds():
    with pytest.raises(ValueError, match="clean_preds"):
        FlipRate(num_classes=3).update(out([0], [1]))


def test_targeted_success_matrix_hand_counted():
    metric = TargetedSuccessMatrix(num_classes=3)
    success = torch.tensor([[True, True, False], [False, True, True], [True, True, False]])
    metric.update(out([0, 0, 1], [0, 0, 1], values={"targeted_success": success}))
    res = metric.compute()
    # class 0 (2 samples): to 1 twice, to 2 once; class 1: to 0 once, to 2 never; class 2: no samples
    assert_equal_nan(res["targeted_success"], [[NAN, 1.0, 0.5], [1.0, NAN, 0.0], [NAN, NAN, NAN]])
    assert res["targeted_success_rate"].item() == pytest.approx(4 / 6)


def test_targeted_success_matrix_bad_input():
    metric = TargetedSuccessMatrix(num_classes=3)
    with pytest.raises(ValueError, match="target mode 'all'"):
        metric.update(out([0], [0]))
    with pytest.raises(ValueError, match=r"\[B, K\]"):
        metric.update(out([0], [0], values={"targeted_success": torch.ones(1, 2, dtype=torch.bool)}))
