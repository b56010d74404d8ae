"""Image-space adversarial severity and bounded accuracy with Paper A's search (``methods.md`` A.3).

Units. Paper A's images live in [-1, 1]; robustlens images live in [0, 1], so every
perturbation is **half** as large here. The MNIST caps of the paper, 0.6 (scaled L2) and
1.2 (L∞) in [-1,1] units, are ``rho=0.3`` and ``rho=0.6`` in these classes, and the bounded
attacks' 0.1/0.15 (scaled L2) and 0.15/0.25 (L∞) become 0.05/0.075 and 0.075/0.125.
Norms in :class:`~robustlens.attacks.base.AttackResult` are in [0,1] units; the same norm
in the paper's units is in ``extra["norm_pm1"]`` (= 2 × norm) for side-by-side tables.
(An L∞ cap of 0.6 in [0,1] units is larger than half the range: it is effectively
unbounded, as in the paper.)

Severity = plain mean of ``AttackResult.norm`` over all samples: a point where no adversarial
input was found contributes the norm of the first run's final perturbation (not censored).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field
from torch import Tensor, nn

from robustlens.attacks.base import Attack
from robustlens.attacks.paper_a_search import misclassification_loss, search

PositiveFloat = Annotated[float, Field(gt=0)]
PositiveInt = Annotated[int, Field(ge=1)]


class PaperASearchAttack(Attack):
    """Paper A's search (A.4) in image space as an :class:`Attack`.

    Args:
        rho: radius (bounded attack) or cap (minimum search), in [0,1] image units.
        norm: ``scaled_l2`` (L2/√n_I) or ``linf``.
        steps, rel_step, restarts, mode, random_start: A.4's T, s, R, mode, random start.
        faithful: reproduce the authors' code (no clipping to [0,1] during the search; the
            returned images are still clipped by :class:`Attack`, as every attack's are).
        seed: seed of the per-sample random starts when dataset indices are given.
    """

    name = "paper_a_search"

    def __init__(
        self,
        rho: PositiveFloat,
        norm: Literal["scaled_l2", "linf"] = "scaled_l2",
        steps: PositiveInt = 50,
        rel_step: PositiveFloat = 0.05,
        restarts: PositiveInt = 15,
        mode: Literal["any", "min"] = "min",
        random_start: bool = True,
        faithful: bool = False,
        seed: int = 0,
        bounds: tuple[float, float] = (0.0, 1.0),
    ):
        if norm not in ("scaled_l2", "linf"):
            raise ValueError(f"norm must be 'scaled_l2' or 'linf' (Paper A's image norms), got {norm!r}")
        if mode not in ("any", "min"):
            raise ValueError(f"mode must be 'any' (bounded accuracy) or 'min' (severity), got {mode!r}")
        super().__init__(norm=norm, bounds=bounds, targeted=False)
        self._eps = float(rho)
        self.steps, self.rel_step, self.restarts = int(steps), float(rel_step), int(restarts)
        self.mode, self.random_start, self.faithful, self.seed = mode, random_start, faithful, seed

    def _perturb(
        self, model: nn.Module, x: Tensor, y: Tensor, target: Tensor | None, index: Tensor | None
    ) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        def objective(points: Tensor, rows: Tensor) -> Tensor:
            return misclassification_loss(model(points), y[rows])

        res = search(
            objective,
            x,
            rho=self._eps,
            steps=self.steps,
            rel_step=self.rel_step,
            restarts=self.restarts,
            mode=self.mode,
            norm=self.norm,
            random_start=self.random_start,
            index=index,
            seed=self.seed,
            stream=f"{self.name}/{self.norm}",
            faithful=self.faithful,
            bounds=self.bounds,
        )
        x_adv = x + res.delta
        # norm in the paper's [-1,1] units, measured after the final clip to the valid range
        clipped = (x_adv.clamp(*self.bounds) - x).flatten(1)
        if self.norm == "linf":
            pm1 = 2 * clipped.abs().amax(dim=1)
        else:
            pm1 = 2 * clipped.norm(dim=1) / clipped.shape[1] ** 0.5
        return x_adv, res.grad_evals, {"found": res.found, "norm_pm1": pm1}


class PaperASeverity(PaperASearchAttack):
    """Minimum-norm search ('min', R=15): its mean ``norm`` is A.3's adversarial severity.

    MNIST: ``rho=0.3`` (scaled L2) / ``rho=0.6`` (L∞) in [0,1] units = the paper's 0.6 / 1.2.
    """

    name = "severity"

    def __init__(
        self,
        rho: PositiveFloat,
        norm: Literal["scaled_l2", "linf"] = "scaled_l2",
        steps: PositiveInt = 50,
        rel_step: PositiveFloat = 0.05,
        restarts: PositiveInt = 15,
        random_start: bool = True,
        faithful: bool = False,
        seed: int = 0,
        bounds: tuple[float, float] = (0.0, 1.0),
    ):
        super().__init__(rho, norm, steps, rel_step, restarts, "min", random_start, faithful, seed, bounds)


class PaperABoundedAttack(PaperASearchAttack):
    """Bounded image attack of A.3: one run, T=25, s=0.1, random start, stop at the first success."""

    name = "paper_a_bounded"

    def __init__(
        self,
        rho: PositiveFloat,
        norm: Literal["scaled_l2", "linf"] = "scaled_l2",
        steps: PositiveInt = 25,
        rel_step: PositiveFloat = 0.1,
        restarts: PositiveInt = 1,
        random_start: bool = True,
        faithful: bool = False,
        seed: int = 0,
        bounds: tuple[float, float] = (0.0, 1.0),
    ):
        super().__init__(rho, norm, steps, rel_step, restarts, "any", random_start, faithful, seed, bounds)


__all__ = ["PaperABoundedAttack", "PaperASearchAttack", "PaperASeverity"]
