"""Every attack against the properties of its kind, driven by one table (as Foolbox's
``tests/test_attacks.py``). A new attack is tested by adding one row to ``ROWS``.

Properties, per row:

* the kind is a type, and exactly one of bounded / minimal-norm / perturbation;
* ``describe()`` records every constructor parameter (JSON-ready), and the kind;
* success is the verdict of a fresh forward pass on exactly the returned inputs, and ``norm`` is
  the size of exactly the returned perturbation; valid-image attacks stay in [0,1];
* bounded: the budget is respected, ε = 0 breaks only what the clean input already got wrong;
* minimal-norm: on a two-class linear model (analytic distances) the minimal norm is never below
  the true distance and never above any budget at which the row's bounded counterpart succeeded;
* targeted: every success is the target;
* perturbations (and minimal-norm attacks) are not in the worst case, bounded attacks are;
* determinism given the dataset index: the same call twice is identical and (unless the row
  says the reference library does not allow it) a sample's result does not depend on its batch;
* parameters frozen and restored, gradients available under ``torch.no_grad``;
* the docstring follows the template (paper, threat model, arguments, success).
"""

from __future__ import annotations

import inspect
import json
import math
from collections.abc import Callable
from typing import NamedTuple

import pytest
import torch

from robustlens.attacks.autoattack import APGDCE, APGDT, AutoAttack
from robustlens.attacks.base import Attack, BoundedAttack, MinimalNormAttack, Perturbation, perturbation_norm
from robustlens.attacks.corruptions import Corruption
from robustlens.attacks.fgsm import FGSM
from robustlens.attacks.fmn import FMN
from robustlens.attacks.natural import Brightness, Contrast, Rotation, Scaling, Translation
from robustlens.attacks.noise import GaussianNoise
from robustlens.attacks.pgd import PGD
from robustlens.attacks.severity import PaperABoundedAttack, PaperASearchAttack, PaperASeverity
from robustlens.attacks.targets import random_target
from robustlens.evaluation.attack_probe import AttackProbe
from robustlens.utils.signatures import parameter_names
from tests.attacks._attack_test_models import digits_data, interior_points, linear_classifier, trained_digits_mlp

KINDS = (BoundedAttack, MinimalNormAttack, Perturbation)


class Row(NamedTuple):
    """One attack and what its kind promises.

    Attributes:
        make: builds the attack (a fresh object per test).
        kind: the expected kind class.
        breaks: whether it must break some correctly classified digits (it does real work).
        targeted: called with a random target per sample.
        batch_independent: a sample's result does not depend on the other samples of its batch.
        bounded_counterpart: minimal-norm rows: ``eps -> BoundedAttack`` in the same norm, used
            to check "minimal norm ≤ any budget at which a bounded attack succeeded".
    """

    make: Callable[[], Attack]
    kind: type
    breaks: bool = True
    targeted: bool = False
    batch_independent: bool = True
    bounded_counterpart: Callable[[float], BoundedAttack] | None = None


ROWS: dict[str, Row] = {
    "fgsm": Row(lambda: FGSM(0.15), BoundedAttack),
    "fgsm_targeted": Row(lambda: FGSM(0.3, targeted=True), BoundedAttack, targeted=True),
    "pgd_linf": Row(lambda: PGD(0.1, 0.03, 10), BoundedAttack),
    "pgd_l2_restarts": Row(lambda: PGD(1.0, 0.25, 10, norm="l2", restarts=2), BoundedAttack),
    "pgd_linf_targeted": Row(lambda: PGD(0.3, 0.05, 15, targeted=True), BoundedAttack, targeted=True),
    "apgd_ce": Row(lambda: APGDCE(0.1, steps=10), BoundedAttack, batch_independent=False),
    "apgd_t": Row(lambda: APGDT(0.1, steps=5, target_classes=2), BoundedAttack, batch_independent=False),
    "autoattack": Row(lambda: AutoAttack(0.3), BoundedAttack, batch_independent=False),
    "paper_a_bounded": Row(lambda: PaperABoundedAttack(0.075, norm="linf", steps=25, rel_step=0.1),
                           BoundedAttack),
    "fmn_linf": Row(lambda: FMN("linf", steps=40), MinimalNormAttack,
                    bounded_counterpart=lambda e: PGD(e, e / 8, 40, norm="linf", random_start=False)),
    "fmn_l2_targeted": Row(lambda: FMN("l2", steps=40, targeted=True), MinimalNormAttack, targeted=True),
    # from the centre with small steps, so the found minimum is within ~1 % of the truth
    "severity_l2": Row(lambda: PaperASeverity(0.3, norm="scaled_l2", steps=120, rel_step=0.01, restarts=4,
                                              random_start=False), MinimalNormAttack,
                       bounded_counterpart=lambda e: PaperABoundedAttack(e, norm="scaled_l2", random_start=False)),
    "severity_linf_faithful": Row(lambda: PaperASeverity(0.6, norm="linf", restarts=3, faithful=True),
                                  MinimalNormAttack),
    "gaussian_noise": Row(lambda: GaussianNoise(0.5, draws=4), Perturbation),
    "gaussian_noise_unclipped": Row(lambda: GaussianNoise(0.5, draws=4, clip=False), Perturbation),
    "rotation_grid": Row(lambda: Rotation(40.0, num=9), Perturbation),
    "translation_random": Row(lambda: Translation(2, mode="random", num=5), Perturbation),
    "scaling": Row(lambda: Scaling(0.7, 1.3, num=7), Perturbation),
    "brightness": Row(lambda: Brightness(0.5, num=7), Perturbation),
    "contrast": Row(lambda: Contrast(0.2, 1.8, num=7), Perturbation),
    "corruption": Row(lambda: Corruption("gaussian_noise", severity=5), Perturbation, breaks=False),
}
IDS = sorted(ROWS)
N = 24


