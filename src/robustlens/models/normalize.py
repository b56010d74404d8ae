"""Per-channel input normalisation that lives *inside* a model.

Why inside the model: robustlens datasets yield [0,1] images and every attack works in that
range. If normalisation sat in the data transforms, an ε of
8/255 would silently mean something else for every dataset. Putting it in the network makes
``model(x01)`` the one interface every attack, metric and generator talks to.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn


def _as_channel_tensor(value: float | Sequence[float], name: str) -> Tensor:
    if not isinstance(value, (int, float, Tensor)):
        value = [float(v) for v in value]  # lists, tuples, OmegaConf ListConfig from Hydra
    t = torch.as_tensor(value, dtype=torch.float32).flatten()
    if t.numel() == 0:
        raise ValueError(f"Normalize: {name} must be a number or a non-empty list of numbers per channel")
    return t.view(1, -1, 1, 1)


class Normalize(nn.Module):
    """``(x - mean) / std`` per channel, for ``[B, C, H, W]`` inputs.

    Args:
        mean: one value, or one per channel.
        std: one value, or one per channel; all must be > 0.
        persistent: whether ``mean``/``std`` are saved in the state dict. Default ``False``:
            the values come from the constructor (hence from the config that checkpoints
            carry), and keeping them out of the state dict leaves a network's key layout
            identical to its upstream definition, so published weights (RobustBench, Paper A)
            load with ``strict=True``.
    """

    def __init__(self, mean: float | Sequence[float], std: float | Sequence[float], persistent: bool = False):
        super().__init__()
        mean_t = _as_channel_tensor(mean, "mean")
        std_t = _as_channel_tensor(std, "std")
        if (std_t <= 0).any():
            raise ValueError(f"Normalize: std must be > 0 for every channel, got {std_t.flatten().tolist()}")
        if mean_t.numel() != std_t.numel() and 1 not in (mean_t.numel(), std_t.numel()):
            raise ValueError(
                f"Normalize: mean has {mean_t.numel()} channels but std has {std_t.numel()}; "
                "give one value per channel for both (or a single value)"
            )
        self.register_buffer("mean", mean_t, persistent=persistent)
        self.register_buffer("std", std_t, persistent=persistent)

    def forward(self, x: Tensor) -> Tensor:
        channels = max(self.mean.shape[1], self.std.shape[1])
        if x.ndim != 4 or (channels != 1 and x.shape[1] != channels):
            raise ValueError(
                f"Normalize expects [B, {channels}, H, W] inputs, got shape {tuple(x.shape)}; "
                "check the model's in_channels/mean/std against the dataset"
            )
        return (x - self.mean) / self.std

    def extra_repr(self) -> str:
        return f"mean={self.mean.flatten().tolist()}, std={self.std.flatten().tolist()}"
