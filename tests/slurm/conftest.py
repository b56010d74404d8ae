"""The localhost SLURM cluster of ``scripts/slurm-localhost.sh`` as a session fixture.

Why a fixture that starts the cluster itself: ``pytest -m slurm`` must work from a clean machine
(CI starts nothing beforehand). A cluster that was already up (``.ci/run`` or a developer ran
``up``) is used and left running; one started here is stopped at the end of the session.
Where it cannot start (no root, no package manager, no SLURM), every test that needs it is
skipped with the script's own message — never passed — and under ``CI=true`` fails (the ``missing()``
rule of tests/conftest.py): these are the only tests that resume a real training job after a requeue.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import missing

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "scripts" / "slurm-localhost.sh"


def _script(*args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout)


def _running() -> bool:
    status = _script("status", timeout=60)
    return status.returncode == 0 and "slurmctld: running" in status.stdout and "slurmd: running" in status.stdout


def start_cluster() -> str:
    """``scripts/slurm-localhost.sh up``; its ``SLURM_CONF``, or skip (fail under CI) with the script's message."""
    up = _script("up")
    if up.returncode != 0:
        missing(f"the localhost SLURM cluster could not start: {(up.stderr or up.stdout).strip()[-800:]}")
    return next(line.split("=", 1)[1] for line in up.stdout.splitlines() if line.startswith("export SLURM_CONF="))


@pytest.fixture(scope="session")
def slurm_cluster() -> str:
    """``SLURM_CONF`` of a running one-node cluster (set in ``os.environ`` for sbatch/submitit)."""
    started_here = not _running()
    began = time.monotonic()
    conf = start_cluster()
    print(f"\nlocalhost SLURM cluster {'started' if started_here else 'reused'} in {time.monotonic() - began:.1f}s")
    previous = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = conf
    yield conf
    if previous is None:
        os.environ.pop("SLURM_CONF", None)
    else:
        os.environ["SLURM_CONF"] = previous
    if started_here:
        _script("down", timeout=120)
