"""Latent metrics against hand-computed values (definitions in docs/metrics.md)."""

from __future__ import annotations

import math

import pytest
import torch

from robustlens.metrics.base import ProbeOutput
from robustlens.metrics.latent import LatentAccuracy, LatentSeverity, PerturbationStats


def _out(index, labels, preds, norm=None, success=None, values=None):
    t = torch.tensor
    return ProbeOutput(
        index=t(index),
        labels=t(labels),
        preds=t(preds),
        norm=None if norm is None else t(norm, dtype=torch.float32),
        success=None if success is None else t(success),
        values={k: t(v, dtype=torch.float32) for k, v in (values or {}).items()},
    )


def test_accuracy_by_hand_with_duplicates_counted_once():
    m = LatentAccuracy(num_classes=3)
    m.update(_out([0, 1, 2, 3], [0, 0, 1, 2], [0, 1, 1, 2]))
    m.update(_out([4, 3], [1, 2], [0, 2]))  # index 3 repeated (DDP padding): counted once
    r = m.compute()
    assert r["accuracy"].item() == pytest.approx(3 / 5)  # samples 0,2,3 right; 1,4 wrong
    torch.testing.assert_close(r["classwise_accuracy"], torch.tensor([0.5, 0.5, 1.0], dtype=torch.float64))


def test_accuracy_uses_per_image_rate_when_given_and_nan_for_empty_class():
    m = LatentAccuracy(num_classes=3)
    m.update(_out([0, 1, 2], [0, 0, 1], [0, 0, 0], values={"accuracy": [1.0, 0.25, 0.5]}))
    r = m.compute()
    assert r["accuracy"].item() == pytest.approx(1.75 / 3)
    assert r["classwise_accuracy"][0].item() == pytest.approx(0.625)
    assert r["classwise_accuracy"][1].item() == pytest.approx(0.5)
    assert math.isnan(r["classwise_accuracy"][2].item())


def test_severity_plain_mean_and_quantiles_by_hand():
    m = LatentSeverity(num_classes=2)
    # 0 = already misclassified, 2.5 = not found (final perturbation's norm, not censored)
    m.update(_out([0, 1, 2, 3, 4], [0, 1, 0, 1, 0], [1, 0, 1, 0, 0], norm=[0.0, 0.2, 0.4, 0.6, 2.5]))
    r = m.compute()
    assert r["severity"].item() == pytest.approx(3.7 / 5)
    assert r["severity_min"].item() == 0 and r["severity_max"].item() == pytest.approx(2.5)
    assert r["severity_median"].item() == pytest.approx(0.4)
    assert r["severity_q25"].item() == pytest.approx(0.2) and r["severity_q75"].item() == pytest.approx(0.6)
    mean = 0.74
    std = math.sqrt(sum((v - mean) ** 2 for v in [0, 0.2, 0.4, 0.6, 2.5]) / 5)  # ddof 0
    assert r["severity_std"].item() == pytest.approx(std, rel=1e-5)
    torch.testing.assert_close(r["classwise_severity"], torch.tensor([2.9 / 3, 0.4], dtype=torch.float64))


def test_quantiles_interpolate_linearly():
    m = LatentSeverity(num_classes=2)
    m.update(_out([0, 1, 2, 3], [0, 0, 0, 0], [1, 1, 1, 1], norm=[1.0, 2.0, 3.0, 4.0]))
    r = m.compute()
    # positions (n−1)·q = 0.75, 1.5, 2.25 → 1.75, 2.5, 3.25
    assert [r[f"severity_{k}"].item() for k in ("q25", "median", "q75")] == pytest.approx([1.75, 2.5, 3.25])


def test_perturbation_stats_only_successful_by_default():
    vals = {"latent_norm": [0.1, 0.3, 9.0], "image_l1": [0.01, 0.03, 9.0]}
    m = PerturbationStats(num_classes=2, keys=["latent_norm", "image_l1"])
    m.update(_out([0, 1, 2], [0, 1, 1], [1, 0, 1], success=[True, True, False], values=vals))
    r = m.compute()
    assert r["latent_norm"].item() == pytest.approx(0.2)
    assert r["image_l1_max"].item() == pytest.approx(0.03)
    torch.testing.assert_close(r["classwise_latent_norm"], torch.tensor([0.1, 0.3], dtype=torch.float64))
    all_samples = PerturbationStats(num_classes=2, keys=["latent_norm"], only_successful=False)
    all_samples.update(_out([0, 1, 2], [0, 1, 1], [1, 0, 1], success=[True, True, False], values=vals))
    assert all_samples.compute()["latent_norm"].item() == pytest.approx(9.4 / 3)


def test_bad_inputs_name_the_fix():
    with pytest.raises(ValueError, match="num_classes"):
        LatentAccuracy(num_classes=1)
    with pytest.raises(ValueError, match="keys"):
        PerturbationStats(2, keys=["nope"]).update(_out([0], [0], [0], success=[True], values={"x": [1.0]}))
    with pytest.raises(ValueError, match="norm"):
        LatentSeverity(2).update(_out([0], [0], [0]))
    with pytest.raises(ValueError, match="num_classes"):
        LatentAccuracy(2).update(_out([0], [5], [0]))
