"""The code cache of one batch: the four reconstruction probes (LRA, LLNA, LARA, LARS) encode a batch once.

Why a type of its own: encoding (or A.5's gradient inversion) is the expensive step of a
reconstruction probe, and every reconstruction probe of an evaluation step needs the same codes.
The evaluation makes one cache per batch (:class:`~robustlens.evaluation.probe.ProbeContext`);
a probe asks it for the codes of a batch's dataset indices and image split and gets them only
when both match exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

Split = Literal["test", "train"]


@dataclass(frozen=True)
class CachedCodes:
    """The codes ``codes[i]`` of the samples ``index[i]``, encoded from the ``split`` images."""

    index: Tensor
    split: Split
    codes: Tensor


class LatentCodeCache:
    """The reconstruction codes most recently computed in one evaluation step (one entry)."""

    def __init__(self) -> None:
        self.entry: CachedCodes | None = None

    def get(self, index: Tensor, split: Split) -> Tensor | None:
        """The cached codes of exactly these samples from these images, or ``None``."""
        entry = self.entry
        if entry is None or entry.split != split or not torch.equal(entry.index, index):
            return None
        return entry.codes

    def put(self, index: Tensor, split: Split, codes: Tensor) -> None:
        """Remember ``codes`` for ``index`` (replaces the previous entry)."""
        self.entry = CachedCodes(index.clone(), split, codes)
