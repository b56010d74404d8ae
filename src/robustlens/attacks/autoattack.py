"""APGD-CE, APGD-T and AutoAttack "standard" as robustlens attacks: thin adapters over the
pinned reference package ``pyautoattack==0.2.0`` (Croce & Hein 2020).

Why an adapter and not a re-implementation: AutoAttack numbers are only comparable with
RobustBench when they come from the reference code (torchattacks' re-implementation is known
to differ, torchattacks #188). The adapter adds what the reference lacks: robustlens' input
checks, frozen parameters, verified success, and a record of the library versions.

Known limits, inherited from the reference:

* random starts come from the *global* torch RNG seeded with ``seed`` per call, so results
  depend on batch composition (not per-sample seeded). The adapter forks the RNG so that the
  caller's global RNG state is left untouched;
* ``iterations`` is the *budget* per sample (an upper bound): the reference does not report
  how many steps each sample used;
* inputs must lie in [0, 1] (the reference clips to it).
"""

from __future__ import annotations

import contextlib
import io
import logging
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import pyautoattack
import torch
from pyautoattack.autopgd_base import APGDAttack, APGDAttack_targeted
from pydantic import Field
from torch import Tensor, nn

from robustlens.attacks import precision
from robustlens.attacks.base import AttackInputError, BoundedAttack, predict

_REF_NORM = {"linf": "Linf", "l2": "L2"}


def _fork_rng(x: Tensor):
    """Keep the caller's RNG state: the reference reseeds the global generator on every call."""
    devices = [x.device.index or 0] if x.is_cuda else []
    return torch.random.fork_rng(devices=devices)


class _ReferenceAttack(BoundedAttack):
    """Shared parameters and book-keeping of the pyautoattack adapters."""

    reference_name = ""

    def __init__(
        self,
        eps: Annotated[float, Field(ge=0)],
        norm: Literal["linf", "l2"] = "linf",
        seed: int = 0,
        bounds: tuple[float, float] = (0.0, 1.0),
    ):
        if tuple(float(b) for b in bounds) != (0.0, 1.0):
            raise AttackInputError(
                "pyautoattack works on [0, 1] inputs only: use bounds (0, 1) and put any "
                "normalisation inside the model"
            )
        super().__init__(norm=norm, bounds=bounds, targeted=False)
        self.eps = float(eps)
        self.seed = int(seed)

    def _describe_extra(self) -> dict[str, Any]:
        """The reference implementation and the versions its numbers depend on."""
        return {"reference": self.reference_name, "library": "pyautoattack",
                "library_version": pyautoattack.__version__, "torch_version": torch.__version__}

    def _query_budget(self, num_classes: int) -> int:
        raise NotImplementedError

    def _run_reference(self, model: nn.Module, x: Tensor, y: Tensor, num_classes: int) -> Tensor:
        raise NotImplementedError

    def _perturb(
        self, model: nn.Module, x: Tensor, y: Tensor, target: Tensor | None, index: Tensor | None
    ) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        if x.shape[0] == 0:
            return x.clone(), torch.zeros(0, dtype=torch.long, device=x.device), {}
        num_classes = predict(model, x[:1]).shape[1]
        budget = torch.full((x.shape[0],), self._query_budget(num_classes), dtype=torch.long, device=x.device)
        with _fork_rng(x):
            x_adv = self._run_reference(model, x, y, num_classes).to(x.dtype)
            if precision.lowered():
                x_adv = self._rerun_refuted(model, x, y, x_adv, num_classes, budget)
        return x_adv, budget, {}

    def _rerun_refuted(
        self, model: nn.Module, x: Tensor, y: Tensor, x_adv: Tensor, num_classes: int, budget: Tensor
    ) -> Tensor:
        """Under a lower precision pyautoattack keeps a point as soon as its own low-precision
        prediction is wrong; where the fp32 verdict disagrees the point is not adversarial, and those
        samples (a few: ``benchmarks/bench_precision.py``) are attacked again in fp32."""
        claimed = predict(model, x_adv).argmax(dim=1).ne(y)
        with precision.fp32_pass(x.device.type):
            rows = (claimed & predict(model, x_adv).argmax(dim=1).eq(y)).nonzero().squeeze(1)
            if rows.numel():
                x_adv = x_adv.clone()
                x_adv[rows] = self._run_reference(model, x[rows], y[rows], num_classes).to(x.dtype)
                budget[rows] *= 2
        return x_adv


class _APGD(_ReferenceAttack):
    """The parameters both APGD variants share (steps, restarts, rho), declared once."""

    def __init__(
        self,
        eps: Annotated[float, Field(ge=0)],
        norm: Literal["linf", "l2"] = "linf",
        steps: Annotated[int, Field(ge=1)] = 100,
        restarts: Annotated[int, Field(ge=1)] = 1,
        rho: Annotated[float, Field(gt=0, lt=1)] = 0.75,
        seed: int = 0,
        bounds: tuple[float, float] = (0.0, 1.0),
    ):
        super().__init__(eps=eps, norm=norm, seed=seed, bounds=bounds)
        self.steps, self.restarts, self.rho = int(steps), int(restarts), float(rho)


