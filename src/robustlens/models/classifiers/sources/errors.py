"""The error a classifier source raises when a model cannot be used as configured.

Why one type: every problem a loader detects (a weights file that is not where RobustBench puts
it, a state dict whose keys do not match, probabilities where logits belong, a class count
the data does not have) is a setup problem the user fixes in the config or on disk. The
message always names the fix; it is a ``ValueError`` so the task wrapper records it like any
other configuration error.
"""

from __future__ import annotations


class ModelSourceError(ValueError):
    """A classifier cannot be loaded or used as configured; the message says how to fix it."""


def missing_extra(package: str, extra: str = "zoo") -> ModelSourceError:
    """The error for an optional dependency that is not installed."""
    return ModelSourceError(
        f"this classifier source needs the `{package}` package, which is not installed: "
        f"pip install 'robustlens[{extra}]'"
    )
