"""Configuration errors as a user meets them: one message, the nearest valid key, no traceback.

Why: a misspelled key or a missing checkpoint is fixed in the config or on the command line;
a Python traceback under it only hides the line that says what to change. The ``robustlens``
command prints such errors alone and exits with status 2 (the traceback is shown with
``HYDRA_FULL_ERROR=1``, as for Hydra's own errors); every other exception keeps its traceback.
"""

from __future__ import annotations

import difflib
import functools
import os
import re
import sys
from collections.abc import Callable, Iterable
from typing import Any


class ConfigError(ValueError):
    """A problem the user fixes in the config or on the command line (reported without traceback)."""


#: exit status of a run stopped by a configuration error
CONFIG_ERROR_EXIT = 2


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``" (did you mean `batch_size`?)"`` for the nearest of ``choices``, or ``""`` when none is near."""
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean `{close[0]}`?)" if close else ""


def user_errors() -> tuple[type[BaseException], ...]:
    """The exception types reported as a message alone: config problems, missing files, bad arguments."""
    from hydra.errors import InstantiationException

    return (ConfigError, FileNotFoundError, InstantiationException)


def report_config_errors(task: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Wrap a Hydra task function: a :func:`user_errors` exception prints its message and exits with status 2."""

    @functools.wraps(task)
    def wrapped(cfg: Any) -> Any:
        try:
            return task(cfg)
        except user_errors() as exc:
            if os.environ.get("HYDRA_FULL_ERROR") == "1":
                raise
            print(f"robustlens: {exc}\n(set HYDRA_FULL_ERROR=1 to see the Python traceback)", file=sys.stderr)
            raise SystemExit(CONFIG_ERROR_EXIT) from None

    return wrapped


_NOT_IN_STRUCT = re.compile(r"Key '(?P<key>[^']+)' is not in struct\s+full_key: (?P<full_key>\S+)")


def unknown_override_key(hydra_message: str) -> str | None:
    """The full key of an override Hydra refused as "not in struct" (``data.batch_sise``), if any."""
    match = _NOT_IN_STRUCT.search(hydra_message)
    return match.group("full_key") if match else None


def suggest_key(cfg: Any, full_key: str) -> str:
    """The did-you-mean hint for ``full_key`` among the keys next to it in the composed ``cfg``."""
    from omegaconf import DictConfig, OmegaConf

    parent, _, key = full_key.rpartition(".")
    if key == "faithful":  # exists only on a few objects: name them (docs/attacks.md)
        from robustlens.attacks.faithful import faithful_hint

        return f"`{full_key}` is not a key of this config. {faithful_hint()}"
    node = OmegaConf.select(cfg, parent) if parent else cfg
    if not isinstance(node, DictConfig):
        return ""
    hint = did_you_mean(key, [str(k) for k in node])
    return f"`{full_key}` is not a key of this config{hint}" if hint else ""


class StderrTail:
    """A pass-through stand-in for ``sys.stderr`` that remembers the last characters written.

    Why: Hydra prints its composition errors itself and exits; the CLI reads the message back
    from here to add the nearest valid key.
    """

    def __init__(self, stream: Any, keep: int = 8192) -> None:
        self._stream = stream
        self._keep = keep
        self.text = ""

    def write(self, text: str) -> int:
        self.text = (self.text + text)[-self._keep:]
        return self._stream.write(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)
