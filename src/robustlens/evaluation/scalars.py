"""The headline scalars of an evaluation and their one logging call per job.

Why once, at the end: probes run in separate passes and some are reused from an earlier,
interrupted job without running at all. Logging from inside a pass would miss the reused
probes and the worst case (computed after the last pass); logging everything in one call per
job gives every configured logger exactly the ``<probe>/<metric>`` scalars of results.json.
The bounds of a headline value's interval (``<probe>/<metric>/ci_low``, ``.../ci_high``) are
scalars too, logged beside it. Per-class values (``<probe>/<metric>/<class>``, their bounds
``<probe>/<metric>/ci_low/<class>``) are not scalars here: the class-wise report logs them to
W&B as tables and charts.
What each probe cost (``<probe>/cost/<field>`` in results.json, ``job/cost/<field>`` for the
job) is logged under ``cost/<probe>/<field>``, so the loggers group it in one ``cost`` section
instead of mixing it into each probe's metrics.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from robustlens.metrics.intervals import CI_HIGH, CI_LOW

#: the last part of the key of an interval bound of a headline value
BOUND_SUFFIXES = (f"/{CI_LOW}", f"/{CI_HIGH}")


def is_headline_key(key: str) -> bool:
    """``<probe>/<metric>`` or the bound of its interval, ``<probe>/<metric>/ci_low|ci_high``."""
    return key.count("/") == 1 or (key.count("/") == 2 and key.endswith(BOUND_SUFFIXES))


def headline_scalars(metrics: Mapping[str, Any]) -> dict[str, float]:
    """The ``<probe>/<metric>`` entries that are numbers, with their interval bounds (per-class
    keys and matrices left out).

    ``None`` counts as ``nan``: results files store a ``nan`` as ``null`` (JSON has no NaN), so a
    probe reused from its saved file brings ``None`` where the pass that made it had ``nan``.
    """
    return {
        key: math.nan if value is None else float(value)
        for key, value in metrics.items()
        if is_headline_key(key) and (value is None or (isinstance(value, int | float) and not isinstance(value, bool)))
    }


def cost_scalars(metrics: Mapping[str, Any]) -> dict[str, float]:
    """``{"cost/<probe>/<field>": value}`` for every numeric ``<probe>/cost/<field>`` of ``metrics``."""
    out: dict[str, float] = {}
    for key, value in metrics.items():
        parts = key.split("/")
        if len(parts) == 3 and parts[1] == "cost" and isinstance(value, int | float) and not isinstance(value, bool):
            out[f"cost/{parts[0]}/{parts[2]}"] = float(value)
    return out


def log_headline_scalars(loggers: Iterable[Any], metrics: Mapping[str, Any], step: int = 0) -> dict[str, float]:
    """Log :func:`headline_scalars` and :func:`cost_scalars` to every Lightning logger in one call each;
    returns what was logged.

    ``nan`` (a metric without samples) is logged as ``nan``: W&B and TensorBoard accept it, and
    a missing key would look like a logging bug.
    """
    scalars = {**headline_scalars(metrics), **cost_scalars(metrics)}
    if not scalars:
        return scalars
    for logger in loggers:
        logger.log_metrics(dict(scalars), step=step)
        logger.save()
    return scalars
