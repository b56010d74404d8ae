"""Constructor parameters checked and described from the signature alone.

Why: a parameter's type and bounds are written once, in the constructor's signature
(``eps: Annotated[float, Field(ge=0)]``). The same function, :func:`parameter_problems`, checks
a composed config before anything is built (``robustlens.config.validate``) and the arguments
of an object built in Python (``PGD(eps=-1, ...)``), so both say the same thing:
``eps = -1: Input should be greater than or equal to 0``. Classes that derive from
:class:`Configurable` (attacks, probes, probe metrics) get both for free: every constructor of
a subclass is checked on the way in, and :meth:`Configurable.describe` records the stored
arguments for results.json, read back through the same signature.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import ConfigDict, TypeAdapter, ValidationError

from robustlens.utils.signatures import constructor_signature, parameter_names

_SKIPPED_KINDS = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)


class ParameterError(ValueError):
    """A constructor argument that its signature refuses; the message names the parameter and the bound."""


@functools.cache
def _adapter(annotation: Any) -> TypeAdapter | None:
    try:
        return TypeAdapter(annotation, config=ConfigDict(arbitrary_types_allowed=True))
    except Exception:
        try:
            return TypeAdapter(annotation)
        except Exception:
            return None  # a type pydantic cannot describe: not checkable


def _adapter_for(annotation: Any) -> TypeAdapter | None:
    try:
        return _adapter(annotation)
    except TypeError:  # an unhashable annotation: build it each time
        return _adapter.__wrapped__(annotation)


def type_problem(annotation: Any, value: Any) -> str | None:
    """Why ``value`` does not fit ``annotation`` (pydantic's words, e.g. the bound), or ``None``."""
    adapter = _adapter_for(annotation)
    if adapter is None:
        return None
    try:
        adapter.validate_python(value)
    except ValidationError as exc:
        return "; ".join(err["msg"] for err in exc.errors())
    except Exception:
        return None
    return None


def problem(name: str, value: Any, message: str) -> str:
    """The one wording of a refused argument, in the config check and in Python alike."""
    return f"{name} = {value!r}: {message}"


def parameter_problems(hints: Mapping[str, Any], arguments: Mapping[str, Any]) -> list[str]:
    """One :func:`problem` line per argument its annotation in ``hints`` refuses."""
    problems = []
    for name, value in arguments.items():
        annotation = hints.get(name)
        if annotation is None:
            continue
        message = type_problem(annotation, value)
        if message:
            problems.append(problem(name, value, message))
    return problems


def _check_call(owner: str, signature: inspect.Signature, hints: Mapping[str, Any], args: tuple[Any, ...],
                kwargs: dict[str, Any]) -> None:
    """Raise :class:`ParameterError` naming ``owner`` for the arguments of one call that ``hints`` refuse
    (nothing where the call does not bind: Python's own error then names the wrong argument)."""
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError:
        return
    arguments = {name: value for name, value in bound.arguments.items()
                 if signature.parameters[name].kind not in _SKIPPED_KINDS}
    problems = parameter_problems(hints, arguments)
    if problems:
        raise ParameterError(f"{owner}: " + "; ".join(problems))


def _checked(init: Any) -> Any:
    """``init`` that first checks its arguments against its own signature (:class:`ParameterError`)."""
    signature = inspect.signature(init)
    hints: dict[str, Any] | None = None

    @functools.wraps(init)
    def checked_init(self: Any, *args: Any, **kwargs: Any) -> None:
        nonlocal hints
        if hints is None:
            try:
                hints = typing.get_type_hints(init, include_extras=True)
            except Exception:  # unresolvable forward references: nothing to check against
                hints = {}
        _check_call(type(self).__name__, signature, hints, (self, *args), kwargs)
        return init(self, *args, **kwargs)

    checked_init.__robustlens_checked__ = True  # type: ignore[attr-defined]
    return checked_init


def described(value: Any) -> Any:
    """A JSON-friendly record of a parameter value: objects that describe themselves do so."""
    if isinstance(value, Configurable):
        return value.describe()
    if isinstance(value, tuple | list):
        return [described(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): described(v) for k, v in value.items()}
    if hasattr(value, "tolist"):  # tensors, numpy values
        return value.tolist()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return type(value).__name__


class Configurable:
    """Base of every object built from a config: its constructor is checked and it describes itself.

    Every constructor argument must be stored under its own name (an attribute or a property),
    or under the attribute named in :attr:`parameter_attributes`: :meth:`describe` reads them
    back through the constructor's signature. Facts that are not parameters (a derived
    quantity, a library version) come from :meth:`_describe_extra`.
    """

    #: constructor arguments stored under another attribute name (``describe`` reads these)
    parameter_attributes: ClassVar[dict[str, str]] = {}
    #: constructor arguments left out of the description (recorded elsewhere, e.g. a probe's metrics)
    undescribed: ClassVar[tuple[str, ...]] = ()
    #: arguments checked in ``__new__`` (:class:`CheckedInNew`), not by a wrapper around each ``__init__``
    checks_in_new: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        init = vars(cls).get("__init__")
        if cls.checks_in_new:  # CheckedInNew
            return
        if init is not None and not getattr(init, "__robustlens_checked__", False):
            cls.__init__ = _checked(init)  # type: ignore[method-assign]

    def parameters(self) -> dict[str, Any]:
        """Every constructor argument as stored (read through the signature), JSON-friendly."""
        params: dict[str, Any] = {}
        for name in parameter_names(type(self)):
            if name in self.undescribed:
                continue
            attr = self.parameter_attributes.get(name, name)
            if not hasattr(self, attr):
                raise AttributeError(
                    f"{type(self).__name__} does not store its constructor argument {name!r}: "
                    f"keep it as self.{name} (or name the attribute in parameter_attributes)"
                )
            params[name] = described(getattr(self, attr))
        return params

    def describe(self) -> dict[str, Any]:
        """The type, every constructor parameter and the extra facts: what results.json records."""
        return {"type": type(self).__name__, **self.parameters(), **self._describe_extra()}

    def _describe_extra(self) -> dict[str, Any]:
        """Facts beyond the parameters (a derived quantity, a library version)."""
        return {}


class CheckedInNew(Configurable):
    """A :class:`Configurable` whose constructor arguments are checked in ``__new__``, not by a wrapper.

    Why: Lightning's ``save_hyperparameters`` collects a datamodule's arguments by walking the chain of
    ``__init__`` frames and stops at the first frame that is not an ``__init__`` of the class: a wrapper
    there would drop a subclass's own arguments (a CIFAR-10-C checkpoint would forget its corruption).
    The arguments of the constructor called are checked against its signature with its parent's
    ``**base`` parameters joined in (:func:`~robustlens.utils.signatures.constructor_signature`). A class
    deriving from this one must define ``__init__`` before it in its bases, so that ``inspect.signature``
    reads that ``__init__`` and not this ``__new__``.
    """

    checks_in_new: ClassVar[bool] = True

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        signature, hints = constructor_signature(cls)
        if signature is not None:
            _check_call(cls.__name__, signature, hints, args, kwargs)
        return super().__new__(cls)
