"""Keep third-party advertising and irrelevant warnings out of a robustlens run's output.

Why: Lightning prints "💡 Tip: … litlogger / litmodels" lines and its device banner on every Trainer, and torch
warns about ``weights_only`` defaults when a checkpoint is loaded; neither tells a robustlens
user anything they can act on (robustlens chooses how each checkpoint is loaded), and in a
SLURM log of a 50-job sweep they bury the lines that matter. Everything else Lightning logs or
warns stays visible.
"""

from __future__ import annotations

import logging
import warnings

#: the loggers Lightning's ``rank_zero_info`` writes through (set per package at import time)
_LIGHTNING_LOGGERS = (
    "lightning.pytorch.utilities.rank_zero",
    "lightning.fabric.utilities.rank_zero",
    "lightning_utilities.core.rank_zero",
    "pytorch_lightning.utilities.rank_zero",
    # "`weights_only` was not set, defaulting to `False`." when a run resumes from its own checkpoint
    "lightning.pytorch.trainer.connectors.checkpoint_connector",
)


#: Lightning's per-Trainer device banner ("GPU available: False, used: False", "TPU available: …"):
#: printed for every job of a sweep; robustlens writes the device into the job's header line and
#: ``results.json`` instead
_DEVICE_BANNER = ("GPU available:", "TPU available:", "HPU available:", "IPU available:")


class _DropTips(logging.Filter):
    """Drops Lightning's product tips (``💡 Tip: …``), its ``weights_only`` notices and its device banner."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        if message.startswith(_DEVICE_BANNER):
            return False
        return "Tip:" not in message and "weights_only" not in message


_TIPS = _DropTips()


def install_console_filters() -> None:
    """Drop Lightning's tips and torch's ``weights_only`` warnings (idempotent)."""
    for name in _LIGHTNING_LOGGERS:
        logger = logging.getLogger(name)
        if _TIPS not in logger.filters:
            logger.addFilter(_TIPS)
    warnings.filterwarnings("ignore", message=r"(?s).*weights_only")
