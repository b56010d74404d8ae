"""Shared fixtures: where the read-only shared data and published models are, and a writable data dir."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

# One intra-op thread: the small networks of the tests are several times slower with 2 threads
# on 2 cores as soon as anything else runs (DDP tests start 2 processes of their own).
torch.set_num_threads(1)
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_dir() -> Path:
    """``../shared`` beside the checkout, or ``$ROBUSTLENS_SHARED_DIR`` (worktrees, other layouts)."""
    return Path(os.environ.get("ROBUSTLENS_SHARED_DIR", REPO_ROOT.parent / "shared")).resolve()


@pytest.fixture(scope="session")
def shared() -> Path:
    path = shared_dir()
    if not path.is_dir():
        pytest.skip(f"shared folder not found at {path} (set ROBUSTLENS_SHARED_DIR)")
    return path


@pytest.fixture(scope="session")
def shared_data(shared: Path) -> Path:
    return shared / "data"


@pytest.fixture(scope="session")
def paper_a_models(shared: Path) -> Path:
    path = shared / "models" / "buzhinsky2020-mnist"
    if not path.is_dir():
        pytest.skip(f"Paper A models not found at {path}")
    return path


@pytest.fixture(scope="session")
def data_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A writable data dir shared by the whole session (unpacked MNIST is reused)."""
    return tmp_path_factory.mktemp("robustlens-data")
