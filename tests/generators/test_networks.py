"""cVAE and WGAN-GP networks: shapes, range, encoder, gradient penalty on hand-checkable critics."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from robustlens.models.generators.base import Generator
from robustlens.models.generators.cvae import ConditionalVAE
from robustlens.models.generators.wgan_gp import ConditionalCritic, ConditionalWGANGenerator, gradient_penalty


@pytest.mark.parametrize("cls", [ConditionalVAE, ConditionalWGANGenerator])
def test_decode_gives_unit_range_images_of_the_configured_shape(cls) -> None:
    torch.manual_seed(0)
    gen = cls(latent_dim=8, num_classes=3, image_shape=(2, 12, 16)).eval()
    assert isinstance(gen, Generator)
    y = torch.tensor([0, 1, 2, 2])
    x = gen.sample(4, y, generator=torch.Generator().manual_seed(0))
    assert x.shape == (4, 2, 12, 16)
    assert x.min() >= 0 and x.max() <= 1


def test_the_label_conditions_the_output() -> None:
    torch.manual_seed(0)
    for gen in (ConditionalVAE(latent_dim=4), ConditionalWGANGenerator(latent_dim=4).eval()):
        z = torch.randn(1, 4).repeat(2, 1)
        out = gen.decode(z, torch.tensor([3, 5]))
        assert not torch.allclose(out[0], out[1])


def test_cvae_encode_is_the_posterior_mean_and_deterministic() -> None:
    torch.manual_seed(0)
    vae = ConditionalVAE(latent_dim=5)
    assert vae.has_encoder
    x, y = torch.rand(3, 1, 28, 28), torch.tensor([1, 2, 3])
    mu, logvar = vae.posterior(x, y)
    assert mu.shape == logvar.shape == (3, 5)
    assert torch.equal(vae.encode(x, y), mu) and torch.equal(vae.encode(x, y), vae.encode(x, y))


def test_bad_inputs_get_clear_errors() -> None:
    vae = ConditionalVAE(latent_dim=5)
    with pytest.raises(ValueError, match=r"\[batch, 1, 28, 28\]"):
        vae.encode(torch.rand(2, 28, 28), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"0\.\.9"):
        vae.decode(torch.zeros(1, 5), torch.tensor([10]))
    with pytest.raises(ValueError, match="divisible by 4"):
        ConditionalWGANGenerator(image_shape=(1, 30, 30))


class _LinearCritic(nn.Module):
    """``D(x, y) = w·x + b_y``: its input gradient is ``w`` everywhere."""

    def __init__(self, w: Tensor):
        super().__init__()
        self.w = nn.Parameter(w)
        self.b = nn.Parameter(torch.arange(10.0))

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        return x.flatten(1) @ self.w.flatten() + self.b[y]


def test_gradient_penalty_of_a_linear_critic_is_norm_minus_one_squared() -> None:
    w = torch.zeros(1, 4, 4)
    w[0, 0, :2] = torch.tensor([3.0, 4.0])  # ‖w‖ = 5 → penalty (5 − 1)² = 16
    critic = _LinearCritic(w)
    real, fake, y = torch.rand(6, 1, 4, 4), torch.rand(6, 1, 4, 4), torch.arange(6)
    gp = gradient_penalty(critic, real, fake, y, generator=torch.Generator().manual_seed(0))
    assert gp.item() == pytest.approx(16.0)
    gp.backward()  # differentiable w.r.t. the critic: d/dw (‖w‖−1)² = 2(‖w‖−1)·w/‖w‖
    assert torch.allclose(critic.w.grad, 2 * 4 * w / 5)


class _HalfSquareCritic(nn.Module):
    """``D(x) = ½‖x‖²``: its gradient at ``x̂`` is ``x̂`` itself, so the interpolation shows."""

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        return 0.5 * x.flatten(1).pow(2).sum(dim=1)


def test_gradient_penalty_uses_the_interpolates() -> None:
    real = torch.tensor([[3.0, 0.0], [0.0, 1.0]])
    fake = torch.tensor([[1.0, 0.0], [0.0, 5.0]])
    alpha = torch.tensor([0.5, 0.25])
    # x̂ = (2, 0) and (0, 4): norms 2 and 4 → ((2−1)² + (4−1)²)/2 = 5
    gp = gradient_penalty(_HalfSquareCritic(), real, fake, torch.zeros(2, dtype=torch.long), alpha=alpha)
    assert gp.item() == pytest.approx(5.0)


def test_critic_scores_each_sample_and_depends_on_the_label() -> None:
    torch.manual_seed(0)
    critic = ConditionalCritic()
    x = torch.rand(1, 1, 28, 28).repeat(2, 1, 1, 1)
    scores = critic(x, torch.tensor([0, 1]))
    assert scores.shape == (2,) and scores[0] != scores[1]
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in critic.modules())
