"""A distributed sampler for evaluation that counts every sample exactly once.

Why not ``torch.utils.data.DistributedSampler``: it pads the index list by repeating samples
so every rank gets the same number, and evaluation metrics then count those samples twice
(``landscape.md``, pitfall 5). Ranks may get unequal numbers of samples here; torchmetrics'
DDP sync handles that. Lightning must not replace it (``use_distributed_sampler=False``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sized

import torch.distributed as dist
from torch.utils.data import Sampler


class UnpaddedDistributedSampler(Sampler[int]):
    """Rank ``r`` of ``W`` takes dataset positions ``r, r+W, r+2W, …`` — no padding, no shuffle.

    Args:
        dataset: anything with ``len()``.
        num_replicas: world size ``W``; default: from the initialised process group.
        rank: this process's rank; default: from the initialised process group.
    """

    def __init__(self, dataset: Sized, num_replicas: int | None = None, rank: int | None = None):
        if num_replicas is None or rank is None:
            if not (dist.is_available() and dist.is_initialized()):
                raise RuntimeError(
                    "UnpaddedDistributedSampler needs num_replicas and rank, or an initialised "
                    "torch.distributed process group"
                )
            num_replicas = dist.get_world_size() if num_replicas is None else num_replicas
            rank = dist.get_rank() if rank is None else rank
        if num_replicas < 1 or not 0 <= rank < num_replicas:
            raise ValueError(f"invalid rank {rank} for num_replicas={num_replicas}")
        self.dataset = dataset
        self.num_replicas = num_replicas
        self.rank = rank

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, len(self.dataset), self.num_replicas))

    def __len__(self) -> int:
        return len(range(self.rank, len(self.dataset), self.num_replicas))

    def set_epoch(self, epoch: int) -> None:
        """No-op (evaluation order is fixed); present because Lightning calls it."""
