"""Fast gradient sign method (Goodfellow et al. 2015): one L∞ step of size ε.

Kept as its own small class (not ``PGD(steps=1)``) because it has no step size, no random
start and no restarts: its config should not offer knobs that do nothing.
"""

from __future__ import annotations

from typing import Annotated, Literal

import torch
from pydantic import Field
from torch import Tensor, nn

from robustlens.attacks import _steps
from robustlens.attacks.base import BoundedAttack


class FGSM(BoundedAttack):
    """``x + ε·sign(∇ₓ loss)``, clipped to the valid range.

    Paper: Goodfellow, Shlens & Szegedy, *Explaining and Harnessing Adversarial Examples*,
    ICLR 2015.

    Threat model: white-box, L∞ budget ``eps``, one gradient step; untargeted or targeted.

    Success: a fresh forward pass on the returned image predicts a class other than ``y``
    (untargeted) or ``target`` (targeted).

    Args:
        eps: L∞ budget.
        loss: ``'ce'`` or ``'margin'``.
        targeted: step towards ``target`` (descend its loss) instead of away from ``y``.
        bounds: valid input range.
    """

    name = "fgsm"

    def __init__(
        self,
        eps: Annotated[float, Field(ge=0)],
        loss: Literal["ce", "margin"] = "ce",
        targeted: bool = False,
        bounds: tuple[float, float] = (0.0, 1.0),
    ):
        super().__init__(norm="linf", bounds=bounds, targeted=targeted)
        self.eps = float(eps)
        self.loss = loss

    def _perturb(
        self, model: nn.Module, x: Tensor, y: Tensor, target: Tensor | None, index: Tensor | None
    ) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        grad, _ = _steps.input_gradient(model, x, y, target, self.loss)
        delta = _steps.clip_to_bounds(x, self.eps * grad.sign(), self.bounds)
        return x + delta, torch.ones(x.shape[0], dtype=torch.long, device=x.device), {}
