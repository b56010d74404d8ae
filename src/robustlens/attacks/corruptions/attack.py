"""Common corruptions as a :class:`~robustlens.attacks.base.Perturbation` (a non-adaptive probe)."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor, nn

from robustlens.attacks.base import Perturbation
from robustlens.attacks.corruptions.functional import Severity, check_corruption, corrupt
from robustlens.utils.seeding import SampleRandom, sample_keys


class Corruption(Perturbation):
    """One CIFAR-10-C corruption at one severity, applied to every sample.

    Paper: Hendrycks & Dietterich, *Benchmarking Neural Network Robustness to Common
    Corruptions and Perturbations*, ICLR 2019 (their generation code, re-written in torch).

    Threat model: not an attack. A fixed, model-independent corruption.

    Success: a fresh forward pass on the corrupted image predicts a class other than ``y``.

    Not adaptive: the model is never queried (``iterations`` = 0); the base class's forward
    pass then tells which samples the corruption flipped. Randomness is per sample, keyed by
    the dataset ``index`` (and ``seed``), so results do not depend on batching or DDP.

    Args:
        name: one of ``CORRUPTIONS`` or ``EXTRA_CORRUPTIONS``.
        severity: 1 (mild) .. 5 (strong).
        seed: global seed of the random draws.
    """

    #: ``name`` is the corruption; ``self.name`` is the result-key name ``<corruption>_<severity>``
    parameter_attributes: ClassVar[dict[str, str]] = {"name": "corruption"}

    def __init__(self, name: str, severity: Severity = 1, seed: int = 0):
        check_corruption(name, severity)
        super().__init__(norm="none")
        self.corruption = name
        self.severity = severity
        self.seed = seed
        self.name = f"{name}_{severity}"

    def _perturb(
        self, model: nn.Module, x: Tensor, y: Tensor, target: Tensor | None, index: Tensor | None
    ) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        rnd = SampleRandom(sample_keys(index, x.shape[0]), self.seed, self.corruption, x.device)
        x_c = corrupt(x, self.corruption, self.severity, rnd)
        return x_c, torch.zeros(x.shape[0], dtype=torch.long, device=x.device), {}

    def apply(self, x: Tensor, index: Tensor | None = None) -> Tensor:
        """The corrupted images alone (no model), e.g. to build a corrupted dataset."""
        rnd = SampleRandom(sample_keys(index, x.shape[0]), self.seed, self.corruption, x.device)
        return corrupt(x, self.corruption, self.severity, rnd)
