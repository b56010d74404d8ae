"""An environment variable set for the duration of a block (what third-party loaders read)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def environ_set(name: str, value: str, active: bool = True) -> Iterator[None]:
    """``$name = value`` inside the block when ``active``, the previous value (or none) restored after.

    Why: some libraries take a switch only from the environment (Hugging Face's ``HF_HUB_OFFLINE``,
    torch's ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` inside RobustBench's own ``torch.load``); setting it
    around one call keeps the rest of the process as the user configured it.
    """
    saved = os.environ.get(name)
    if active:
        os.environ[name] = value
    try:
        yield
    finally:
        if active:
            if saved is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = saved
