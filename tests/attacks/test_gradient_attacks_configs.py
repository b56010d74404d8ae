"""Every attack config and the generic attack-probe config instantiate, use only constructor
parameters, and give the literature's defaults."""

from __future__ import annotations

from pathlib import Path

import hydra.utils
import pytest
import torch
from omegaconf import OmegaConf

from robustlens.attacks.base import Attack
from robustlens.evaluation.attack_probe import AttackProbe
from robustlens.evaluation.probe import ProbeContext
from robustlens.metrics.perturbation import NormStatistics
from robustlens.utils.signatures import parameter_names

CONF = Path(__file__).resolve().parents[2] / "conf"
ATTACKS = ["fgsm", "pgd_linf", "pgd_l2", "pgd_linf_targeted", "apgd_ce", "apgd_t", "autoattack",
           "fmn_linf", "fmn_l2"]


@pytest.mark.parametrize("name", ATTACKS)
def test_attack_config_instantiates_with_signature_keys(name):
    cfg = OmegaConf.load(CONF / "attack" / f"{name}.yaml")
    attack = hydra.utils.instantiate(cfg)
    assert isinstance(attack, Attack)
    params = parameter_names(type(attack))
    assert set(cfg) - {"_target_"} <= set(params), "config keys must be constructor parameters"


def test_literature_defaults():
    pgd = hydra.utils.instantiate(OmegaConf.load(CONF / "attack" / "pgd_linf.yaml"))
    assert (pgd.eps, pgd.step_size, pgd.steps, pgd.norm) == (0.3, 0.01, 40, "linf")
    aa = hydra.utils.instantiate(OmegaConf.load(CONF / "attack" / "autoattack.yaml"))
    assert (aa.eps, aa.norm, aa.version) == (0.3, "linf", "standard")
    assert hydra.utils.instantiate(OmegaConf.load(CONF / "attack" / "pgd_linf_targeted.yaml")).targeted


def test_attack_probe_config_runs():
    probe = hydra.utils.instantiate(OmegaConf.load(CONF / "probe" / "attack.yaml"))
    assert isinstance(probe, AttackProbe) and isinstance(probe.metrics["norm"], NormStatistics)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3)).eval()
    x = torch.rand(5, 1, 2, 2)
    out = probe.run(model, (x, torch.zeros(5, dtype=torch.long), torch.arange(5)), ProbeContext())
    assert (out.norm <= 0.3 + 1e-6).all()

