"""The probe with no perturbation: clean accuracy and the reference for flip rates."""

from __future__ import annotations

from torch import nn

from robustlens.evaluation.probe import Batch, Probe, ProbeContext
from robustlens.metrics.base import ProbeOutput


class CleanProbe(Probe):
    """Predictions on the unperturbed inputs (reuses the clean logits of the batch)."""

    def run(self, model: nn.Module, batch: Batch, context: ProbeContext) -> ProbeOutput:
        x, y, index = batch
        logits = context.clean_logits if context.clean_logits is not None else model(x)
        preds = logits.argmax(dim=1)
        return ProbeOutput(
            index=index, labels=y, preds=preds, clean_preds=preds,
            inputs=x if self.keeps_inputs else None,
        )

    @property
    def keeps_inputs(self) -> bool:
        return self.metrics_need_inputs
