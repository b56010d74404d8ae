"""Config files instantiate; image-space severity / bounded attacks keep Paper A's properties."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torch import nn

from robustlens.attacks.base import BoundedAttack, MinimalNormAttack
from robustlens.attacks.severity import PaperABoundedAttack, PaperASeverity
from robustlens.evaluation.latent_probes import LatentAccuracyProbe, LatentAdversarialProbe, LatentNoiseProbe
from robustlens.metrics.latent import LatentAccuracy, LatentSeverity, PerturbationStats
from robustlens.metrics.perturbation import RobustAccuracyCurve
from tests.hydra_utils import in_data_context

CONF = Path(__file__).resolve().parents[2] / "conf"
PROBES = {
    "lga": (LatentAccuracyProbe, "generation"),
    "lra": (LatentAccuracyProbe, "reconstruction"),
    "llna": (LatentNoiseProbe, "reconstruction"),
    "laga": (LatentAdversarialProbe, "generation"),
    "lara": (LatentAdversarialProbe, "reconstruction"),
    "lags": (LatentAdversarialProbe, "generation"),
    "lars": (LatentAdversarialProbe, "reconstruction"),
}


@pytest.mark.parametrize("name", sorted(PROBES))
def test_probe_configs_instantiate(name):
    probe = instantiate(in_data_context(OmegaConf.load(CONF / "probe" / f"{name}.yaml")))
    cls, source = PROBES[name]
    assert type(probe) is cls and probe.source == source
    kinds = {type(m) for m in probe.metrics.values()}
    if name in ("lags", "lars"):
        assert probe.mode == "min" and probe.rho == 2.5 and probe.restarts == 12 and probe.steps == 50
        assert kinds == {LatentSeverity, PerturbationStats, RobustAccuracyCurve}
        # the default is robustlens' minimal-norm search in float32; faithful switches to A.4's
        assert probe.uses_fmn and probe.min_steps == 100 and probe.search_precision == "fp32"
        cfg = OmegaConf.load(CONF / "probe" / f"{name}.yaml")
        cfg.faithful = True
        assert not instantiate(in_data_context(cfg)).uses_fmn
    else:
        assert kinds == {LatentAccuracy}
    if name in ("laga", "lara"):
        assert probe.mode == "any" and probe.rho == 0.3 and probe.rel_step == 0.05


@pytest.mark.parametrize(
    ("name", "cls", "rho", "norm"),
    [
        ("severity_l2", PaperASeverity, 0.3, "scaled_l2"),  # paper: 0.6 in [-1,1] units
        ("severity_linf", PaperASeverity, 0.6, "linf"),  # paper: 1.2
        ("paper_a_bounded_l2", PaperABoundedAttack, 0.05, "scaled_l2"),  # paper: 0.1
        ("paper_a_bounded_linf", PaperABoundedAttack, 0.075, "linf"),  # paper: 0.15
    ],
)
def test_attack_configs_instantiate(name, cls, rho, norm):
    atk = instantiate(OmegaConf.load(CONF / "attack" / f"{name}.yaml"))
    assert type(atk) is cls and atk.rho == rho and atk.norm == norm
    assert atk.mode == ("min" if cls is PaperASeverity else "any")
    # the kind is the type: a severity search has a cap but no budget
    assert isinstance(atk, MinimalNormAttack) == (cls is PaperASeverity)
    assert isinstance(atk, BoundedAttack) == (cls is PaperABoundedAttack)
    if cls is PaperABoundedAttack:
        assert atk.eps == rho


def _two_class_model(n: int, seed: int = 0) -> tuple[nn.Module, torch.Tensor]:
    w = torch.randn(n, generator=torch.Generator().manual_seed(seed))
    lin = nn.Linear(n, 2, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.stack([torch.zeros(n), w]))
    return nn.Sequential(nn.Flatten(), lin), w


def _images(n_img=16, b=24, seed=1):
    # near mid-grey, so the minimal perturbations stay inside [0,1] and distances are analytic
    g = torch.Generator().manual_seed(seed)
    return 0.5 + 0.05 * torch.randn(b, 1, 4, n_img // 4, generator=g)


def test_severity_l2_reaches_analytic_distance_and_respects_cap():
    model, w = _two_class_model(16)
    x = _images()
    y = model(x).argmax(1)
    atk = PaperASeverity(rho=0.3, norm="scaled_l2", restarts=15)
    res = atk(model, x, y, index=torch.arange(len(x)))
    analytic = (x.flatten(1) - 0.0) @ w
    analytic = analytic.abs() / w.norm() / math.sqrt(16)
    reach = analytic < 0.28
    assert reach.sum() >= 10
    assert res.success[reach].all()
    ratio = res.norm[reach] / analytic[reach]
    assert (ratio >= 1 - 1e-4).all() and ratio.mean() < 1.08
    assert (res.norm <= 0.3 + 1e-6).all()
    torch.testing.assert_close(res.extra["norm_pm1"], 2 * res.norm)  # the paper's [-1,1] units


def test_bounded_attack_finds_provable_example_and_never_lies():
    model, w = _two_class_model(16, seed=2)
    x = _images(seed=3)
    y = model(x).argmax(1)
    analytic = (x.flatten(1) @ w).abs() / w.norm() / math.sqrt(16)
    rho = float(analytic.median())
    # from the centre, 25 steps of ρ·0.1 along the (constant) gradient direction reach the sphere:
    # every point closer than ρ to the boundary provably has an adversarial example the search finds
    atk = PaperABoundedAttack(rho=rho, norm="scaled_l2", random_start=False)
    res = atk(model, x, y)
    assert res.success[analytic < rho * 0.999].all()
    assert not res.success[analytic > rho * 1.001].any()  # none exists there: success never claimed
    assert (res.norm <= rho + 1e-6).all() and ((res.x_adv >= 0) & (res.x_adv <= 1)).all()


def test_linf_bounded_attack_stays_in_box():
    model, _ = _two_class_model(16, seed=4)
    x = torch.rand(20, 1, 4, 4, generator=torch.Generator().manual_seed(5))
    y = model(x).argmax(1)
    res = PaperABoundedAttack(rho=0.075, norm="linf", steps=25)(model, x, y, index=torch.arange(20))
    assert (res.norm <= 0.075 + 1e-6).all()
    assert ((res.x_adv >= 0) & (res.x_adv <= 1)).all()
    assert (res.iterations <= 25).all() and (res.iterations >= 1).all()


def test_bad_arguments_name_the_fix():
    with pytest.raises(ValueError, match="norm"):
        PaperASeverity(rho=0.3, norm="l1")
    with pytest.raises(ValueError, match="mode"):
        LatentAdversarialProbe(mode="best")
    with pytest.raises(ValueError, match="source"):
        LatentAccuracyProbe(source="prior")
