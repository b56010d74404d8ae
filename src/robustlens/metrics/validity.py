"""Share of a probe's returned images that leave the valid input range.

Why: an authors' procedure run faithfully (Paper A's unclipped searches and noise) returns
images outside [0,1]; its numbers are then about inputs no camera produces, and the results
must say how often (``docs/attacks.md``, "Faithful and valid-image mode").
"""

from __future__ import annotations

import torch
from torch import Tensor

from robustlens.metrics.base import ProbeMetric, ProbeOutput


class OutOfRangeFraction(ProbeMetric):
    """``out_of_range_fraction`` = (samples whose returned image leaves the range) / samples.

    Reads ``values["out_of_range"]`` (bool per sample, set by the attack probe). Counted in
    integers over distinct sample indices (a padded DDP batch repeats samples), divided in
    float64; NaN with no samples.
    """

    full_state_update = False

    @property
    def emits(self) -> tuple[str, ...]:
        """The one key it returns (checked against the probe's other metrics)."""
        return ("out_of_range_fraction",)

    def __init__(self) -> None:
        super().__init__()
        self.add_state("index", default=[], dist_reduce_fx="cat")
        self.add_state("flags", default=[], dist_reduce_fx="cat")

    def update(self, output: ProbeOutput) -> None:
        if "out_of_range" not in output.values:
            raise ValueError(
                "OutOfRangeFraction needs values['out_of_range']: use it with an attack probe whose "
                "attack has an authors' mode (see docs/attacks.md)"
            )
        self.index.append(output.index.detach().long())
        self.flags.append(output.values["out_of_range"].detach().long())  # gloo cannot gather bool

    def compute(self) -> dict[str, Tensor]:
        index, flags = _joined(self.index), _joined(self.flags)
        if index.numel() == 0:
            return {"out_of_range_fraction": torch.tensor(float("nan"), dtype=torch.float64)}
        # one flag per distinct sample: a repeated index carries the same image and flag
        unique, inverse = torch.unique(index, return_inverse=True)
        per_sample = torch.zeros(unique.numel(), dtype=torch.long).scatter_reduce(
            0, inverse.cpu(), flags.long().cpu(), reduce="amax"
        )
        count = int(per_sample.sum())
        return {"out_of_range_fraction": torch.tensor(count / unique.numel(), dtype=torch.float64)}


def _joined(state: Tensor | list[Tensor]) -> Tensor:
    """A list state (before DDP sync) or its concatenation (after)."""
    if isinstance(state, Tensor):
        return state
    return torch.cat(state) if state else torch.empty(0)
