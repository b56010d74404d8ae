"""A class-conditional VAE: the generator with an amortised encoder (Paper A, A.1).

Paper A measures reconstruction metrics (LRA, LARA, LARS) through ``G_y(E_y(x))``; a VAE gives
``E_y`` for free (the posterior mean) instead of a 160-pass gradient inversion per image.
An MLP encoder/decoder keeps it small and shape-agnostic; the label enters both as a one-hot
vector concatenated to the input, so one network serves every class.
"""

from __future__ import annotations

import itertools
import math
from typing import Annotated, Any

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn

from robustlens.models.generators.base import Generator
from robustlens.models.generators.checks import check_codes


def _mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class ConditionalVAE(Generator):
    """``q(l | x, y) = N(μ, diag σ²)``, ``p(x | l, y)`` Bernoulli/Gaussian with mean ``decode(l, y)``.

    Args:
        latent_dim: n, size of the code (prior ``N(0, I_n)``).
        num_classes: number of labels it is conditioned on.
        image_shape: ``(C, H, W)`` of the images.
        hidden: widths of the encoder's hidden layers; the decoder mirrors them.
    """

    has_encoder = True

    def __init__(
        self,
        latent_dim: Annotated[int, Field(gt=0)] = 16,
        num_classes: Annotated[int, Field(gt=0)] = 10,
        image_shape: tuple[int, int, int] = (1, 28, 28),
        hidden: tuple[int, ...] = (512, 256),
    ):
        super().__init__()
        image_shape = tuple(int(s) for s in image_shape)
        if len(image_shape) != 3:
            raise ValueError(f"image_shape must be (channels, height, width), got {image_shape}")
        self.latent_dim = int(latent_dim)
        self.num_classes = int(num_classes)
        self.image_shape = image_shape
        self.hidden = tuple(int(h) for h in hidden)
        n_pixels = math.prod(image_shape)
        self.encoder = _mlp([n_pixels + num_classes, *self.hidden, 2 * latent_dim])
        self.decoder = _mlp([latent_dim + num_classes, *reversed(self.hidden), n_pixels])

    def config(self) -> dict[str, Any]:
        """The constructor call that rebuilds this network (stored in training checkpoints)."""
        return {
            "_target_": f"{type(self).__module__}.{type(self).__qualname__}",
            "latent_dim": self.latent_dim,
            "num_classes": self.num_classes,
            "image_shape": list(self.image_shape),
            "hidden": list(self.hidden),
        }

    def _one_hot(self, y: Tensor) -> Tensor:
        return F.one_hot(y.long(), self.num_classes).to(torch.get_default_dtype())

    def posterior(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """``(μ, log σ²)`` of ``q(l | x, y)``, each [B, n]."""
        if tuple(x.shape[1:]) != self.image_shape:
            raise ValueError(f"images must have shape [batch, {', '.join(map(str, self.image_shape))}], "
                             f"got {tuple(x.shape)}")
        check_codes(x.new_zeros(x.shape[0], self.latent_dim), y, self.latent_dim, self.num_classes)
        h = self.encoder(torch.cat([x.flatten(1), self._one_hot(y).to(x)], dim=1))
        mu, logvar = h.chunk(2, dim=1)
        return mu, logvar

    def decode_logits(self, z: Tensor, y: Tensor) -> Tensor:
        """Pre-sigmoid decoder output [B, C, H, W] (the numerically stable input of BCE)."""
        check_codes(z, y, self.latent_dim, self.num_classes)
        out = self.decoder(torch.cat([z, self._one_hot(y).to(z)], dim=1))
        return out.view(z.shape[0], *self.image_shape)

    def decode(self, z: Tensor, y: Tensor) -> Tensor:
        return torch.sigmoid(self.decode_logits(z, y))

    def encode(self, x: Tensor, y: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """The posterior mean: the deterministic code of ``x`` (``generator`` is unused)."""
        return self.posterior(x, y)[0]
