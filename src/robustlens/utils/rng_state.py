"""The global RNG streams travel with a training checkpoint (see :class:`ResumableRNGState`)."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch
from lightning.pytorch.callbacks import Callback


class ResumableRNGState(Callback):
    """Store the global RNG states (torch, numpy, python) in every checkpoint and restore them when a fit
    resumes, so that a resumed run draws the same noise / random starts as an uninterrupted one.

    Why: Lightning restores weights, optimiser, schedulers and loop counters, but not the global RNG
    streams; without them the epochs after a requeue would differ from an uninterrupted run with the same
    seed. The states are applied at the start of the first epoch after the restore (after Lightning's
    sanity check, which draws from the RNG too), which is where an uninterrupted run continues.
    """

    def __init__(self) -> None:
        self._pending: dict[str, Any] | None = None

    def state_dict(self) -> dict[str, Any]:
        # only tensors, ints, floats and tuples: the checkpoint stays loadable with torch.load(weights_only=True)
        name, keys, pos, has_gauss, cached = np.random.get_state()
        return {"rng_states": {
            "torch": torch.get_rng_state(),
            "numpy": (str(name), torch.from_numpy(np.asarray(keys, dtype=np.int64)), int(pos), int(has_gauss),
                      float(cached)),
            "python": random.getstate(),
        }}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._pending = state_dict.get("rng_states")

    def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        if self._pending is not None:
            torch.set_rng_state(self._pending["torch"])
            name, keys, pos, has_gauss, cached = self._pending["numpy"]
            np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
            random.setstate(self._pending["python"])
            self._pending = None
