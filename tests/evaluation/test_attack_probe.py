"""AttackProbe turns AttackResults into ProbeOutputs correctly in every target mode."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from robustlens.attacks.fmn import FMN
from robustlens.attacks.pgd import PGD
from robustlens.evaluation.attack_probe import AttackProbe
from robustlens.evaluation.probe import ProbeContext
from robustlens.metrics.perturbation import NormStatistics, RobustAccuracyCurve
from robustlens.utils.parameters import ParameterError

DIM, K, N = 16, 4, 24


@pytest.fixture(scope="module")
def setup():
    g = torch.Generator().manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(DIM, K)).eval()
    with torch.no_grad():
        model[1].weight.copy_(torch.randn(K, DIM, generator=g))
        model[1].bias.zero_()
    x = (0.5 + 0.1 * torch.randn(N, 1, 4, 4, generator=g)).clamp(0, 1)
    y = torch.randint(0, K, (N,), generator=g)
    index = torch.arange(1000, 1000 + N)
    return model, (x, y, index)


def test_untargeted_output_fields(setup):
    model, batch = setup
    x, y, index = batch
    clean = model(x).detach()
    probe = AttackProbe(PGD(0.05, 0.01, 10), metrics={"norm": NormStatistics()})
    out = probe.run(model, batch, ProbeContext(clean_logits=clean))
    assert torch.equal(out.index, index) and torch.equal(out.labels, y)
    assert torch.equal(out.clean_preds, clean.argmax(1))
    assert torch.equal(out.preds[:8], model(out.images["adversarial"]).argmax(1))
    assert torch.equal(out.success, out.preds.ne(y))
    assert (out.norm <= 0.05 + 1e-6).all() and out.target is None and out.inputs is None
    assert probe.in_worst_case and probe.name == "pgd"
    probe.update_metrics(out)
    assert probe.metrics["norm"].compute()["norm_max"] <= 0.05 + 1e-6


def test_preds_match_fresh_forward_and_inputs_kept(setup):
    model, batch = setup
    probe = AttackProbe(PGD(0.05, 0.01, 10), keep_inputs=True)
    out = probe.run(model, batch, ProbeContext())  # no clean logits: the probe computes them
    assert torch.equal(out.preds, model(out.inputs).argmax(1))
    assert torch.equal(out.clean_preds, model(batch[0]).argmax(1))


def test_random_targets_seeded_by_index(setup):
    model, batch = setup
    x, y, index = batch
    probe = AttackProbe(PGD(0.3, 0.02, 30, targeted=True), target_mode="random")
    out = probe.run(model, batch, ProbeContext(seed=5))
    assert (out.target != y).all()
    half = probe.run(model, (x[:10], y[:10], index[:10]), ProbeContext(seed=5))
    assert torch.equal(half.target, out.target[:10])
    assert torch.equal(out.success, out.preds.eq(out.target))


def test_given_target(setup):
    model, batch = setup
    _, y, _ = batch
    probe = AttackProbe(PGD(0.3, 0.02, 30, targeted=True), target_mode="given", target_class=2)
    out = probe.run(model, batch, ProbeContext())
    assert (out.target == 2).all()
    same = y == 2
    assert torch.equal(out.values["target_is_label"], same)
    assert not out.success[same].any()  # reaching your own class is not a targeted success
    assert torch.equal(out.success[~same], out.preds[~same].eq(2))


def test_all_targets_matrix(setup):
    model, batch = setup
    x, y, _ = batch
    attack = PGD(0.3, 0.02, 30, targeted=True)
    probe = AttackProbe(attack, target_mode="all")
    out = probe.run(model, batch, ProbeContext())
    hit = out.values["targeted_success"]
    assert hit.shape == (N, K) and hit.dtype == torch.bool
    assert not hit[torch.arange(N), y].any()  # diagonal False
    assert torch.equal(out.success, hit.any(1))
    # each column equals a separate targeted run on the samples of other classes
    for t in range(K):
        rows = y != t
        tgt = torch.full((int(rows.sum()),), t)
        direct = attack(model, x[rows], y[rows], tgt, index=batch[2][rows])
        assert torch.equal(hit[rows, t], direct.success)
    # preds/target: the first target reached, else the last one tried
    for i in range(N):
        reached = hit[i].nonzero().flatten()
        if reached.numel():
            assert out.target[i] == reached[0] and out.preds[i] == reached[0]
        else:
            assert out.target[i] == max(t for t in range(K) if t != y[i])


def test_minimal_norms_reach_the_curve_through_norm_and_success(setup):
    model, batch = setup
    curve = RobustAccuracyCurve([0.0, 0.05, 1.0])
    probe = AttackProbe(FMN("linf", steps=30), metrics={"curve": curve})
    out = probe.run(model, batch, ProbeContext())
    assert "min_norm" not in out.values and not probe.in_worst_case
    probe.update_metrics(out)
    r = curve.compute()
    correct = out.clean_preds.eq(out.labels)
    minimal = torch.where(out.success, out.norm, torch.full_like(out.norm, float("inf")))
    expected = (correct & (minimal > 0.05)).float().mean()
    assert r["robust_accuracy@0.05"].item() == pytest.approx(expected.item())
    assert r["robust_accuracy@0"].item() >= r["robust_accuracy@0.05"].item() >= r["robust_accuracy@1"].item()


def test_refuses_missing_attack_and_mismatched_mode():
    with pytest.raises(ParameterError, match="attack = None: Input should be an instance of Attack"):
        AttackProbe(None)
    with pytest.raises(ValueError, match="targeted"):
        AttackProbe(PGD(0.1, 0.01, 1), target_mode="random")
    with pytest.raises(ValueError, match="targeted"):
        AttackProbe(PGD(0.1, 0.01, 1, targeted=True))
    with pytest.raises(ValueError, match="target_mode"):
        AttackProbe(PGD(0.1, 0.01, 1), target_mode="some")


def test_describe_includes_attack_parameters():
    d = AttackProbe(PGD(0.3, 0.01, 40), name="pgd_linf").describe()
    assert d["name"] == "pgd_linf" and d["attack"]["eps"] == 0.3 and d["attack"]["steps"] == 40
    assert d["attack"]["kind"] == "bounded" and d["in_worst_case"] is True
