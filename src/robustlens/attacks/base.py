"""The contract every attack, perturbation and corruption in robustlens follows.

An attack takes a classifier that maps [0,1] images to logits and a batch ``(x, y)``;
it returns the perturbed batch plus per-sample facts. It knows nothing of Lightning,
Hydra or logging (see ``architecture.md``). The base class owns everything that must
be identical for all attacks, so that no attack can get it wrong on its own:

* input checks (range, finite values, logits not probabilities, ε ≥ 0, known norm);
* parameters frozen (``requires_grad=False``) for speed and restored afterwards;
* gradients enabled even when called under ``torch.no_grad``/``inference_mode=False``
  Lightning test loops (pitfall 1 in ``landscape.md``);
* success is *never* taken from the attack's own book-keeping: it is re-checked by a
  fresh forward pass on the returned inputs (``AttackResult.success``).
"""

from __future__ import annotations

import abc
import contextlib
import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import Tensor, nn

Norm = Literal["linf", "l2", "l1", "scaled_l2", "none"]
KNOWN_NORMS: tuple[str, ...] = ("linf", "l2", "l1", "scaled_l2", "none")


class AttackInputError(ValueError):
    """Raised when an attack is called with inputs that would make its result meaningless."""


@dataclass
class AttackResult:
    """What an attack returns for a batch of ``B`` samples.

    Attributes:
        x_adv: perturbed inputs, same shape and range as the clean inputs.
        success: bool[B], decided by a fresh forward pass on ``x_adv``: the prediction
            differs from ``y`` (untargeted) or equals ``target`` (targeted).
        norm: float[B], size of ``x_adv - x`` in the attack's norm (``nan`` for
            non-additive perturbations such as rotations, whose size is a parameter).
        iterations: long[B], gradient (or model) evaluations the attack spent per sample.
        logits: logits at ``x_adv`` from the verification pass (saves a forward pass).
        target: long[B] target classes of a targeted attack, else ``None``.
        extra: attack-specific per-sample tensors (e.g. the rotation angle that won).
    """

    x_adv: Tensor
    success: Tensor
    norm: Tensor
    iterations: Tensor
    logits: Tensor
    target: Tensor | None = None
    extra: dict[str, Tensor] = field(default_factory=dict)

    @property
    def predictions(self) -> Tensor:
        return self.logits.argmax(dim=1)


def perturbation_norm(delta: Tensor, norm: str) -> Tensor:
    """Per-sample norm of a batch of perturbations (``scaled_l2`` = L2/√n, Paper A)."""
    flat = delta.flatten(1)
    if norm == "linf":
        return flat.abs().amax(dim=1)
    if norm == "l2":
        return flat.norm(p=2, dim=1)
    if norm == "scaled_l2":
        return flat.norm(p=2, dim=1) / math.sqrt(flat.shape[1])
    if norm == "l1":
        return flat.abs().sum(dim=1)
    if norm == "none":
        return torch.full((delta.shape[0],), float("nan"), device=delta.device)
    raise AttackInputError(f"unknown norm {norm!r}; valid norms: {', '.join(KNOWN_NORMS)}")


@contextlib.contextmanager
def frozen_parameters(model: nn.Module) -> Iterator[None]:
    """Switch off parameter gradients during an attack and restore the previous flags.

    Why: attacks need gradients w.r.t. inputs only; leaving ``requires_grad`` on makes
    every backward pass also fill (and allocate) parameter gradients.
    """
    flags = [(p, p.requires_grad) for p in model.parameters()]
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


def check_attack_inputs(
    x: Tensor,
    y: Tensor,
    *,
    bounds: tuple[float, float] = (0.0, 1.0),
    eps: float | None = None,
    norm: str | None = None,
) -> None:
    """Refuse inputs that would silently produce wrong robustness numbers."""
    if norm is not None and norm not in KNOWN_NORMS:
        raise AttackInputError(f"unknown norm {norm!r}; valid norms: {', '.join(KNOWN_NORMS)}")
    if eps is not None and (not math.isfinite(eps) or eps < 0):
        raise AttackInputError(f"eps must be a finite number >= 0, got {eps!r}")
    if x.shape[0] != y.shape[0]:
        raise AttackInputError(f"batch sizes differ: x has {x.shape[0]} samples, y has {y.shape[0]}")
    if not torch.isfinite(x).all():
        raise AttackInputError("inputs contain NaN or inf values")
    lo, hi = bounds
    tol = 1e-6
    if x.numel() and (x.min().item() < lo - tol or x.max().item() > hi + tol):
        raise AttackInputError(
            f"inputs lie in [{x.min().item():.3g}, {x.max().item():.3g}] but the attack expects "
            f"[{lo}, {hi}]. robustlens datasets yield [0,1] images and models own their "
            "normalisation: remove Normalize from the data transforms and put it in the model "
            "(robustlens.models.Normalize), or declare other bounds."
        )


