"""Projected gradient descent (Madry et al. 2018), batched, with per-sample early stopping.

Two uses, one implementation:

* **evaluation** (``early_stop=True``, the default): a sample whose current point is already
  adversarial leaves the active set and keeps that point, so robust points get the whole
  budget and broken ones cost nothing more. Restarts run only on samples still robust.
  This can only *lower* robust accuracy compared with fixed-step PGD from the same start:
  the fixed-step trajectory is identical up to the first adversarial point, where it may
  walk out of the adversarial region again.
* **adversarial training** (``early_stop=False``): Madry-style fixed-step PGD, every sample
  takes every step; ``ClassifierModule`` calls ``PGD(eps=..., step_size=..., steps=...,
  norm=..., random_start=True, early_stop=False)(model, x, y)``.

Success is decided by the base class (fresh forward pass), never here; the early-stop test
uses the same rule on the logits of the gradient pass, which costs nothing extra.
"""

from __future__ import annotations

from typing import Annotated, Literal

import torch
from pydantic import Field
from torch import Tensor, nn

from robustlens.attacks import _steps, geometry, precision
from robustlens.attacks.base import BoundedAttack, predict


class PGD(BoundedAttack):
    """L∞ / L2 PGD with random start, restarts, CE or margin loss, optional target.

    Paper: Madry, Makelov, Schmidt, Tsipras & Vladu, *Towards Deep Learning Models Resistant
    to Adversarial Attacks*, ICLR 2018.

    Threat model: white-box, L∞ or L2 ball of radius ``eps`` around ``x`` (intersected with
    the valid range); untargeted or targeted.

    Success: a fresh forward pass on the returned image predicts a class other than ``y``
    (untargeted) or ``target`` (targeted). With early stopping the returned point of a broken
    sample is the first adversarial iterate.

    Args:
        eps: radius of the norm ball, in input units ([0,1] images).
        step_size: step length (L∞: per-pixel; L2: Euclidean length of each step).
        steps: gradient steps per restart (0: random start only).
        norm: ``'linf'`` or ``'l2'``.
        random_start: start uniformly in the ball (L∞) / at a random radius (L2).
        restarts: runs per sample; a restart only for samples still robust.
        loss: ``'ce'`` (cross-entropy) or ``'margin'`` (Carlini-Wagner logit margin).
        targeted: aim at ``target`` (descend the target's loss) instead of away from ``y``.
        early_stop: drop samples from the active set as soon as they are adversarial.
        seed: seed of the per-sample random starts (used when the caller passes ``index``).
        bounds: valid input range.
        check_every: with ``early_stop``, how many steps run between two host reads of which
            samples still search (a broken sample is frozen on the device in between; the result
            does not depend on it, only the work spent on broken samples does).
    """

    name = "pgd"

    def __init__(
        self,
        eps: Annotated[float, Field(ge=0)],
        step_size: Annotated[float, Field(gt=0)],
        steps: Annotated[int, Field(ge=0)],
        norm: Literal["linf", "l2"] = "linf",
        random_start: bool = True,
        restarts: Annotated[int, Field(ge=1)] = 1,
        loss: Literal["ce", "margin"] = "ce",
        targeted: bool = False,
        early_stop: bool = True,
        seed: int = 0,
        bounds: tuple[float, float] = (0.0, 1.0),
        check_every: Annotated[int, Field(ge=1)] = 4,
    ):
        super().__init__(norm=norm, bounds=bounds, targeted=targeted)
        self.eps = float(eps)
        self.step_size = float(step_size)
        self.steps = int(steps)
        self.random_start = bool(random_start)
        self.restarts = int(restarts)
        self.loss = loss
        self.early_stop = bool(early_stop)
        self.seed = int(seed)
        self.check_every = int(check_every)

    def _perturb(
        self, model: nn.Module, x: Tensor, y: Tensor, target: Tensor | None, index: Tensor | None
    ) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        b = x.shape[0]
        x_adv = x.clone()
        iterations = torch.zeros(b, dtype=torch.long, device=x.device)
        done = torch.zeros(b, dtype=torch.bool, device=x.device)
        for restart in range(self.restarts):
            last = restart == self.restarts - 1
            if restart == 0:
                active = None  # all samples: skip the gathers on the common path
                xa, ya, ta, ia = x, y, target, index
            else:
                active = (~done).nonzero().squeeze(1)
                if active.numel() == 0:
                    break
                xa, ya = x[active], y[active]
                ta = target[active] if target is not None else None
                ia = index[active] if index is not None else None
            cur, found, its = self._run(model, xa, ya, ta, ia, restart, check_end=not last)
            if active is None:
                x_adv, done, iterations = cur, found, iterations + its
            else:
                x_adv[active] = cur
                done[active] = found
                iterations[active] += its
        return x_adv, iterations, {}

    def _run(
        self, model: nn.Module, x: Tensor, y: Tensor, target: Tensor | None, index: Tensor | None,
        restart: int, *, check_end: bool,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """One restart: returns final points, whether each is known adversarial, steps used."""
        n = x.shape[0]
        found = torch.zeros(n, dtype=torch.bool, device=x.device)
        its = torch.zeros(n, dtype=torch.long, device=x.device)
        if self.random_start and self.eps > 0:
            delta = _steps.random_start(
                x, self.eps, self.norm, index=index, seed=self.seed, stream=f"pgd/{self.norm}/{restart}"
            )
            cur = x + _steps.clip_to_bounds(x, delta, self.bounds)
        else:
            cur = x.clone()
        # fixed-shape steps on a working set (rows ``live`` of the batch; None: all rows): a sample
        # found adversarial is frozen by torch.where, and only every ``check_every`` steps the host
        # reads which samples still search and the working set shrinks to them (one sync per k steps)
        # Under a lower search precision (robustlens.attacks.precision) the gradient pass's verdict
        # may be one that fp32 does not share: every check re-decides ``found`` by an fp32 pass on
        # the current points, and a sample whose freeze fp32 refuted ("doubted") is no longer frozen
        # by the low-precision verdict, only by the fp32 one at the next check.
        lowered = self.early_stop and precision.lowered()
        live: Tensor | None = None
        x0, yl, tl, cur_l, found_l, its_l = x, y, target, cur, found, its
        doubt_l = torch.zeros_like(found)
        for step in range(self.steps):
            grad, logits = _steps.input_gradient(model, cur_l, yl, tl, self.loss)
            moved = cur_l + self.step_size * geometry.unit_direction(grad, self.norm, tiny=_steps.TINY)
            delta = _steps.clip_to_bounds(x0, geometry.project(moved - x0, self.eps, self.norm, tiny=_steps.TINY),
                                          self.bounds)
            if not self.early_stop:  # Madry's fixed steps: every sample takes every step
                its_l, cur_l = its_l + 1, x0 + delta
                continue
            its_l = its_l + (~found_l).long()
            found_l = found_l | (_steps.is_adversarial(logits, yl, tl) & ~doubt_l)
            cur_l = torch.where(geometry.rows_view(found_l, cur_l), cur_l, x0 + delta)
            if self.early_stop and (step + 1) % self.check_every == 0 and step + 1 < self.steps:
                if lowered:
                    fp32_adv = _fp32_adversarial(model, cur_l, yl, tl)
                    doubt_l, found_l = doubt_l | (found_l & ~fp32_adv), fp32_adv
                _store(live, (cur, cur_l), (found, found_l), (its, its_l))
                keep = (~found_l).nonzero().squeeze(1)  # the loop's one host read
                if keep.numel() == 0:
                    break
                live = keep if live is None else live[keep]
                x0, yl, cur_l, found_l, its_l = x0[keep], yl[keep], cur_l[keep], found_l[keep], its_l[keep]
                doubt_l = doubt_l[keep]
                tl = tl[keep] if tl is not None else None
        _store(live, (cur, cur_l), (found, found_l), (its, its_l))
        if lowered:
            found.copy_(_fp32_adversarial(model, cur, y, target))
        if check_end:
            # which samples still need a restart: test the final points of those not found
            ids = (~found).nonzero().squeeze(1)
            if ids.numel():
                found[ids] = _fp32_adversarial(model, cur[ids], y[ids], target[ids] if target is not None else None)
        return cur, found, its


def _fp32_adversarial(model: nn.Module, cur: Tensor, y: Tensor, target: Tensor | None) -> Tensor:
    """Whether each point is adversarial by an fp32 pass (the base class's verdict)."""
    with precision.fp32_pass(cur.device.type):
        return _steps.is_adversarial(predict(model, cur), y, target)


def _store(live: Tensor | None, *pairs: tuple[Tensor, Tensor]) -> None:
    """Write each working-set tensor into its batch tensor (rows ``live``; None: all rows), in place."""
    for full, part in pairs:
        if live is None:
            full.copy_(part)
        else:
            full[live] = part
