"""Search precision (issue 22): a lower precision may steer a search, never decide a verdict.

The verdict of every attack is an fp32 pass outside autocast (``Attack.__call__``), so a sample
counted as broken is adversarial in fp32; faithful procedures refuse every precision but fp32; TF32
is scoped to the search; fp16's loss scale keeps small gradients from underflowing.
"""

from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

from robustlens.attacks import FMN, PGD
from robustlens.attacks.autoattack import APGDCE
from robustlens.attacks.precision import (
    PrecisionError,
    fp32_pass,
    input_gradient,
    search_precision,
)
from robustlens.attacks.severity import PaperASeverity
from robustlens.evaluation.attack_probe import AttackProbe
from robustlens.evaluation.building import ProbeConfigError, build_probes
from robustlens.models.classifiers.small_cnn import SmallCNN

#: fp32 tells 0.5 + 2⁻¹⁰ from 0.5 + 2⁻¹¹; bf16 (8 significant bits) rounds both to 0.5
X_FINE = 0.5 + 2**-10
BIAS_FINE = 0.5 + 2**-11


def _rounding_sensitive_model() -> nn.Module:
    """Logits ``(0.5 + 2⁻¹¹, x)`` of the first pixel: fp32 predicts class 1 at ``X_FINE``, bf16 a tie
    (class 0, the first maximum)."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
    with torch.no_grad():
        model[1].weight.copy_(torch.tensor([[0.0, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]]))
        model[1].bias.copy_(torch.tensor([BIAS_FINE, 0.0]))
    return model.eval()


def test_the_crafted_model_predicts_differently_in_bf16_and_fp32() -> None:
    model, x = _rounding_sensitive_model(), torch.full((1, 1, 2, 2), X_FINE)
    assert model(x).argmax(1).item() == 1
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert model(x).argmax(1).item() == 0


@pytest.mark.parametrize("precision", ["bf16", "fp16", "tf32"])
def test_the_verdict_is_an_fp32_pass_whatever_the_search_precision(precision: str) -> None:
    """At an input where bf16 says 'correct' and fp32 says 'misclassified', the attack's verdict is fp32's."""
    model, x, y = _rounding_sensitive_model(), torch.full((1, 1, 2, 2), X_FINE), torch.tensor([0])
    result = PGD(eps=0.0, step_size=0.1, steps=0, random_start=False)(model, x, y, precision=precision)
    assert result.success.tolist() == [True]
    assert result.logits.dtype == torch.float32


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_every_sample_counted_broken_is_adversarial_in_fp32(precision: str) -> None:
    torch.manual_seed(0)
    model = SmallCNN(in_channels=1, num_classes=10).eval()
    x = torch.rand(16, 1, 28, 28)
    y = model(x).argmax(1)
    for attack in (PGD(eps=0.05, step_size=0.01, steps=5), FMN(norm="l2", steps=10), APGDCE(eps=0.05, steps=5)):
        result = attack(model, x, y, precision=precision)
        with torch.no_grad():
            fp32_preds = model(result.x_adv).argmax(1)
        assert result.success.any(), type(attack).__name__
        assert fp32_preds[result.success].ne(y[result.success]).all(), type(attack).__name__


def test_the_search_really_runs_in_the_lower_precision() -> None:
    """The gradient passes see bf16 logits (else the setting would do nothing)."""
    seen: list[torch.dtype] = []
    model = _rounding_sensitive_model()
    model.register_forward_hook(lambda _m, _i, out: seen.append(out.dtype))
    PGD(eps=0.01, step_size=0.005, steps=2, random_start=False)(
        model, torch.full((1, 1, 2, 2), 0.25), torch.tensor([0]), precision="bf16"
    )
    assert seen[:2] == [torch.bfloat16, torch.bfloat16] and seen[-1] == torch.float32  # search, search, verdict


def test_tf32_is_scoped_to_the_search_and_off_in_the_verdict() -> None:
    before = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    with search_precision("tf32", "cpu"):
        assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
        with fp32_pass("cpu"):
            assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32
        assert torch.backends.cuda.matmul.allow_tf32
    assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == before


def test_fp16_loss_scale_keeps_small_gradients_from_underflowing() -> None:
    """d(1e-8·Σz)/dx through an fp16 layer: 1e-8 is below fp16's smallest subnormal, 1e-8·2¹⁰ is not."""
    torch.manual_seed(0)
    layer = nn.Linear(8, 3)
    x = torch.rand(4, 8, requires_grad=True)
    expected = torch.autograd.grad(1e-8 * layer(x).sum(), x)[0]
    with torch.autocast("cpu", dtype=torch.float16):
        unscaled = torch.autograd.grad(1e-8 * layer(x).sum(), x)[0]
    with search_precision("fp16", "cpu"):
        scaled = input_gradient(1e-8 * layer(x).sum(), x)
    assert unscaled.abs().max() == 0  # what fp16 does without the scale
    assert scaled.dtype == torch.float32
    torch.testing.assert_close(scaled, expected, rtol=2e-2, atol=1e-12)


def test_faithful_procedures_refuse_every_precision_but_fp32() -> None:
    severity = PaperASeverity(rho=1.0, norm="scaled_l2", faithful=True)
    x, y = torch.rand(2, 1, 2, 2), torch.tensor([0, 1])
    with pytest.raises(PrecisionError, match="set precision=fp32"):
        severity(_rounding_sensitive_model(), x, y, precision="bf16")
    with pytest.raises(PrecisionError, match="valid: fp32, tf32, bf16, fp16"):
        PGD(eps=0.1, step_size=0.01, steps=1)(_rounding_sensitive_model(), x, y, precision="half")


