"""The contract every attack, perturbation and corruption in robustlens follows.

An attack takes a classifier that maps [0,1] images to logits and a batch ``(x, y)``;
it returns the perturbed batch plus per-sample facts. It knows nothing of Lightning,
Hydra or logging (``docs/architecture.md``). The kinds are types, as in Foolbox 3
(``FixedEpsilonAttack``, ``MinimizationAttack``), so that what a result means follows from
the class and not from a flag (``docs/attacks.md``):

* :class:`BoundedAttack`: has a budget ``eps`` in its norm; may enter the worst case;
* :class:`MinimalNormAttack`: searches the smallest adversarial perturbation; its
  ``AttackResult.norm`` is that size per sample, so robust accuracy at any budget can be
  read off one run; never part of a bounded worst case;
* :class:`Perturbation`: noise, corruptions and natural transforms: not attacks.

The base class owns everything that must be identical for all attacks, so that no attack can
get it wrong on its own:

* input checks (range, finite values, logits not probabilities, ε ≥ 0, known norm);
* parameters frozen (``requires_grad=False``) for speed and restored afterwards;
* gradients enabled even when called under ``torch.no_grad`` or in a Lightning test loop
  (which runs under ``inference_mode`` unless told otherwise);
* the returned images are clipped to ``bounds`` unless the attack runs an authors'
  unclipped procedure (``valid_images`` False, see ``docs/attacks.md``);
* success is *never* taken from the attack's own book-keeping: it is re-checked by a
  fresh **fp32** forward pass (outside any autocast, TF32 off) on exactly the returned inputs
  (``AttackResult.success``), whatever precision the search ran in, and the norm is measured on
  exactly those inputs;
* constructor arguments checked against the signature, and ``describe()``: every constructor
  parameter, read from the signature, for results.json (:mod:`robustlens.utils.parameters`).
"""

from __future__ import annotations

import abc
import contextlib
import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor, nn

from robustlens.attacks.geometry import ROW_NORMS, row_norm
from robustlens.attacks.precision import check_precision, fp32_pass, search_precision
from robustlens.utils.parameters import Configurable

Norm = Literal["linf", "l2", "l1", "scaled_l2", "none"]
KNOWN_NORMS: tuple[str, ...] = ("linf", "l2", "l1", "scaled_l2", "none")


class AttackInputError(ValueError):
    """Raised when an attack is called with inputs that would make its result meaningless."""


@dataclass
class AttackResult:
    """What an attack returns for a batch of ``B`` samples.

    Attributes:
        x_adv: perturbed inputs, same shape as the clean inputs; inside ``bounds`` unless the
            attack's ``valid_images`` is False (an authors' unclipped procedure).
        success: bool[B], decided by a fresh forward pass on exactly ``x_adv``: the prediction
            differs from ``y`` (untargeted) or equals ``target`` (targeted).
        norm: float[B], size of ``x_adv - x`` in the attack's norm (``nan`` for
            non-additive perturbations such as rotations, whose size is a parameter). For a
            :class:`MinimalNormAttack` this is the minimal adversarial norm found wherever
            ``success`` (see :meth:`robust_at`).
        iterations: long[B], gradient (or model) evaluations the attack spent per sample.
        logits: logits at ``x_adv`` from the verification pass (saves a forward pass).
        out_of_range: bool[B], whether ``x_adv`` leaves ``bounds`` anywhere (only possible
            when ``valid_images`` is False).
        target: long[B] target classes of a targeted attack, else ``None``.
        extra: attack-specific per-sample tensors (e.g. the rotation angle that won).
    """

    x_adv: Tensor
    success: Tensor
    norm: Tensor
    iterations: Tensor
    logits: Tensor
    out_of_range: Tensor | None = None
    target: Tensor | None = None
    extra: dict[str, Tensor] = field(default_factory=dict)

    @property
    def predictions(self) -> Tensor:
        return self.logits.argmax(dim=1)

    @property
    def minimal_norm(self) -> Tensor:
        """float[B]: ``norm`` where ``success``, ``+inf`` where no adversarial input was found.

        For a :class:`MinimalNormAttack` this is the minimal adversarial norm per sample.
        """
        return torch.where(self.success, self.norm, torch.full_like(self.norm, math.inf))

    def robust_at(self, eps: float) -> Tensor:
        """bool[B]: no adversarial example of size ≤ ``eps`` was found (``minimal_norm > eps``).

        Meaningful for a :class:`MinimalNormAttack`; combine with clean correctness for robust
        accuracy at ``eps`` (``RobustAccuracyCurve`` does so for a whole grid).
        """
        return self.minimal_norm > eps


def perturbation_norm(delta: Tensor, norm: str) -> Tensor:
    """Per-sample norm of a batch of perturbations (``scaled_l2`` = L2/√n, Paper A)."""
    if norm == "none":
        return torch.full((delta.shape[0],), float("nan"), device=delta.device, dtype=delta.dtype)
    if norm not in ROW_NORMS:
        raise AttackInputError(f"unknown norm {norm!r}; valid norms: {', '.join(KNOWN_NORMS)}")
    return row_norm(delta, norm)


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



def outside_bounds(x: Tensor, bounds: tuple[float, float]) -> Tensor:
    """bool[B]: whether any element of each sample lies outside ``bounds`` (no tolerance)."""
    flat = x.flatten(1)
    if flat.shape[1] == 0:
        return torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
    return (flat.amin(dim=1) < bounds[0]) | (flat.amax(dim=1) > bounds[1])


