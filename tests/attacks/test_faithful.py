"""Faithful (authors') mode versus valid-image mode of the attacks with an authors' procedure.

Faithful: the returned image is the unclipped one, success is re-checked on exactly it, the
norm is its norm, and the probe records how often it leaves [0,1]. Valid-image mode keeps
every returned image in [0,1]. ``faithful`` anywhere else is a config error naming the
configs that have it.
"""

from __future__ import annotations

import inspect
import math
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

from robustlens.attacks.faithful import FAITHFUL_PROCEDURES, faithful_hint, faithful_procedure
from robustlens.attacks.noise import GaussianNoise
from robustlens.attacks.severity import PaperABoundedAttack, PaperASeverity
from robustlens.config.validate import ConfigValidationError, validate_config
from robustlens.evaluation.attack_probe import AttackProbe
from robustlens.evaluation.probe import ProbeContext
from robustlens.utils.signatures import parameter_names

CONF = Path(__file__).resolve().parents[2] / "conf"
N_PIX = 16


def _bright_model() -> nn.Module:
    """Two classes, logit₁ − logit₀ = Σx − 16.5: an all-ones image is class 0 and can only be
    flipped by pushing pixels *above* 1, which valid images cannot do."""
    lin = nn.Linear(N_PIX, 2)
    with torch.no_grad():
        lin.weight.copy_(torch.stack([torch.zeros(N_PIX), torch.ones(N_PIX)]))
        lin.bias.copy_(torch.tensor([0.0, -16.5]))
    return nn.Sequential(nn.Flatten(), lin).double().eval()