def _evaluation(precision: str, probe_precision: str | None) -> OmegaConf:
    probe = {
        "_target_": "robustlens.evaluation.attack_probe.AttackProbe",
        "attack": {"_target_": "robustlens.attacks.severity.PaperASeverity", "rho": 1.0, "faithful": True},
    }
    if probe_precision is not None:
        probe["precision"] = probe_precision
    pgd = {"_target_": "robustlens.evaluation.attack_probe.AttackProbe",
           "attack": {"_target_": "robustlens.attacks.PGD", "eps": 0.1, "step_size": 0.01, "steps": 1}}
    return OmegaConf.create({"evaluation": {"precision": precision, "probes": {"severity": probe, "pgd": pgd}}})


def test_an_evaluation_precision_reaches_every_probe_and_faithful_ones_refuse_it_by_name() -> None:
    with pytest.raises(ProbeConfigError, match=r"evaluation\.probes\.severity: .*evaluation\.probes\.severity\.precision=fp32"):
        build_probes(_evaluation("bf16", None), num_classes=2)
    probes = build_probes(_evaluation("bf16", "fp32"), num_classes=2)  # the probe's own value wins
    assert probes["pgd"].describe()["precision"] == "bf16"
    assert probes["severity"].describe()["precision"] == "fp32"
    assert build_probes(_evaluation("fp32", None), num_classes=2)["pgd"].describe()["precision"] == "fp32"


def test_a_probe_passes_its_precision_to_the_attack() -> None:
    model, x, y = _rounding_sensitive_model(), torch.full((1, 1, 2, 2), 0.25), torch.tensor([0])
    seen: list[torch.dtype] = []
    model.register_forward_hook(lambda _m, _i, out: seen.append(out.dtype))
    probe = AttackProbe(PGD(eps=0.01, step_size=0.005, steps=1, random_start=False), precision="bf16")
    from robustlens.evaluation.probe import ProbeContext

    probe.run(model, (x, y, torch.tensor([7])), ProbeContext())
    assert torch.bfloat16 in seen


@pytest.mark.parametrize("k", [1, 3])
def test_pgd_searches_on_where_only_the_low_precision_pass_calls_a_point_adversarial(k: int) -> None:
    """At ``X_FINE`` with label 1, bf16 predicts 0 (adversarial) and fp32 predicts 1 (not): bf16's early
    stop would freeze the start and the fp32 verdict call it robust. The fp32 re-check at the host checks
    lets PGD walk on to a point that is adversarial in fp32 (one step down in pixel 0)."""
    model, x, y = _rounding_sensitive_model(), torch.full((1, 1, 2, 2), X_FINE), torch.tensor([1])
    attack = PGD(eps=0.1, step_size=0.01, steps=6, random_start=False, check_every=k)
    assert attack(model, x, y).success.tolist() == [True]
    assert attack(model, x, y, precision="bf16").success.tolist() == [True]


def test_fmn_in_bf16_finds_what_fp32_finds() -> None:
    """FMN's iterates end on the decision boundary; deciding 'adversarial' by the bf16 pass would keep
    points on bf16's side of it that fp32 calls robust (half the samples in bench_precision.py before
    the fp32 check). The fp32 decision keeps bf16's found share at fp32's."""
    torch.manual_seed(0)
    model = SmallCNN(in_channels=1, num_classes=10).eval()
    x = torch.rand(16, 1, 28, 28)
    y = model(x).argmax(1)
    fp32 = FMN(norm="l2", steps=20)(model, x, y)
    bf16 = FMN(norm="l2", steps=20)(model, x, y, precision="bf16")
    assert fp32.success.all()
    assert bf16.success.sum() >= len(y) - 1
    torch.testing.assert_close(bf16.norm.mean(), fp32.norm.mean(), rtol=0.05, atol=0)


def test_apgd_attacks_again_in_fp32_where_only_the_low_precision_pass_was_fooled() -> None:
    """pyautoattack skips a sample its own (bf16) prediction calls misclassified already; the fp32 verdict
    disagrees at ``X_FINE`` with label 1, so the adapter attacks that sample again in fp32 and finds a
    point adversarial in fp32."""
    model, x, y = _rounding_sensitive_model(), torch.full((1, 1, 2, 2), X_FINE), torch.tensor([1])
    assert APGDCE(eps=0.1, steps=5)(model, x, y).success.tolist() == [True]
    result = APGDCE(eps=0.1, steps=5)(model, x, y, precision="bf16")
    assert result.success.tolist() == [True]
    assert result.iterations.tolist() == [2 * APGDCE(eps=0.1, steps=5)._query_budget(2)]


def test_every_probe_records_its_precision() -> None:
    from robustlens.evaluation.clean_probe import CleanProbe
    from robustlens.evaluation.latent_probes import LatentAccuracyProbe, LatentAdversarialProbe

    for probe in (CleanProbe(), LatentAccuracyProbe(), LatentAdversarialProbe("generation", "min"),
                  AttackProbe(PGD(eps=0.1, step_size=0.01, steps=1))):
        probe.use_precision("bf16")
        assert probe.describe()["precision"] == "bf16", type(probe).__name__
