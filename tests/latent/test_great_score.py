"""GREAT Score (Li, Chen & Ho, NeurIPS 2024, arXiv 2304.09875) against its definition.

* the local score on logits small enough to compute by hand;
* a two-class linear softmax model, where everything is closed form: with logit margin
  ``m = (w_y − w_o)·x + (b_y − b_o)``, ``f_y − f_o = tanh(m/2)`` and the exact minimal L2
  perturbation is ``m / ‖w_y − w_o‖``. ``tanh(m/2) ≤ m/2`` makes ``√(π/2)·tanh(m/2) ≤ m/‖Δw‖``
  whenever ``‖Δw‖ ≤ 2√(2/π)`` (the ``√(2/π)``-Lipschitz condition of the paper's certificate): the
  score must lower-bound the exact distance there, per sample and on average; a steeper model
  breaks the condition and the bound (the certificate is conditional, not a property of every net);
* the probe end to end on an affine generator, whose local scores must be the closed form;
* Hoeffding's interval, by hand.
"""

from __future__ import annotations

import math

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from robustlens.evaluation.great_probe import GreatScoreProbe
from robustlens.evaluation.module import EvaluationModule
from robustlens.evaluation.probe import ProbeContext
from robustlens.metrics.base import ProbeOutput
from robustlens.metrics.functional.great import SQRT_HALF_PI, great_local_score, hoeffding_half_width
from robustlens.metrics.great import GreatScore
from tests.latent.helpers import LinearClassifier, LinearGenerator


def test_local_score_by_hand() -> None:
    logits = torch.tensor([[math.log(3.0), 0.0, 0.0],  # softmax (3/5, 1/5, 1/5): margin 2/5
                           [0.0, math.log(2.0), 0.0],  # (1/4, 2/4, 1/4), label 1: margin 1/4
                           [5.0, 0.0, 0.0]])           # label 2, predicted 0: misclassified, 0
    scores = great_local_score(logits, torch.tensor([0, 1, 2]))
    assert scores.tolist() == pytest.approx([math.sqrt(math.pi / 2) * 0.4, math.sqrt(math.pi / 2) * 0.25, 0.0])
    # temperature 2: softmax of (ln 3 / 2, 0, 0) = (√3, 1, 1) / (√3 + 2)
    calibrated = great_local_score(logits[:1], torch.tensor([0]), temperature=2.0)
    assert calibrated.item() == pytest.approx(SQRT_HALF_PI * (math.sqrt(3) - 1) / (math.sqrt(3) + 2))


def two_class_case(steepness: float, n: int = 400) -> tuple[LinearClassifier, torch.Tensor, torch.Tensor, torch.Tensor]:
    """A linear 2-class model with ‖w_0 − w_1‖ = ``steepness``; ``(model, x, y, exact distance)``."""
    g = torch.Generator().manual_seed(0)
    direction = torch.randn(16, generator=g, dtype=torch.float64)
    direction = direction / direction.norm() * steepness
    model = LinearClassifier(16, 2, weight=torch.stack([direction, torch.zeros(16, dtype=torch.float64)]),
                             bias=torch.tensor([0.1, 0.0], dtype=torch.float64))
    x = torch.randn(n, 16, generator=g, dtype=torch.float64)
    y = torch.randint(0, 2, (n,), generator=g)
    logits = model(x)
    margin = logits.gather(1, y[:, None]).squeeze(1) - logits.gather(1, (1 - y)[:, None]).squeeze(1)
    distance = margin.clamp_min(0) / steepness  # a misclassified sample needs no perturbation
    return model, x, y, distance


@pytest.mark.parametrize("steepness", [0.3, 1.0, 2 * math.sqrt(2 / math.pi)])
def test_the_score_lower_bounds_the_exact_minimal_l2_distance_of_a_lipschitz_linear_model(steepness: float) -> None:
    model, x, y, distance = two_class_case(steepness)
    scores = great_local_score(model(x), y)
    logits = model(x)
    margin = logits.gather(1, y[:, None]).squeeze(1) - logits.gather(1, (1 - y)[:, None]).squeeze(1)
    assert scores.tolist() == pytest.approx((SQRT_HALF_PI * torch.tanh(margin / 2).clamp_min(0)).tolist())
    assert (scores <= distance + 1e-12).all()
    assert scores.mean() <= distance.mean()
    assert (scores > 0).sum() > 100  # the data have many correctly classified samples


