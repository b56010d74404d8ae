"""Shared fixtures: where the read-only shared data and published models are, and a writable data dir."""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

import pytest
import torch

# One intra-op thread: the small networks of the tests are several times slower with 2 threads
# on 2 cores as soon as anything else runs (DDP tests start 2 processes of their own).
torch.set_num_threads(1)

REPO_ROOT = Path(__file__).resolve().parents[1]

#: a user's own W&B settings that must never reach a test run (account, server, project, run to resume)
_USER_WANDB = ("WANDB_API_KEY", "WANDB_ENTITY", "WANDB_PROJECT", "WANDB_BASE_URL", "WANDB_RUN_ID", "WANDB_RESUME",
               "WANDB_RUN_GROUP", "WANDB_TAGS", "WANDB_NAME", "WANDB_NOTES", "WANDB_DIR", "WANDB_SWEEP_ID")


def _isolate_wandb(home: Path) -> None:
    """Offline, silent, and blind to the user's login: config, cache and data dirs under ``home``."""
    for key in _USER_WANDB:
        os.environ.pop(key, None)
    os.environ["WANDB_MODE"] = "offline"
    os.environ["WANDB_SILENT"] = "true"
    for key, sub in (("WANDB_CONFIG_DIR", "config"), ("WANDB_CACHE_DIR", "cache"), ("WANDB_DATA_DIR", "data")):
        os.environ[key] = str(home / sub)


_isolate_wandb(Path(os.environ.get("TMPDIR", "/tmp")) / f"robustlens-tests-wandb-{os.getpid()}")


def under_ci() -> bool:
    """Whether the tests run under CI (``CI=true``): then missing shared data is a failure, not a skip."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def missing(reason: str, module_level: bool = False) -> None:
    """Skip a test whose inputs are absent on this machine, but fail it under CI, where they must exist
    (the shared data, the authors' code and the dev extra's packages); ``module_level``: skip a whole
    test module at import."""
    if under_ci():
        pytest.fail(f"{reason} (CI=true: the shared data and the dev extra must be present)", pytrace=False)
    pytest.skip(reason, allow_module_level=module_level)


def require_module(name: str, reason: str | None = None) -> Any:
    """Import ``name`` (a dev-extra package), or skip the test that needs it — fail it under CI."""
    try:
        return importlib.import_module(name)
    except ImportError as err:
        missing(reason or f"{name} is not installed ({err}); pip install -e '.[dev]'")


def shared_dir() -> Path:
    """``../shared`` beside the checkout, or ``$ROBUSTLENS_SHARED_DIR`` (worktrees, other layouts)."""
    return Path(os.environ.get("ROBUSTLENS_SHARED_DIR", REPO_ROOT.parent / "shared")).resolve()


@pytest.fixture(scope="session")
def shared() -> Path:
    path = shared_dir()
    if not path.is_dir():
        missing(f"shared folder not found at {path} (set ROBUSTLENS_SHARED_DIR)")
    return path


@pytest.fixture(scope="session")
def shared_data(shared: Path) -> Path:
    return shared / "data"


@pytest.fixture(scope="session")
def paper_a_models(shared: Path) -> Path:
    path = shared / "models" / "buzhinsky2020-mnist"
    if not path.is_dir():
        missing(f"Paper A models not found at {path}")
    return path


@pytest.fixture(scope="session")
def data_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A writable data dir shared by the whole session (unpacked MNIST is reused)."""
    return tmp_path_factory.mktemp("robustlens-data")


#: the per-test limit of the long tests (marked slow or slurm) that set none of their own; the
#: default suite's limit is pyproject's ``timeout`` (pytest-timeout), raised per test where it needs more
LONG_TEST_TIMEOUT_S = 1800


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Give the long tests a limit of their own: a hung test then fails naming itself instead of
    stalling CI, while a slow test that is merely slow (a full AutoAttack run, the fault campaign's
    trainings) is not cut at the default suite's limit."""
    for item in items:
        long = any(item.get_closest_marker(name) for name in ("slow", "slurm"))
        if long and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(LONG_TEST_TIMEOUT_S))