class APGDCE(_APGD):
    """APGD on the cross-entropy loss (reference ``APGDAttack(loss='ce')``).

    Paper: Croce & Hein, *Reliable Evaluation of Adversarial Robustness with an Ensemble of
    Diverse Parameter-free Attacks*, ICML 2020 (AutoAttack's first component).

    Threat model: white-box, L∞ or L2 ball of radius ``eps``, untargeted, [0,1] inputs.

    Success: a fresh forward pass on the returned image predicts a class other than ``y``.

    Args:
        eps: the budget.
        norm: ``'linf'`` or ``'l2'``.
        steps: iterations per restart (100 in AutoAttack).
        restarts: runs for still-robust points.
        rho: step-size decrease threshold (0.75 in AutoAttack).
        seed: the reference's RNG seed (global torch RNG, forked so the caller's is untouched).
        bounds: must be (0, 1).
    """

    name = "apgd_ce"
    reference_name = "pyautoattack.autopgd_base.APGDAttack(loss='ce')"

    def _query_budget(self, num_classes: int) -> int:
        return self.steps * self.restarts

    def reference(self, model: nn.Module, device: torch.device | str) -> APGDAttack:
        """The reference attack object this adapter runs (exposed for agreement tests)."""
        return APGDAttack(
            model, n_iter=self.steps, norm=_REF_NORM[self.norm], n_restarts=self.restarts,
            eps=self.eps, seed=self.seed, loss="ce", eot_iter=1, rho=self.rho, device=device,
            logger=logging.getLogger("auto-attack"),
        )

    def _run_reference(self, model: nn.Module, x: Tensor, y: Tensor, num_classes: int) -> Tensor:
        return self.reference(model, x.device).perturb(x, y)


class APGDT(_APGD):
    """APGD on the targeted DLR loss over the top ``target_classes`` other classes
    (reference ``APGDAttack_targeted``).

    Paper: Croce & Hein, ICML 2020 (AutoAttack's second component).

    Threat model: white-box, L∞ or L2 ball of radius ``eps``, [0,1] inputs; it aims at
    several classes in turn but is untargeted in effect.

    Success: a fresh forward pass on the returned image predicts a class other than ``y``
    (any class: the targets are only a search strategy).

    Args:
        eps: the budget.
        norm: ``'linf'`` or ``'l2'``.
        steps: iterations per restart and target.
        target_classes: how many of the highest-scoring other classes are aimed at (≤ K−1).
        restarts: runs per target for still-robust points.
        rho: step-size decrease threshold.
        seed: the reference's RNG seed.
        bounds: must be (0, 1).
    """

    name = "apgd_t"
    reference_name = "pyautoattack.autopgd_base.APGDAttack_targeted"

    def __init__(self, eps: Annotated[float, Field(ge=0)], *,
                 target_classes: Annotated[int, Field(ge=1)] = 9, **apgd: Any):
        super().__init__(eps, **apgd)
        self.target_classes = int(target_classes)

    def _query_budget(self, num_classes: int) -> int:
        return self.steps * self.restarts * min(self.target_classes, num_classes - 1)

    def reference(
        self, model: nn.Module, device: torch.device | str, num_classes: int
    ) -> APGDAttack_targeted:
        """The reference attack object (target count capped at ``num_classes − 1``)."""
        return APGDAttack_targeted(
            model, n_iter=self.steps, norm=_REF_NORM[self.norm], n_restarts=self.restarts,
            eps=self.eps, seed=self.seed, eot_iter=1, rho=self.rho,
            n_target_classes=min(self.target_classes, num_classes - 1), device=device,
            logger=logging.getLogger("auto-attack"),
        )

    def _run_reference(self, model: nn.Module, x: Tensor, y: Tensor, num_classes: int) -> Tensor:
        if num_classes < 4:
            raise AttackInputError("APGD-T's DLR loss needs at least 4 classes")
        return self.reference(model, x.device, num_classes).perturb(x, y)