@pytest.fixture(scope="module")
def digits():
    model = trained_digits_mlp()
    x, y = digits_data()
    return model, x[1500:1500 + N], y[1500:1500 + N], torch.arange(1500, 1500 + N)


@pytest.fixture(scope="module")
def results(digits):
    """Each row's result on the digits, computed once (rows are independent)."""
    model, x, y, idx = digits
    out = {}
    for name, row in ROWS.items():
        target = random_target(y, 10, index=idx) if row.targeted else None
        out[name] = (row.make(), target, row.make()(model, x, y, target, index=idx))
    return out


@pytest.mark.parametrize("name", IDS)
def test_kind_is_a_type_and_decides_the_worst_case(name):
    row = ROWS[name]
    attack = row.make()
    assert isinstance(attack, row.kind)
    assert sum(isinstance(attack, k) for k in KINDS) == 1
    probe = AttackProbe(attack, target_mode="random" if row.targeted else "none")
    assert probe.in_worst_case == (row.kind is BoundedAttack)
    if row.kind is Perturbation:
        assert not attack.uses_gradients


@pytest.mark.parametrize("name", IDS)
def test_describe_records_every_constructor_parameter(name):
    attack = ROWS[name].make()
    d = attack.describe()
    assert d["type"] == type(attack).__name__ and d["kind"] == attack.kind
    assert set(parameter_names(type(attack))) <= set(d)
    json.dumps(d)  # results.json must be able to store it
    if isinstance(attack, BoundedAttack):
        assert isinstance(attack.eps, float) and attack.eps >= 0


@pytest.mark.parametrize("name", IDS)
def test_success_and_norm_are_those_of_the_returned_inputs(name, digits, results):
    model, x, y, _ = digits
    attack, target, res = results[name]
    fresh = model(res.x_adv).argmax(1)
    expected = fresh.eq(target) if target is not None else fresh.ne(y)
    assert torch.equal(res.success, expected)
    if attack.norm != "none":
        torch.testing.assert_close(res.norm, perturbation_norm(res.x_adv - x, attack.norm))
    if attack.valid_images:
        assert res.x_adv.min() >= 0 and res.x_adv.max() <= 1 and not res.out_of_range.any()
    else:
        outside = (res.x_adv < 0) | (res.x_adv > 1)
        assert torch.equal(res.out_of_range, outside.flatten(1).any(1))


@pytest.mark.parametrize("name", [n for n in IDS if ROWS[n].breaks])
def test_does_real_work(name, digits, results):
    model, x, y, _ = digits
    _, target, res = results[name]
    clean = model(x).argmax(1)
    before = clean.eq(target) if target is not None else clean.ne(y)
    assert res.success.sum() > before.sum()


@pytest.mark.parametrize("name", [n for n in IDS if ROWS[n].kind is BoundedAttack])
def test_bounded_budget_respected_and_eps_zero_only_clean_errors(name, digits, results):
    model, x, y, idx = digits
    attack, _, res = results[name]
    assert (res.norm <= attack.eps + 1e-5).all()
    if not ROWS[name].targeted and not isinstance(attack, PaperABoundedAttack):
        zero = type(attack)(**{**_args(attack), "eps": 0.0})
        res0 = zero(model, x, y, index=idx)
        assert torch.equal(res0.success, model(x).argmax(1).ne(y))


@pytest.mark.parametrize("name", [n for n in IDS if ROWS[n].targeted])
def test_targeted_success_is_the_target(name, results):
    _, target, res = results[name]
    assert torch.equal(res.target, target)
    assert torch.equal(res.success, res.predictions.eq(target))


