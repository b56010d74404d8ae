"""Fast Minimum-Norm attack (Pintor, Roli, Brendel, Biggio, NeurIPS 2021), L∞ and L2.

Why FMN: it finds (close to) the *smallest* adversarial perturbation per sample in a few
hundred gradient steps, so one run gives every sample's minimal norm and hence robust
accuracy at every ε at once (``RobustAccuracyCurve``), as Foolbox does. It measures the same
kind of quantity as Paper A's image-space adversarial severity (``docs/attacks.md``), with
another search.

The algorithm (batched, every sample keeps its own ε):

* loss ``ℓ = max_{k≠y} z_k − z_y`` (untargeted) or ``z_t − max_{k≠t} z_k`` (targeted);
  ``ℓ > 0`` ⇔ adversarial;
* ε update: adversarial → ``min(ε(1−γ), best norm)``; not adversarial but one found before
  → ``ε(1+γ)``; none found yet → ``‖δ‖ + |ℓ| / ‖∇ℓ‖_*`` (first-order distance to the
  boundary, ``‖·‖_*`` the dual norm: L1 for L∞, L2 for L2), here overshot by ``(1+γ)`` so that
  iterates do not stall on an exact logit tie;
* step ``δ += α ∇ℓ/‖∇ℓ‖₂``, project onto the ε ball, clip to the valid range;
* α and γ decay with a cosine schedule from ``alpha_init``/``gamma_init`` to their finals.

Result (document of record for ``AttackResult`` fields):

* ``x_adv``: the smallest adversarial point found; for samples never made adversarial, the
  final iterate;
* ``norm`` (computed by the base class from exactly ``x_adv − x``): where ``success``, the
  smallest adversarial norm found (0 for samples misclassified already); elsewhere the final
  perturbation's norm, which is not a minimal norm: read minimal norms as ``norm`` where
  ``success`` and ``+inf`` elsewhere (``AttackResult.robust_at``, ``RobustAccuracyCurve``).
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

import torch
from pydantic import Field
from torch import Tensor, nn

from robustlens.attacks import _steps, geometry, precision
from robustlens.attacks.base import MinimalNormAttack

#: the paper's initial step sizes: α₀ = 10 for L∞, 1 for L2
_ALPHA_INIT = {"linf": 10.0, "l2": 1.0}


class FMN(MinimalNormAttack):
    """Fast Minimum-Norm attack: the smallest adversarial perturbation per sample.

    Paper: Pintor, Roli, Brendel & Biggio, *Fast Minimum-norm Adversarial Attacks through
    Adaptive Norm Constraints*, NeurIPS 2021.

    Threat model: white-box, L∞ or L2, no budget (a minimal-norm search); untargeted or
    targeted; perturbed images stay in the valid range.

    Success: a fresh forward pass on the returned image (the smallest adversarial point
    found) predicts a class other than ``y`` (untargeted) or ``target`` (targeted); then
    ``norm`` is the minimal norm found. Where it fails, ``norm`` is the final iterate's.

    Args:
        norm: ``'linf'`` or ``'l2'``.
        steps: iterations (gradient evaluations per sample).
        alpha_init: initial step size (default: 10 for L∞, 1 for L2, as in the paper).
        alpha_final: final step size (default ``alpha_init / 100``).
        gamma_init: initial ε-adaptation factor.
        gamma_final: final ε-adaptation factor.
        targeted: reach ``target`` instead of leaving ``y``.
        bounds: valid input range.
    """

    name = "fmn"

    def __init__(
        self,
        norm: Literal["linf", "l2"] = "l2",
        steps: Annotated[int, Field(ge=1)] = 100,
        alpha_init: Annotated[float, Field(gt=0)] | None = None,
        alpha_final: Annotated[float, Field(gt=0)] | None = None,
        gamma_init: Annotated[float, Field(gt=0, lt=1)] = 0.05,
        gamma_final: Annotated[float, Field(gt=0, lt=1)] = 0.001,
        targeted: bool = False,
        bounds: tuple[float, float] = (0.0, 1.0),
    ):
        super().__init__(norm=norm, bounds=bounds, targeted=targeted)
        self.steps = int(steps)
        self.alpha_init = float(alpha_init) if alpha_init is not None else _ALPHA_INIT[norm]
        self.alpha_final = float(alpha_final) if alpha_final is not None else self.alpha_init / 100
        self.gamma_init = float(gamma_init)
        self.gamma_final = float(gamma_final)

    def _perturb(
        self, model: nn.Module, x: Tensor, y: Tensor, target: Tensor | None, index: Tensor | None
    ) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        b = x.shape[0]
        lo, hi = self.bounds
        delta = torch.zeros_like(x)
        best_norm = torch.full((b,), math.inf, device=x.device, dtype=x.dtype)
        best_adv = x.clone()
        found = torch.zeros(b, dtype=torch.bool, device=x.device)
        eps = torch.full((b,), math.inf, device=x.device, dtype=x.dtype)
        # largest perturbation the valid range allows: caps ε so it never grows without bound
        worst = geometry.row_norm(torch.maximum(x - lo, hi - x), self.norm)
        # Under a lower search precision (robustlens.attacks.precision) the gradient comes from the
        # low-precision pass, but whether an iterate is adversarial (which drives ε and the best point)
        # is decided by an fp32 forward pass: a minimal-norm point sits on the boundary, and on bf16's
        # boundary it is on fp32's wrong side about half the time (docs/precision.md)
        lowered = precision.lowered()
        for i in range(self.steps):
            alpha = geometry.cosine(i, self.steps, self.alpha_init, self.alpha_final)
            gamma = geometry.cosine(i, self.steps, self.gamma_init, self.gamma_final)

            x_cur = (x + delta).detach().requires_grad_(True)
            logits = model(x_cur).to(x.dtype)  # the loss in the inputs' dtype under autocast
            ref = target if target is not None else y
            m = geometry.margin(logits, ref)
            loss = m if target is not None else -m  # > 0 ⇔ adversarial
            grad = precision.input_gradient(loss.sum(), x_cur)
            loss = loss.detach()
            if lowered:  # which side of fp32's boundary the iterate is on: an fp32 pass decides
                with torch.no_grad(), precision.fp32_pass(x.device.type):
                    logits = model(x_cur)
                m = geometry.margin(logits, ref)
                loss = m if target is not None else -m
            d_norm = geometry.row_norm(delta, self.norm)

            is_adv = _steps.is_adversarial(logits.detach(), y, target)
            better = is_adv & (d_norm < best_norm)
            best_norm = torch.where(better, d_norm, best_norm)
            best_adv = torch.where(geometry.rows_view(better, x), x_cur.detach(), best_adv)
            found |= is_adv

            # the boundary estimate is overshot by (1+γ) (a deviation from the paper: see geometry)
            boundary = geometry.boundary_radius(
                d_norm, loss, geometry.dual_norm(grad, self.norm), gamma, tiny=_steps.TINY
            )
            eps = geometry.adapt_radius(eps, is_adv, found, best_norm, boundary, gamma)
            eps = torch.minimum(eps, worst)

            delta = delta + alpha * geometry.unit_direction(grad, "l2", tiny=_steps.TINY)
            delta = _steps.clip_to_bounds(
                x, geometry.project(delta, eps, self.norm, tiny=_steps.TINY), self.bounds
            )

        x_adv = torch.where(geometry.rows_view(found, x), best_adv, x + delta)
        iterations = torch.full((b,), self.steps, dtype=torch.long, device=x.device)
        return x_adv.detach(), iterations, {}
