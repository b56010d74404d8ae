"""Per-sample random draws for perturbations that need several draws of different shapes.

Why: a corruption needs many random numbers per image (noise fields, angles, crops). Each
draw is made from a generator seeded by ``(seed, sample key, corruption name, draw tag)``
(:func:`robustlens.utils.seeding.sample_seed`), so an image gets the same corruption
whatever batch or process it lands in, and two draws of one image are independent.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from robustlens.utils.seeding import sample_seed, stream_id


def sample_keys(index: Tensor | None, batch_size: int) -> Tensor:
    """The per-sample keys: the dataset indices when given, else fresh keys from the global RNG.

    Without indices the keys come from ``torch``'s global generator (the contract of
    :class:`~robustlens.attacks.base.Attack`): reproducible under ``torch.manual_seed``,
    and different for successive batches.
    """
    if index is not None:
        if index.shape != (batch_size,):
            raise ValueError(f"index must have shape ({batch_size},), got {tuple(index.shape)}")
        return index.detach().to("cpu", torch.long)
    return torch.randint(0, 2**62, (batch_size,), dtype=torch.long)


class SampleRandom:
    """Random numbers for a batch, each row a function of (seed, that sample's key, name, tag) only."""

    def __init__(self, keys: Tensor, seed: int, name: str, device: torch.device | str = "cpu"):
        self.keys = [int(k) for k in keys.tolist()]
        self.seed = int(seed)
        self.name = name
        self.device = device

    def __len__(self) -> int:
        return len(self.keys)

    def generators(self, tag: str) -> list[torch.Generator]:
        """One CPU generator per sample for the draw called ``tag``."""
        stream = stream_id(f"{self.name}:{tag}")
        gens = []
        for key in self.keys:
            g = torch.Generator()
            g.manual_seed(sample_seed(self.seed, key, stream))
            gens.append(g)
        return gens

    def _draw(self, tag: str, fn: Callable[[torch.Generator], Tensor]) -> Tensor:
        rows = [fn(g) for g in self.generators(tag)]
        return torch.stack(rows).to(self.device)

    def rand(self, tag: str, shape: tuple[int, ...]) -> Tensor:
        """Uniform [0,1) of shape ``[B, *shape]``."""
        return self._draw(tag, lambda g: torch.rand(shape, generator=g))

    def uniform(self, tag: str, shape: tuple[int, ...], low: float, high: float) -> Tensor:
        return low + (high - low) * self.rand(tag, shape)

    def randn(self, tag: str, shape: tuple[int, ...]) -> Tensor:
        """Standard normal of shape ``[B, *shape]``."""
        return self._draw(tag, lambda g: torch.randn(shape, generator=g))

    def randint(self, tag: str, shape: tuple[int, ...], low: int, high: int) -> Tensor:
        """Integers in ``[low, high)`` (NumPy's convention, which the reference code relies on)."""
        return self._draw(tag, lambda g: torch.randint(low, high, shape, generator=g))

    def poisson(self, tag: str, rates: Tensor) -> Tensor:
        """Poisson counts with per-element ``rates`` (``[B, ...]``)."""
        gens = self.generators(tag)
        rates_cpu = rates.detach().to("cpu", torch.float64)
        rows = [torch.poisson(rates_cpu[i], generator=g) for i, g in enumerate(gens)]
        return torch.stack(rows).to(device=rates.device, dtype=rates.dtype)
