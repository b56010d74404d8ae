"""A class-conditional WGAN-GP (Gulrajani et al. 2017): generator, critic and gradient penalty.

Why a conditional GAN besides Paper A's ten per-digit GANs: one network for all classes trains
on any labelled dataset (Fashion-MNIST, CIFAR-10) with one config. Conditioning:

* generator: a learned label embedding concatenated to the code;
* critic: projection conditioning (Miyato & Koyama 2018), ``D(x, y) = ψ(h) + ⟨e_y, h⟩`` with
  ``h`` the critic's features. No batch normalisation in the critic: the gradient penalty is
  defined per sample and batch statistics would couple the samples.

The generator decodes through a sigmoid, so its images are in [0, 1] by construction.
"""

from __future__ import annotations

from typing import Annotated, Any

import torch
from pydantic import Field
from torch import Tensor, nn

from robustlens.models.generators.base import Generator
from robustlens.models.generators.checks import check_codes


def _check_image_shape(image_shape: tuple[int, ...]) -> tuple[int, int, int]:
    shape = tuple(int(s) for s in image_shape)
    if len(shape) != 3 or shape[1] % 4 or shape[2] % 4:
        raise ValueError(
            f"image_shape must be (channels, height, width) with height and width divisible by 4 "
            f"(two ×2 up/down-sampling stages), got {shape}"
        )
    return shape  # type: ignore[return-value]


def _target(obj: object) -> str:
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


class ConditionalWGANGenerator(Generator):
    """``G(l, y)``: [code ‖ label embedding] → Linear → (2c)×H/4×W/4 → two ×2 up-convs → sigmoid.

    Args:
        latent_dim: n, size of the code (prior ``N(0, I_n)``).
        num_classes: number of labels.
        image_shape: ``(C, H, W)``, H and W divisible by 4.
        channels: width c of the last hidden feature map (the first has 2c).
        embed_dim: size of the label embedding.
    """

    def __init__(
        self,
        latent_dim: Annotated[int, Field(gt=0)] = 64,
        num_classes: Annotated[int, Field(gt=0)] = 10,
        image_shape: tuple[int, int, int] = (1, 28, 28),
        channels: Annotated[int, Field(gt=0)] = 64,
        embed_dim: Annotated[int, Field(gt=0)] = 16,
    ):
        super().__init__()
        self.image_shape = _check_image_shape(image_shape)
        self.latent_dim, self.num_classes = int(latent_dim), int(num_classes)
        self.channels, self.embed_dim = int(channels), int(embed_dim)
        c, h, w = self.image_shape
        self._start = (2 * channels, h // 4, w // 4)
        self.embed = nn.Embedding(num_classes, embed_dim)
        n_start = 2 * channels * (h // 4) * (w // 4)
        self.fc = nn.Sequential(nn.Linear(latent_dim + embed_dim, n_start), nn.ReLU())
        self.net = nn.Sequential(
            nn.BatchNorm2d(2 * channels),
            nn.ConvTranspose2d(2 * channels, channels, 4, stride=2, padding=1),
            nn.BatchNorm2d(channels),
            nn.ReLU(),
            nn.ConvTranspose2d(channels, c, 4, stride=2, padding=1),
        )

    def config(self) -> dict[str, Any]:
        """The constructor call that rebuilds this network (stored in training checkpoints)."""
        return {"_target_": _target(self), "latent_dim": self.latent_dim, "num_classes": self.num_classes,
                "image_shape": list(self.image_shape), "channels": self.channels, "embed_dim": self.embed_dim}

    def decode(self, z: Tensor, y: Tensor) -> Tensor:
        check_codes(z, y, self.latent_dim, self.num_classes)
        h = self.fc(torch.cat([z, self.embed(y.long())], dim=1)).view(z.shape[0], *self._start)
        return torch.sigmoid(self.net(h))


class ConditionalCritic(nn.Module):
    """``D(x, y) = ψ(h(x)) + ⟨e_y, h(x)⟩`` on [0,1] images; returns one score per sample.

    Args:
        num_classes: number of labels.
        image_shape: ``(C, H, W)``, H and W divisible by 4.
        channels: width c of the first feature map (the second has 2c).
    """

    def __init__(
        self,
        num_classes: Annotated[int, Field(gt=0)] = 10,
        image_shape: tuple[int, int, int] = (1, 28, 28),
        channels: Annotated[int, Field(gt=0)] = 64,
    ):
        super().__init__()
        self.image_shape = _check_image_shape(image_shape)
        self.num_classes, self.channels = int(num_classes), int(channels)
        c, h, w = self.image_shape
        n_features = 2 * channels * (h // 4) * (w // 4)
        self.features = nn.Sequential(
            nn.Conv2d(c, channels, 4, stride=2, padding=1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(channels, 2 * channels, 4, stride=2, padding=1),
            nn.LeakyReLU(0.2),
            nn.Flatten(),
        )
        self.psi = nn.Linear(n_features, 1)
        self.embed = nn.Embedding(num_classes, n_features)
        nn.init.normal_(self.embed.weight, std=0.02)

    def config(self) -> dict[str, Any]:
        return {"_target_": _target(self), "num_classes": self.num_classes,
                "image_shape": list(self.image_shape), "channels": self.channels}

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        h = self.features(x)
        return self.psi(h).squeeze(1) + (self.embed(y.long()) * h).sum(dim=1)


def gradient_penalty(
    critic: nn.Module, real: Tensor, fake: Tensor, y: Tensor, *,
    alpha: Tensor | None = None, generator: torch.Generator | None = None,
) -> Tensor:
    """WGAN-GP's ``E[(‖∇_x̂ D(x̂, y)‖₂ − 1)²]`` at ``x̂ = α·real + (1−α)·fake``, α ~ U[0,1] per sample.

    ``alpha`` [B] overrides the random interpolation weights (tests). The graph is kept
    (``create_graph=True``) so the penalty can be back-propagated into the critic.
    """
    if real.shape != fake.shape:
        raise ValueError(f"real and fake batches differ in shape: {tuple(real.shape)} vs {tuple(fake.shape)}")
    b = real.shape[0]
    if alpha is None:
        alpha = torch.rand(b, generator=generator).to(real)
    alpha = alpha.view(b, *([1] * (real.ndim - 1)))
    x_hat = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    with torch.enable_grad():
        scores = critic(x_hat, y)
        (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)
    return (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()
