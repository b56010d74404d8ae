"""FMN finds the analytic minimal perturbation of linear classifiers and never reports a
minimal norm for a success it did not achieve."""

from __future__ import annotations

import math

import pytest
import torch

from robustlens.attacks.fmn import FMN
from robustlens.attacks.targets import random_target
from robustlens.utils.parameters import ParameterError
from tests.attacks._attack_test_models import digits_data, interior_points, linear_classifier, trained_digits_mlp

DIM = 30


def _pairwise_distance(model, x, a, b, norm):
    """Distance from x to the hyperplane where logits a and b tie: |Δw·x+Δb| / ‖Δw‖_dual."""
    w, bias = model[1].weight, model[1].bias
    wd, bd = w[a] - w[b], bias[a] - bias[b]
    m = (x * wd).sum(1) + bd
    return m.abs() / (wd.abs().sum(1) if norm == "linf" else wd.norm(dim=1))


@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_binary_linear_minimal_norm_is_analytic(norm):
    # two classes: the minimal adversarial perturbation is exactly the distance to the one
    # hyperplane (points and budgets stay inside the box, so the range constraint is inactive)
    model = linear_classifier(DIM, 2, seed=7, dtype=torch.float64)
    x = interior_points(24, DIM, dtype=torch.float64)
    y = model(x).argmax(1)
    expected = _pairwise_distance(model, x, y, 1 - y, norm)
    res = FMN(norm=norm, steps=100)(model, x, y)
    assert res.success.all()
    assert torch.allclose(res.minimal_norm, expected, rtol=5e-3)
    assert (res.minimal_norm >= expected * (1 - 1e-6)).all()  # nothing below the true minimum


@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_multiclass_linear_respects_pairwise_lower_bound(norm):
    k = 5
    model = linear_classifier(DIM, k, seed=11, dtype=torch.float64)
    x = interior_points(30, DIM, seed=2, dtype=torch.float64)
    y = model(x).argmax(1)
    # any adversarial point crosses at least one boundary y|k: min_k distance is a lower bound,
    # and the nearest hyperplane is reachable in the interior unless a third class takes over
    lower = torch.stack([_pairwise_distance(model, x, y, torch.full_like(y, c), norm)
                         for c in range(k)], 1)
    lower[torch.arange(30), y] = math.inf
    lower = lower.min(1).values
    res = FMN(norm=norm, steps=150)(model, x, y)
    assert res.success.all()
    assert (res.minimal_norm >= lower * (1 - 1e-6)).all()
    assert (res.minimal_norm <= lower * 1.5).mean(dtype=torch.float64) > 0.8


def test_targeted_reaches_target_no_closer_than_its_boundary():
    k = 4
    model = linear_classifier(DIM, k, seed=5, dtype=torch.float64)
    x = interior_points(30, DIM, seed=4, dtype=torch.float64)
    y = model(x).argmax(1)
    t = random_target(y, k, index=torch.arange(30))
    res = FMN(norm="l2", steps=150, targeted=True)(model, x, y, target=t)
    assert torch.equal(res.success, model(res.x_adv).argmax(1).eq(t))
    assert res.success.float().mean() > 0.9
    lower = _pairwise_distance(model, x, y, t, "l2")
    ok = res.success
    assert (res.minimal_norm[ok] >= lower[ok] * (1 - 1e-6)).all()


def test_result_fields_on_trained_model():
    model = trained_digits_mlp()
    x, y = digits_data()
    x, y = x[1500:1560], y[1500:1560]
    res = FMN(norm="linf", steps=30)(model, x, y)
    fresh = model(res.x_adv).argmax(1)
    assert torch.equal(res.success, fresh.ne(y))
    mn = res.minimal_norm
    assert torch.isinf(mn[~res.success]).all()
    assert torch.allclose(mn[res.success], res.norm[res.success], atol=1e-5)
    clean_wrong = model(x).argmax(1).ne(y)
    assert (mn[clean_wrong] == 0).all()
    assert res.x_adv.min() >= 0 and res.x_adv.max() <= 1


def test_never_adversarial_gives_inf_and_final_norm():
    # a constant classifier can never be fooled: minimal_norm must be +inf, success False
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(DIM, 3))
    with torch.no_grad():
        model[1].weight.zero_()
        model[1].bias.copy_(torch.tensor([5.0, 0.0, 0.0]))
    x = interior_points(6, DIM)
    y = torch.zeros(6, dtype=torch.long)
    res = FMN(norm="l2", steps=10)(model, x, y)
    assert not res.success.any()
    assert torch.isinf(res.minimal_norm).all()
    assert torch.isfinite(res.norm).all()


def test_bad_parameters():
    with pytest.raises(ParameterError, match="norm"):
        FMN(norm="l1")
    with pytest.raises(ParameterError, match="steps"):
        FMN(steps=0)
    with pytest.raises(ParameterError, match="gamma"):
        FMN(gamma_init=1.5)


def test_works_under_no_grad_and_restores_parameters():
    model = linear_classifier(DIM, 3, seed=2)
    model[1].bias.requires_grad_(False)
    x = interior_points(8, DIM)
    y = model(x).argmax(1)
    with torch.no_grad():
        res = FMN(norm="l2", steps=20)(model, x, y)
    assert res.success.all()
    assert [p.requires_grad for p in model.parameters()] == [True, False]
    assert all(p.grad is None for p in model.parameters())