def check_logits(logits: Tensor) -> None:
    """Warn when a model seems to return probabilities instead of logits."""
    if logits.ndim != 2:
        raise AttackInputError(
            f"the model must return a [batch, classes] logits tensor, got shape {tuple(logits.shape)}; "
            "wrap models that return tuples/dicts so they return logits only"
        )
    if logits.shape[1] > 1 and (logits >= 0).all() and torch.allclose(
        logits.sum(dim=1), torch.ones_like(logits[:, 0]), atol=1e-4
    ):
        warnings.warn(
            "the model's outputs are non-negative and rows sum to 1: it looks like it returns "
            "probabilities. Attacks expect logits (remove the final softmax).",
            stacklevel=3,
        )


def predict(model: nn.Module, x: Tensor, batch_size: int | None = None) -> Tensor:
    """Logits of ``model`` at ``x`` without building a graph."""
    with torch.no_grad():
        if batch_size is None or x.shape[0] <= batch_size:
            return model(x)
        return torch.cat([model(chunk) for chunk in x.split(batch_size)])


class Attack(abc.ABC):
    """Base class: subclasses implement :meth:`_perturb`; callers use ``attack(model, x, y)``.

    Args:
        norm: the norm the perturbation is measured in (``none`` for non-additive ones).
        bounds: the valid input range; inputs are checked and outputs clipped to it.
        targeted: whether ``target`` must be given and is aimed at.
    """

    #: short name used in result keys when the config gives none
    name: str = "attack"
    #: whether this attack needs input gradients (False: pure perturbation, no grad work)
    uses_gradients: bool = True

    def __init__(self, norm: str = "linf", bounds: tuple[float, float] = (0.0, 1.0), targeted: bool = False):
        if norm not in KNOWN_NORMS:
            raise AttackInputError(f"unknown norm {norm!r}; valid norms: {', '.join(KNOWN_NORMS)}")
        self.norm = norm
        self.bounds = (float(bounds[0]), float(bounds[1]))
        self.targeted = targeted

    @property
    def eps(self) -> float | None:
        """The attack's budget, where it has one (checked at entry)."""
        return getattr(self, "_eps", None)

    def __call__(
        self, model: nn.Module, x: Tensor, y: Tensor, target: Tensor | None = None, *, index: Tensor | None = None
    ) -> AttackResult:
        """Attack ``model`` at ``(x, y)``.

        ``index`` (dataset indices) lets random attacks draw per-sample numbers with
        :mod:`robustlens.utils.seeding`, so results do not depend on batching or DDP;
        without it they draw from the global RNG.
        """
        check_attack_inputs(x, y, bounds=self.bounds, eps=self.eps, norm=self.norm)
        if self.targeted and target is None:
            raise AttackInputError(f"{type(self).__name__} is targeted: pass `target` (a class per sample)")
        was_training = model.training
        model.eval()
        try:
            with frozen_parameters(model), torch.enable_grad() if self.uses_gradients else contextlib.nullcontext():
                x_adv, iterations, extra = self._perturb(model, x.detach(), y, target, index)
            x_adv = x_adv.detach().clamp(*self.bounds)
            logits = predict(model, x_adv)
        finally:
            model.train(was_training)
        check_logits(logits)
        preds = logits.argmax(dim=1)
        success = preds.eq(target) if target is not None else preds.ne(y)
        return AttackResult(
            x_adv=x_adv,
            success=success,
            norm=perturbation_norm(x_adv - x, self.norm),
            iterations=iterations.to(torch.long),
            logits=logits,
            target=target,
            extra=extra,
        )

    @abc.abstractmethod
    def _perturb(
        self, model: nn.Module, x: Tensor, y: Tensor, target: Tensor | None, index: Tensor | None
    ) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        """Return ``(x_adv, iterations[B], extra)``; gradients are enabled, params frozen."""

    def __repr__(self) -> str:
        params = ", ".join(f"{k.lstrip('_')}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({params})"
