"""A probe that runs one image-space attack and turns its :class:`AttackResult` into per-sample
facts (:class:`ProbeOutput`).

Target modes (``target_mode``):

* ``'none'``: untargeted; success = prediction ≠ label.
* ``'given'``: one class for every sample (``target_class``) or a per-sample tensor in
  ``context.target``; samples whose label *is* the target are not attacked in any
  meaningful sense and get ``success=False`` (``values["target_is_label"]`` marks them).
* ``'random'``: a random class ≠ label per sample, seeded by (context seed, sample index),
  so single-process and DDP runs draw the same targets.
* ``'all'``: the targeted attack once per class ``t`` on the samples with ``y ≠ t``;
  ``values["targeted_success"]`` is bool [B, K] (diagonal False) — Paper B's targeted
  success matrix is its class-wise mean; ``preds``/``norm``/``target`` come from the first
  target reached (else the last one tried); ``success`` = any target reached;
  ``iterations`` sums over targets.

Worst case: the probe counts towards ``worst_case/*`` exactly when its attack is a
:class:`~robustlens.attacks.base.BoundedAttack` (``in_worst_case``); minimal-norm attacks and
perturbations never do (``docs/attacks.md``).

Faithful mode: for an attack with an authors' mode (``robustlens.attacks.faithful``) the probe
records per sample whether the returned image leaves [0,1] (column ``out_of_range``) and the
share of such images (metric ``out_of_range_fraction``), in either mode.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import Tensor, nn

from robustlens.attacks.base import Attack, AttackResult, BoundedAttack, predict
from robustlens.attacks.faithful import faithful_procedure
from robustlens.attacks.precision import Precision, check_precision
from robustlens.attacks.targets import given_target, random_target
from robustlens.evaluation.probe import Batch, Probe, ProbeContext
from robustlens.metrics.base import ProbeMetric, ProbeOutput
from robustlens.metrics.validity import OutOfRangeFraction

TARGET_MODES: tuple[str, ...] = ("none", "given", "random", "all")
#: how many clean/adversarial images a probe hands on for grids
GRID_IMAGES = 8


class AttackProbe(Probe):
    """Run ``attack`` on each batch.

    Args:
        attack: a robustlens :class:`~robustlens.attacks.base.Attack` (required).
        name: key prefix of the results (default: the attack's ``name``).
        target_mode: ``'none' | 'given' | 'random' | 'all'`` (see module docstring).
        target_class: the class aimed at with ``target_mode='given'`` (else ``context.target``).
        keep_inputs: keep the adversarial inputs in the output (also done when a metric needs them).
        metrics: the probe's metrics by name (``out_of_range_fraction`` is added for
            attacks with an authors' mode).
        precision: the arithmetic of the attack's search (``fp32 | tf32 | bf16 | fp16``; default:
            ``evaluation.precision``); verdicts are fp32 whatever it is (``docs/precision.md``).
    """

    def __init__(
        self,
        attack: Attack,
        name: str | None = None,
        target_mode: Literal["none", "given", "random", "all"] = "none",
        target_class: int | None = None,
        keep_inputs: bool = False,
        metrics: dict[str, ProbeMetric | None] | None = None,
        precision: Precision | None = None,
    ):
        super().__init__(metrics)
        if target_mode not in TARGET_MODES:
            raise ValueError(f"unknown target_mode {target_mode!r}; valid: {', '.join(TARGET_MODES)}")
        if (target_mode == "none") == attack.targeted:
            need = "an untargeted" if target_mode == "none" else "a targeted"
            raise ValueError(
                f"target_mode={target_mode!r} needs {need} attack (set the attack's targeted="
                f"{target_mode != 'none'})"
            )
        self.attack = attack
        self.name = name or attack.name
        self.target_mode = target_mode
        self.target_class = target_class
        self.keep_inputs = keep_inputs
        self.precision = check_precision(precision, faithful=self.faithful_search) if precision else None
        #: whether the returned images' range is recorded (attacks with an authors' mode)
        self.records_range = faithful_procedure(attack) is not None
        if self.records_range and "out_of_range_fraction" not in self.metrics:
            self.metrics["out_of_range_fraction"] = OutOfRangeFraction()

    @property
    def faithful_search(self) -> bool:
        return bool(getattr(self.attack, "faithful", False))

    @property
    def in_worst_case(self) -> bool:
        """Only bounded attacks have a budget at which a worst case over attacks is defined."""
        return isinstance(self.attack, BoundedAttack)

    def _describe_extra(self) -> dict[str, Any]:
        return {**super()._describe_extra(), "in_worst_case": self.in_worst_case}

    def _wants_inputs(self) -> bool:
        return self.keep_inputs or self.metrics_need_inputs

    def run(self, model: nn.Module, batch: Batch, context: ProbeContext) -> ProbeOutput:
        x, y, index = batch
        clean_logits = context.clean_logits if context.clean_logits is not None else predict(model, x)
        clean_preds = clean_logits.argmax(dim=1)
        num_classes = clean_logits.shape[1]
        values: dict[str, Tensor] = {}

        if self.target_mode == "all":
            res, success, target, values = self._run_all(model, x, y, index, num_classes)
        else:
            target = None
            if self.target_mode == "given":
                chosen = self.target_class if self.target_class is not None else context.target
                if chosen is None:
                    raise ValueError("target_mode='given' needs target_class or context.target")
                target = given_target(y, chosen, num_classes)
            elif self.target_mode == "random":
                target = random_target(y, num_classes, index=index, seed=context.seed,
                                       stream=f"target/{self.name}")
            res = self.attack(model, x, y, target, index=index, precision=self.search_precision)
            success = res.success
            if target is not None:
                same = target.eq(y)
                success = success & ~same
                values["target_is_label"] = same
        if self.records_range and res.out_of_range is not None:
            values["out_of_range"] = res.out_of_range
        # per-sample facts of the attack (noise_accuracy, the chosen rotation, ...)
        for key, value in res.extra.items():
            if isinstance(value, Tensor) and value.ndim == 1 and len(value) == len(y):
                values.setdefault(key, value)

        return ProbeOutput(
            index=index,
            labels=y,
            preds=res.predictions,
            clean_preds=clean_preds,
            success=success,
            norm=res.norm,
            iterations=res.iterations,
            target=target,
            values=values,
            inputs=res.x_adv if self._wants_inputs() else None,
            images={"clean": x[:GRID_IMAGES], "adversarial": res.x_adv[:GRID_IMAGES]},
        )

    def _run_all(
        self, model: nn.Module, x: Tensor, y: Tensor, index: Tensor, num_classes: int
    ) -> tuple[AttackResult, Tensor, Tensor, dict[str, Tensor]]:
        """One targeted run per class; keep the first target reached per sample."""
        b = x.shape[0]
        hit = torch.zeros(b, num_classes, dtype=torch.bool, device=x.device)
        chosen: AttackResult | None = None
        chosen_target = torch.full((b,), -1, dtype=torch.long, device=x.device)
        settled = torch.zeros(b, dtype=torch.bool, device=x.device)
        iterations = torch.zeros(b, dtype=torch.long, device=x.device)
        for t in range(num_classes):
            rows = (y != t).nonzero().squeeze(1)
            if rows.numel() == 0:
                continue
            tgt = torch.full((rows.numel(),), t, dtype=torch.long, device=x.device)
            res = self.attack(model, x[rows], y[rows], tgt, index=index[rows], precision=self.search_precision)
            hit[rows, t] = res.success
            iterations[rows] += res.iterations
            if chosen is None:  # a result-shaped container for the whole batch
                chosen = AttackResult(
                    x_adv=x.clone(), success=torch.zeros(b, dtype=torch.bool, device=x.device),
                    norm=torch.zeros(b, dtype=res.norm.dtype, device=x.device),
                    iterations=iterations, logits=predict(model, x),
                    out_of_range=torch.zeros(b, dtype=torch.bool, device=x.device), extra={},
                )
                for key, v in res.extra.items():
                    chosen.extra[key] = torch.zeros((b, *v.shape[1:]), dtype=v.dtype, device=x.device)
            # take this target's result where the sample is not settled on an earlier success
            take = ~settled[rows]
            dest = rows[take]
            chosen.x_adv[dest] = res.x_adv[take]
            chosen.norm[dest] = res.norm[take]
            chosen.logits[dest] = res.logits[take]
            if res.out_of_range is not None:
                chosen.out_of_range[dest] = res.out_of_range[take]
            for key, v in res.extra.items():
                chosen.extra[key][dest] = v[take]
            chosen_target[dest] = t
            settled[rows] |= res.success
        assert chosen is not None, "target_mode='all' needs at least 2 classes"
        chosen.iterations = iterations
        chosen.success = settled
        return chosen, settled, chosen_target, {"targeted_success": hit}
