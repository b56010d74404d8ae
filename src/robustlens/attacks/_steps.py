"""Building blocks shared by the image-space gradient attacks: losses, the decision rule,
random starts, clipping to the valid range and the input gradient.

Why one module: FGSM, PGD and FMN differ only in how they combine these pieces. The geometry
(norms, unit steps, projections, margins) is in :mod:`robustlens.attacks.geometry`, shared with
the latent searches; image-space attacks clamp norms at ``TINY`` before dividing.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from robustlens.attacks import precision
from robustlens.attacks.base import AttackInputError
from robustlens.attacks.geometry import margin, rows_view
from robustlens.utils.seeding import per_sample_rand, per_sample_randn, stream_id

GRADIENT_NORMS: tuple[str, ...] = ("linf", "l2")
LOSSES: tuple[str, ...] = ("ce", "margin")
#: the floor of a norm that divides in the image-space attacks (see ``geometry``)
TINY = 1e-12


def check_choice(value: str, allowed: tuple[str, ...], what: str) -> None:
    """Refuse an unknown option with a message that lists the valid ones."""
    if value not in allowed:
        raise AttackInputError(f"unknown {what} {value!r}; valid: {', '.join(allowed)}")


def attack_loss(logits: Tensor, y: Tensor, target: Tensor | None, kind: str) -> Tensor:
    """Per-sample objective that the attack *maximises*.

    Untargeted: CE(z, y) or ``max_{k≠y} z_k − z_y``. Targeted: −CE(z, t) or
    ``z_t − max_{k≠t} z_k`` (descent on the target's loss, as Madry et al. and Paper B).
    """
    if target is None:
        return F.cross_entropy(logits, y, reduction="none") if kind == "ce" else -margin(logits, y)
    return -F.cross_entropy(logits, target, reduction="none") if kind == "ce" else margin(logits, target)


def is_adversarial(logits: Tensor, y: Tensor, target: Tensor | None) -> Tensor:
    """The same decision rule the base class applies in its verification pass."""
    pred = logits.argmax(dim=1)
    return pred.eq(target) if target is not None else pred.ne(y)


def clip_to_bounds(x: Tensor, delta: Tensor, bounds: tuple[float, float]) -> Tensor:
    """The part of ``delta`` that keeps ``x + delta`` inside the valid range."""
    return (x + delta).clamp(*bounds) - x


def random_start(
    x: Tensor, eps: float, norm: str, *, index: Tensor | None, seed: int, stream: str
) -> Tensor:
    """A random perturbation inside the ``eps`` ball (before clipping to the valid range).

    L∞: uniform in ``[−eps, eps]^n`` (Madry et al.). L2: a uniformly random direction scaled
    to a radius ``U(0,1)·eps`` (torchattacks' PGDL2 convention). With ``index`` the draws
    come from :mod:`robustlens.utils.seeding`, so each sample's start depends only on
    its dataset index, not on the batch it is in.
    """
    shape = tuple(x.shape[1:])
    b = x.shape[0]
    if index is not None:
        sid = stream_id(stream)
        if norm == "linf":
            u = per_sample_rand(index, shape, seed, sid, device=x.device, dtype=x.dtype)
            return (2 * u - 1) * eps
        direction = per_sample_randn(index, shape, seed, sid, device=x.device, dtype=x.dtype)
        radius = per_sample_rand(index, (), seed, sid + 1, device=x.device, dtype=x.dtype)
    else:
        if norm == "linf":
            return (2 * torch.rand_like(x) - 1) * eps
        direction = torch.randn_like(x)
        radius = torch.rand(b, device=x.device, dtype=x.dtype)
    d_norm = direction.flatten(1).norm(p=2, dim=1).clamp_min(1e-12)
    return direction * rows_view(radius * eps / d_norm, direction)


def input_gradient(
    model, x_adv: Tensor, y: Tensor, target: Tensor | None, loss: str
) -> tuple[Tensor, Tensor]:
    """``(∇ₓ loss, logits)`` at ``x_adv``; the loss is summed so each sample gets its own gradient."""
    x_adv = x_adv.detach().requires_grad_(True)
    logits = model(x_adv).to(x_adv.dtype)  # the loss in the inputs' dtype under autocast
    objective = attack_loss(logits, y, target, loss).sum()
    return precision.input_gradient(objective, x_adv), logits.detach()
