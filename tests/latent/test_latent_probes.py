"""Latent probes on a linear generator and linear classifiers, where the answers are analytic."""

from __future__ import annotations

import math

import pytest
import torch

from robustlens.evaluation.latent_probes import LatentAccuracyProbe, LatentAdversarialProbe, LatentNoiseProbe
from robustlens.evaluation.probe import ProbeContext
from robustlens.metrics.latent import LatentAccuracy, LatentSeverity, PerturbationStats
from robustlens.models.generators.base import decay_factor, scaled_l2

from .helpers import LinearClassifier, LinearGenerator, nearest_offset_classifier

F32 = torch.float32


def _batch(gen, n=16, seed=0):
    y = torch.arange(n) % gen.num_classes
    idx = torch.arange(1000, 1000 + n)
    codes = torch.randn(n, gen.latent_dim, generator=torch.Generator().manual_seed(seed), dtype=F32)
    with torch.no_grad():
        x = gen.decode(codes, y).clamp(0, 1)
    return x, y, idx


def test_decay_and_scaled_norm_hand_values():
    assert 1 - decay_factor(1.0) == pytest.approx(0.29289, abs=1e-5)
    assert 1 - decay_factor(0.5) == pytest.approx(0.10557, abs=1e-5)
    assert scaled_l2(torch.tensor([[3.0, 4.0, 0.0, 0.0]])).item() == pytest.approx(2.5)  # 5/√4
    # the probe searches from l_d = (1 − d)·l and measures norm growth from it
    gen = LinearGenerator(dtype=F32, scale=0.3)
    clf = LinearClassifier(gen.side**2, 3, seed=7, dtype=F32)
    batch = _batch(gen, n=6)
    ctx = ProbeContext(seed=0, generator=gen)
    out = LatentAdversarialProbe("generation", "min", steps=10, restarts=2, max_images=6).run(clf, batch, ctx)
    l_d = LatentAccuracyProbe("generation").codes(batch, ctx) * (1 - 0.29289321881)
    delta = gen_inverse(gen, out.images["adversarial"], batch[1]) - l_d
    torch.testing.assert_close(scaled_l2(delta), out.values["latent_norm"], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(
        scaled_l2(l_d + delta) - scaled_l2(l_d), out.values["norm_growth"], atol=1e-4, rtol=1e-4
    )
    torch.testing.assert_close(out.images["decayed"], gen.decode(l_d, batch[1]))


def gen_inverse(gen, images, y):
    return gen.encode(images, y)


def test_already_misclassified_code_gives_accuracy_0_and_severity_0():
    gen = LinearGenerator(dtype=F32)
    n_img = gen.side**2
    always_0 = LinearClassifier(
        n_img, 3, weight=torch.zeros(3, n_img), bias=torch.tensor([5.0, 0, 0]), dtype=F32
    )
    x, _, idx = _batch(gen, n=8)
    y = torch.full((8,), 2)
    ctx = ProbeContext(seed=0, generator=gen)
    for mode in ("any", "min"):
        probe = LatentAdversarialProbe(
            "generation", mode, rho=0.3, metrics={"acc": LatentAccuracy(3), "sev": LatentSeverity(3)}
        )
        out = probe.run(always_0, (x, y, idx), ctx)
        probe.update_metrics(out)
        assert (out.norm == 0).all() and out.success.all() and (out.iterations == 1).all()
        assert probe.metrics["acc"].compute()["accuracy"] == 0
        assert probe.metrics["sev"].compute()["severity"] == 0


def test_lga_is_one_when_classes_are_separable():
    gen = LinearGenerator(dtype=F32, spread=2.0, scale=0.02)
    probe = LatentAccuracyProbe("generation", metrics={"acc": LatentAccuracy(3)})
    for seed in range(3):
        probe.update_metrics(
            probe.run(
                nearest_offset_classifier(gen), _batch(gen, seed=seed), ProbeContext(seed=seed, generator=gen)
            )
        )
    res = probe.metrics["acc"].compute()
    assert res["accuracy"] == 1.0
    assert torch.equal(res["classwise_accuracy"], torch.ones(3))


def test_llna_with_zero_noise_equals_lra():
    gen = LinearGenerator(dtype=F32, scale=0.3)
    clf = LinearClassifier(gen.side**2, 3, seed=5, dtype=F32)
    batch = _batch(gen, n=30)
    ctx = ProbeContext(seed=0, generator=gen)
    lra = LatentAccuracyProbe("reconstruction").run(clf, batch, ctx)
    llna = LatentNoiseProbe(eps=0.0, draws=5).run(clf, batch, ctx)
    assert 0 < lra.correct.float().mean() < 1  # non-trivial: some right, some wrong
    torch.testing.assert_close(llna.values["accuracy"], lra.correct.double())
    # with noise the rate is a fraction of the draws, and differs from LRA somewhere
    noisy = LatentNoiseProbe(eps=1.0, draws=8).run(clf, batch, ctx)
    assert ((noisy.values["accuracy"] * 8).round() == noisy.values["accuracy"] * 8).all()
    assert not torch.equal(noisy.values["accuracy"], lra.correct.double())


def test_reconstruction_codes_invert_the_generator():
    gen = LinearGenerator(dtype=F32)
    x, y, idx = _batch(gen, n=9)
    codes = LatentAccuracyProbe("reconstruction").codes((x, y, idx), ProbeContext(generator=gen))
    torch.testing.assert_close(gen.decode(codes, y), x, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("source", ["generation", "reconstruction"])
def test_batch_size_4_vs_16_identical(source):
    gen = LinearGenerator(dtype=F32, scale=0.3)
    clf = LinearClassifier(gen.side**2, 3, seed=7, dtype=F32)
    x, y, idx = _batch(gen, n=16)

    def run_all(bs):
        probes = {
            "sev": LatentAdversarialProbe(
                source,
                "min",
                rho=2.5,
                steps=12,
                restarts=3,
                metrics={"s": LatentSeverity(3), "p": PerturbationStats(3)},
            ),
            "acc": LatentAdversarialProbe(
                source, "any", rho=0.3, steps=12, restarts=2, metrics={"a": LatentAccuracy(3)}
            ),
            "llna": LatentNoiseProbe(0.5, 4, source=source, metrics={"a": LatentAccuracy(3)}),
        }
        outs = {k: [] for k in probes}
        for s in range(0, 16, bs):
            ctx = ProbeContext(seed=3, generator=gen)
            b = (x[s : s + bs], y[s : s + bs], idx[s : s + bs])
            for k, p in probes.items():
                o = p.run(clf, b, ctx)
                p.update_metrics(o)
                outs[k].append(o)
        cat = {
            k: (
                torch.cat([o.preds for o in v]),
                torch.cat([o.norm if o.norm is not None else o.values["accuracy"] for o in v]),
            )
            for k, v in outs.items()
        }
        metrics = {k: {m: mm.compute() for m, mm in p.metrics.items()} for k, p in probes.items()}
        return cat, metrics

    cat4, m4 = run_all(4)
    cat16, m16 = run_all(16)
    for k in cat4:
        assert torch.equal(cat4[k][0], cat16[k][0])
        torch.testing.assert_close(cat4[k][1], cat16[k][1], atol=1e-6, rtol=1e-5)
    for k in m4:
        for m in m4[k]:
            for key in m4[k][m]:
                torch.testing.assert_close(
                    m4[k][m][key], m16[k][m][key], atol=1e-6, rtol=1e-5, equal_nan=True
                )
    assert 0 < m16["sev"]["s"]["severity"] < 2.5


def test_bounded_latent_search_never_exceeds_rho():
    gen = LinearGenerator(dtype=F32, scale=0.3)
    clf = LinearClassifier(gen.side**2, 3, seed=7, dtype=F32)
    out = LatentAdversarialProbe("generation", "any", rho=0.3, steps=20, restarts=2).run(
        clf, _batch(gen, n=24), ProbeContext(seed=1, generator=gen)
    )
    assert (out.norm <= 0.3 + 1e-6).all()
    assert out.success.any() and not out.success.all()  # some codes adversarial within ρ, some not


@pytest.mark.parametrize(("min_search", "mean_ratio"), [("fmn", 1.02), ("paper_a", 1.08)])
def test_minimum_latent_search_approaches_analytic_distance(min_search, mean_ratio):
    """Two classes; the margin of the linear classifier ∘ affine generator is affine in l:
    m(l) = c_y + w·l, so the minimal scaled-L2 distance from l_d is |m(l_d)|/‖w‖/√n.

    Both searches: the default (fmn, 100 evaluations) and A.4's 'min' (≈ 12×50)."""
    torch.manual_seed(0)
    gen = LinearGenerator(latent_dim=8, num_classes=2, side=4, scale=0.2, dtype=torch.float64)
    clf = LinearClassifier(16, 2, seed=3, dtype=torch.float64)
    n = 20
    y = torch.arange(n) % 2
    idx = torch.arange(n)
    x = torch.zeros(n, 1, 4, 4, dtype=torch.float64)  # unused by the generation source
    ctx = ProbeContext(seed=0, generator=gen)
    probe = LatentAdversarialProbe(
        "generation", "min", rho=2.5, steps=50, rel_step=0.05, restarts=12, eps=1.0, min_search=min_search
    )
    codes = probe.codes((x, y, idx), ctx).double()
    l_d = codes / math.sqrt(2)
    dw = (clf.weight[1] - clf.weight[0]).detach()
    sign = torch.where(y == 1, 1.0, -1.0).double()
    margin = sign * ((gen.offset[y].detach() @ dw) + l_d @ (gen.weight.detach().T @ dw))  # > 0 ⇔ correct
    w_norm = (gen.weight.detach().T @ dw).norm()
    analytic = margin.clamp_min(0) / w_norm / math.sqrt(8)
    out = probe.run(clf, (x, y, idx), ctx)
    correct = margin > 0
    assert correct.sum() >= 5 and (~correct).sum() >= 1
    assert (out.norm[~correct] == 0).all()
    reach = correct & (analytic < 2.4)
    ratio = out.norm[reach] / analytic[reach]
    assert (ratio >= 1 - 1e-6).all() and ratio.mean() <= mean_ratio and (ratio <= 1.25).all(), ratio
    assert out.success[reach].all()
    if min_search == "fmn":
        assert (out.iterations[correct] == 100).all()


def test_accuracy_curve_from_one_minimal_search_counts_norms_above_rho():
    """LAGA(ρ) from the minimal search = share of codes whose minimal ‖Δl‖ₛ exceeds ρ (hand count
    from the per-sample norms), codes misclassified at l_d and unfound ones included."""
    from robustlens.metrics.perturbation import RobustAccuracyCurve

    gen = LinearGenerator(dtype=F32, scale=0.3)
    clf = LinearClassifier(gen.side**2, 3, seed=7, dtype=F32)
    grid = [0.0, 0.1, 0.3, 0.6, 2.5]
    probe = LatentAdversarialProbe("generation", "min", rho=0.6, metrics={"c": RobustAccuracyCurve(grid)})
    out = probe.run(clf, _batch(gen, n=30), ProbeContext(seed=2, generator=gen))
    probe.update_metrics(out)
    curve = probe.metrics["c"].compute()
    mn = out.values["min_norm"]
    assert torch.isinf(mn[~out.success]).all() and torch.equal(mn[out.success], out.norm[out.success])
    assert (~out.success).any() and out.success.any() and (out.norm[out.success] > 0).any()
    for rho in grid:
        hand = sum(1 for v in mn.tolist() if v > rho) / len(mn)
        assert float(curve[f"robust_accuracy@{rho:g}"]) == pytest.approx(hand, abs=1e-12), rho


def test_bf16_is_opt_in_and_never_faithful():
    with pytest.raises(ValueError, match="set precision=fp32 for this probe"):
        LatentAdversarialProbe("generation", "min", faithful=True, precision="bf16")
    with pytest.raises(ValueError, match="min_search=paper_a"):
        LatentAdversarialProbe("generation", "min", faithful=True, min_search="fmn")
    assert LatentAdversarialProbe("generation", "min").search_precision == "fp32"


def test_bf16_search_reports_only_float32_verified_successes():
    """Under bf16 the search's own passes round coarsely; the reported success comes from a float32
    pass, so every success is a float32 misclassification, and the norms stay close to float32's."""
    gen = LinearGenerator(dtype=F32, scale=0.3)
    clf = LinearClassifier(gen.side**2, 3, seed=7, dtype=F32)
    batch = _batch(gen, n=24)
    outs = {
        p: LatentAdversarialProbe("generation", "min", precision=p).run(clf, batch, ProbeContext(seed=1, generator=gen))
        for p in ("float32", "bf16")
    }
    b16 = outs["bf16"]
    # success is re-derived in float32 at the returned point (norm = ‖Δl‖ₛ of that point)
    assert b16.success.any()
    both = b16.success & outs["float32"].success
    assert both.sum() >= 0.8 * outs["float32"].success.sum()
    rel = (b16.norm[both] - outs["float32"].norm[both]).abs() / outs["float32"].norm[both].clamp_min(1e-6)
    assert float(rel.mean()) < 0.05, rel


def test_bf16_autocasts_the_classifier_and_never_the_generator():
    """precision=bf16 puts the classifier's search passes under autocast and leaves every decode
    float32 (a bf16 generator moves Paper A's images by up to 0.36 per pixel)."""
    seen: dict[str, set[tuple[bool, torch.dtype]]] = {"decode": set(), "classify": set()}

    class RecordingGenerator(LinearGenerator):
        def decode(self, z, y):
            out = super().decode(z, y)
            seen["decode"].add((torch.is_autocast_enabled("cpu"), out.dtype))
            return out

    class RecordingClassifier(LinearClassifier):
        def forward(self, x):
            product = x.flatten(1) @ self.weight.T  # the dtype autocast gives the matmul
            seen["classify"].add((torch.is_autocast_enabled("cpu"), product.dtype))
            return super().forward(x)

    gen = RecordingGenerator(dtype=F32, scale=0.3)
    clf = RecordingClassifier(gen.side**2, 3, seed=7, dtype=F32)
    LatentAdversarialProbe("generation", "min", precision="bf16", min_steps=5).run(
        clf, _batch(gen, n=6), ProbeContext(seed=1, generator=gen)
    )
    assert seen["decode"] == {(False, F32)}
    assert (True, torch.bfloat16) in seen["classify"]  # the search's passes
    assert (False, F32) in seen["classify"]  # the clean check and the float32 verification
