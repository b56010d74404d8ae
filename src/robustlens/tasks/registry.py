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
    """The task body of ``task`` wrapped by :func:`robustlens.tasks.common.task_wrapper`, imported on call.

    Why on call: the task bodies import torch and Lightning (seconds on a small machine), while
    ``robustlens <task> --help`` and Hydra's own configuration errors are answered before the body
    runs; deferring the import lets them answer without paying for it.
    """
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; valid tasks: {', '.join(TASKS)}")

    def body(cfg: Any) -> Any:  # imported after the config was validated
        return _task_body(task)(cfg)

    def run_task(cfg: Any) -> Any:
        from robustlens.tasks.common import task_wrapper

        return task_wrapper(body)(cfg)

    run_task.__name__ = run_task.__qualname__ = task
    # Hydra names the job (and its log file, ``<task>.log``) after the task function's module
    run_task.__module__ = f"robustlens.tasks.{task}"
    return run_task


def _task_body(task: str) -> Callable[[Any], Any]:
    if task == "train":
        from robustlens.tasks.train import train as body
    elif task == "evaluate":
        from robustlens.tasks.evaluate import evaluate as body
    else:
        from robustlens.tasks.report import run_report as body
    return body
