"""The pyautoattack adapters agree with the reference package and with torchattacks on a
trained model, respect their budgets, verify success, and leave the caller's RNG alone."""

from __future__ import annotations

import copy
import logging

import pyautoattack
import pytest
import torch
from pyautoattack.autopgd_base import APGDAttack, APGDAttack_targeted

from robustlens.attacks.autoattack import APGDCE, APGDT, AutoAttack
from robustlens.attacks.base import AttackInputError
from tests.attacks._attack_test_models import digits_data, trained_digits_mlp
from tests.conftest import require_module


@pytest.fixture(scope="module")
def digits():
    model = trained_digits_mlp()
    x, y = digits_data()
    return model, x[1500:1600], y[1500:1600]


def _check_result(model, x, y, res, eps, norm):
    delta = (res.x_adv - x).flatten(1)
    size = delta.abs().amax(1) if norm == "linf" else delta.norm(dim=1)
    assert (size <= eps + 1e-5).all()
    assert res.x_adv.min() >= 0 and res.x_adv.max() <= 1
    assert torch.equal(res.success, model(res.x_adv).argmax(1).ne(y))


@pytest.mark.parametrize("norm, eps", [("linf", 0.1), ("l2", 1.0)])
def test_apgd_ce_equals_direct_reference_call(digits, norm, eps):
    model, x, y = digits
    x, y = x[:40], y[:40]
    res = APGDCE(eps, norm=norm, steps=20, seed=3)(model, x, y)
    ref = APGDAttack(model, n_iter=20, norm={"linf": "Linf", "l2": "L2"}[norm], n_restarts=1, eps=eps,
                     seed=3, loss="ce", rho=0.75, device="cpu")
    with torch.random.fork_rng(devices=[]):
        x_ref = ref.perturb(x, y)
    assert torch.allclose(res.x_adv, x_ref.clamp(0, 1), atol=1e-6)
    _check_result(model, x, y, res, eps, norm)


def test_apgd_ce_matches_torchattacks_robust_accuracy(digits):
    torchattacks = require_module("torchattacks")
    model, x, y = digits
    eps = 0.1
    ours = APGDCE(eps, steps=50, seed=0)(model, x, y)
    ta = torchattacks.APGD(model, norm="Linf", eps=eps, steps=50, n_restarts=1, loss="ce", seed=0)(x, y)
    acc_ours = 1 - ours.success.float().mean().item()
    acc_ta = model(ta).argmax(1).eq(y).float().mean().item()
    clean = model(x).argmax(1).eq(y).float().mean().item()
    assert acc_ours < clean - 0.2  # the attack does real work on this model
    assert abs(acc_ours - acc_ta) <= 0.03


def test_apgd_t_equals_direct_reference_call(digits):
    model, x, y = digits
    x, y = x[:30], y[:30]
    attack = APGDT(0.1, steps=10, target_classes=3, seed=1)
    res = attack(model, x, y)
    ref = APGDAttack_targeted(model, n_iter=10, norm="Linf", n_restarts=1, eps=0.1, seed=1,
                              n_target_classes=3, device="cpu")
    with torch.random.fork_rng(devices=[]):
        x_ref = ref.perturb(x, y)
    assert torch.allclose(res.x_adv, x_ref.clamp(0, 1), atol=1e-6)
    _check_result(model, x, y, res, 0.1, "linf")
    assert (res.iterations == 30).all()  # budget: 10 steps × 3 targets


def test_autoattack_standard_equals_reference(digits):
    # a large eps breaks every point during APGD-CE, so FAB-T and Square are skipped (fast);
    # test_autoattack_later_components_run_on_a_gradient_masked_model runs them
    model, x, y = digits
    x, y = x[:12], y[:12]
    res = AutoAttack(0.3, seed=0)(model, x, y)
    aa = pyautoattack.AutoAttack(model, eps=0.3, norm="Linf", seed=0, version="standard", device="cpu")
    with torch.random.fork_rng(devices=[]):
        x_ref, _ = aa.run_standard_evaluation(x, y, batch_size=500)
    assert torch.allclose(res.x_adv, x_ref, atol=1e-6)
    _check_result(model, x, y, res, 0.3, "linf")
    assert res.success.all()


