"""The error a classifier source raises when a model cannot be used as configured.

Why one type: every problem a loader detects (a weights file that is not where RobustBench puts
it, a state dict whose keys do not match, probabilities where logits belong, a class count
the data does not have) is a setup problem the user fixes in the config or on disk. The
message always names the fix. It is the project's configuration error where that type exists
(``robustlens.config.errors.ConfigError``: the ``robustlens`` command prints the message without a
traceback), else a plain ``ValueError``.
"""

from __future__ import annotations

try:
    from robustlens.config.errors import ConfigError as _UserError
except ImportError:  # a tree without the config-error type: still a ValueError
    _UserError = ValueError  # type: ignore[assignment,misc]


class ModelSourceError(_UserError):
    """A classifier cannot be loaded or used as configured; the message says how to fix it."""


def missing_extra(package: str, extra: str = "zoo") -> ModelSourceError:
    """The error for an optional dependency that is not installed."""
    return ModelSourceError(
        f"this classifier source needs the `{package}` package, which is not installed: "
        f"pip install 'robustlens[{extra}]'"
    )
