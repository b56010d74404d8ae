"""The search geometry every gradient loop of robustlens shares: norms, dual norms, unit steps,
projections, logit margins and the ε schedule of the minimal-norm searches.

Why one module: PGD, FMN, Paper A's search, robustlens' minimal-norm search and the generators'
scaled norm differ only in how they combine these pieces. With one copy, what a step and a
projection are in L∞, L2 or Paper A's scaled L2 is tested once and cannot drift between loops.
Nothing here synchronises with the host (no ``.item()``, no data-dependent shapes), so the
loops that call these functions stay sync-free (``tests/attacks/test_host_syncs.py``).

``tiny`` is the floor a norm is clamped to before it divides: the image-space attacks use
``1e-12`` (as torchattacks and the FMN paper's code do), the latent searches ``1e-30``; kept
per caller so that every loop's numbers are exactly those it had before this module existed.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

#: the norms a per-row size can be measured in (``scaled_l2`` = ‖·‖₂/√n, Paper A)
ROW_NORMS: tuple[str, ...] = ("linf", "l2", "l1", "scaled_l2")


def rows_view(v: Tensor, like: Tensor) -> Tensor:
    """Reshape a per-row vector [B] so that it broadcasts over a batch shaped like ``like``."""
    return v.view(-1, *([1] * (like.ndim - 1)))


def row_norm(v: Tensor, norm: str) -> Tensor:
    """Per-row size of ``v`` [B, ...] in ``norm`` (``scaled_l2`` = ‖v‖₂/√n)."""
    flat = v.flatten(1)
    if norm == "linf":
        return flat.abs().amax(dim=1)
    if norm == "l2":
        return flat.norm(p=2, dim=1)
    if norm == "scaled_l2":
        return flat.norm(p=2, dim=1) / math.sqrt(flat.shape[1])
    if norm == "l1":
        return flat.abs().sum(dim=1)
    raise ValueError(f"unknown norm {norm!r}; valid norms: {', '.join(ROW_NORMS)}")


def dual_norm(g: Tensor, norm: str) -> Tensor:
    """Per-row dual norm of ``g``: what a first-order distance to the boundary divides by
    (L∞ → L1, L2 → L2, ‖·‖₂/√n → √n·‖·‖₂)."""
    flat = g.flatten(1)
    if norm == "linf":
        return flat.abs().sum(dim=1)
    if norm == "l2":
        return flat.norm(p=2, dim=1)
    if norm == "scaled_l2":
        return flat.norm(p=2, dim=1) * math.sqrt(flat.shape[1])
    raise ValueError(f"no dual norm for {norm!r}; use 'linf', 'l2' or 'scaled_l2'")


def unit_direction(g: Tensor, norm: str, *, tiny: float) -> Tensor:
    """The steepest-ascent direction of size 1 in ``norm``: ``sign(g)`` for L∞, else
    ``g/‖g‖`` (a zero gradient stays zero)."""
    if norm == "linf":
        return g.sign()
    return g / rows_view(row_norm(g, norm).clamp_min(tiny), g)


def project(delta: Tensor, radius: Tensor | float, norm: str, *, tiny: float) -> Tensor:
    """Project every row of ``delta`` onto its own ball of ``radius`` (a scalar or one per row)
    in ``norm``; rows inside their ball are left exactly as they are."""
    if not isinstance(radius, Tensor):
        radius = torch.full((delta.shape[0],), float(radius), device=delta.device, dtype=delta.dtype)
    if norm == "linf":
        r = rows_view(radius, delta)
        return torch.maximum(torch.minimum(delta, r), -r)
    size = row_norm(delta, norm)
    factor = torch.where(size > radius, radius / size.clamp_min(tiny), torch.ones_like(size))
    return delta * rows_view(factor, delta)


def margin(logits: Tensor, y: Tensor) -> Tensor:
    """``z_y − max_{k≠y} z_k`` per row: > 0 iff ``y`` is the (unique) top class."""
    own = logits.gather(1, y[:, None]).squeeze(1)
    others = logits.scatter(1, y[:, None], float("-inf")).amax(dim=1)
    return own - others


def cosine(i: int, steps: int, first: float, last: float) -> float:
    """The cosine schedule of FMN's step size and radius factor: ``first`` at step 0, ``last`` at ``steps``."""
    return last + (first - last) * (1 + math.cos(math.pi * i / steps)) / 2


def boundary_radius(size: Tensor, loss: Tensor, g_dual: Tensor, gamma: float, *, tiny: float) -> Tensor:
    """First-order distance to the decision boundary ``‖δ‖ + |L|/‖∇L‖_*``, overshot by ``(1+γ)``.

    Why the overshoot: an iterate that lands exactly on the boundary (a logit tie, common for
    piecewise-linear networks) is not adversarial, re-estimates the same radius and never crosses.
    """
    return (size + loss.abs() / g_dual.clamp_min(tiny)) * (1 + gamma)


def adapt_radius(
    radius: Tensor, adversarial: Tensor, found: Tensor, best_norm: Tensor, boundary: Tensor, gamma: float
) -> Tensor:
    """FMN's radius update: adversarial → ``min(ε(1−γ), best)``; not adversarial but one found
    before → ``ε(1+γ)``; none found yet → the boundary estimate."""
    return torch.where(
        adversarial,
        torch.minimum(radius * (1 - gamma), best_norm),
        torch.where(found, radius * (1 + gamma), boundary),
    )
