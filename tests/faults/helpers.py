"""What the fault tests share: finished units on disk, comparisons with an uninterrupted run, kills."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from robustlens.evaluation.cost import is_measured
from tests.hydra_utils import REPO_ROOT

EVAL_FAST = ["data.test_subset=41", "data.eval_batch_size=16", "evaluation.probes.pgd_linf.attack.steps=5",
             "evaluation.probes.pgd_linf.attack.step_size=0.03", "callbacks=none", "extras.print_config=false"]


def finished_units(root: Path) -> dict[str, str]:
    """Every finished unit under ``root`` → its finish stamp: complete jobs (``results.json``) and finished
    probes (``probes/<name>.json``). Every file found must parse: a kill never leaves a torn one behind."""
    units = {}
    for path in sorted(root.rglob("results.json")):
        payload = json.loads(path.read_text())  # raises on a torn file: the test fails
        if payload["status"] == "complete":
            units[str(path.relative_to(root))] = payload["timing"]["finished"]
    for path in sorted(root.rglob("probes/*.json")):
        payload = json.loads(path.read_text())
        units[str(path.relative_to(root))] = payload["finished"]
    return units


def lost_units(before: dict[str, str], after: dict[str, str], damaged: set[str] = frozenset()) -> list[str]:
    """Units finished before a fault that are missing or were redone afterwards (except those the fault
    itself damaged, which must be recomputed)."""
    return [unit for unit, stamp in before.items() if unit not in damaged and after.get(unit) != stamp]


def metrics_of(results: Path) -> dict[str, float]:
    payload = json.loads(results.read_text())
    assert payload["status"] == "complete", payload.get("error")
    # seconds and peak memory are measured, and differ between a run and its recomputation
    return {k: v for k, v in payload["metrics"].items() if isinstance(v, float) and not is_measured(k)}


def same_metrics(reference: dict[str, float], other: dict[str, float], atol: float = 1e-6) -> bool:
    if reference.keys() != other.keys():
        return False
    for key, value in reference.items():
        if value != value and other[key] != other[key]:  # both NaN
            continue
        if abs(value - other[key]) > atol:
            return False
    return True


def cli_env() -> dict[str, str]:
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true", "PYTHONWARNINGS": "ignore"}
    # the repository too: test callbacks (tests.tasks.training_log) are loaded by the killed runs
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT / "src"), str(REPO_ROOT), env.get("PYTHONPATH", "")])
    return env


def run_and_kill(args: list[str], cwd: Path, delay_s: float, timeout: float = 600) -> bool:
    """Start ``python -m robustlens <args>`` and ``kill -9`` it (its whole process group: DDP ranks too)
    after ``delay_s``; ``True`` if it was killed, ``False`` if it had already finished."""
    with open(cwd / f"killed-{time.time_ns()}.log", "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "robustlens", *args], cwd=cwd, env=cli_env(),
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            proc.wait(timeout=delay_s)
            return False
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=timeout)
            return True


def timed_run(args: list[str], cwd: Path, timeout: float = 900) -> tuple[subprocess.CompletedProcess, float]:
    began = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "robustlens", *args], cwd=cwd, env=cli_env(),
                          capture_output=True, text=True, timeout=timeout)
    return done, time.monotonic() - began


def kill_delays(seed: int, duration: float, count: int) -> list[float]:
    """``count`` random kill moments within an uninterrupted run's ``duration`` (seeded: reproducible).

    Within the first 80 %: a rerun on a less loaded machine can be faster than the reference run, and a
    moment after its end injects nothing."""
    rng = random.Random(seed)
    return [rng.uniform(0.1, 0.8) * duration for _ in range(count)]
