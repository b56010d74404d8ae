"""The keys a composed config may have at its top, read from the config tree itself.

Why not a list in the code: every new config group (``conf/<group>/``) or top-level setting would
have to be added to it by hand, and a forgotten entry makes a valid config fail. The tree already
says everything: a group directory is packaged under its own name, and the primary configs
(``train.yaml``, ...) and the ``# @package _global_`` files (experiments, debug, sweeps) write
their keys at the top. Only unindented ``key:`` lines are read, so this costs a few milliseconds.
"""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Iterable
from pathlib import Path

from robustlens.config.locate import config_dir, project_root

_TOP_KEY = re.compile(r"^([A-Za-z_][\w-]*)\s*:", re.MULTILINE)
_PACKAGE = re.compile(r"^#\s*@package\s+(\S+)", re.MULTILINE)
#: keys Hydra reads itself and removes from the job's config
_NOT_KEYS = {"defaults"}


def _written_keys(text: str) -> set[str]:
    return {key for key in _TOP_KEY.findall(text)} - _NOT_KEYS


def keys_of_tree(root: Path) -> set[str]:
    """Top-level keys one config directory defines: its primary configs' keys, its groups, and the
    keys its ``_global_`` files write."""
    keys: set[str] = set()
    for file in sorted(root.rglob("*.yaml")):
        text = file.read_text(encoding="utf-8")
        group = file.relative_to(root).parts
        package = _PACKAGE.search(text[:500])
        if package is not None and package.group(1) == "_global_":
            keys |= _written_keys(text)
        elif package is not None and not package.group(1).startswith("_group_"):
            keys.add(package.group(1).split(".")[0])
        elif len(group) == 1:  # a primary config (train.yaml): its keys are at the top
            keys |= _written_keys(text)
        else:
            keys.add(group[0])
    return keys


def _searched_dirs() -> list[Path]:
    """The config tree, the experiments' config dirs, and any directory Hydra was given (``-cd``)."""
    dirs = [config_dir(), *sorted((project_root() / "experiments").glob("*/conf"))]
    hydra_config = sys.modules.get("hydra.core.hydra_config")  # loaded in a job; never imported for this
    if hydra_config is not None and hydra_config.HydraConfig.initialized():
        runtime = hydra_config.HydraConfig.get().runtime
        dirs += [Path(source.path) for source in runtime.get("config_sources", []) if source.schema == "file"]
    return dirs


@functools.cache
def _keys_of(dirs: tuple[Path, ...]) -> frozenset[str]:
    return frozenset(key for root in dirs if root.is_dir() for key in keys_of_tree(root))


def top_level_keys(dirs: Iterable[Path] | None = None) -> frozenset[str]:
    """Every key the config tree allows at the top of a composed config."""
    return _keys_of(tuple(dirs) if dirs is not None else tuple(_searched_dirs()))
