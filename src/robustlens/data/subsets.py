"""Deterministic index selections: the train/val split and class-stratified subsets."""

from __future__ import annotations

import torch
from torch import Tensor


def stratified_first_n(labels: Tensor, n: int, num_classes: int | None = None) -> Tensor:
    """Positions of the first ``n`` samples, taken class by class in turn, in dataset order.

    Round-robin over classes (class 0's first sample, class 1's first, …, then each class's
    second, …) until ``n`` are chosen, so classes get ``n // K`` or ``n // K + 1`` samples
    (e.g. 600 of MNIST's test set → 60 per digit), a class with too few samples gives its
    share to the others, and the result depends only on the data, never on a seed.

    Why first-N rather than random: the same ``test_subset`` then selects the same images
    on every machine, for every seed and in every paper-reproduction table.
    """
    if n < 0:
        raise ValueError(f"subset size must be >= 0, got {n}")
    if n > len(labels):
        raise ValueError(f"subset size {n} exceeds the {len(labels)} available samples; lower it or use null")
    k = num_classes if num_classes is not None else int(labels.max().item()) + 1 if len(labels) else 0
    per_class = [torch.nonzero(labels == c).flatten() for c in range(k)]
    chosen: list[int] = []
    rank = 0
    while len(chosen) < n:
        for positions in per_class:
            if rank < len(positions) and len(chosen) < n:
                chosen.append(int(positions[rank]))
        rank += 1
    return torch.tensor(sorted(chosen), dtype=torch.long)


def train_val_split(n: int, val_fraction: float, seed: int) -> tuple[Tensor, Tensor]:
    """Sorted ``(train, val)`` positions of ``range(n)``: a random ``val_fraction`` from ``seed``.

    The permutation comes from a private ``torch.Generator``, so the split is a function of
    ``(n, val_fraction, seed)`` only, not of the global RNG state.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    gen = torch.Generator().manual_seed(seed)
    perm = torch.randperm(n, generator=gen)
    n_val = round(n * val_fraction)
    return perm[n_val:].sort().values, perm[:n_val].sort().values
