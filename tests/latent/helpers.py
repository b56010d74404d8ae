"""Tiny analytic models for the latent tests: a linear generator and a linear classifier."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from robustlens.models.generators.base import Generator


class LinearGenerator(Generator):
    """``G(l, y) = a_y + W·l``: an affine decoder (per-class offset ``a_y`` around mid-grey,
    small ``W`` so codes of moderate norm stay near [0,1]); with a linear classifier the
    classification margin is affine in ``l``, so minimal latent distances are analytic."""

    has_encoder = True

    def __init__(
        self,
        latent_dim: int = 4,
        num_classes: int = 3,
        side: int = 4,
        scale: float = 0.05,
        seed: int = 0,
        dtype: torch.dtype = torch.float64,
        spread: float = 0.1,
    ):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.latent_dim, self.num_classes, self.side = latent_dim, num_classes, side
        n_img = side * side
        self.offset = nn.Parameter(
            0.5 + spread * (torch.rand(num_classes, n_img, generator=g, dtype=dtype) - 0.5)
        )
        self.weight = nn.Parameter(scale * torch.randn(n_img, latent_dim, generator=g, dtype=dtype))

    def decode(self, z: Tensor, y: Tensor) -> Tensor:
        return (self.offset[y] + z @ self.weight.T).view(-1, 1, self.side, self.side)

    def encode(self, x: Tensor, y: Tensor, generator=None) -> Tensor:
        # least-squares inverse of the affine decoder (exact for images it generated)
        r = x.flatten(1) - self.offset[y]
        return torch.linalg.lstsq(self.weight, r.T).solution.T


class LinearClassifier(nn.Module):
    def __init__(
        self,
        n_in: int,
        num_classes: int,
        seed: int = 1,
        weight: Tensor | None = None,
        bias: Tensor | None = None,
        dtype: torch.dtype = torch.float64,
    ):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        w = weight if weight is not None else torch.randn(num_classes, n_in, generator=g, dtype=dtype)
        b = bias if bias is not None else torch.zeros(num_classes, dtype=dtype)
        self.weight, self.bias = nn.Parameter(w.clone()), nn.Parameter(b.clone())

    def forward(self, x: Tensor) -> Tensor:
        return x.flatten(1) @ self.weight.T + self.bias


def scaled(v: Tensor) -> float:
    return float(v.norm() / math.sqrt(v.numel()))


def nearest_offset_classifier(gen: LinearGenerator) -> LinearClassifier:
    """The linear classifier that picks the class whose offset ``a_c`` is nearest to the image
    (logits ``a_c·x − ‖a_c‖²/2``): perfect on the generator's images when offsets are far apart."""
    a = gen.offset.detach()
    return LinearClassifier(a.shape[1], a.shape[0], weight=a, bias=-(a * a).sum(1) / 2, dtype=a.dtype)


def linear_boundary_case(n: int = 16, samples: int = 16) -> tuple[nn.Module, Tensor, Tensor, Tensor]:
    """Two classes with logits ``(0, w·x)``: ``(model, x, y, distance)``, where ``distance`` is each
    sample's analytic scaled-L2 distance to the decision boundary, ``|w·x| / ‖w‖ / √n``."""
    w = torch.zeros(2, n, dtype=torch.float64)
    w[1] = torch.randn(n, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    model = LinearClassifier(n, 2, weight=w).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    x = torch.randn(samples, n, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    y = model(x).argmax(1)
    return model, x, y, (x @ w[1]).abs() / w[1].norm() / math.sqrt(n)
