"""Input checks shared by the generators: a wrong label would otherwise index silently."""

from __future__ import annotations

from torch import Tensor


def check_codes(z: Tensor, y: Tensor, latent_dim: int, num_classes: int) -> None:
    """Refuse codes [B, n] / labels [B] of the wrong shape, and labels outside ``0..num_classes-1``."""
    if z.ndim != 2 or z.shape[1] != latent_dim:
        raise ValueError(f"latent codes must have shape [batch, {latent_dim}], got {tuple(z.shape)}")
    if y.shape != (z.shape[0],):
        raise ValueError(f"labels must have shape [{z.shape[0]}] (one per code), got {tuple(y.shape)}")
    if y.numel() and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(f"labels must lie in 0..{num_classes - 1}, got {y.min().item()}..{y.max().item()}")
