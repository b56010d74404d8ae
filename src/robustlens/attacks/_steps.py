"""Building blocks shared by the gradient attacks: losses, steepest-ascent steps, projections,
random starts.

Why one module: FGSM, PGD and FMN differ only in how they combine these pieces; keeping the
geometry (what a step and a projection are in L∞ or L2) in one place means it is tested once
and cannot drift between attacks.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from robustlens.attacks.base import AttackInputError
from robustlens.utils.seeding import per_sample_rand, per_sample_randn, stream_id

GRADIENT_NORMS: tuple[str, ...] = ("linf", "l2")
LOSSES: tuple[str, ...] = ("ce", "margin")


def check_choice(value: str, allowed: tuple[str, ...], what: str) -> None:
    """Refuse an unknown option with a message that lists the valid ones."""
    if value not in allowed:
        raise AttackInputError(f"unknown {what} {value!r}; valid: {', '.join(allowed)}")


def _view(v: Tensor, like: Tensor) -> Tensor:
    """Reshape a per-sample vector [B] so it broadcasts over a batch shaped like ``like``."""
    return v.view(-1, *([1] * (like.ndim - 1)))


def margin(logits: Tensor, y: Tensor) -> Tensor:
    """``z_y − max_{k≠y} z_k`` per sample: > 0 iff ``y`` is the (unique) top class."""
    own = logits.gather(1, y[:, None]).squeeze(1)
    others = logits.scatter(1, y[:, None], float("-inf")).amax(dim=1)
    return own - others


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


def ascent_direction(grad: Tensor, norm: str) -> Tensor:
    """Steepest-ascent direction of unit size in ``norm``: sign(g) for L∞, g/‖g‖₂ for L2."""
    if norm == "linf":
        return grad.sign()
    g_norm = grad.flatten(1).norm(p=2, dim=1).clamp_min(1e-12)
    return grad / _view(g_norm, grad)


def project(delta: Tensor, eps: Tensor | float, norm: str) -> Tensor:
    """Project perturbations onto the ``norm`` ball of radius ``eps`` (scalar or per sample)."""
    if not isinstance(eps, Tensor):
        eps = torch.full((delta.shape[0],), float(eps), device=delta.device, dtype=delta.dtype)
    e = _view(eps, delta)
    if norm == "linf":
        return torch.maximum(torch.minimum(delta, e), -e)
    d_norm = delta.flatten(1).norm(p=2, dim=1)
    factor = torch.where(d_norm > eps, eps / d_norm.clamp_min(1e-12), torch.ones_like(d_norm))
    return delta * _view(factor, delta)


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
    return direction * _view(radius * eps / d_norm, direction)


def input_gradient(
    model, x_adv: Tensor, y: Tensor, target: Tensor | None, loss: str
) -> tuple[Tensor, Tensor]:
    """``(∇ₓ loss, logits)`` at ``x_adv``; the loss is summed so each sample gets its own gradient."""
    x_adv = x_adv.detach().requires_grad_(True)
    logits = model(x_adv)
    objective = attack_loss(logits, y, target, loss).sum()
    (grad,) = torch.autograd.grad(objective, x_adv)
    return grad, logits.detach()