def test_a_steeper_model_breaks_the_lipschitz_condition_and_the_bound() -> None:
    model, x, y, distance = two_class_case(steepness=4.0)
    assert (great_local_score(model(x), y) > distance).any()


def test_hoeffding_half_width_by_hand() -> None:
    # n = 8, level 0.95: ε = √(π/2) · √(ln(2 / 0.05) / 16)
    assert hoeffding_half_width(8, 0.95) == pytest.approx(math.sqrt(math.pi / 2) * math.sqrt(math.log(40) / 16))
    assert math.isnan(hoeffding_half_width(0, 0.95))
    metric = GreatScore(num_classes=2)
    scores = torch.tensor([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8], dtype=torch.float64)
    metric.update(ProbeOutput(index=torch.arange(8), labels=torch.tensor([0, 1] * 4), preds=torch.zeros(8).long(),
                              values={"great_score": scores}))
    out = metric.compute()
    half = hoeffding_half_width(8, 0.95)
    assert out["great_score"].item() == pytest.approx(0.45)
    assert out["classwise_great_score"].tolist() == pytest.approx([0.4, 0.5])
    assert out["great_score_hoeffding_low"].item() == pytest.approx(max(0.45 - half, 0.0))
    assert out["great_score_hoeffding_high"].item() == pytest.approx(min(0.45 + half, SQRT_HALF_PI))


def test_the_probe_scores_generated_samples_by_the_closed_form() -> None:
    gen = LinearGenerator(latent_dim=3, num_classes=2, side=4, spread=0.6, seed=2)
    a = gen.offset.detach()
    # nearest-offset logits scaled so that ‖w_0 − w_1‖ ≤ 2√(2/π)
    scale = 1.0 / (a[0] - a[1]).norm().item()
    model = LinearClassifier(16, 2, weight=scale * a, bias=-scale * (a * a).sum(1) / 2)
    n = 20
    y, index = torch.arange(n) % 2, torch.arange(n) + 50
    probe = GreatScoreProbe(metrics={"great_score": GreatScore(num_classes=2)}, max_images=0)
    module = EvaluationModule(model, {"great": probe}, generator=gen, num_classes=2)
    module.probe_name = "great"
    x = torch.zeros(n, 1, 4, 4, dtype=torch.float64)  # the data only give labels and indices
    trainer = L.Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
                        enable_model_summary=False, inference_mode=False, enable_checkpointing=False)
    trainer.test(module, dataloaders=DataLoader(TensorDataset(x, y, index), batch_size=7), verbose=False)
    table, metrics = module.last_pass.table, module.last_pass.metrics
    codes = probe.codes((x, y, index), ProbeContext(seed=0, generator=gen))
    logits = model(gen.decode(codes, y))
    margin = (logits[torch.arange(n), y] - logits[torch.arange(n), 1 - y]).detach()
    expected = SQRT_HALF_PI * torch.tanh(margin / 2).clamp_min(0)
    assert table["great_score"].tolist() == pytest.approx(expected.tolist())
    assert metrics["great/great_score"] == pytest.approx(expected.mean().item())
    distance = margin.clamp_min(0) / (scale * (a[0] - a[1]).norm())  # exact minimal L2 in image space
    assert metrics["great/great_score"] <= distance.mean().item()
    assert metrics["great/great_score/ci_low"] < metrics["great/great_score"] < metrics["great/great_score/ci_high"]
    assert metrics["great/cost/forward_per_sample"] == 2 and metrics["great/cost/generator_forward_per_sample"] == 1


def test_bad_temperature_and_missing_scores_name_the_fix() -> None:
    with pytest.raises(ValueError, match="temperature"):
        GreatScoreProbe(temperature=0.0)
    with pytest.raises(ValueError, match="great_score"):
        GreatScore(num_classes=2).update(ProbeOutput(index=torch.arange(1), labels=torch.zeros(1).long(),
                                                     preds=torch.zeros(1).long()))
