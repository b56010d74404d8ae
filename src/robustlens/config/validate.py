"""Validate a composed config before any work starts.

Why signatures are the schema: every object in ``conf/`` is built from a ``_target_``;
its constructor already names every valid key, and robustlens annotates those keys with
types and bounds (``Annotated[float, Field(ge=0)]``). Checking the composed YAML against
the constructor catches a misspelled key, a string where a number belongs or an ε < 0
*before* a dataset is loaded or an epoch is trained, and the message can list the valid
keys. A value is checked by the same code, with the same words, as an argument given in Python
(:func:`robustlens.utils.parameters.parameter_problems`). Group options that do not exist are already refused by Hydra with the list of
available options.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Iterator
from typing import Any

from hydra.utils import get_object
from omegaconf import DictConfig, ListConfig, OmegaConf

from robustlens.config.errors import ConfigError, did_you_mean
from robustlens.utils.parameters import parameter_problems
from robustlens.utils.signatures import constructor_signature

#: keys Hydra's instantiate interprets itself
_HYDRA_KEYS = {"_target_", "_partial_", "_recursive_", "_convert_", "_args_"}
#: where the objects live whose modules import torch but neither Lightning nor torchmetrics (import-linter's
#: ``light-attacks`` contract keeps it so): they are checked first, and a problem there (an ε < 0, a step
#: count of 0) is reported without waiting for the seconds that importing Lightning and torchmetrics take
LIGHT_TARGETS: tuple[str, ...] = ("robustlens.attacks.", "torch.")


class ConfigValidationError(ConfigError):
    """The composed config is invalid; the message lists every problem and how to fix it."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__(
            "invalid configuration:\n  - "
            + "\n  - ".join(problems)
            + "\nFix the config file or the command-line override (see `robustlens <task> --help`)."
        )


def validate_config(cfg: DictConfig, allowed_top_level: Iterable[str] | None = None) -> None:
    """Raise :class:`ConfigValidationError` listing every invalid key or value in ``cfg``."""
    problems: list[str] = []
    if allowed_top_level is not None:
        allowed = set(allowed_top_level)
        for key in cfg:
            if key not in allowed:
                problems.append(
                    f"unknown top-level key '{key}'{did_you_mean(key, allowed)}; valid keys: {', '.join(sorted(allowed))}"
                )
    light: list[tuple[DictConfig, str]] = []
    heavy: list[tuple[DictConfig, str]] = []
    for node, path in _target_nodes(cfg, ""):
        (light if str(node["_target_"]).startswith(LIGHT_TARGETS) else heavy).append((node, path))
    # fail fast: the heavy objects are checked (and their modules imported) once the light ones pass
    for group in (light, heavy):
        for node, path in group:
            _check_target_node(node, path, problems)
        if problems:
            raise ConfigValidationError(problems)


def _target_nodes(node: Any, path: str) -> Iterator[tuple[DictConfig, str]]:
    """Every node of ``node`` that names a ``_target_``, with its dotted path, in config order."""
    if isinstance(node, DictConfig):
        if "_target_" in node:
            yield node, path
        for key in node:
            if str(key) in _HYDRA_KEYS:
                continue
            child = node._get_node(key)
            if child is not None and not OmegaConf.is_missing(node, key):
                yield from _target_nodes(node[key], f"{path}.{key}" if path else str(key))
    elif isinstance(node, ListConfig):
        for i, item in enumerate(node):
            yield from _target_nodes(item, f"{path}[{i}]")


def _check_target_node(node: DictConfig, path: str, problems: list[str]) -> None:
    target_name = node["_target_"]
    where = path or "<root>"
    try:
        target = get_object(target_name)
    except Exception as exc:  # ImportError, AttributeError, ...
        problems.append(f"{where}._target_: cannot import '{target_name}' ({exc})")
        return
    sig, hints = constructor_signature(target)
    if sig is None:
        return
    params = sig.parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    valid = [name for name, p in params.items() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    for key in node:
        key = str(key)
        if key in _HYDRA_KEYS:
            continue
        if key not in params:
            if not takes_any:
                problems.append(
                    f"{where}.{key}: unknown key for {target_name}{did_you_mean(key, valid)}; "
                    f"valid keys: {', '.join(valid)}" + _unknown_key_hint(key)
                )
            continue
        annotation = hints.get(key)
        if annotation is None or OmegaConf.is_missing(node, key):
            continue
        if _contains_target(node[key]):
            continue  # objects built by instantiate are validated on their own
        value = OmegaConf.to_container(node, resolve=True)[key]
        # the same check and words as a constructor called from Python (robustlens.utils.parameters)
        problems.extend(f"{where}.{line} ({target_name})" for line in parameter_problems({key: annotation}, {key: value}))


def _unknown_key_hint(key: str) -> str:
    """Extra advice for keys that exist only on some objects (e.g. ``faithful``)."""
    if key == "faithful":
        from robustlens.attacks.faithful import faithful_hint

        return ". " + faithful_hint()
    return ""


def _contains_target(value: Any) -> bool:
    if isinstance(value, DictConfig):
        return "_target_" in value or any(_contains_target(value[k]) for k in value if not OmegaConf.is_missing(value, k))
    if isinstance(value, ListConfig):
        return any(_contains_target(item) for item in value)
    return False
