"""Tiny analytic models for the latent tests: a linear generator and a linear classifier."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from robustlens.models.generators.base import Generator


class LinearGenerator(Generator):
    """``G(l, y) = sigmoid-free affine map``: images ``a + B·l`` (a per class), kept in [0,1]
    by construction of small weights and a mid-grey offset; decoding is linear, so distances
    to a linear decision boundary are analytic in latent space."""

    has_encoder = True

    def __init__(self, latent_dim: int = 4, num_classes: int = 3, side: int = 4, scale: float = 0.05, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.latent_dim, self.num_classes, self.side = latent_dim, num_classes, side
        n_img = side * side
        self.offset = nn.Parameter(0.5 + 0.1 * torch.rand(num_classes, n_img, generator=g, dtype=torch.float64))
        self.weight = nn.Parameter(scale * torch.randn(n_img, latent_dim, generator=g, dtype=torch.float64))

    def decode(self, z: Tensor, y: Tensor) -> Tensor:
        return (self.offset[y] + z @ self.weight.T).view(-1, 1, self.side, self.side)

    def encode(self, x: Tensor, y: Tensor, generator=None) -> Tensor:
        # least-squares inverse of the affine decoder (exact for images it generated)
        r = x.flatten(1) - self.offset[y]
        return torch.linalg.lstsq(self.weight, r.T).solution.T


class LinearClassifier(nn.Module):
    def __init__(self, n_in: int, num_classes: int, seed: int = 1, weight: Tensor | None = None,
                 bias: Tensor | None = None):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        w = weight if weight is not None else torch.randn(num_classes, n_in, generator=g, dtype=torch.float64)
        b = bias if bias is not None else torch.zeros(num_classes, dtype=torch.float64)
        self.weight, self.bias = nn.Parameter(w.clone()), nn.Parameter(b.clone())

    def forward(self, x: Tensor) -> Tensor:
        return x.flatten(1) @ self.weight.T + self.bias


def scaled(v: Tensor) -> float:
    return float(v.norm() / math.sqrt(v.numel()))
