"""``EvaluationModule``: runs one probe over the test set inside ``Trainer.test``.

The evaluate task calls ``Trainer.test`` once per probe (``module.probe_name``), which is
what makes a long evaluation resumable probe by probe: when a pass ends, its
:class:`~robustlens.evaluation.result.ProbePass` (metrics, per-sample table, first-batch
images) is in ``module.last_pass`` for the task to save, and a restarted job skips the probe.
Each pass:

* runs under ``inference_mode=False``: attacks need gradients, which inference mode forbids
  even inside ``torch.enable_grad()``;
* counts every sample once under DDP: the datamodule's unpadded sampler feeds each rank
  disjoint indices, torchmetrics syncs the metric states, and the per-sample columns are
  gathered and checked for duplicate indices;
* feeds the probe's per-sample correctness to the worst-case metric when the probe is in it;
* shows what a long probe reports through :mod:`robustlens.utils.progress` on
  Lightning's progress bar;
* measures what the pass cost (:mod:`robustlens.evaluation.cost`: wall seconds, passes per
  sample through the classifier and the generator counted by hooks, peak memory), stored as
  ``<probe>/cost/<field>`` beside the probe's metrics and its strings in ``ProbePass.cost_record``.

The module logs nothing itself: the task logs every headline scalar once per job, after the
last probe (:mod:`robustlens.evaluation.scalars`).
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

import lightning as L
import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from robustlens.evaluation import cost as cost_meter
from robustlens.evaluation.probe import Batch, Probe, ProbeContext
from robustlens.evaluation.result import ProbePass
from robustlens.evaluation.worst_case import WorstCaseAccuracy, worst_case_probes
from robustlens.metrics.base import ProbeOutput
from robustlens.utils.finite import check_finite, install_finite_check
from robustlens.utils.progress import progress_reporter

log = logging.getLogger("robustlens")


class EvaluationModule(L.LightningModule):
    """Evaluates ``classifier`` with the probe named ``probe_name`` (set before each pass).

    Args:
        classifier: maps [0,1] images to logits.
        probes: name → probe.
        generator: optional generator for latent probes.
        num_classes / class_names: label space of the data.
        seed: global seed for per-sample random draws.
        worst_case: the worst-case metric fed by the probes in the worst case (default: a
            :class:`WorstCaseAccuracy` over every probe whose ``in_worst_case`` is true).
    """

    def __init__(
        self,
        classifier: nn.Module,
        probes: dict[str, Probe],
        generator: nn.Module | None = None,
        num_classes: int = 10,
        class_names: list[str] | None = None,
        seed: int = 0,
        worst_case: WorstCaseAccuracy | None = None,
    ):
        super().__init__()
        self.classifier = classifier.eval()
        self.probes = nn.ModuleDict(probes)
        self.generator = generator.eval() if generator is not None else None
        self.num_classes = num_classes
        self.class_names = class_names or [str(c) for c in range(num_classes)]
        self.seed = seed
        self.probe_name: str | None = None
        self._columns: dict[str, list[Tensor]] = {}
        self._images: dict[str, Tensor] = {}
        self.worst_case = worst_case or WorstCaseAccuracy(num_classes, worst_case_probes(probes))
        #: the output of the last pass (metrics, per-sample table, first-batch images)
        self.last_pass: ProbePass | None = None
        self._progress_shown = 0.0
        #: the cost of the current pass, synced over ranks by torchmetrics
        self.cost_state = cost_meter.CostState()
        self._cost_hooks: contextlib.ExitStack | None = None
        self._counters: tuple[cost_meter.PassCounter, cost_meter.PassCounter] | None = None
        self._cost_started = 0.0
        self._cost_memory = ""
        self._cost_samples = 0
        self._cost_batch = 0
        #: the shortest time between two progress-bar updates (a search reports at every step)
        self.progress_interval_s = 0.2
        for probe in self.probes.values():
            probe.set_model(self.classifier)
        # NaN/Inf from either network stops the pass with the probe and sample named (robustlens.utils.finite)
        self._batch_index: Tensor | None = None
        self._finite_watches = [
            install_finite_check(self.classifier, "the classifier", lambda: (self.probe_name, self._batch_index))
        ]
        if self.generator is not None:
            decode = "decode" if hasattr(self.generator, "decode") else "forward"
            self._finite_watches.append(
                install_finite_check(self.generator, "the generator", lambda: (self.probe_name, self._batch_index), decode)
            )

    @property
    def probe(self) -> Probe:
        if self.probe_name is None or self.probe_name not in self.probes:
            raise RuntimeError(f"set EvaluationModule.probe_name to one of {list(self.probes)} before testing")
        return self.probes[self.probe_name]

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(x)

    def on_test_epoch_start(self) -> None:
        self.classifier.eval()
        self._columns = {}
        self._images = {}
        for metric in self.probe.metrics.values():
            metric.reset()
        self._start_cost()

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        x, y, index = batch
        self._batch_index = index
        self._cost_samples += len(index)
        self._cost_batch = max(self._cost_batch, len(index))
        with torch.no_grad():
            clean_logits = self.classifier(x)
        context = ProbeContext(seed=self.seed, generator=self.generator, clean_logits=clean_logits)
        try:
            with progress_reporter(self._show_progress):
                output = self.probe.run(self.classifier, (x, y, index), context)
        except Exception:
            self._check_finite()  # a NaN/Inf output is the cause to name, if there was one
            raise
        self._check_finite()
        self.probe.update_metrics(output)
        if self.probe_name in self.worst_case.probe_names:
            self.worst_case.update(self.probe_name, output.index, output.labels, output.correct)
        self._record(output)
        if batch_idx == 0 and output.images:
            self._images = {k: v.detach().cpu() for k, v in output.images.items()}

    def _check_finite(self) -> None:
        """Read the NaN/Inf watches of both networks once per batch (robustlens.utils.finite)."""
        check_finite(self._finite_watches)

    def on_test_batch_start(self, batch: Batch, batch_idx: int, dataloader_idx: int = 0) -> None:
        self._show_progress("")

    def _show_progress(self, text: str) -> None:
        """Put the probe's name and its within-batch progress on Lightning's progress bar
        (at most every ``progress_interval_s``: a search reports at every step)."""
        now = time.monotonic()
        if text and now - self._progress_shown < self.progress_interval_s:
            return
        self._progress_shown = now
        trainer = self._trainer
        bar = getattr(trainer, "progress_bar_callback", None) if trainer is not None else None
        if bar is None or not trainer.is_global_zero:
            return
        description = f"{self.probe_name}: {text}" if text else str(self.probe_name)
        rich_progress = getattr(bar, "progress", None)
        task_id = getattr(bar, "test_progress_bar_id", None)
        if rich_progress is not None and task_id is not None:  # RichProgressBar
            rich_progress.update(task_id, description=description)
            bar.refresh()
            return
        tqdm_bar = getattr(bar, "_test_progress_bar", None)
        if tqdm_bar is not None:  # TQDMProgressBar
            tqdm_bar.set_description_str(description, refresh=True)

    def _record(self, output: ProbeOutput) -> None:
        columns = {"index": output.index, "label": output.labels, **output.per_sample_columns()}
        for name, value in columns.items():
            if value.ndim == 1:
                self._columns.setdefault(name, []).append(value.detach().cpu())

    def _start_cost(self) -> None:
        """Open the pass's cost window: hooks on both networks, a fresh memory peak, the clock."""
        self._stop_cost_hooks()
        self.cost_state.reset()
        self._cost_samples = self._cost_batch = 0
        self._cost_hooks = contextlib.ExitStack()
        self._counters = self._cost_hooks.enter_context(
            cost_meter.counting_passes(self.classifier, self.generator)
        )
        self._cost_memory = cost_meter.reset_peak_memory(self.device)
        self._cost_started = cost_meter.now()

    def _stop_cost_hooks(self) -> None:
        if self._cost_hooks is not None:
            self._cost_hooks.close()
            self._cost_hooks = None

    def _finish_cost(self) -> tuple[dict[str, float], dict[str, Any]]:
        """Close the window; the pass's cost numbers (synced over ranks) and its strings."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)  # once per pass: the clock must include queued work
        seconds = cost_meter.now() - self._cost_started
        model_counter, generator_counter = self._counters or (cost_meter.PassCounter(), cost_meter.PassCounter())
        self._stop_cost_hooks()
        self.cost_state.update(
            self._cost_samples, model_counter, generator_counter, seconds,
            cost_meter.peak_memory_mb(self.device), self._cost_batch,
        )
        numbers = self.cost_state.compute()
        record = {"device": cost_meter.device_name(self.device), "precision": cost_meter.precision_of(self.probe),
                  "memory": self._cost_memory, "batch_size": int(numbers["batch_size"])}
        return numbers, record

    def on_test_epoch_end(self) -> None:
        metrics: dict[str, Any] = {}
        for metric_name, metric in self.probe.metrics.items():
            computed = metric.compute()
            if not isinstance(computed, dict):
                computed = {metric_name: computed}
            for key, value in computed.items():
                metrics.update(flatten_metric(f"{self.probe_name}/{key}", value))
        numbers, record = self._finish_cost()
        metrics.update(cost_meter.cost_metrics(str(self.probe_name), numbers))
        self.last_pass = ProbePass(metrics=metrics, table=self._gather_table(), images=self._images,
                                   cost_record=record)

    def _gather_table(self) -> pd.DataFrame:
        local = {name: torch.cat(parts).numpy() for name, parts in self._columns.items()}
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            gathered: list[Any] = [None] * torch.distributed.get_world_size()
            torch.distributed.all_gather_object(gathered, local)
            merged = {name: np.concatenate([g[name] for g in gathered if name in g]) for name in local}
        else:
            merged = local
        table = pd.DataFrame(merged)
        if table.empty:
            return table
        duplicated = table["index"].duplicated()
        if duplicated.any():
            raise RuntimeError(
                f"{int(duplicated.sum())} samples were evaluated twice (a padding distributed sampler?); "
                "evaluation must use the datamodule's unpadded sampler (use_distributed_sampler=False)"
            )
        return table.sort_values("index").reset_index(drop=True)


def flatten_metric(key: str, value: Any) -> dict[str, Any]:
    """Scalars stay scalars; per-class vectors become ``key/<class>``; matrices nested lists."""
    if isinstance(value, Tensor):
        value = value.detach().cpu()
        if value.ndim == 0:
            return {key: float(value)}
        if value.ndim == 1:
            return {f"{key}/{i}": float(v) for i, v in enumerate(value.tolist())}
        return {key: value.tolist()}
    if isinstance(value, int | float):
        return {key: float(value)}
    return {key: value}
