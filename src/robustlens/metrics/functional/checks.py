"""Input checks shared by the class-wise metrics: a wrong class count is the commonest
configuration mistake, so it is caught at construction (the ``NumClasses`` bound of the
constructor's signature) and at the first batch (here)."""

from __future__ import annotations

from torch import Tensor


def check_class_tensor(name: str, values: Tensor, num_classes: int) -> Tensor:
    """Return ``values`` as a flat long tensor after checking every entry is a class index."""
    if values.is_floating_point():
        raise ValueError(f"ProbeOutput.{name} must hold integer class indices, got dtype {values.dtype}")
    values = values.reshape(-1).long()
    if values.numel() and (values.min().item() < 0 or values.max().item() >= num_classes):
        raise ValueError(
            f"ProbeOutput.{name} holds class indices in [{values.min().item()}, {values.max().item()}] "
            f"but the metric was built with num_classes={num_classes}; set num_classes to the "
            "dataset's class count (`${data.num_classes}`)"
        )
    return values
