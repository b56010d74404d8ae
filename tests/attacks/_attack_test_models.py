"""Small models with known properties for the attack tests (not a test module itself).

* :func:`linear_classifier`: ``f(x) = Wx + b``, whose distance to every decision boundary is
  known in closed form, so "finds an adversarial example where one provably exists" and
  "finds the minimal norm" can be checked exactly;
* :func:`trained_digits_mlp`: an MLP trained for a second on scikit-learn's bundled 8×8
  digits (no download), for agreement checks with reference implementations on a *trained*
  model.
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor, nn


def linear_classifier(dim: int, classes: int, seed: int = 0, dtype=torch.float32) -> nn.Module:
    gen = torch.Generator().manual_seed(seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(dim, classes))
    with torch.no_grad():
        model[1].weight.copy_(torch.randn(classes, dim, generator=gen))
        model[1].bias.copy_(0.1 * torch.randn(classes, generator=gen))
    return model.to(dtype).eval()


def interior_points(n: int, dim: int, seed: int = 1, spread: float = 0.05, dtype=torch.float32) -> Tensor:
    """Points near the centre of [0,1]^dim, so small perturbations never hit the box."""
    gen = torch.Generator().manual_seed(seed)
    return (0.5 + spread * torch.randn(n, dim, generator=gen)).clamp(0.3, 0.7).to(dtype)


@functools.lru_cache(maxsize=1)
def digits_data() -> tuple[Tensor, Tensor]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.tensor(digits.target, dtype=torch.long)
    return x, y


@functools.lru_cache(maxsize=1)
def trained_digits_mlp() -> nn.Module:
    """~90 % accuracy on the 297 held-out digits after ~1 s of full-batch Adam."""
    x, y = digits_data()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    opt = torch.optim.Adam(model.parameters(), lr=2e-2)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matmuls: threads only add contention on a loaded machine
    try:
        for _ in range(100):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[:1500]), y[:1500]).backward()
            opt.step()
    finally:
        torch.set_num_threads(threads)
    opt.zero_grad(set_to_none=True)
    return model.eval()
