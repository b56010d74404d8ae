"""``EvaluationModule``: runs one probe over the test set inside ``Trainer.test``.

The evaluate task calls ``Trainer.test`` once per probe (``module.probe_name``), which is
what makes a long evaluation resumable probe by probe: when a pass ends, the probe's
metrics and per-sample columns are written to ``<output_dir>/probes/<name>.{json,csv}``
and a restarted job skips it. Each pass:

* runs under ``inference_mode=False`` with gradients enabled for attacks (pitfall 1);
* counts every sample once under DDP: the datamodule's unpadded sampler feeds each rank
  disjoint indices, torchmetrics syncs the metric states, and the per-sample columns are
  gathered and checked for duplicate indices on rank 0.
"""

from __future__ import annotations

import logging
from typing import Any

import lightning as L
import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from robustlens.evaluation.probe import Batch, Probe, ProbeContext
from robustlens.metrics.base import ProbeOutput

log = logging.getLogger("robustlens")


class EvaluationModule(L.LightningModule):
    """Evaluates ``classifier`` with the probe named ``probe_name`` (set before each pass).

    Args:
        classifier: maps [0,1] images to logits.
        probes: name → probe.
        generator: optional generator for latent probes.
        num_classes / class_names: label space of the data.
        seed: global seed for per-sample random draws.
    """

    def __init__(
        self,
        classifier: nn.Module,
        probes: dict[str, Probe],
        generator: nn.Module | None = None,
        num_classes: int = 10,
        class_names: list[str] | None = None,
        seed: int = 0,
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
        #: filled after a pass: metrics, per-sample table and first-batch images of the probe that ran
        self.last_metrics: dict[str, Any] = {}
        self.last_table: pd.DataFrame | None = None
        self.last_images: dict[str, Tensor] = {}
        #: set by the evaluate task once all probes are done (read by report callbacks)
        self.results: dict[str, Any] | None = None
        self.per_sample: pd.DataFrame | None = None
        self.embeddings: dict[str, Any] = {}
        for probe in self.probes.values():
            for metric in probe.metrics.values():
                if hasattr(metric, "set_model"):
                    metric.set_model(self.classifier)
        # NaN/Inf from either network stops the pass with the probe and sample named (robustlens.utils.finite)
        from robustlens.utils.finite import install_finite_check

        self._batch_index: Tensor | None = None
        install_finite_check(self.classifier, "the classifier", lambda: (self.probe_name, self._batch_index))
        if self.generator is not None:
            decode = "decode" if hasattr(self.generator, "decode") else "forward"
            install_finite_check(self.generator, "the generator", lambda: (self.probe_name, self._batch_index), decode)

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

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        x, y, index = batch
        self._batch_index = index
        with torch.no_grad():
            clean_logits = self.classifier(x)
        context = ProbeContext(seed=self.seed, generator=self.generator, clean_logits=clean_logits)
        output = self.probe.run(self.classifier, (x, y, index), context)
        self.probe.update_metrics(output)
        self._record(output)
        if batch_idx == 0 and output.images:
            self._images = {k: v.detach().cpu() for k, v in output.images.items()}

    def _record(self, output: ProbeOutput) -> None:
        columns = {"index": output.index, "label": output.labels, **output.per_sample_columns()}
        for name, value in columns.items():
            if value.ndim == 1:
                self._columns.setdefault(name, []).append(value.detach().cpu())

    def on_test_epoch_end(self) -> None:
        metrics: dict[str, Any] = {}
        for metric_name, metric in self.probe.metrics.items():
            computed = metric.compute()
            if not isinstance(computed, dict):
                computed = {metric_name: computed}
            for key, value in computed.items():
                metrics.update(flatten_metric(f"{self.probe_name}/{key}", value))
        table = self._gather_table()
        self.last_metrics = metrics
        self.last_table = table
        self.last_images = self._images
        for key, value in metrics.items():
            if isinstance(value, float) and key.count("/") == 1:
                self.log(key, value, rank_zero_only=True, sync_dist=False)

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
