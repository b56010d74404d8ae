"""The training losses on known inputs: TRADES = CE + β·KL (hand-computed), noise augmentation
= CE on clip(x + σ·ν) with the very noise drawn."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from robustlens.training.modes import TRADES, NoiseAugmentation


class Recorder(nn.Module):
    """Logits = the flattened input (2 pixels → 2 classes); remembers what it was called on."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))  # a parameter, so frozen_parameters has one to freeze
        self.inputs: list[Tensor] = []

    def forward(self, x: Tensor) -> Tensor:
        self.inputs.append(x.detach().clone())
        return self.scale * x.flatten(1)


def test_trades_loss_is_cross_entropy_plus_beta_kl_hand_computed(monkeypatch) -> None:
    # sample 0: clean logits (0, ln 3) → p = (1/4, 3/4), y = 1; adversarial logits (0, 0) → q = (1/2, 1/2)
    # sample 1: clean = adversarial = (0, 0), y = 0: CE = ln 2, KL = 0
    x = torch.tensor([[0.0, math.log(3.0)], [0.0, 0.0]]).reshape(2, 1, 1, 2)
    x_adv = torch.zeros_like(x)
    y = torch.tensor([1, 0])
    mode = TRADES(beta=6.0, eps=0.3, steps=1)
    monkeypatch.setattr(mode, "_adversarial", lambda model, x, eps, step_size: x_adv)
    loss, logits = mode.loss(Recorder(), x, y)
    ce = (-math.log(0.75) + math.log(2.0)) / 2
    kl = (0.25 * math.log(0.25 / 0.5) + 0.75 * math.log(0.75 / 0.5)) / 2  # batchmean: sum over batch / B
    assert loss.item() == pytest.approx(ce + 6.0 * kl, rel=1e-6)
    assert torch.equal(logits, x.flatten(1))  # training accuracy is read from the clean logits


def test_trades_with_beta_zero_is_plain_cross_entropy() -> None:
    x = torch.rand(4, 1, 1, 2)
    y = torch.tensor([0, 1, 1, 0])
    loss, _ = TRADES(beta=0.0, eps=0.1, step_size=0.05, steps=2).loss(Recorder(), x, y)
    assert loss.item() == pytest.approx(F.cross_entropy(x.flatten(1), y).item(), rel=1e-6)


def test_trades_inner_maximiser_stays_in_the_ball_and_raises_the_kl() -> None:
    torch.manual_seed(0)
    x = torch.full((3, 1, 1, 2), 0.5)
    model = Recorder()
    mode = TRADES(beta=1.0, eps=0.1, step_size=0.05, steps=5)
    x_adv = mode._adversarial(model, x, eps=0.1, step_size=0.05)
    assert (x_adv - x).abs().max().item() <= 0.1 + 1e-7
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    p = F.softmax(model(x).flatten(1), dim=1)
    kl = F.kl_div(F.log_softmax(model(x_adv), dim=1), p, reduction="sum").item()
    # for logits = pixels the KL from equal logits is maximised at opposite corners of the box: (0.4, 0.6)
    best = F.kl_div(F.log_softmax(torch.tensor([[0.4, 0.6]]), dim=1), F.softmax(torch.tensor([[0.5, 0.5]]), dim=1),
                    reduction="sum").item()
    assert kl == pytest.approx(3 * best, rel=1e-4)
    assert model.scale.requires_grad  # parameters unfrozen again


def test_noise_augmentation_trains_on_the_clipped_noisy_batch() -> None:
    x = torch.tensor([[0.0, 1.0], [0.5, 0.5]]).reshape(2, 1, 1, 2)
    y = torch.tensor([1, 0])
    model = Recorder()
    torch.manual_seed(3)
    loss, logits = NoiseAugmentation(sigma=0.4, clip=True).loss(model, x, y)
    torch.manual_seed(3)
    expected_input = (x + 0.4 * torch.randn_like(x)).clamp(0, 1)
    assert torch.equal(model.inputs[-1], expected_input)
    assert torch.equal(logits, expected_input.flatten(1))
    assert loss.item() == pytest.approx(F.cross_entropy(expected_input.flatten(1), y).item(), rel=1e-6)


def test_noise_augmentation_without_clip_and_with_zero_sigma() -> None:
    x = torch.tensor([[0.0, 1.0]]).reshape(1, 1, 1, 2)
    model = Recorder()
    torch.manual_seed(0)
    NoiseAugmentation(sigma=1.0, clip=False).loss(model, x, torch.tensor([0]))
    torch.manual_seed(0)
    assert torch.equal(model.inputs[-1], x + torch.randn_like(x))  # no clip: may leave [0, 1]
    loss, _ = NoiseAugmentation(sigma=0.0).loss(model, x, torch.tensor([1]))
    assert torch.equal(model.inputs[-1], x)
    assert loss.item() == pytest.approx(math.log(1 + math.exp(-1.0)), rel=1e-6)  # CE of logits (0, 1), y = 1