class Attack(Configurable, abc.ABC):
    """Root of every attack kind: subclasses implement :meth:`_perturb`; callers use
    ``attack(model, x, y[, target], index=...)``. Subclass one of :class:`BoundedAttack`,
    :class:`MinimalNormAttack` or :class:`Perturbation`, never this class directly.

    Every constructor argument must be stored under its own name (an attribute or a
    property): :meth:`describe` reads them back through the constructor's signature, and the
    arguments are checked against that signature's types and bounds before the constructor runs
    (:class:`~robustlens.utils.parameters.Configurable`), from a config and from Python alike.

    Args:
        norm: the norm the perturbation is measured in (``none`` for non-additive ones).
        bounds: the valid input range; inputs are checked and outputs clipped to it.
        targeted: whether ``target`` must be given and is aimed at.
    """

    #: short name used in result keys when the config gives none
    name: str = "attack"
    #: the kind, as recorded by :meth:`describe` (set by the kind classes below)
    kind: ClassVar[str] = "attack"
    #: whether this attack needs input gradients (False: pure perturbation, no grad work)
    uses_gradients: ClassVar[bool] = True

    def __init__(self, norm: Norm = "linf", bounds: tuple[float, float] = (0.0, 1.0), targeted: bool = False):
        self.norm = norm
        self.bounds = (float(bounds[0]), float(bounds[1]))
        self.targeted = targeted

    @property
    def valid_images(self) -> bool:
        """Whether returned images are clipped to ``bounds`` (False only for an authors'
        unclipped procedure, e.g. Paper A's searches with ``faithful=True``)."""
        return True

    def describe(self) -> dict[str, Any]:
        """Every constructor parameter (read from the signature) plus the kind and library,
        recorded with the results."""
        return {"type": type(self).__name__, "kind": self.kind, "library": "robustlens",
                **self.parameters(), **self._describe_extra()}

    def _budget(self) -> float | None:
        """The budget checked at entry (bounded attacks only)."""
        return None

    def __call__(
        self,
        model: nn.Module,
        x: Tensor,
        y: Tensor,
        target: Tensor | None = None,
        *,
        index: Tensor | None = None,
        precision: str = "fp32",
    ) -> AttackResult:
        """Attack ``model`` at ``(x, y)``.

        ``index`` (dataset indices) lets random attacks draw per-sample numbers with
        :mod:`robustlens.utils.seeding`, so results do not depend on batching or DDP;
        without it they draw from the global RNG. ``precision`` (``fp32 | tf32 | bf16 | fp16``,
        :mod:`robustlens.attacks.precision`) is the arithmetic of the search's passes only: the
        verdict is always an fp32 pass, so a lower precision can weaken a search but never make a
        sample count as broken that is not adversarial in fp32. Faithful procedures refuse it.
        """
        check_attack_inputs(x, y, bounds=self.bounds, eps=self._budget(), norm=self.norm)
        if self.targeted and target is None:
            raise AttackInputError(f"{type(self).__name__} is targeted: pass `target` (a class per sample)")
        arithmetic = check_precision(precision, faithful=bool(getattr(self, "faithful", False)),
                                     where=type(self).__name__)
        was_training = model.training
        model.eval()
        try:
            gradients = torch.enable_grad() if self.uses_gradients else contextlib.nullcontext()
            with frozen_parameters(model), gradients, search_precision(arithmetic, x.device.type):
                x_adv, iterations, extra = self._perturb(model, x.detach(), y, target, index)
            x_adv = x_adv.detach().to(x.dtype)
            if self.valid_images:
                x_adv = x_adv.clamp(*self.bounds)
            # the verdict and the size are taken on exactly the inputs returned, by an fp32 pass
            with fp32_pass(x.device.type):
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
            out_of_range=outside_bounds(x_adv, self.bounds),
            target=target,
            extra=extra,
        )

    @abc.abstractmethod
    def _perturb(
        self, model: nn.Module, x: Tensor, y: Tensor, target: Tensor | None, index: Tensor | None
    ) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        """Return ``(x_adv, iterations[B], extra)``; gradients are enabled, params frozen."""

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.describe().items() if k not in ("type", "library"))
        return f"{type(self).__name__}({params})"


class BoundedAttack(Attack):
    """An attack with a budget: it searches an adversarial input within ``eps`` of ``x`` in
    its norm. Its success rate at ``eps`` is a robust accuracy, so it may enter the pointwise
    worst case over attacks (``AttackProbe.in_worst_case``).

    Subclasses set ``self.eps`` (a float ≥ 0, in input units) in their constructor, or
    define it as a property when the published name of the budget differs (Paper A's ρ).
    """

    kind: ClassVar[str] = "bounded"
    #: the budget, in the attack's norm and in input units ([0,1] images)
    eps: float

    def _budget(self) -> float | None:
        return self.eps


class MinimalNormAttack(Attack):
    """An attack that searches the *smallest* adversarial perturbation per sample.

    ``AttackResult.norm`` is the size of the returned perturbation, measured by the base
    class on exactly the returned input: wherever ``success`` it is the minimal adversarial
    norm found, so one run gives robust accuracy at every budget
    (:meth:`AttackResult.robust_at`, ``RobustAccuracyCurve``). Where ``success`` is False
    the attack documents what ``norm`` holds (FMN: its final iterate; Paper A's severity: the
    first run's final perturbation, which its mean counts). It has no budget and never enters
    a bounded worst case.
    """

    kind: ClassVar[str] = "minimal_norm"


class Perturbation(Attack):
    """A perturbation that is not an attack: noise, common corruptions, natural transforms.

    It may query the model (a worst case over a grid of rotations does) but never uses
    gradients and never enters the worst case over attacks.
    """

    kind: ClassVar[str] = "perturbation"
    uses_gradients: ClassVar[bool] = False