class _Quantised(torch.nn.Module):
    """The digits MLP behind a 4-level input quantisation: the gradient is zero almost
    everywhere (gradient masking), so APGD-CE and APGD-T cannot move and the points they leave
    robust reach FAB-T and the gradient-free Square attack."""

    def __init__(self, inner: torch.nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(torch.round(x * 4) / 4)


def test_autoattack_later_components_run_on_a_gradient_masked_model(digits, caplog):
    model, x, y = digits
    # a copy: the reference's FAB calls backward(), which would leave gradients on the shared model
    masked = _Quantised(copy.deepcopy(model)).eval()
    x, y = x[:8], y[:8]
    ce = APGDCE(0.25, seed=0)(masked, x, y)
    res = AutoAttack(0.25, seed=0)(masked, x, y)
    # the reference run, with its log: every component ran on the points still robust
    aa = pyautoattack.AutoAttack(masked, eps=0.25, norm="Linf", seed=0, version="standard", device="cpu")
    with caplog.at_level(logging.DEBUG, logger="auto-attack"), torch.random.fork_rng(devices=[]):
        x_ref, _ = aa.run_standard_evaluation(x, y, batch_size=500)
    log = caplog.text
    for component in ("apgd-ce", "apgd-t", "fab-t", "square"):
        assert f"robust accuracy after {component.upper()}" in log, component
    assert torch.allclose(res.x_adv, x_ref, atol=1e-6)  # the adapter runs exactly the reference
    _check_result(masked, x, y, res, 0.25, "linf")
    # the later components broke points the first one could not
    assert not (ce.success & ~res.success).any() and res.success.sum() > ce.success.sum()


@pytest.mark.slow
def test_autoattack_standard_full_ensemble_not_weaker_than_apgd_ce(digits):
    model, x, y = digits
    x, y = x[:40], y[:40]
    aa = AutoAttack(0.08, seed=0)(model, x, y)
    ce = APGDCE(0.08, seed=0)(model, x, y)
    _check_result(model, x, y, aa, 0.08, "linf")
    assert not (ce.success & ~aa.success).any()  # AutoAttack starts with the same APGD-CE run


def test_describe_records_versions_and_parameters():
    d = AutoAttack(0.3).describe()
    assert d["library"] == "pyautoattack" and d["library_version"] == pyautoattack.__version__ == "0.2.0"
    assert d["torch_version"] == torch.__version__
    assert d["eps"] == 0.3 and d["norm"] == "linf" and d["version"] == "standard"
    assert APGDCE(0.1).describe()["steps"] == 100


def test_caller_rng_untouched(digits):
    model, x, y = digits
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    APGDCE(0.1, steps=3, seed=9)(model, x[:5], y[:5])
    assert torch.equal(torch.rand(3), expected)


def test_bad_inputs():
    with pytest.raises(AttackInputError, match="bounds"):
        APGDCE(0.1, bounds=(-1.0, 1.0))
    with pytest.raises(AttackInputError, match="eps"):
        AutoAttack(-0.1)
    with pytest.raises(AttackInputError, match="norm"):
        APGDT(0.1, norm="l1")
    with pytest.raises(AttackInputError, match="version"):
        AutoAttack(0.1, version="plus")


def test_eps_zero_success_only_where_clean_wrong(digits):
    model, x, y = digits
    res = APGDCE(0.0, steps=5)(model, x[:30], y[:30])
    assert torch.equal(res.success, model(x[:30]).argmax(1).ne(y[:30]))


def test_works_under_no_grad_and_restores_parameters(digits):
    model, x, y = digits
    before = [p.requires_grad for p in model.parameters()]
    with torch.no_grad():
        res = APGDCE(0.15, steps=10)(model, x[:30], y[:30])
    assert [p.requires_grad for p in model.parameters()] == before
    assert res.success.float().mean() > model(x[:30]).argmax(1).ne(y[:30]).float().mean()
