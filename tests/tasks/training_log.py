"""A test callback that writes down what a fit actually did, so resume tests can assert what was resumed.

Why a file: the fits it watches run in this process or in a ``python -m robustlens`` subprocess that a test
kills; JSON lines appended per event survive the kill. Added to a run with
``+callbacks.training_log._target_=tests.tasks.training_log.TrainingLog +callbacks.training_log.path=<file>``.
"""

from __future__ import annotations

import json
from pathlib import Path

from lightning.pytorch import Callback


def overrides(path: str | Path) -> list[str]:
    """The Hydra overrides that add the callback, writing to ``path``."""
    return ["+callbacks.training_log._target_=tests.tasks.training_log.TrainingLog",
            f"+callbacks.training_log.path={path}"]


class TrainingLog(Callback):
    """One ``start`` line per fit (the epoch and global step it starts at, the optimizer's step counts: all
    restored from a checkpoint on resume) and one ``batch`` line per training batch run."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)

    def _write(self, **event) -> None:
        with open(self.path, "a") as handle:  # a new line first: a line torn by a kill stays on its own
            handle.write("\n" + json.dumps(event))

    def on_train_start(self, trainer, pl_module) -> None:
        steps = sorted({int(state["step"]) for optimizer in trainer.optimizers
                        for state in optimizer.state.values() if "step" in state})
        self._write(event="start", epoch=trainer.current_epoch, global_step=trainer.global_step,
                    optimizer_steps=steps)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._write(event="batch", epoch=trainer.current_epoch, batch=batch_idx)


def fits(path: str | Path) -> list[dict]:
    """The fits logged in ``path``, in order: each ``start`` line with the ``batches`` [(epoch, batch), ...]
    it ran (a killed fit's last line may be torn: it is dropped)."""
    runs: list[dict] = []
    for line in Path(path).read_text().splitlines():
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if event.pop("event") == "start":
            runs.append({**event, "batches": []})
        else:
            runs[-1]["batches"].append((event["epoch"], event["batch"]))
    return runs
