"""Each sample counts once: the one de-duplication rule of every per-sample metric.

Evaluation feeds every sample exactly once (the datamodule's unpadded sampler under DDP).
A padding ``DistributedSampler`` would repeat samples to even out the ranks; count-state
metrics would then count them twice, so a repeat is a bug upstream, not a normal case:
per-sample metrics keep the first occurrence *and warn*, the evaluation module refuses
the per-sample table outright (``docs/metrics.md``, "Each sample counts once").
"""

from __future__ import annotations

import warnings

import torch
from torch import Tensor


class DuplicateSamplesWarning(UserWarning):
    """A metric saw the same sample index more than once (only its first value counts)."""


def first_occurrence(index: Tensor, owner: str | None = None) -> Tensor:
    """Positions of the first occurrence of every distinct ``index``, in increasing index order.

    Sorting by sample index makes the kept set independent of batch order and of how DDP split
    the data, so one process and two give the same values. When ``owner`` is given (the
    metric's name) and some index repeats, a :class:`DuplicateSamplesWarning` says how many.
    """
    index = index.reshape(-1)
    if index.numel() == 0:
        return torch.zeros(0, dtype=torch.long, device=index.device)
    order = torch.sort(index, stable=True).indices
    sorted_index = index[order]
    first = torch.ones_like(sorted_index, dtype=torch.bool)
    first[1:] = sorted_index[1:] != sorted_index[:-1]
    repeats = int((~first).sum())
    if repeats and owner is not None:
        warnings.warn(
            f"{owner}: {repeats} samples were evaluated twice (a padding distributed sampler?); "
            "only their first value counts. Evaluate with the datamodule's unpadded sampler "
            "(use_distributed_sampler=False).",
            DuplicateSamplesWarning,
            stacklevel=2,
        )
    return order[first]