@pytest.mark.parametrize("name", [n for n in IDS if ROWS[n].bounded_counterpart is not None])
def test_minimal_norm_below_every_successful_budget_and_above_the_truth(name):
    # two classes, float64: the distance to the one hyperplane is the true minimal norm
    row = ROWS[name]
    attack = row.make()
    model = linear_classifier(16, 2, seed=7, dtype=torch.float64)
    x = interior_points(20, 16, dtype=torch.float64).view(20, 1, 4, 4)
    y = model(x).argmax(1)
    w = model[1].weight[1] - model[1].weight[0]
    margin = (model(x)[:, 1] - model(x)[:, 0]).abs()
    scale = {"linf": w.abs().sum(), "l2": w.norm(), "scaled_l2": w.norm() * 4}[attack.norm]
    truth = margin / scale
    res = attack(model, x, y, index=torch.arange(20))
    assert res.success.any()
    assert (res.minimal_norm >= truth * (1 - 1e-6)).all()  # nothing below the true minimum
    for eps in torch.quantile(truth, torch.tensor([0.25, 0.5, 0.9], dtype=torch.float64)).tolist():
        bounded = row.bounded_counterpart(eps)(model, x, y, index=torch.arange(20))
        broken = bounded.success
        assert (res.minimal_norm[broken] <= eps * 1.02).all(), eps
        assert torch.equal(res.robust_at(eps * 1.02)[broken], torch.zeros_like(broken[broken]))


@pytest.mark.parametrize("name", IDS)
def test_deterministic_given_index(name, digits, results):
    row = ROWS[name]
    model, x, y, idx = digits
    attack, target, res = results[name]
    again = attack(model, x, y, target, index=idx)
    assert torch.equal(again.x_adv, res.x_adv) and torch.equal(again.success, res.success)
    if row.batch_independent:
        perm = torch.randperm(N, generator=torch.Generator().manual_seed(3))[: N // 2]
        part = attack(model, x[perm], y[perm], None if target is None else target[perm], index=idx[perm])
        torch.testing.assert_close(part.x_adv, res.x_adv[perm], atol=1e-5, rtol=0)
        assert torch.equal(part.success, res.success[perm])


@pytest.mark.parametrize("name", IDS)
def test_parameters_frozen_restored_and_works_under_no_grad(name, digits):
    row = ROWS[name]
    model, x, y, idx = digits
    x, y, idx = x[:6], y[:6], idx[:6]
    target = random_target(y, 10, index=idx) if row.targeted else None
    before = [p.requires_grad for p in model.parameters()]
    with torch.no_grad():
        res = row.make()(model, x, y, target, index=idx)
    assert [p.requires_grad for p in model.parameters()] == before
    assert all(p.grad is None for p in model.parameters())
    assert res.x_adv.shape == x.shape and res.iterations.dtype == torch.long


ATTACK_CLASSES = sorted({type(row.make()) for row in ROWS.values()} | {PaperASearchAttack},
                        key=lambda c: c.__name__)


@pytest.mark.parametrize("cls", ATTACK_CLASSES, ids=lambda c: c.__name__)
def test_docstring_follows_the_template(cls):
    doc = inspect.getdoc(cls) or ""
    for section in ("Paper:", "Threat model:", "Success:"):
        assert section in doc, f"{cls.__name__}'s docstring lacks '{section}' (see docs/attacks.md)"
    own = [p for p in parameter_names(cls) if p in inspect.signature(cls.__init__).parameters]
    documented = doc.split("Args:", 1)[1] if "Args:" in doc else ""
    if "Parameters:" in doc and "Args:" not in doc:  # a kind class that points to its base
        return
    for pname in own:
        assert f"{pname}:" in documented or f"{pname}," in documented, f"{cls.__name__}: argument {pname}"


def test_table_covers_every_attack_class():
    import robustlens.attacks as attacks_pkg
    from robustlens.attacks import autoattack, corruptions, natural, severity

    modules = [attacks_pkg, autoattack, corruptions, natural, severity]
    concrete = {obj for m in modules for obj in vars(m).values()
                if inspect.isclass(obj) and issubclass(obj, Attack) and not inspect.isabstract(obj)
                and obj not in (Attack, BoundedAttack, MinimalNormAttack, Perturbation, PaperASearchAttack)
                and not obj.__name__.startswith("_")}
    covered = {type(row.make()) for row in ROWS.values()}
    assert concrete <= covered, f"add a row for {sorted(c.__name__ for c in concrete - covered)}"


def _args(attack: Attack) -> dict:
    d = attack.describe()
    return {k: d[k] for k in parameter_names(type(attack))} | {"bounds": tuple(attack.bounds)}


def test_minimal_norm_curve_reads_any_budget(digits, results):
    # robust accuracy at ε from one minimal-norm run equals counting norms, for every ε
    _, _, res = results["fmn_linf"]
    model, x, y, _ = digits
    correct = model(x).argmax(1).eq(y)
    for eps in (0.0, 0.05, 0.1, 0.2, math.inf):
        expected = correct & ~(res.success & (res.norm <= eps))
        assert torch.equal(correct & res.robust_at(eps), expected)
