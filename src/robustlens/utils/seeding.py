"""Per-sample randomness that does not depend on batching or on the number of processes.

Why: a metric computed on 1 process must equal the one computed on 2 DDP processes, and a
resumed evaluation must redo exactly the same draws. Seeding a generator per batch ties
the random numbers to the batch composition; seeding per *sample index* does not.
"""

from __future__ import annotations

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
    out = torch.empty((len(index), *shape), dtype=dtype)
    gen = torch.Generator()
    for row, i in enumerate(index.tolist()):
        gen.manual_seed(sample_seed(seed, int(i), stream))
        out[row] = fn(shape, generator=gen, dtype=dtype)
    return out.to(device)
