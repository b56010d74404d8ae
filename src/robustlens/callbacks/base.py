"""The hook every evaluation report implements: :class:`EvaluationCallback`.

Why a hook of our own: the evaluate task runs one ``Trainer.test`` pass per probe (so a killed
evaluation resumes probe by probe); Lightning's ``on_test_end`` therefore fires once per probe,
before the worst case and the merged per-sample table exist. The task calls
:meth:`EvaluationCallback.on_evaluation_end` once, after the last probe, on every rank, with the
finished :class:`~robustlens.evaluation.result.EvaluationResult`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lightning.pytorch import Callback, LightningModule, Trainer

if TYPE_CHECKING:
    from robustlens.evaluation.result import EvaluationResult


class EvaluationCallback(Callback):
    """A Lightning callback that also reports a finished evaluation (override :meth:`on_evaluation_end`)."""

    def on_evaluation_end(self, trainer: Trainer, pl_module: LightningModule, result: EvaluationResult) -> None:
        """Called once per evaluation on every rank; reports usually act on ``trainer.is_global_zero`` only."""
