"""Paper A's published generators: strict loading, range, recognisability, inversion."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from robustlens.models.generators.base import Generator, invert_by_gradient_search
from robustlens.models.generators.buzhinsky_wgan import (
    BuzhinskyGeneratorNet,
    load_buzhinsky_critics,
    load_buzhinsky_generators,
)


@pytest.fixture(scope="module")
def wgan(paper_a_models: Path):
    return load_buzhinsky_generators(paper_a_models)


def test_all_ten_generators_load_strictly_with_the_documented_size(wgan) -> None:
    assert isinstance(wgan, Generator)
    assert wgan.num_classes == 10 and wgan.latent_dim == 64 and not wgan.has_encoder
    for net in wgan.generators:
        # README: 42,051 parameters per digit generator
        assert sum(p.numel() for p in net.parameters()) == 42_051


def test_samples_have_mnist_shape_and_lie_in_unit_range(wgan) -> None:
    y = torch.arange(10).repeat(3)
    with torch.no_grad():
        x = wgan.sample(len(y), y, generator=torch.Generator().manual_seed(0))
    assert x.shape == (30, 1, 28, 28)
    assert x.min() >= 0 and x.max() <= 1
    # a digit is mostly dark background with some bright strokes, not a constant image
    assert 0.05 < x.mean() < 0.35 and x.amax(dim=(1, 2, 3)).min() > 0.8


def test_decode_maps_the_networks_pm1_output_to_unit_range(wgan) -> None:
    z = torch.randn(4, 64, generator=torch.Generator().manual_seed(1))
    y = torch.full((4,), 7)
    with torch.no_grad():
        raw = wgan.generators[7](z)
        # 1e-4: the stacked pass rounds differently in float32 (≈ 2e-5; equal to 1e-12 in float64,
        # see test_stacked_decode_equals_the_per_class_networks)
        assert torch.allclose(wgan.decode(z, y), (raw + 1) / 2, atol=1e-4)


def test_published_samples_are_recognised_by_the_published_classifier(wgan, paper_a_plain_classifier) -> None:
    """README/paper: the GANs generate their digit; the arch-0 `plain` classifier should agree.

    Measured (seed 0, 200 per digit): ≥ 94.5% per digit (lowest: digit 5).
    """
    n = 100
    y = torch.arange(10).repeat_interleave(n)
    with torch.no_grad():
        x = wgan.sample(len(y), y, generator=torch.Generator().manual_seed(0))
        preds = paper_a_plain_classifier(x).argmax(dim=1)
    per_digit = torch.stack([(preds[y == d] == d).float().mean() for d in range(10)])
    assert (per_digit >= 0.90).all(), per_digit


def test_missing_weights_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"dumped_weights_0\.bin\.generator.*weights_dir"):
        load_buzhinsky_generators(tmp_path)


def test_wrong_codes_and_labels_are_refused(wgan) -> None:
    with pytest.raises(ValueError, match=r"\[batch, 64\]"):
        wgan.decode(torch.zeros(2, 16), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match=r"0\.\.9"):
        wgan.decode(torch.zeros(2, 64), torch.tensor([0, 10]))


def test_critics_load_strictly_and_score_images(paper_a_models: Path) -> None:
    critics = load_buzhinsky_critics(paper_a_models)
    assert len(critics) == 10
    with torch.no_grad():
        scores = critics[3](torch.rand(5, 1, 28, 28) * 2 - 1)
    assert scores.shape == (5,) and torch.isfinite(scores).all()
    # spectral normalisation: every normalised weight has largest singular value 1
    conv = critics[3].model[1].model[0].conv
    sigma = torch.linalg.matrix_norm(conv.normalised_weight().flatten(1), ord=2)
    assert sigma.item() == pytest.approx(1.0, abs=1e-5)


def test_a_layout_mismatch_fails_loudly(paper_a_models: Path) -> None:
    path = paper_a_models / "wgan/dumped_weights_0.bin.generator"
    state = torch.load(path, map_location="cpu", weights_only=True)
    state["model.5.extra"] = torch.zeros(1)
    with pytest.raises(RuntimeError, match="Unexpected key"):
        BuzhinskyGeneratorNet().load_state_dict(state, strict=True)


def test_inversion_recovers_generated_images(wgan) -> None:
    """A.5 inversion (4 restarts × 40 Adam steps, lr 0.1) of images G(z) reconstructs them.

    Threshold 0.01 per-pixel MSE in [0,1] units: two different samples of the same digit are
    0.015–0.16 apart (median ≈ 0.1), so below 0.01 the search has found *that* image, not
    just some digit; measured max ≈ 0.006 (seeds 1/2, 20 images).
    """
    y = torch.arange(10)
    with torch.no_grad():
        x = wgan.sample(10, y, generator=torch.Generator().manual_seed(1))
    z = wgan.encode(x, y, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        mse = (wgan.decode(z, y) - x).pow(2).flatten(1).mean(dim=1)
    assert (mse < 0.01).all(), mse


def test_batched_inversion_equals_per_sample_inversion(wgan) -> None:
    y = torch.tensor([3, 3, 8])
    with torch.no_grad():
        x = wgan.sample(3, y, generator=torch.Generator().manual_seed(3))
    init = torch.randn(2, 3, 64, generator=torch.Generator().manual_seed(4))
    batched = invert_by_gradient_search(wgan, x, y, restarts=2, steps=8, init=init)
    single = torch.cat([
        invert_by_gradient_search(
            wgan, x[i : i + 1], y[i : i + 1], restarts=2, steps=8, init=init[:, i : i + 1]
        )
        for i in range(3)
    ])
    assert torch.allclose(batched, single, atol=1e-4)
    # and the search moved: the result is not one of the starts
    assert not torch.allclose(batched, init[0]) and not torch.allclose(batched, init[1])


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_stacked_decode_equals_the_per_class_networks(paper_a_models: Path, dtype) -> None:
    """One pass through the ten stacked networks = each row through its own class's network.

    Uneven classes (padding inside the stacked block), absent classes and a lone row are all
    covered; gradients w.r.t. the codes agree too (the search differentiates through decode).
    float64 shows the two are the same function (≤ 1e-12); float32 differs by rounding only.
    """
    wgan = load_buzhinsky_generators(paper_a_models).to(dtype)
    assert wgan.stacked  # the default
    g = torch.Generator().manual_seed(5)
    y = torch.tensor([7, 0, 7, 7, 3, 9, 0, 7, 3, 7, 1])
    z = torch.randn(len(y), 64, generator=g, dtype=dtype, requires_grad=True)
    tol = 1e-12 if dtype == torch.float64 else 1e-4
    outs = []
    for stacked in (True, False):
        wgan.stacked = stacked
        x = wgan.decode(z, y)
        (grad,) = torch.autograd.grad((x * x).sum(), z)
        outs.append((x.detach(), grad))
    (xs, gs), (xp, gp) = outs
    torch.testing.assert_close(xs, xp, atol=tol, rtol=0)
    torch.testing.assert_close(gs, gp, atol=tol * 10, rtol=tol)
    for i in range(len(y)):  # and each row is its own network's image
        with torch.no_grad():
            own = (wgan.generators[int(y[i])](z[i : i + 1]) + 1) / 2
        torch.testing.assert_close(xs[i : i + 1], own, atol=tol, rtol=0)
    wgan.stacked = True
    lone = wgan.decode(z[4:5].detach(), y[4:5])
    torch.testing.assert_close(lone, xp[4:5], atol=tol, rtol=0)


def test_stacked_decode_follows_a_weight_change(paper_a_models: Path) -> None:
    """The weights are stacked at every call: a later load_state_dict is seen, not a stale copy."""
    wgan = load_buzhinsky_generators(paper_a_models)
    z, y = torch.zeros(2, 64), torch.tensor([2, 5])
    with torch.no_grad():
        before = wgan.decode(z, y)
        wgan.generators[5].model[0].bias.add_(1.0)
        after = wgan.decode(z, y)
    torch.testing.assert_close(after[0], before[0])
    assert not torch.allclose(after[1], before[1])
