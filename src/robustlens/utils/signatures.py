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
    if inspect.isclass(target):
        return _with_inherited(target, sig, hints)
    return sig, hints


def _with_inherited(
    cls: type, sig: inspect.Signature, hints: dict[str, Any]
) -> tuple[inspect.Signature, dict[str, Any]]:
    """A constructor's ``**kwargs`` replaced by the named parameters of the parent constructor.

    Why: a subclass that adds two arguments and passes the rest on (``def __init__(self, attribute,
    **base)`` → ``super().__init__(**base)``) should not have to repeat its parent's eleven
    parameters for the config validator to know them. The parent's parameters join as
    keyword-only, with their type hints; a ``**kwargs`` survives only if the parent has one too.
    """
    params = list(sig.parameters.values())
    if not params or params[-1].kind is not inspect.Parameter.VAR_KEYWORD:
        return sig, hints
    parent = next((base for base in cls.__mro__[1:] if "__init__" in vars(base)), object)
    if parent is object:
        return sig, hints
    parent_sig, parent_hints = constructor_signature(parent)
    if parent_sig is None:
        return sig, hints
    merged = sig.replace(parameters=_joined(params[:-1], parent_sig, keep_var_keyword=True))
    return merged, {**parent_hints, **{k: v for k, v in hints.items() if k != params[-1].name}}


def _joined(
    own: list[inspect.Parameter], other: inspect.Signature | None, exclude: tuple[str, ...] = (),
    keep_var_keyword: bool = False,
) -> list[inspect.Parameter]:
    """``own`` followed by ``other``'s named parameters it does not have (keyword-only, less ``exclude``);
    with ``keep_var_keyword``, ``other``'s ``**kwargs`` last."""
    taken = {p.name for p in own} | set(exclude)
    rest = list(other.parameters.values()) if other is not None else []
    named = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in rest if p.name not in taken
             and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)]
    var_keyword = [p for p in rest if p.kind is inspect.Parameter.VAR_KEYWORD] if keep_var_keyword else []
    return [*own, *named, *var_keyword]


def parameter_names(target: Any) -> list[str]:
    """The named parameters of ``target``'s constructor, in order (no ``*args``/``**kwargs``)."""
    sig, _ = constructor_signature(target)
    if sig is None:
        return []
    skip = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    return [name for name, p in sig.parameters.items() if p.kind not in skip]


def passes_on(target: Any, exclude: tuple[str, ...] = ()) -> Any:
    """Decorator: a loader's ``**kwargs`` are ``target``'s named parameters, passed on to it.

    Why: a loader function (a config's ``_target_``) often builds an object and hands most of its
    arguments to that object's constructor. Declaring them once, on the constructor, keeps defaults,
    types and docs in one place; the decorated function's signature and type hints (what the config
    validator reads, and what ``help()`` shows) list them as keyword-only parameters. ``exclude``:
    constructor parameters the loader supplies itself.
    """

    def decorate(func: Any) -> Any:
        own = inspect.signature(func)
        params = list(own.parameters.values())
        if not params or params[-1].kind is not inspect.Parameter.VAR_KEYWORD:
            raise TypeError(f"{func.__qualname__} must end with **kwargs to pass them on to {target.__qualname__}")
        target_sig, target_hints = constructor_signature(target)
        joined = _joined(params[:-1], target_sig, exclude)
        passed = joined[len(params) - 1:]
        hints = typing.get_type_hints(func, include_extras=True)
        hints.pop(params[-1].name, None)
        func.__signature__ = own.replace(parameters=joined)
        func.__annotations__ = {**{p.name: target_hints[p.name] for p in passed if p.name in target_hints}, **hints}
        return func

    return decorate
