"""``kill -9`` at random moments (seeded, several seeds), a kill while a results file is written, two sweeps
into one directory: the same command again finishes with the results of an uninterrupted run, finished
jobs/probes are not redone, no torn file is read as valid."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.faults.helpers import (
    EVAL_FAST,
    cli_env,
    finished_units,
    kill_delays,
    lost_units,
    metrics_of,
    run_and_kill,
    same_metrics,
    timed_run,
)
from tests.tasks import training_log

pytestmark = [pytest.mark.faults, pytest.mark.slow]

SEEDS = [0, 1, 2]
TRAIN = ["train", "training=noise", "trainer.max_epochs=3", "data.train_subset=300", "extras.print_config=false",
         "callbacks.rich_progress_bar=null", "callbacks.latent_report=null", "seed=7",
         *training_log.overrides("${paths.output_dir}/training-log.jsonl")]


def first_epoch_to_train(checkpoints: Path, max_epochs: int) -> int:
    """Where a resumed fit must start, by the documented rule: after the newest epoch held by an intact
    checkpoint, except the final epoch's (its metrics died with the run, so it is trained again)."""
    epochs = []
    for path in checkpoints.glob("*.ckpt") if checkpoints.is_dir() else ():
        try:
            epoch = int(torch.load(path, map_location="cpu", weights_only=False)["epoch"])
        except Exception:  # torn by the kill: not resumable
            continue
        if epoch + 1 < max_epochs:
            epochs.append(epoch)
    return max(epochs) + 1 if epochs else 0


@pytest.fixture(scope="module")
def train_reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, float], float]:
    out = tmp_path_factory.mktemp("train-reference")
    done, seconds = timed_run([*TRAIN, f"hydra.run.dir={out / 'run'}"], out)
    assert done.returncode == 0, done.stderr[-3000:]
    return metrics_of(out / "run" / "results.json"), seconds


@pytest.mark.parametrize("seed", SEEDS)
def test_kill9_of_train_at_a_random_moment_then_the_same_command(
    tmp_path: Path, train_reference, fault_ledger, seed: int
) -> None:
    reference, duration = train_reference
    (delay,) = kill_delays(seed, duration, 1)
    for attempt in range(3):  # a moment after the end (the machine was faster now): earlier, in a fresh dir
        run_dir = tmp_path / f"run{attempt}"
        command = [*TRAIN, f"hydra.run.dir={run_dir}"]
        killed = run_and_kill(command, tmp_path, delay)
        if killed:
            break
        delay /= 2
    assert killed, "no kill was injected: the run finished before every moment tried"
    before = finished_units(run_dir) if run_dir.is_dir() else {}
    start = first_epoch_to_train(run_dir / "checkpoints", max_epochs=3)
    again = subprocess.run([sys.executable, "-m", "robustlens", *command], cwd=tmp_path, env=cli_env(),
                           capture_output=True, text=True, timeout=900)
    if again.returncode != 0:  # counted before failing: the summary must show a failed recovery
        fault_ledger.record("kill -9 of robustlens train", injected=int(killed), recovered=False, lost=1)
    assert again.returncode == 0, again.stderr[-3000:]
    after = finished_units(run_dir)
    equal = same_metrics(reference, metrics_of(run_dir / "results.json"), atol=1e-5)
    lost = lost_units(before, after)
    fault_ledger.record("kill -9 of robustlens train", injected=int(killed), recovered=killed and equal,
                        lost=len(lost) + (0 if equal else 1))
    assert not lost and equal
    # the rerun began after the last finished epoch and trained none of the finished ones again
    rerun = training_log.fits(run_dir / "training-log.jsonl")[-1]
    batches_per_epoch = len([b for b in rerun["batches"] if b[0] == rerun["batches"][-1][0]])
    assert rerun["epoch"] == start and rerun["global_step"] == start * batches_per_epoch, (rerun, start)
    assert {epoch for epoch, _ in rerun["batches"]} == set(range(start, 3))


EVAL_SWEEP = ["evaluation.probes.pgd_linf.attack.eps=0.05,0.1,0.2"]


@pytest.fixture(scope="module")
def eval_reference(tmp_path_factory: pytest.TempPathFactory, fault_checkpoint: Path):
    out = tmp_path_factory.mktemp("eval-reference")
    command = ["evaluate", "--multirun", f"ckpt_path={fault_checkpoint}", *EVAL_FAST, *EVAL_SWEEP]
    done, seconds = timed_run([*command, f"hydra.sweep.dir={out / 'sweep'}"], out)
    assert done.returncode == 0, done.stderr[-3000:]
    return command, {p.parent.name: metrics_of(p) for p in (out / "sweep").glob("*/results.json")}, seconds


