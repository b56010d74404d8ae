"""Share of a probe's returned images that leave the valid input range.

Why: an authors' procedure run faithfully (Paper A's unclipped searches and noise) returns
images outside [0,1]; its numbers are then about inputs no camera produces, and the results
must say how often (``docs/attacks.md``, "Faithful and valid-image mode").
"""

from __future__ import annotations

import torch
from torch import Tensor

from robustlens.metrics.base import ProbeMetric, ProbeOutput
from robustlens.metrics.intervals import interval_keys, wilson_entries


class OutOfRangeFraction(ProbeMetric):
    """``out_of_range_fraction`` = (samples whose returned image leaves the range) / samples.

    Reads ``values["out_of_range"]`` (bool per sample, set by the attack probe). Counted in
    integers over distinct sample indices (a padded DDP batch repeats samples), divided in
    float64; NaN with no samples. With its Wilson interval (``out_of_range_fraction/ci_low``, ``/ci_high``).
    """

    full_state_update = False

    emits = ("out_of_range_fraction", *interval_keys("out_of_range_fraction"))

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
        return {"out_of_range_fraction": torch.tensor(count / unique.numel(), dtype=torch.float64),
                **wilson_entries("out_of_range_fraction", count, unique.numel(), self.interval_options.level)}


def _joined(state: Tensor | list[Tensor]) -> Tensor:
    """A list state (before DDP sync) or its concatenation (after)."""
    if isinstance(state, Tensor):
        return state
    return torch.cat(state) if state else torch.empty(0)
