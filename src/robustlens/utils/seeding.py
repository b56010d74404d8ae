"""Per-sample randomness that does not depend on batching or on the number of processes.

Why: a metric computed on 1 process must equal the one computed on 2 DDP processes, and a
resumed evaluation must redo exactly the same draws. Seeding a generator per batch ties
the random numbers to the batch composition; seeding per *sample index* does not.

One API, two forms of it. Every draw of row ``i`` comes from a generator seeded with
``sample_seed(seed, key_i, stream)``:

* :func:`per_sample_rand` / :func:`per_sample_randn`: one draw per sample with a numeric
  stream (random starts, latent codes, targets);
* :class:`SampleRandom`: many named draws of different shapes per sample (a corruption's
  noise field, angles and crops), the stream derived from ``"<name>:<tag>"``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

_MIX = 0x9E3779B97F4A7C15  # golden-ratio constant: spreads consecutive indices apart


def sample_seed(seed: int, index: int, stream: int = 0) -> int:
    """A 63-bit seed for (global seed, sample index, named stream)."""
    return (seed * 1_000_003 + index * _MIX + stream * 7919) & 0x7FFF_FFFF_FFFF_FFFF


def stream_id(name: str) -> int:
    """A stable small integer for a stream name (so each probe draws its own numbers)."""
    return sum((i + 1) * ord(c) for i, c in enumerate(name)) % 1_000_003


def per_sample_randn(
    index: Tensor, shape: tuple[int, ...], seed: int, stream: int = 0, *, device=None, dtype=None
) -> Tensor:
    """``len(index)`` standard-normal tensors of ``shape``, each a function of its sample index only."""
    return _per_sample(torch.randn, index, shape, seed, stream, device, dtype)


def per_sample_rand(
    index: Tensor, shape: tuple[int, ...], seed: int, stream: int = 0, *, device=None, dtype=None
) -> Tensor:
    """Uniform [0,1) counterpart of :func:`per_sample_randn`."""
    return _per_sample(torch.rand, index, shape, seed, stream, device, dtype)


def _per_sample(fn, index: Tensor, shape, seed, stream, device, dtype) -> Tensor:
    device = device if device is not None else index.device
    dtype = dtype or torch.get_default_dtype()
    rows = _rows(index.tolist(), seed, stream, lambda gen, _: fn(shape, generator=gen, dtype=dtype))
    if not rows:
        return torch.empty((0, *shape), dtype=dtype, device=device)
    return torch.stack(rows).to(device)


def _rows(
    keys: list[int], seed: int, stream: int, draw: Callable[[torch.Generator, int], Tensor]
) -> list[Tensor]:
    """``draw(generator, row)`` once per key, each generator seeded by (seed, key, stream) only."""
    gen = torch.Generator()
    rows = []
    for row, key in enumerate(keys):
        gen.manual_seed(sample_seed(seed, int(key), stream))
        rows.append(draw(gen, row))
    return rows


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
    """Named random draws for a batch, row ``i`` a function of (seed, key ``i``, name, tag) only."""

    def __init__(self, keys: Tensor, seed: int, name: str, device: torch.device | str = "cpu"):
        self.keys = [int(k) for k in keys.tolist()]
        self.seed = int(seed)
        self.name = name
        self.device = device

    def __len__(self) -> int:
        return len(self.keys)

    def _draw(self, tag: str, fn: Callable[[torch.Generator, int], Tensor]) -> Tensor:
        rows = _rows(self.keys, self.seed, stream_id(f"{self.name}:{tag}"), fn)
        return torch.stack(rows).to(self.device)

    def rand(self, tag: str, shape: tuple[int, ...]) -> Tensor:
        """Uniform [0,1) of shape ``[B, *shape]``."""
        return self._draw(tag, lambda g, _: torch.rand(shape, generator=g))

    def uniform(self, tag: str, shape: tuple[int, ...], low: float, high: float) -> Tensor:
        return low + (high - low) * self.rand(tag, shape)

    def randn(self, tag: str, shape: tuple[int, ...]) -> Tensor:
        """Standard normal of shape ``[B, *shape]``."""
        return self._draw(tag, lambda g, _: torch.randn(shape, generator=g))

    def randint(self, tag: str, shape: tuple[int, ...], low: int, high: int) -> Tensor:
        """Integers in ``[low, high)`` (NumPy's convention, which the reference code relies on)."""
        return self._draw(tag, lambda g, _: torch.randint(low, high, shape, generator=g))

    def poisson(self, tag: str, rates: Tensor) -> Tensor:
        """Poisson counts with per-element ``rates`` (``[B, ...]``)."""
        rates_cpu = rates.detach().to("cpu", torch.float64)
        counts = self._draw(tag, lambda g, row: torch.poisson(rates_cpu[row], generator=g))
        return counts.to(device=rates.device, dtype=rates.dtype)
