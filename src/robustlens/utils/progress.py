"""Progress within one batch of a long probe: the hook searches and attack ensembles call.

Why: a latent search or AutoAttack over one batch of 600 images runs for minutes behind a
progress bar that counts batches (``1/1``) and so stands still until the batch ends. A search
calls :func:`report_progress` at its natural steps (a restart, an attack stage); during an
evaluation the :class:`~robustlens.evaluation.module.EvaluationModule` shows the text on
Lightning's progress bar, next to the probe's name. Outside an evaluation (a unit test, a
benchmark, a notebook) the call does nothing, so attacks stay free of Lightning.

Usage, inside any attack or search::

    from robustlens.utils.progress import report_progress

    for r in range(restarts):
        report_progress("restart", step=r + 1, total=restarts, remaining=int(active.sum()))
        ...
    report_progress("apgd-t", step=2, total=4)          # an ensemble's stage
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

Reporter = Callable[[str], None]

_reporter: ContextVar[Reporter | None] = ContextVar("robustlens_progress_reporter", default=None)


def format_progress(stage: str, step: int | None = None, total: int | None = None, remaining: int | None = None) -> str:
    """``"restart 2/5 · 123 still searching"``: the text :func:`report_progress` shows."""
    text = stage
    if step is not None:
        text += f" {step}/{total}" if total is not None else f" {step}"
    if remaining is not None:
        text += f" · {remaining} still searching"
    return text


def report_progress(stage: str, step: int | None = None, total: int | None = None, remaining: int | None = None) -> None:
    """Report where a long probe is within the current batch (no-op outside an evaluation).

    Args:
        stage: what runs now, e.g. ``"restart"`` or an ensemble member's name (``"apgd-ce"``).
        step / total: its position, e.g. restart 2 of 5 (``total`` may be unknown).
        remaining: how many samples of the batch are still being searched.
    """
    reporter = _reporter.get()
    if reporter is not None:
        reporter(format_progress(stage, step, total, remaining))


@contextmanager
def progress_reporter(reporter: Reporter) -> Iterator[None]:
    """Route :func:`report_progress` calls made inside the ``with`` block to ``reporter``."""
    token = _reporter.set(reporter)
    try:
        yield
    finally:
        _reporter.reset(token)


def reporting() -> bool:
    """Whether a reporter is attached: a search computes its progress figures (host reads) only then."""
    return _reporter.get() is not None
