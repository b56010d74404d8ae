"""The tasks of the ``robustlens`` command, by name: their one-line help and their task function.

Why a registry of its own: the CLI and the DDP child entry point both turn a task name into
the same wrapped task body; neither should reach into the other for it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

TASKS: dict[str, str] = {
    "train": "train a classifier (training=standard|noise|pgd_at|trades) or a generator (task=generator)",
    "evaluate": "measure a classifier with attacks, perturbations, corruptions and latent probes",
    "report": "gather the results of a run or multirun dir into tables and plots: robustlens report <dir>",
}


def task_function(task: str) -> Callable[[Any], Any]:
    """The task body of ``task`` wrapped by :func:`robustlens.tasks.common.task_wrapper`."""
    from robustlens.tasks.common import task_wrapper

    if task == "train":
        from robustlens.tasks.train import train as body
    elif task == "evaluate":
        from robustlens.tasks.evaluate import evaluate as body
    elif task == "report":
        from robustlens.tasks.report import run_report as body
    else:
        raise ValueError(f"unknown task {task!r}; valid tasks: {', '.join(TASKS)}")
    return task_wrapper(body)
