"""Training images in place of test images, matched by class and rank (Paper A's reconstruction split).

Why: Paper A's reconstruction metrics (LRA, LARA, LARS) encode *training* images of each
class, while a robustlens evaluation iterates over the test split. A reconstruction probe
given a :class:`SameRankTrainingImages` encodes, for each test sample, the training image of
the **same class and the same rank within its class** (the k-th test image of digit c → the
k-th training image of digit c, in dataset order). With ``test_subset=N`` (class-stratified
first N, :func:`~robustlens.data.subsets.stratified_first_n`) the images encoded are then
exactly the class-stratified first N of the training split, with the same class counts, so
per-class tables keep their meaning and the choice depends on the data only (no seed).
"""

from __future__ import annotations

import torch
from torch import Tensor

from robustlens.data.base import ImageDataModule


def rank_within_class(labels: Tensor) -> Tensor:
    """``rank[p]`` = how many earlier positions of ``labels`` hold the same class as ``p``."""
    labels = labels.long()
    rank = torch.empty_like(labels)
    for c in torch.unique(labels).tolist():
        positions = (labels == c).nonzero().squeeze(1)
        rank[positions] = torch.arange(len(positions))
    return rank


class SameRankTrainingImages:
    """Maps test samples ``(y, index)`` to the training images of the same class and rank.

    Args:
        data: the evaluation's datamodule (config: ``${data}``); its full train and test
            splits are read once, on first use (the train/val split and subsets play no part:
            ranks are over the whole splits, as ``test_subset`` selects from the whole test split).
    """

    def __init__(self, data: ImageDataModule):
        self.data = data
        self._train_images: Tensor | None = None
        self._train_by_class: dict[int, Tensor] = {}
        self._test_rank: Tensor | None = None

    def _load(self) -> None:
        if self._train_images is not None:
            return
        train_images, train_labels = self.data.load_split(train=True)
        _, test_labels = self.data.load_split(train=False)
        self._train_images = train_images
        self._train_by_class = {
            int(c): (train_labels == c).nonzero().squeeze(1) for c in torch.unique(train_labels).tolist()
        }
        self._test_rank = rank_within_class(test_labels)

    def positions(self, y: Tensor, index: Tensor) -> Tensor:
        """Training-split positions of the partners of test samples ``index`` (labels ``y``)."""
        self._load()
        assert self._test_rank is not None
        rank = self._test_rank[index.cpu().long()]
        out = torch.empty_like(rank)
        for c in torch.unique(y).tolist():
            rows = (y.cpu() == c).nonzero().squeeze(1)
            candidates = self._train_by_class.get(int(c), torch.empty(0, dtype=torch.long))
            if int(rank[rows].max()) >= len(candidates):
                raise ValueError(
                    f"{self.data.name}: test sample of class {c} has rank {int(rank[rows].max())} within its "
                    f"class but the training split has only {len(candidates)} images of that class; "
                    "use a smaller data.test_subset"
                )
            out[rows] = candidates[rank[rows]]
        return out

    def __call__(self, y: Tensor, index: Tensor) -> Tensor:
        """The partner training images, float in [0,1], on ``y``'s device (``[B, C, H, W]``)."""
        pos = self.positions(y, index)
        assert self._train_images is not None
        x = self._train_images[pos]
        x = x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()
        return x.to(y.device)

    def describe(self) -> dict[str, str]:
        return {"images": f"{self.data.name} training split, same class and rank as the test sample"}
