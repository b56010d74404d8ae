"""Properties of FGSM and PGD: norm bound, valid range, verified success, frozen parameters,
no_grad safety, provable success on a linear classifier, early-stop monotonicity, seeding."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from robustlens.attacks.base import AttackInputError
from robustlens.attacks.fgsm import FGSM
from robustlens.attacks.pgd import PGD
from robustlens.attacks.targets import random_target
from robustlens.utils.parameters import ParameterError
from tests.attacks._attack_test_models import digits_data, interior_points, linear_classifier, trained_digits_mlp

DIM, K = 20, 4


def _attacks(eps: float):
    return [
        FGSM(eps),
        PGD(eps, step_size=eps / 4 + 1e-3, steps=10, norm="linf"),
        PGD(eps, step_size=eps / 4 + 1e-3, steps=10, norm="l2", restarts=2),
        PGD(eps, step_size=eps / 4 + 1e-3, steps=10, norm="linf", loss="margin", early_stop=False),
    ]


@pytest.fixture(scope="module")
def digits():
    model = trained_digits_mlp()
    x, y = digits_data()
    return model, x[1500:1560], y[1500:1560]


@pytest.mark.parametrize("eps", [0.0, 0.05, 0.2])
def test_norm_bound_range_and_verified_success(digits, eps):
    model, x, y = digits
    for attack in _attacks(eps):
        res = attack(model, x, y, index=torch.arange(len(y)))
        delta = (res.x_adv - x).flatten(1)
        bound = delta.abs().amax(1) if attack.norm == "linf" else delta.norm(dim=1)
        assert (bound <= eps + 1e-6).all(), attack
        assert torch.allclose(res.norm, bound, atol=1e-6)
        assert res.x_adv.min() >= 0 and res.x_adv.max() <= 1
        fresh = model(res.x_adv).argmax(1)
        assert torch.equal(res.success, fresh.ne(y)), attack


def test_eps_zero_reports_only_clean_errors(digits):
    model, x, y = digits
    clean_wrong = model(x).argmax(1).ne(y)
    for attack in _attacks(0.0):
        res = attack(model, x, y)
        assert torch.equal(res.success, clean_wrong)
        assert torch.equal(res.x_adv, x)


def test_parameters_restored_and_works_under_no_grad(digits):
    model, x, y = digits
    model[1].weight.requires_grad_(False)  # a mixed state must come back exactly
    try:
        before = [p.requires_grad for p in model.parameters()]
        with torch.no_grad():
            res = PGD(0.2, 0.05, 10)(model, x, y)
        assert [p.requires_grad for p in model.parameters()] == before
        assert res.success.float().mean() > model(x).argmax(1).ne(y).float().mean()
        assert all(p.grad is None for p in model.parameters())
    finally:
        model[1].weight.requires_grad_(True)


def test_training_mode_restored(digits):
    model, x, y = digits
    model.train()
    PGD(0.1, 0.02, 3, early_stop=False)(model, x, y)
    assert model.training
    model.eval()


@pytest.mark.parametrize("loss", ["ce", "margin"])
@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_linear_classifier_provably_broken(norm, loss):
    # for a linear model, moving by the dual-norm distance to the nearest boundary flips the
    # decision; with eps 1.5× that distance every sample must be broken
    model = linear_classifier(DIM, 2, seed=3)
    x = interior_points(32, DIM)
    w, b = model[1].weight, model[1].bias
    y = model(x).argmax(1)
    wd, bd = w[y] - w[1 - y], b[y] - b[1 - y]
    margin = (x * wd).sum(1) + bd
    dist = margin.abs() / (wd.abs().sum(1) if norm == "linf" else wd.norm(dim=1))
    eps = 1.5 * dist.max().item()
    step = eps / 10 if norm == "linf" else eps / 5
    # either loss ascends towards the boundary (the margin loss must not descend: a flipped sign
    # would keep every sample robust and still pass the bound and range checks)
    res = PGD(eps, step, 30, norm=norm, random_start=False, loss=loss)(model, x.detach(), y)
    assert res.success.all()
    if norm == "linf":
        assert FGSM(eps, loss=loss)(model, x, y).success.all()  # FGSM is exact for linear binary models


def test_targeted_reaches_target_with_large_eps():
    model = linear_classifier(DIM, K, seed=5)
    x = interior_points(40, DIM)
    y = model(x).argmax(1)
    t = random_target(y, K, index=torch.arange(40))
    # eps 0.3 in L∞ moves the logits far further than their spread at the centre of the box
    res = PGD(0.3, 0.02, 60, targeted=True)(model, x, y, target=t)
    assert torch.equal(res.target, t)
    assert torch.equal(res.success, model(res.x_adv).argmax(1).eq(t))
    assert res.success.float().mean() == 1.0


def test_targeted_needs_target(digits):
    model, x, y = digits
    with pytest.raises(AttackInputError, match="target"):
        PGD(0.1, 0.01, 2, targeted=True)(model, x, y)


def test_early_stop_never_raises_robust_accuracy(digits):
    model, x, y = digits
    idx = torch.arange(len(y))
    for eps in (0.05, 0.1):
        es = PGD(eps, eps / 4, 20, early_stop=True)(model, x, y, index=idx)
        fixed = PGD(eps, eps / 4, 20, early_stop=False)(model, x, y, index=idx)
        # every sample fixed-step PGD breaks, early-stopped PGD broke too (same trajectory)
        assert not (fixed.success & ~es.success).any()
        assert (es.iterations <= fixed.iterations).all()


def test_early_stop_saves_steps_on_broken_samples(digits):
    model, x, y = digits
    res = PGD(0.2, 0.05, 40)(model, x, y)
    clean_wrong = model(x).argmax(1).ne(y)
    assert (res.iterations[clean_wrong] == 1).all()  # adversarial at the start: one check
    assert res.iterations.max() <= 40


def test_restarts_only_for_robust_samples(digits):
    model, x, y = digits
    idx = torch.arange(len(y))
    one = PGD(0.08, 0.02, 10, restarts=1)(model, x, y, index=idx)
    three = PGD(0.08, 0.02, 10, restarts=3)(model, x, y, index=idx)
    assert not (one.success & ~three.success).any()
    assert (three.iterations[one.success] == one.iterations[one.success]).all()


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_per_sample_seeding_independent_of_batch_size(norm):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.Tanh(), nn.Linear(32, 10)).double().eval()
    x, y = digits_data()
    x, y = x[:32].double(), y[:32]
    idx = torch.arange(100, 132)
    attack = PGD(0.1, 0.02, 5, norm=norm, restarts=2)
    full = attack(model, x, y, index=idx)
    parts = [attack(model, x[i:i + 7], y[i:i + 7], index=idx[i:i + 7]) for i in range(0, 32, 7)]
    assert torch.allclose(full.x_adv, torch.cat([p.x_adv for p in parts]), atol=1e-10)
    assert torch.equal(full.iterations, torch.cat([p.iterations for p in parts]))


def test_random_start_differs_without_index_and_global_rng_used(digits):
    model, x, y = digits
    attack = PGD(0.1, 0.02, 0)  # random start only
    torch.manual_seed(1)
    a = attack(model, x, y).x_adv
    torch.manual_seed(1)
    b = attack(model, x, y).x_adv
    c = attack(model, x, y).x_adv
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert (a - x).abs().max() > 0.05  # the start actually moved


def test_madry_training_call_signature(digits):
    model, x, y = digits
    res = PGD(eps=0.1, step_size=0.02, steps=5, norm="linf", random_start=True, early_stop=False)(model, x, y)
    assert (res.iterations == 5).all()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"eps": -0.1, "step_size": 0.1, "steps": 1}, "eps"),
        ({"eps": 0.1, "step_size": 0.0, "steps": 1}, "step_size"),
        ({"eps": 0.1, "step_size": 0.1, "steps": -1}, "steps"),
        ({"eps": 0.1, "step_size": 0.1, "steps": 1, "norm": "l3"}, "norm"),
        ({"eps": 0.1, "step_size": 0.1, "steps": 1, "loss": "hinge"}, "loss"),
        ({"eps": 0.1, "step_size": 0.1, "steps": 1, "restarts": 0}, "restarts"),
    ],
)
def test_bad_parameters_raise(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        PGD(**kwargs)


def test_fgsm_bad_eps():
    with pytest.raises(ParameterError, match="eps"):
        FGSM(-1.0)


def test_inputs_outside_range_raise(digits):
    model, x, y = digits
    with pytest.raises(AttackInputError, match="Normalize"):
        PGD(0.1, 0.01, 2)(model, x * 2 - 1, y)


def test_probabilities_warn(digits):
    model, x, y = digits
    probs = nn.Sequential(model, nn.Softmax(dim=1))
    with pytest.warns(UserWarning, match="probabilities"):
        PGD(0.1, 0.01, 2)(probs, x, y)


def test_random_target_never_label_and_seeded():
    y = torch.randint(0, 10, (500,), generator=torch.Generator().manual_seed(0))
    idx = torch.arange(500)
    t = random_target(y, 10, index=idx, seed=3)
    assert (t != y).all() and t.min() >= 0 and t.max() <= 9
    assert torch.equal(t[100:200], random_target(y[100:200], 10, index=idx[100:200], seed=3))
    counts = torch.bincount((t - y) % 10, minlength=10)
    assert counts[0] == 0 and counts[1:].min() > 25  # every other class is drawn


def test_fgsm_under_no_grad_matches_grad_mode(digits):
    model, x, y = digits
    with torch.no_grad():
        a = FGSM(0.1)(model, x, y)
    b = FGSM(0.1)(model, x, y)
    assert torch.equal(a.x_adv, b.x_adv)
    assert a.success.any()
