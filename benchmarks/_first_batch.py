"""A Lightning callback for ``bench_startup.py``: writes when each job sees its first test batch.

Why a file and wall-clock times: the benchmark starts the job as a separate process and needs the
moment the job is ready to compute, which only the job itself knows; ``time.time()`` is comparable
across the two processes.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from lightning.pytorch.callbacks import Callback


class FirstBatchClock(Callback):
    """Appends ``first_batch <t>`` at a Trainer's first test batch and ``test_end <t>`` after each probe."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self.seen = False

    def _write(self, kind: str) -> None:
        with self.path.open("a") as out:
            out.write(f"{kind} {time.time():.6f}\n")

    def on_test_batch_start(self, *args: Any, **kwargs: Any) -> None:
        if not self.seen:
            self.seen = True
            self._write("first_batch")

    def on_test_end(self, *args: Any, **kwargs: Any) -> None:
        self._write("test_end")
