"""One sweep at a time per sweep directory (a Hydra callback, registered in ``conf/hydra/default.yaml``).

Why: two multiruns started into the same ``hydra.sweep.dir`` (a re-run launched while the first is still
going, two terminals, a cron job) would run the same job numbers into the same folders and overwrite each
other's files. The first sweep holds an OS-level lock on ``<sweep dir>/.sweep.lock`` (``filelock``: released
by the kernel when the process dies, so a killed sweep never leaves a stale lock); the second stops at once
with a message naming the directory.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

LOCK_NAME = ".sweep.lock"


class SweepLockCallback(Callback):
    """Hold ``<sweep dir>/.sweep.lock`` from ``on_multirun_start`` to ``on_multirun_end``."""

    def __init__(self) -> None:
        self._lock: Any = None

    def __getstate__(self) -> dict[str, Any]:
        # the submitit launcher pickles the Hydra context (callbacks included) for every SLURM job: the
        # lock belongs to the submitting process only and never travels
        return {**self.__dict__, "_lock": None}

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        from filelock import FileLock, Timeout

        sweep_dir = Path(str(config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(sweep_dir / LOCK_NAME))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            # SystemExit, not an Exception: Hydra turns exceptions of callbacks into warnings and goes on
            print(
                f"robustlens: another sweep is running into {sweep_dir} (it holds {sweep_dir / LOCK_NAME}); "
                "wait until it has finished and re-run this command (finished jobs are skipped), "
                "or choose another hydra.sweep.dir=...",
                file=sys.stderr,
            )
            raise SystemExit(3) from None
        (sweep_dir / f"{LOCK_NAME}.pid").write_text(f"{os.getpid()}\n")
        self._lock = lock

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None
