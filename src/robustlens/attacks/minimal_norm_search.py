"""A fast minimal-norm search (FMN-style) for any differentiable per-sample objective.

robustlens' default search for Paper A's minimal latent perturbations (LAGS/LARS; see
``docs/latent-search.md``). Paper A's own 'min' search (:mod:`robustlens.attacks.paper_a_search`)
spends ≈ 435 gradient evaluations per code in 12 restarts of 50 steps, most of them on runs
that end without beating the best norm so far. This search spends a fixed ``steps`` (default
100) and typically ends with a smaller norm, because every step works on the one quantity
sought: it keeps a per-sample radius ε that shrinks while the iterate is adversarial and grows
while it is not (the Fast Minimum-Norm attack of Pintor et al., NeurIPS 2021, here with the
search norm of Paper A and a cap ``rho_max``):

* objective ``L`` (``L > 0`` ⇔ misclassified) and its gradient at ``start + δ``;
* the smallest adversarial ``δ`` evaluated so far is kept;
* ε: adversarial → ``min(ε(1−γ), best)``; not adversarial but one found before → ``ε(1+γ)``;
  none found yet → the first-order distance to the boundary ``(‖δ‖ + |L|/‖∇L‖_*)(1+γ)``
  (``‖·‖_*`` the dual of the search norm); always ``≤ rho_max``;
* step ``δ += α·ε·∇L/‖∇L‖`` (a step relative to the radius, in the search norm), then project
  onto the ε ball;
* α and γ follow a cosine schedule from their initial to their final values.

Every sample's trajectory depends only on its own start (no coupling through the batch), so
batched and one-at-a-time runs agree up to float rounding.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from robustlens.attacks import geometry, precision
from robustlens.attacks.paper_a_search import TINY, Objective, SearchNorm, SearchResult

#: (step, steps, still-searching samples) -> None; called once per step (progress display)
StepHook = Callable[[int, int, int], None]


def minimal_norm_search(
    objective: Objective,
    start: Tensor,
    *,
    rho_max: float,
    steps: int = 100,
    norm: SearchNorm = "scaled_l2",
    alpha_init: float = 0.25,
    alpha_final: float = 0.01,
    gamma_init: float = 0.1,
    gamma_final: float = 0.005,
    on_step: StepHook | None = None,
) -> SearchResult:
    """Search every row of ``start`` [B, ...] for its smallest misclassifying ``δ``, ``‖δ‖ ≤ rho_max``.

    Args:
        objective: ``(points, rows) -> L`` with ``L > 0`` ⇔ misclassified; per-sample (no
            coupling between rows). A logit margin suits the boundary estimate better than
            Paper A's softmax margin, which saturates far from the boundary.
        rho_max: cap on the radius (LAGS/LARS: 2.5); nothing larger is reported as found.
        steps: gradient evaluations per sample.
        norm: the search norm (Paper A's latent searches: scaled L2).
        alpha_init, alpha_final: step length relative to the current radius ε (cosine schedule).
        gamma_init, gamma_final: the radius' adaptation factor (cosine schedule).
        on_step: called with ``(step, steps, samples not yet adversarial)`` after every step.

    Returns:
        :class:`~robustlens.attacks.paper_a_search.SearchResult`: ``delta`` the smallest
        adversarial perturbation found (else the final iterate), ``found``, ``norm`` and
        ``grad_evals`` (= ``steps`` for every sample).
    """
    if norm not in ("scaled_l2", "l2", "linf"):
        raise ValueError(f"unknown search norm {norm!r}; use 'scaled_l2', 'l2' or 'linf'")
    if not (math.isfinite(rho_max) and rho_max > 0):
        raise ValueError(f"rho_max must be a finite number > 0, got {rho_max!r}")
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    start = start.detach()
    b, dev, dt = start.shape[0], start.device, start.dtype
    view = (-1,) + (1,) * (start.ndim - 1)
    rows = torch.arange(b, device=dev)
    delta = torch.zeros_like(start)
    best = torch.zeros_like(start)
    best_norm = torch.full((b,), math.inf, device=dev, dtype=dt)
    eps = torch.full((b,), float(rho_max), device=dev, dtype=dt)
    found = torch.zeros(b, dtype=torch.bool, device=dev)
    lowered = precision.lowered()  # a lower search precision: see below and docs/precision.md
    for i in range(steps):
        alpha = geometry.cosine(i, steps, alpha_init, alpha_final)
        gamma = geometry.cosine(i, steps, gamma_init, gamma_final)
        points = (start + delta).requires_grad_(True)
        with torch.enable_grad():
            loss = objective(points, rows)
            grad = precision.input_gradient(loss.sum(), points)
        loss, grad = loss.detach().to(dt), grad.detach().to(dt)
        if lowered:  # the boundary is fp32's: the objective's value and sign from an fp32 pass
            with torch.no_grad(), precision.fp32_pass(dev.type):
                loss = objective(points.detach(), rows).to(dt)
        d_norm = geometry.row_norm(delta, norm)
        adv = loss > 0
        better = adv & (d_norm < best_norm)
        best_norm = torch.where(better, d_norm, best_norm)
        best = torch.where(better.view(view), delta, best)
        found |= adv
        boundary = geometry.boundary_radius(d_norm, loss, geometry.dual_norm(grad, norm), gamma, tiny=TINY)
        eps = geometry.adapt_radius(eps, adv, found, best_norm, boundary, gamma).clamp(max=rho_max)
        step = alpha * eps.view(view) * geometry.unit_direction(grad, norm, tiny=TINY)
        delta = geometry.project(delta + step, eps, norm, tiny=TINY)
        if on_step is not None:  # progress figures only when someone shows them (a host read)
            on_step(i + 1, steps, int((~found).sum()))
    out = torch.where(found.view(view), best, delta)
    return SearchResult(
        delta=out,
        found=found,
        norm=geometry.row_norm(out, norm),
        grad_evals=torch.full((b,), steps, dtype=torch.long, device=dev),
    )
