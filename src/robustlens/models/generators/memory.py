"""Memory budgets for latent probes: how many samples fit in one chunk.

Why: at 128×128 through a deep generator, one sample's autograd graph (generator + classifier
activations kept for the backward pass) is megabytes; a latent search over 600 samples at
once needs gigabytes. The probes therefore split a batch into chunks whose graphs fit a
budget (``evaluation.memory_budget_mb``) and run one chunk at a time.

The per-sample cost is *measured*, not guessed: one sample is decoded and classified with
gradients on, and every tensor autograd saves for the backward pass is counted (parameters
excluded: they exist once, whatever the chunk size), plus the image and the logits. This is
the memory that grows with the chunk; it is the same on CPU and GPU.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

#: peak memory per sample over the saved activations: the backward pass allocates activation
#: gradients and keeps autograd buffers besides them (measured 2.65× on a 10-layer conv stack at
#: 128×128 by tests/generators/_memory_run.py; 3 leaves a margin)
BACKWARD_FACTOR = 3.0


def graph_bytes(fn: Callable[[], Tensor], exclude: list[Tensor] | None = None) -> int:
    """Bytes of the tensors autograd saves while running ``fn`` (distinct storages, ``exclude`` left out), plus its output."""
    skip = {t.untyped_storage().data_ptr() for t in (exclude or [])}
    seen: dict[int, int] = {}

    def pack(t: Tensor) -> Tensor:
        storage = t.untyped_storage()
        ptr = storage.data_ptr()
        if ptr not in skip:
            seen[ptr] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    return sum(seen.values()) + out.numel() * out.element_size()


def per_sample_graph_bytes(generator: nn.Module, classifier: nn.Module, y: Tensor, dtype=None) -> int:
    """Bytes one sample's ``classifier(generator.decode(z, y))`` graph keeps (z with gradient)."""
    params = list(generator.parameters()) + list(classifier.parameters())
    device = y.device
    dtype = dtype or next((p.dtype for p in params if p.is_floating_point()), torch.float32)
    z = torch.zeros(1, int(generator.latent_dim), device=device, dtype=dtype, requires_grad=True)
    label = y[:1]

    def forward() -> Tensor:
        images = generator.decode(z, label)
        return torch.cat([images.flatten(1), classifier(images).flatten(1)], dim=1)

    with torch.enable_grad():
        return graph_bytes(forward, exclude=params)


def chunk_size(budget_mb: float | None, per_sample_bytes: int, copies: float = 1.0, total: int | None = None) -> int:
    """Samples per chunk so that ``copies`` graphs per sample (restarts, draws) plus their backward fit the budget.

    ``None`` budget: the whole batch (``total``). At least 1: a budget below one sample's graph
    cannot be met by chunking (the caller reports it).
    """
    if budget_mb is None:
        return total if total is not None else 2**62
    need = max(1.0, per_sample_bytes * copies * BACKWARD_FACTOR)
    size = max(1, math.floor(budget_mb * 2**20 / need))
    return min(size, total) if total is not None else size
