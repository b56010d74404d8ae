"""Choosing the target classes of targeted attacks.

Three ways, matching :class:`~robustlens.evaluation.attack_probe.AttackProbe`'s ``target_mode``:
one given class (or a given class per sample), a random class ≠ y per sample (seeded by the
sample index, so a DDP run draws the same targets as a single process), or every class in turn.
"""

from __future__ import annotations

import torch
from torch import Tensor

from robustlens.attacks.base import AttackInputError
from robustlens.utils.seeding import per_sample_rand, stream_id


def given_target(y: Tensor, target: int | Tensor, num_classes: int) -> Tensor:
    """Broadcast a class (or validate a per-sample tensor of classes) to a target per sample."""
    t = torch.as_tensor(target, device=y.device, dtype=torch.long)
    if t.ndim == 0:
        t = t.expand_as(y).clone()
    if t.shape != y.shape:
        raise AttackInputError(f"target must be a class or one class per sample, got shape {tuple(t.shape)}")
    if t.numel() and (t.min() < 0 or t.max() >= num_classes):
        raise AttackInputError(f"target classes must lie in [0, {num_classes - 1}]")
    return t


def random_target(
    y: Tensor, num_classes: int, *, index: Tensor | None = None, seed: int = 0, stream: str = "target"
) -> Tensor:
    """A uniformly random class ≠ ``y`` per sample.

    Drawn as ``(y + 1 + ⌊u·(K−1)⌋) mod K`` with ``u ~ U[0,1)``, which is uniform over the
    K−1 other classes and never equals ``y``. With ``index`` the draw depends only on
    (seed, sample index); without it, on the global RNG.
    """
    if num_classes < 2:
        raise AttackInputError("a targeted attack needs at least 2 classes")
    if index is not None:
        u = per_sample_rand(index, (), seed, stream_id(stream), device=y.device, dtype=torch.float64)
    else:
        u = torch.rand(y.shape, device=y.device, dtype=torch.float64)
    offset = (u * (num_classes - 1)).floor().long().clamp_max(num_classes - 2)
    return (y + 1 + offset) % num_classes