def _bright_batch(b: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.ones(b, 1, 4, 4, dtype=torch.float64)
    x[:, 0, 0, 0] = torch.linspace(0.9, 1.0, b, dtype=torch.float64)  # distinct samples
    return x, torch.zeros(b, dtype=torch.long)


def _scaled_l2(d: torch.Tensor) -> torch.Tensor:
    return d.flatten(1).norm(dim=1) / math.sqrt(d[0].numel())


@pytest.mark.parametrize("cls", [PaperASeverity, PaperABoundedAttack])
def test_faithful_returns_the_unclipped_image_and_judges_it(cls):
    model = _bright_model()
    x, y = _bright_batch()
    res = cls(rho=0.3, norm="scaled_l2", restarts=3, random_start=False, faithful=True)(model, x, y)
    assert res.success.all()  # the boundary is at scaled-L2 distance < 0.3, outside the box
    assert (res.x_adv.amax(dim=(1, 2, 3)) > 1).all() and res.out_of_range.all()
    # the verdict and the size are those of exactly the returned (unclipped) image
    assert torch.equal(res.success, model(res.x_adv).argmax(1).ne(y))
    torch.testing.assert_close(res.norm, _scaled_l2(res.x_adv - x))
    torch.testing.assert_close(res.extra["norm_pm1"], 2 * res.norm)


@pytest.mark.parametrize("cls", [PaperASeverity, PaperABoundedAttack])
def test_valid_image_mode_never_leaves_the_range(cls):
    model = _bright_model()
    x, y = _bright_batch()
    res = cls(rho=0.3, norm="scaled_l2", restarts=3, random_start=False)(model, x, y)
    assert not res.success.any()  # no valid image is adversarial here
    assert res.x_adv.min() >= 0 and res.x_adv.max() <= 1 and not res.out_of_range.any()
    torch.testing.assert_close(res.norm, _scaled_l2(res.x_adv - x))


def test_faithful_search_is_deterministic_without_random_start():
    model = _bright_model()
    x, y = _bright_batch()
    atk = PaperASeverity(rho=0.3, norm="linf", restarts=4, random_start=False, faithful=True)
    first, second = atk(model, x, y), atk(model, x[[3, 1, 0, 5, 2, 4]], y)
    assert torch.equal(first.x_adv[[3, 1, 0, 5, 2, 4]], second.x_adv)
    assert torch.equal(first.norm[[3, 1, 0, 5, 2, 4]], second.norm)


def test_noise_without_clip_is_the_authors_noise():
    model = _bright_model()
    x, y = _bright_batch()
    idx = torch.arange(len(y))
    noise = GaussianNoise(0.4, draws=5, clip=False)
    res = noise(model, x, y, index=idx)
    # the returned image is one of the unclipped draws, judged as it is
    draws = noise.noisy(x, idx)
    assert torch.equal(res.x_adv, draws[torch.arange(len(y)), res.extra["draw"]])
    assert res.out_of_range.all() and res.x_adv.max() > 1
    assert torch.equal(res.success, model(res.x_adv).argmax(1).ne(y))
    wrong = model(draws.flatten(0, 1)).argmax(1).ne(0).view(len(y), 5)
    torch.testing.assert_close(res.extra["noise_accuracy"], (~wrong).double().mean(1).float())
    clipped = GaussianNoise(0.4, draws=5, clip=True)(model, x, y, index=idx)
    assert clipped.x_adv.max() <= 1 and not clipped.out_of_range.any()


def test_probe_records_out_of_range_share_and_column():
    model = _bright_model()
    x, y = _bright_batch()
    batch = (x, y, torch.arange(100, 106))
    probe = AttackProbe(PaperASeverity(rho=0.3, restarts=2, random_start=False, faithful=True))
    out = probe.run(model, batch, ProbeContext())
    assert out.values["out_of_range"].all() and "out_of_range" in out.per_sample_columns()
    probe.update_metrics(out)
    assert probe.metrics["out_of_range_fraction"].compute()["out_of_range_fraction"].item() == 1.0
    # valid-image mode: the column and the share exist too, and say 0
    valid = AttackProbe(PaperASeverity(rho=0.3, restarts=2, random_start=False))
    out = valid.run(model, batch, ProbeContext())
    valid.update_metrics(out)
    assert valid.metrics["out_of_range_fraction"].compute()["out_of_range_fraction"].item() == 0.0
    assert not valid.in_worst_case and "out_of_range_fraction" in valid.metrics


def test_out_of_range_share_is_exact_and_counts_each_sample_once():
    noise = AttackProbe(GaussianNoise(0.4, clip=False))
    metric = noise.metrics["out_of_range_fraction"]
    from robustlens.metrics.base import ProbeOutput

    flags = torch.tensor([True, False, False, True, False, False, False])
    index = torch.tensor([0, 1, 2, 3, 4, 5, 6])
    metric.update(ProbeOutput(index=index, labels=index, preds=index, values={"out_of_range": flags}))
    metric.update(ProbeOutput(index=index[:2], labels=index[:2], preds=index[:2],
                              values={"out_of_range": flags[:2]}))  # DDP padding repeats 0 and 1
    value = metric.compute()["out_of_range_fraction"]
    assert value.dtype == torch.float64 and value.item() == 2 / 7


def test_registry_lists_exactly_the_classes_with_a_faithful_switch():
    import hydra.utils

    for proc in FAITHFUL_PROCEDURES:
        cls = hydra.utils.get_object(proc.target)
        switch = proc.switch.split("=")[0]
        assert switch in parameter_names(cls), proc
        for config in proc.configs:
            cfg = OmegaConf.load(CONF / f"{config}.yaml")
            assert cfg._target_ == proc.target and switch in cfg, f"{config} should expose {switch}"
    # every attack/probe config exposing `faithful` is in the registry
    listed = {c for p in FAITHFUL_PROCEDURES for c in p.configs}
    for group in ("attack", "probe"):
        for path in sorted((CONF / group).glob("*.yaml")):
            cfg = OmegaConf.load(path)
            if "faithful" in cfg:
                assert f"{group}/{path.stem}" in listed, path
    assert faithful_procedure(PaperASeverity(rho=0.1)) is not None
    assert faithful_procedure(GaussianNoise(0.1)) is not None


def test_faithful_on_an_attack_without_an_authors_procedure_names_the_ones_with_one():
    cfg = OmegaConf.create({"probes": {"pgd": OmegaConf.load(CONF / "probe" / "attack.yaml")}})
    cfg.probes.pgd.attack.faithful = True
    with pytest.raises(ConfigValidationError) as err:
        validate_config(cfg)
    message = str(err.value)
    assert "probes.pgd.attack.faithful: unknown key" in message
    for config in ("attack/severity_l2", "attack/paper_a_bounded_linf", "attack/gaussian_noise", "probe/lags"):
        assert config in message
    assert "clip=false" in message and faithful_hint() in message


def test_faithful_classes_take_the_switch_in_their_signature():
    for cls in (PaperASeverity, PaperABoundedAttack):
        assert inspect.signature(cls).parameters["faithful"].default is False
    assert inspect.signature(GaussianNoise).parameters["clip"].default is True


def test_faithful_override_refused_by_hydra_names_the_ones_with_one():
    # without `+`, Hydra refuses the key itself; the CLI's hint then lists the faithful configs
    from robustlens.config.errors import suggest_key

    cfg = OmegaConf.create({"evaluation": {"probes": {"pgd": {"attack": {"eps": 0.1}}}}})
    hint = suggest_key(cfg, "evaluation.probes.pgd.attack.faithful")
    assert "attack/severity_l2" in hint and "probe/lags" in hint and "clip=false" in hint