@pytest.mark.parametrize("seed", SEEDS)
def test_kill9_of_an_evaluate_multirun_at_random_moments_then_the_same_command(
    tmp_path: Path, eval_reference, fault_ledger, seed: int
) -> None:
    """Two kills per seed — within a probe, between probes or between jobs of the multirun, wherever the
    seeded moment falls — each followed by inspecting what is on disk; then the same command to the end."""
    command, reference, duration = eval_reference
    command = [*command, f"hydra.sweep.dir={tmp_path / 'sweep'}"]
    before: dict[str, str] = {}
    kills = 0
    for delay in kill_delays(seed, duration, 2):
        kills += run_and_kill(command, tmp_path, delay)
        units = finished_units(tmp_path / "sweep") if (tmp_path / "sweep").is_dir() else {}
        assert not lost_units(before, units), "a finished unit disappeared or was redone by a killed run"
        before = units
    if not before:  # both seeded moments fell before the first unit finished: one late kill more
        kills += run_and_kill(command, tmp_path, 0.8 * duration)
        before = finished_units(tmp_path / "sweep") if (tmp_path / "sweep").is_dir() else {}
    assert kills >= 1, "no kill was injected: every run finished before its moment"
    assert before, "nothing had finished before the final run: a redone unit could not be seen"
    done = subprocess.run([sys.executable, "-m", "robustlens", *command], cwd=tmp_path, env=cli_env(),
                          capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        fault_ledger.record("kill -9 of robustlens evaluate --multirun", injected=kills, recovered=False, lost=1)
    assert done.returncode == 0, done.stderr[-3000:]
    after = finished_units(tmp_path / "sweep")
    final = {p.parent.name: metrics_of(p) for p in (tmp_path / "sweep").glob("*/results.json")}
    equal = final.keys() == reference.keys() and all(same_metrics(reference[j], final[j]) for j in reference)
    lost = lost_units(before, after)
    fault_ledger.record("kill -9 of robustlens evaluate --multirun", injected=kills, recovered=equal and not lost,
                        lost=len(lost) + (0 if equal else 1))
    assert not lost, f"finished jobs/probes redone or lost: {lost}"
    assert equal


KILL_DURING_WRITE = r"""
import os, signal, sys
from robustlens.utils import io
from robustlens.utils.results_file import write_results_atomic
from tests.results_files import make_results

def die(fd):  # the data is in the temp file, the rename has not happened: the moment of a kill mid-write
    os.kill(os.getpid(), signal.SIGKILL)

io.os.fsync = die
write_results_atomic(sys.argv[1], make_results({"clean/accuracy": 0.25}))
"""


def test_kill9_while_results_are_written_leaves_the_previous_file_intact(tmp_path: Path, fault_ledger) -> None:
    from robustlens.utils.results_file import job_is_complete, read_results, write_results_atomic
    from tests.results_files import make_results

    write_results_atomic(tmp_path, make_results({"clean/accuracy": 0.75}))
    done = subprocess.run([sys.executable, "-c", KILL_DURING_WRITE, str(tmp_path)], env=cli_env(),
                          capture_output=True, text=True, timeout=120)
    killed = done.returncode == -9
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "results.json"]
    intact = job_is_complete(tmp_path) and read_results(tmp_path)["metrics"]["clean/accuracy"] == 0.75
    fault_ledger.record("kill -9 while results.json is written", injected=int(killed), recovered=intact,
                        lost=0 if intact else 1)
    assert killed, done.stderr
    assert intact
    assert all(name.endswith(".tmp") for name in leftovers)  # only the dead writer's temp file, never read


def test_a_second_sweep_into_the_same_dir_refuses_with_a_message(
    tmp_path: Path, eval_reference, fault_ledger
) -> None:
    command, reference, _ = eval_reference
    command = [*command, f"hydra.sweep.dir={tmp_path / 'sweep'}"]
    with open(tmp_path / "first.log", "w") as log:
        first = subprocess.Popen([sys.executable, "-m", "robustlens", *command], cwd=tmp_path, env=cli_env(),
                                 stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 300
        while not (tmp_path / "sweep" / ".sweep.lock.pid").is_file():
            assert first.poll() is None and time.monotonic() < deadline, (tmp_path / "first.log").read_text()[-3000:]
            time.sleep(0.2)
        # the first sweep is paused while the second starts: it holds the lock however fast its jobs run
        os.kill(first.pid, signal.SIGSTOP)
        try:
            second = subprocess.run([sys.executable, "-m", "robustlens", *command], cwd=tmp_path, env=cli_env(),
                                    capture_output=True, text=True, timeout=300)
        finally:
            os.kill(first.pid, signal.SIGCONT)
        first.wait(timeout=900)
    refused = second.returncode != 0 and "another sweep is running into" in second.stderr
    final = {p.parent.name: metrics_of(p) for p in (tmp_path / "sweep").glob("*/results.json")}
    equal = final.keys() == reference.keys() and all(same_metrics(reference[j], final[j]) for j in reference)
    fault_ledger.record("two sweeps into one sweep dir", recovered=refused and equal, lost=0 if equal else 1)
    assert refused, second.stderr[-3000:]
    assert str(tmp_path / "sweep") in second.stderr
    assert first.returncode == 0 and equal
    # the lock dies with its holder: once the first sweep is over, the same command runs (and skips all jobs)
    third = subprocess.run([sys.executable, "-m", "robustlens", *command], cwd=tmp_path, env=cli_env(),
                           capture_output=True, text=True, timeout=600)
    assert third.returncode == 0, third.stderr[-3000:]
    assert json.loads((tmp_path / "sweep" / "0" / "results.json").read_text())["status"] == "complete"
