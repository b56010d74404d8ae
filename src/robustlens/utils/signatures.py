"""Constructor signatures as the one schema of every configurable object.

Why a module of its own: the config validator checks a composed YAML against the
constructor of its ``_target_``, and an attack records its parameters in results.json from
the same constructor (``Attack.describe``). Both read the signature here, so what a config
may set and what a result records can never disagree.
"""

from __future__ import annotations

import inspect
import typing
from typing import Any


def constructor_signature(target: Any) -> tuple[inspect.Signature | None, dict[str, Any]]:
    """``(signature, type hints)`` of a class's constructor (or of a function).

    Returns ``(None, {})`` for objects without an inspectable signature (builtins), and empty
    hints where forward references cannot be resolved (keys can still be checked).
    """
    func = target.__init__ if inspect.isclass(target) else target
    try:
        sig = inspect.signature(target)
    except (TypeError, ValueError):
        return None, {}
    try:
        hints = typing.get_type_hints(func, include_extras=True)
    except Exception:  # unresolvable forward references: check keys only
        hints = {}
    return sig, hints


def parameter_names(target: Any) -> list[str]:
    """The named parameters of ``target``'s constructor, in order (no ``*args``/``**kwargs``)."""
    sig, _ = constructor_signature(target)
    if sig is None:
        return []
    skip = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    return [name for name, p in sig.parameters.items() if p.kind not in skip]
