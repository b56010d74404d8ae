"""How a classifier is trained: the ``training=`` config group.

A training mode turns a clean batch into the loss to minimise (and the logits whose
accuracy is reported as training accuracy). Keeping this a small strategy object lets
one :class:`~robustlens.models.classifier_module.ClassifierModule` cover standard,
noise-augmented, PGD adversarial (Madry et al. 2018) and TRADES (Zhang et al. 2019)
training, and lets the evaluation record exactly how a model was trained.
"""

from __future__ import annotations

import abc
from typing import Annotated, Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn

from robustlens.attacks.base import frozen_parameters


class TrainingMode(abc.ABC):
    """Computes the training loss for a batch."""

    name: str = "mode"

    @abc.abstractmethod
    def loss(self, model: nn.Module, x: Tensor, y: Tensor, step: int = 0) -> tuple[Tensor, Tensor]:
        """Return ``(loss, logits)``; ``logits`` are those the training accuracy is taken from.

        ``step`` is the optimiser step about to be taken (``global_step``); only modes with
        a schedule (the ε warm-up of the adversarial modes) use it.
        """

    def describe(self) -> dict:
        return {"mode": self.name, **{k: v for k, v in vars(self).items() if not k.startswith("_")}}


class Standard(TrainingMode):
    """Empirical risk minimisation with cross-entropy."""

    name = "standard"

    def loss(self, model: nn.Module, x: Tensor, y: Tensor, step: int = 0) -> tuple[Tensor, Tensor]:
        logits = model(x)
        return F.cross_entropy(logits, y), logits


class NoiseAugmentation(TrainingMode):
    """Gaussian-noise augmentation: train on ``clip(x + σ·ν)``, ``ν ~ N(0, I)`` (``training=noise``).

    Named for what it does to training, so that it is not mistaken for the Gaussian-noise
    perturbation probe of the evaluation (:class:`robustlens.attacks.noise.GaussianNoise`).

    Paper A's "robust" models use N(0, 0.8²) in [-1,1] units, i.e. σ = 0.4 in [0,1].
    """

    name = "noise"

    def __init__(self, sigma: Annotated[float, Field(ge=0)] = 0.4, clip: bool = True):
        self.sigma = sigma
        self.clip = clip

    def loss(self, model: nn.Module, x: Tensor, y: Tensor, step: int = 0) -> tuple[Tensor, Tensor]:
        noisy = x + self.sigma * torch.randn_like(x)
        if self.clip:
            noisy = noisy.clamp(0.0, 1.0)
        logits = model(noisy)
        return F.cross_entropy(logits, y), logits


def warmup_factor(step: int, warmup_steps: int) -> float:
    """Fraction of the final ε used at optimiser ``step``: a linear ramp over ``warmup_steps``.

    Why: adversarial training from scratch at the full ε with only a few hundred steps
    (the CPU budgets of this project) often never leaves the constant-prediction plateau;
    ramping ε up from ≈0 (Gowal et al. 2018; Wong et al. 2020) lets the network first learn
    the clean task. ``warmup_steps = 0`` trains at the full ε from the first step.
    """
    if warmup_steps <= 0:
        return 1.0
    return min(1.0, (step + 1) / warmup_steps)


class PGDAdversarial(TrainingMode):
    """Madry et al. PGD adversarial training: minimise the loss at a PGD maximiser.

    The inner PGD uses a fixed number of steps (no early stop) from a random start, as in
    the paper; the model is put in eval mode for the inner maximisation (BatchNorm
    statistics are not updated by adversarial search steps) and back in train mode for
    the outer step. With ``eps_warmup_steps`` > 0, ε and the step size grow linearly
    over the first optimiser steps (:func:`warmup_factor`).
    """

    name = "pgd_at"

    def __init__(
        self,
        eps: Annotated[float, Field(ge=0)] = 0.3,
        step_size: Annotated[float, Field(gt=0)] = 0.01,
        steps: Annotated[int, Field(ge=1)] = 40,
        norm: Literal["linf", "l2"] = "linf",
        eps_warmup_steps: Annotated[int, Field(ge=0)] = 0,
    ):
        self.eps = eps
        self.step_size = step_size
        self.steps = steps
        self.norm = norm
        self.eps_warmup_steps = eps_warmup_steps

    def loss(self, model: nn.Module, x: Tensor, y: Tensor, step: int = 0) -> tuple[Tensor, Tensor]:
        from robustlens.attacks.pgd import PGD

        scale = warmup_factor(step, self.eps_warmup_steps)
        attack = PGD(
            eps=self.eps * scale,
            step_size=self.step_size * scale,
            steps=self.steps,
            norm=self.norm,
            random_start=True,
            early_stop=False,
        )
        x_adv = attack(model, x, y).x_adv  # Attack puts the model in eval mode and restores it
        logits = model(x_adv)
        return F.cross_entropy(logits, y), logits


class TRADES(TrainingMode):
    """TRADES (Zhang et al. 2019): ``CE(f(x), y) + β·KL(f(x) ‖ f(x'))``.

    ``x'`` maximises the KL term by L∞ PGD from ``x + 0.001·N(0, I)`` (the authors'
    start), the reference implementation's inner loop. ``eps_warmup_steps`` ramps ε and the
    step size as in :class:`PGDAdversarial`.
    """

    name = "trades"

    def __init__(
        self,
        beta: Annotated[float, Field(ge=0)] = 6.0,
        eps: Annotated[float, Field(ge=0)] = 0.3,
        step_size: Annotated[float, Field(gt=0)] = 0.01,
        steps: Annotated[int, Field(ge=1)] = 40,
        eps_warmup_steps: Annotated[int, Field(ge=0)] = 0,
    ):
        self.beta = beta
        self.eps = eps
        self.step_size = step_size
        self.steps = steps
        self.eps_warmup_steps = eps_warmup_steps

    def _adversarial(self, model: nn.Module, x: Tensor, eps: float, step_size: float) -> Tensor:
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                p_clean = F.softmax(model(x), dim=1)
            x_adv = (x + 0.001 * torch.randn_like(x)).clamp(0, 1)
            with frozen_parameters(model), torch.enable_grad():
                for _ in range(self.steps):
                    x_adv.requires_grad_(True)
                    kl = F.kl_div(F.log_softmax(model(x_adv), dim=1), p_clean, reduction="sum")
                    (grad,) = torch.autograd.grad(kl, x_adv)
                    x_adv = x_adv.detach() + step_size * grad.sign()
                    x_adv = torch.min(torch.max(x_adv, x - eps), x + eps).clamp(0, 1)
        finally:
            model.train(was_training)
        return x_adv.detach()

    def loss(self, model: nn.Module, x: Tensor, y: Tensor, step: int = 0) -> tuple[Tensor, Tensor]:
        scale = warmup_factor(step, self.eps_warmup_steps)
        x_adv = self._adversarial(model, x, self.eps * scale, self.step_size * scale)
        logits = model(x)
        logits_adv = model(x_adv)
        robust = F.kl_div(F.log_softmax(logits_adv, dim=1), F.softmax(logits, dim=1), reduction="batchmean")
        return F.cross_entropy(logits, y) + self.beta * robust, logits