class AutoAttack(_ReferenceAttack):
    """AutoAttack ``version='standard'``: APGD-CE, APGD-T, FAB-T, Square, each run only on
    points still robust (reference ``pyautoattack.AutoAttack.run_standard_evaluation``).

    Paper: Croce & Hein, ICML 2020; the numbers RobustBench reports.

    Threat model: white-box then black-box (Square), L∞ or L2 ball of radius ``eps``,
    untargeted, [0,1] inputs.

    Success: a fresh forward pass on the returned image predicts a class other than ``y``
    (the image of the first component that broke the point).

    Args:
        eps: the budget.
        norm: ``'linf'`` or ``'l2'``.
        version: ``'standard'`` (the only version offered).
        seed: the reference's RNG seed.
        batch_size: the reference's batch size.
        bounds: must be (0, 1).
    """

    name = "autoattack"
    reference_name = "pyautoattack.AutoAttack(version='standard')"

    def __init__(
        self,
        eps: Annotated[float, Field(ge=0)],
        norm: Literal["linf", "l2"] = "linf",
        version: Literal["standard"] = "standard",
        seed: int = 0,
        batch_size: Annotated[int, Field(ge=1)] = 500,
        bounds: tuple[float, float] = (0.0, 1.0),
    ):
        super().__init__(eps=eps, norm=norm, seed=seed, bounds=bounds)
        self.version = version
        self.batch_size = int(batch_size)
        #: what the last call ran: each component of the ensemble that attacked, and on which points
        self.components_run: list[ComponentRun] = []

    def _query_budget(self, num_classes: int) -> int:
        targets = min(9, num_classes - 1)
        return 100 + 100 * targets + 100 * targets + 5000  # APGD-CE, APGD-T, FAB-T, Square queries

    def reference(
        self, model: nn.Module, device: torch.device | str, num_classes: int
    ) -> pyautoattack.AutoAttack:
        """The reference AutoAttack object (target counts capped at ``num_classes − 1``)."""
        aa = pyautoattack.AutoAttack(
            model, eps=self.eps, norm=_REF_NORM[self.norm], seed=self.seed, version=self.version,
            device=device,
        )
        aa.apgd_targeted.n_target_classes = min(aa.apgd_targeted.n_target_classes, num_classes - 1)
        aa.fab.n_target_classes = min(aa.fab.n_target_classes, num_classes - 1)
        return aa

    def _run_reference(self, model: nn.Module, x: Tensor, y: Tensor, num_classes: int) -> Tensor:
        aa = self.reference(model, x.device, num_classes)
        self.components_run = []
        _report_stages(aa, x, self.components_run)
        logger = logging.getLogger("auto-attack")
        level = logger.level
        logger.setLevel(logging.WARNING)  # the reference logs every batch at DEBUG/INFO
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                x_adv, _ = aa.run_standard_evaluation(x, y, batch_size=self.batch_size)
        finally:
            logger.setLevel(level)
        return x_adv


@dataclass(frozen=True)
class ComponentRun:
    """One component of the ensemble run on one batch: ``name`` (``apgd-ce``, ``apgd-t``, ``fab-t``,
    ``square``) and ``points``, the rows of the adapter's input it attacked (the points still robust)."""

    name: str
    points: Tensor


def _rows_of(x: Tensor) -> dict[bytes, int]:
    """Each input row's bytes → its first row number: the reference hands a component exact copies of the
    rows still robust, without their numbers (identical images share the first number)."""
    rows: dict[bytes, int] = {}
    for i, row in enumerate(x.detach().flatten(1).cpu().numpy()):
        rows.setdefault(row.tobytes(), i)
    return rows


def _report_stages(aa: pyautoattack.AutoAttack, x_in: Tensor, record: list[ComponentRun]) -> None:
    """Report each stage of the ensemble (``apgd-t 2/4``) through :mod:`robustlens.utils.progress`:
    one batch of AutoAttack runs for minutes, and the stage is the only progress there is to show. Each
    component's run and its points are appended to ``record`` and logged (robustlens' own account of what
    ran, independent of the reference's log)."""
    from robustlens.utils.progress import report_progress

    stages = list(aa.attacks_to_run)
    rows = _rows_of(x_in)
    log = logging.getLogger(__name__)

    def stage_of(member: Any) -> str:
        if member is aa.apgd:
            return "apgd-dlr" if getattr(member, "loss", "ce") == "dlr" else "apgd-ce"
        if member is aa.apgd_targeted:
            return "apgd-t"
        if member is aa.fab:
            return "fab-t" if getattr(member, "targeted", False) else "fab"
        return "square"

    for member in (aa.apgd, aa.apgd_targeted, aa.fab, aa.square):
        def reporting(x: Tensor, y: Tensor, *args: Any, _member: Any = member, _perturb: Any = member.perturb,
                      **kwargs: Any) -> Any:
            name = stage_of(_member)
            step = stages.index(name) + 1 if name in stages else None
            report_progress(name, step=step, total=len(stages), remaining=len(y))
            points = torch.tensor([rows.get(row.tobytes(), -1) for row in x.detach().flatten(1).cpu().numpy()],
                                  dtype=torch.long)
            record.append(ComponentRun(name, points))
            log.debug("autoattack: %s on %d points", name, len(points))
            return _perturb(x, y, *args, **kwargs)

        member.perturb = reporting
