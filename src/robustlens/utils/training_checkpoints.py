"""Which Lightning checkpoint a killed or requeued fit continues from (:func:`resumable_checkpoint`).

A torn or foreign checkpoint is never loaded: it is reported by name
(:func:`~robustlens.utils.io.warn_untrusted`) and the training it holds is recomputed.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from robustlens.utils.io import warn_untrusted

log = logging.getLogger("robustlens")

#: what a Lightning checkpoint of a fit must hold to be resumed from
_CHECKPOINT_KEYS = ("state_dict", "epoch", "global_step", "loops", "optimizer_states")


def _load_checkpoint(path: str | os.PathLike) -> tuple[Any, str | None]:
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=False), None
    except Exception as err:  # torch raises RuntimeError/EOFError/UnpicklingError/... for torn files
        return None, f"unloadable checkpoint ({type(err).__name__}: {str(err)[:200]})"


def checkpoint_problem(path: str | os.PathLike) -> str | None:
    """Why the Lightning checkpoint at ``path`` cannot be resumed from (unloadable, truncated, not a
    training checkpoint), or ``None`` when it can."""
    return _checkpoint_payload_problem(*_load_checkpoint(path))


def _checkpoint_payload_problem(payload: Any, load_error: str | None) -> str | None:
    if load_error is not None:
        return load_error
    if not isinstance(payload, dict):
        return f"not a Lightning checkpoint (a {type(payload).__name__})"
    missing = [key for key in _CHECKPOINT_KEYS if key not in payload]
    if missing:
        return f"not a resumable training checkpoint (lacks {', '.join(missing)})"
    return None


def resumable_checkpoint(directory: str | os.PathLike, max_epochs: int | None = None) -> Path | None:
    """The newest checkpoint in ``directory`` a killed or requeued fit can continue from, or ``None``.

    Why: a training job that was pre-empted, requeued or killed must continue from its last finished
    epoch instead of starting again, and a checkpoint torn by the kill must never be loaded. Candidates
    are tried newest first (``last.ckpt`` before the epoch checkpoints on a tie); every unusable one is
    reported by name and skipped, so a torn ``last.ckpt`` falls back to the newest intact epoch checkpoint
    (the epochs after it are recomputed).

    With ``max_epochs``, a checkpoint of the fit's final epoch is passed over: the job was killed after
    training but before its results were written, and the final epoch's training metrics live only in
    the process that died — so that epoch is trained again from an earlier checkpoint (same result).
    """
    directory = Path(directory)
    if not directory.is_dir():
        return None
    candidates = sorted(directory.glob("*.ckpt"), key=lambda f: (f.stat().st_mtime, f.name == "last.ckpt"),
                        reverse=True)
    for candidate in candidates:
        payload, load_error = _load_checkpoint(candidate)
        problem = _checkpoint_payload_problem(payload, load_error)
        if problem is not None:
            warn_untrusted(candidate, problem, "not resumed from (the training it holds is recomputed)")
            continue
        if max_epochs is not None and max_epochs > 0 and int(payload["epoch"]) + 1 >= max_epochs:
            log.info("%s: holds the finished fit but not its final metrics; resuming from an earlier one", candidate)
            continue
        return candidate
    return None
