"""One interface for every generative model robustlens measures robustness with.

Paper A (docs/generators.md) uses one generator per class; a class-conditional generator
is the same thing behind this interface. Every generator decodes to [0,1] images (the
project's convention); models with another output range are wrapped.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from robustlens.attacks.geometry import row_norm
from robustlens.models.generators.checks import class_rows


class Generator(nn.Module, abc.ABC):
    """A class-conditional generator ``G(l, y)`` with prior ``l ~ N(0, I_n)``.

    Attributes:
        latent_dim: n, the size of a latent code.
        num_classes: number of classes it can generate.
        has_encoder: whether :meth:`encode` is an amortised encoder (else gradient inversion).
    """

    latent_dim: int
    num_classes: int
    has_encoder: bool = False

    #: Paper A, A.5: inversion by gradient search
    inversion_restarts: int = 4
    inversion_steps: int = 40
    inversion_lr: float = 0.1

    @abc.abstractmethod
    def decode(self, z: Tensor, y: Tensor) -> Tensor:
        """Images in [0,1] for codes ``z`` [B, n] and classes ``y`` [B]."""

    def sample_latent(self, n: int, generator: torch.Generator | None = None, device=None) -> Tensor:
        return torch.randn(n, self.latent_dim, generator=generator, device=device)

    def sample(self, n: int, y: Tensor, generator: torch.Generator | None = None) -> Tensor:
        z = self.sample_latent(n, generator=generator, device=y.device)
        return self.decode(z, y)

    def encode(self, x: Tensor, y: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Latent codes for images ``x`` of classes ``y``.

        Default: batched gradient inversion (Paper A, A.5): ``inversion_restarts`` starts
        from the prior, ``inversion_steps`` Adam steps (lr ``inversion_lr``) on the
        per-sample MSE, the restart with the lowest final loss kept per sample.
        """
        return invert_by_gradient_search(
            self, x, y,
            restarts=self.inversion_restarts, steps=self.inversion_steps, lr=self.inversion_lr,
            generator=generator,
        )


def invert_by_gradient_search(
    gen: Generator, x: Tensor, y: Tensor, *, restarts: int = 4, steps: int = 40, lr: float = 0.1,
    generator: torch.Generator | None = None, init: Tensor | None = None,
) -> Tensor:
    """Batched A.5 inversion. ``init`` [restarts, B, n] overrides the random starts (tests).

    Why batched over restarts too: the per-sample losses are independent, so one Adam
    over a [restarts·B, n] parameter is exactly R·B independent Adam runs (Adam is
    element-wise), at the cost of one forward/backward per step.
    """
    b = x.shape[0]
    if init is None:
        init = torch.randn(restarts, b, gen.latent_dim, generator=generator).to(x.device)
    z = init.reshape(restarts * b, gen.latent_dim).clone().requires_grad_(True)
    xr = x.repeat(restarts, *([1] * (x.ndim - 1)))
    yr = y.repeat(restarts)
    opt = torch.optim.Adam([z], lr=lr)
    params = [(p, p.requires_grad) for p in gen.parameters()]
    for p, _ in params:
        p.requires_grad_(False)
    try:
        with torch.enable_grad():
            for _ in range(steps):
                opt.zero_grad(set_to_none=True)
                per_sample = (gen.decode(z, yr) - xr).pow(2).flatten(1).mean(dim=1)
                # sum: each code's gradient is that of its own MSE (no coupling through the mean)
                per_sample.sum().backward()
                opt.step()
            with torch.no_grad():
                final = (gen.decode(z, yr) - xr).pow(2).flatten(1).mean(dim=1)
    finally:
        for p, flag in params:
            p.requires_grad_(flag)
    best = final.view(restarts, b).argmin(dim=0)
    return z.detach().view(restarts, b, -1)[best, torch.arange(b, device=x.device)]


def scaled_l2(v: Tensor) -> Tensor:
    """``‖v‖₂ / √n`` per row (Paper A's scaled norm: a prior sample has norm ≈ 1)."""
    return row_norm(v, "scaled_l2")


def decay_factor(eps: float) -> float:
    """``1/√(1+ε²)``: the decayed code is ``l_d = l·decay_factor(ε)`` (Paper A, A.1)."""
    return 1.0 / math.sqrt(1.0 + eps * eps)


class PerClassGenerator(Generator):
    """A collection of unconditional per-class generators behind the class-conditional interface.

    ``decode`` groups the batch by class and runs each class's generator once.
    """

    def __init__(self, generators: list[nn.Module], latent_dim: int):
        super().__init__()
        self.generators = nn.ModuleList(generators)
        self.latent_dim = latent_dim
        self.num_classes = len(generators)

    def decode(self, z: Tensor, y: Tensor) -> Tensor:
        return decode_per_class(z, y, lambda c, codes: self.generators[c](codes))


def decode_per_class(z: Tensor, y: Tensor, decode_class: Callable[[int, Tensor], Tensor]) -> Tensor:
    """``decode_class(y_i, z_i)`` for every row, one call per class present (the grouping of ``y``
    is read on the host once per label tensor: ``checks.class_rows``)."""
    out: Tensor | None = None
    for c, rows in class_rows(y):
        images = decode_class(c, z.index_select(0, rows))
        if out is None:
            out = images.new_empty((z.shape[0], *images.shape[1:]))
        out.index_copy_(0, rows, images)
    assert out is not None, "decode called with an empty batch"
    return out
