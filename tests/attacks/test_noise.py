"""GaussianNoise: analytic noise accuracy, worst-case choice, σ=0, per-sample seeding."""

from __future__ import annotations

import math

import pytest
import torch

from robustlens.attacks.noise import GaussianNoise


class MeanThreshold(torch.nn.Module):
    """Class 1 iff the image mean exceeds 0.5 (so its noise accuracy has a closed form)."""

    def forward(self, x):
        m = x.mean(dim=(1, 2, 3))
        return torch.stack([0.5 - m, m - 0.5], dim=1) * 10


def test_noise_accuracy_matches_closed_form():
    # image of constant v, label 0: correct iff mean noise < 0.5 - v; mean noise ~ N(0, σ²/n)
    n_pix, sigma, v, draws = 16, 0.4, 0.42, 4000
    x = torch.full((1, 1, 4, 4), v)
    res = GaussianNoise(sigma, draws=draws, clip=False)(
        MeanThreshold(), x, torch.tensor([0]), index=torch.tensor([3])
    )
    p = 0.5 * (1 + math.erf((0.5 - v) * math.sqrt(n_pix) / sigma / math.sqrt(2)))
    se = math.sqrt(p * (1 - p) / draws)
    assert abs(float(res.extra["noise_accuracy"][0]) - p) < 4 * se


def test_worst_draw_and_success_agree():
    x = torch.full((8, 1, 4, 4), 0.45)
    y = torch.zeros(8, dtype=torch.long)
    res = GaussianNoise(0.3, draws=5)(MeanThreshold(), x, y, index=torch.arange(8))
    acc = res.extra["noise_accuracy"]
    assert torch.equal(res.success, acc < 1)  # a misclassified draw exists <=> x_adv is misclassified
    assert ((acc * 5).round() - acc * 5).abs().max() < 1e-6
    assert res.iterations.eq(5).all() and res.x_adv.min() >= 0 and res.x_adv.max() <= 1


def test_sigma_zero_is_identity():
    x = torch.rand(4, 3, 8, 8)
    y = MeanThreshold()(x).argmax(1)
    res = GaussianNoise(0.0, draws=3)(MeanThreshold(), x, y, index=torch.arange(4))
    assert torch.equal(res.x_adv, x)
    assert res.extra["noise_accuracy"].eq(1).all() and res.norm.eq(0).all()


def test_per_sample_seeding_and_determinism():
    x = torch.rand(10, 3, 6, 6)
    idx = torch.arange(10) + 50
    g = GaussianNoise(0.2, draws=2, seed=1)
    full = g.noisy(x, idx)
    parts = torch.cat([g.noisy(x[:3], idx[:3]), g.noisy(x[3:], idx[3:])])
    assert torch.equal(full, parts)
    assert torch.equal(g.noisy(x, idx), full)
    assert not torch.equal(GaussianNoise(0.2, draws=2, seed=2).noisy(x, idx), full)
    # noise std is sigma (unclipped)
    raw = GaussianNoise(0.2, draws=50, clip=False).noisy(torch.zeros(10, 3, 6, 6), idx)
    assert abs(float(raw.std()) - 0.2) < 0.01


def test_bad_arguments():
    with pytest.raises(ValueError, match="sigma"):
        GaussianNoise(-0.1)
    with pytest.raises(ValueError, match="draws"):
        GaussianNoise(0.1, draws=0)
