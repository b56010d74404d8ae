"""A distributed sampler for evaluation that counts every sample exactly once.

Why not plain ``torch.utils.data.DistributedSampler``: it pads the index list by repeating
samples so every rank gets the same number, and evaluation metrics then count those samples
twice (docs/metrics.md, "Each sample counts once"). Ranks may get unequal numbers of samples here;
torchmetrics' DDP sync handles that.

Why it still *subclasses* ``DistributedSampler``: Lightning leaves a loader's sampler alone
only if it is one. Any other custom sampler gets wrapped in ``DistributedSamplerWrapper``
(when ``use_distributed_sampler=True``, the default) or ``UnrepeatedDistributedSamplerWrapper``
(always, in ``predict``), which would shard the already-sharded indices a second time.
"""

from __future__ import annotations

from collections.abc import Iterator, Sized

import torch.distributed as dist
from torch.utils.data import DistributedSampler


class UnpaddedDistributedSampler(DistributedSampler):
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
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=False, drop_last=False)  # type: ignore[arg-type]
        self.num_samples = len(range(rank, len(dataset), num_replicas))
        self.total_size = len(dataset)

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, len(self.dataset), self.num_replicas))

    def __len__(self) -> int:
        return self.num_samples
