"""Sweeps submitted to a real SLURM cluster (the one-node cluster of scripts/slurm-localhost.sh):
results equal the same sweep run locally; a requeued training resumes, a requeued evaluation reruns
only its unfinished probes.

Every job is tiny (digits, small subsets, 1-4 epochs): the test machines have two cores.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from robustlens.evaluation.cost import is_measured
from tests.hydra_utils import REPO_ROOT, run_cli

pytestmark = pytest.mark.slurm

SLURM = ["hydra/launcher=slurm_localhost"]
QUIET = ["extras.print_config=false", "callbacks.rich_progress_bar=null", "+trainer.enable_progress_bar=false"]
EVAL_FAST = ["data.test_subset=41", "data.eval_batch_size=16", "evaluation.probes.pgd_linf.attack.steps=5",
             "evaluation.probes.pgd_linf.attack.step_size=0.03", "callbacks=none", "extras.print_config=false"]
TRAIN_FAST = ["data.train_subset=300", "trainer.max_epochs=1", *QUIET]


def job_metrics(sweep_dir: Path, keys: tuple[str, ...] = ("eps", "seed")) -> dict[str, dict]:
    """Swept overrides (as a key) → metrics of every job of a sweep; every job must be complete."""
    out = {}
    for results in sorted(sweep_dir.glob("*/results.json")):
        payload = json.loads(results.read_text())
        assert payload["status"] == "complete", (results, payload.get("error"))
        key = ",".join(sorted(o for o in payload["job"]["overrides"] if any(k in o for k in keys)))
        out[key] = payload["metrics"]
    return out


def assert_same_metrics(reference: dict[str, dict], other: dict[str, dict], atol: float = 1e-6) -> None:
    assert reference.keys() == other.keys() and reference
    for key, metrics in reference.items():
        assert metrics.keys() == other[key].keys(), key
        for name, value in metrics.items():
            if isinstance(value, float) and not is_measured(name):  # seconds and memory differ between runs
                assert other[key][name] == pytest.approx(value, abs=atol, nan_ok=True), (key, name)


def slurm_env() -> dict[str, str]:
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true", "PYTHONWARNINGS": "ignore"}
    env["PYTHONPATH"] = str(REPO_ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    return env


def start_cli(args: list[str], cwd: Path) -> subprocess.Popen:
    """``python -m robustlens <args>`` in the background (the submitting process of a SLURM sweep)."""
    log = open(cwd / "submit.log", "w")  # noqa: SIM115 - closed with the process by the caller's wait
    return subprocess.Popen([sys.executable, "-m", "robustlens", *args], cwd=cwd, env=slurm_env(),
                            stdout=log, stderr=subprocess.STDOUT, text=True)


def running_jobs() -> list[str]:
    out = subprocess.run(["squeue", "-h", "-t", "RUNNING", "-o", "%i"], capture_output=True, text=True, check=True)
    return out.stdout.split()


def restarts(job_id: str) -> int:
    out = subprocess.run(["scontrol", "show", "job", job_id], capture_output=True, text=True, check=True).stdout
    return int(out.split("Restarts=", 1)[1].split()[0])


def requeue(job_id: str) -> None:
    """``scontrol requeue``, then make the job eligible at once (SLURM holds a requeued job for ~2 min)."""
    subprocess.run(["scontrol", "requeue", job_id], check=True)
    for _ in range(100):
        out = subprocess.run(["scontrol", "show", "job", job_id], capture_output=True, text=True).stdout
        if "JobState=PENDING" in out:
            subprocess.run(["scontrol", "update", f"jobid={job_id}", "BeginTime=now"], check=False)
            return
        time.sleep(0.2)


def wait_for(predicate, timeout: float, what: str, proc: subprocess.Popen | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"the sweep ended (rc {proc.returncode}) before {what}")
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


def finish(proc: subprocess.Popen, cwd: Path, timeout: float = 900) -> str:
    proc.wait(timeout=timeout)
    text = (cwd / "submit.log").read_text()
    assert proc.returncode == 0, text[-3000:]
    return text


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("train")
    result = run_cli(["train", *TRAIN_FAST, f"hydra.run.dir={out}"], out)
    assert result.returncode == 0, result.stderr[-3000:]
    return Path(json.loads((out / "results.json").read_text())["checkpoints"]["last"])


def test_the_cluster_runs_a_batch_job(slurm_cluster: str, tmp_path: Path) -> None:
    state = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, check=True).stdout.split()
    assert state and set(state) <= {"idle", "mixed", "allocated"}
    done = subprocess.run(["sbatch", "--wait", "-o", str(tmp_path / "out.txt"), "--wrap", "echo ran on $SLURMD_NODENAME"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out.txt").read_text().startswith("ran on ")


def test_evaluate_2x2_on_slurm_equals_the_local_sweep_and_report_gathers_it(
    slurm_cluster: str, tmp_path: Path, checkpoint: Path
) -> None:
    sweep = ["evaluation.probes.pgd_linf.attack.eps=0.05,0.1", "seed=0,1"]
    base = ["evaluate", "--multirun", f"ckpt_path={checkpoint}", *EVAL_FAST, *sweep]
    on_slurm = run_cli([*base, *SLURM, f"hydra.sweep.dir={tmp_path / 'slurm'}"], tmp_path, env=slurm_env())
    assert on_slurm.returncode == 0, on_slurm.stderr[-3000:]
    local = run_cli([*base, f"hydra.sweep.dir={tmp_path / 'local'}"], tmp_path)
    assert local.returncode == 0, local.stderr[-3000:]
    # the jobs really went through SLURM: submitit's per-job folders with SLURM's job ids
    assert len(list((tmp_path / "slurm" / ".submitit").glob("*_[0-3]"))) == 4
    assert_same_metrics(job_metrics(tmp_path / "local"), job_metrics(tmp_path / "slurm"))
    tidy = {}
    for name in ("slurm", "local"):
        report = run_cli(["report", str(tmp_path / name)], tmp_path)
        assert report.returncode == 0, report.stderr[-3000:]
        frame = pd.read_csv(tmp_path / name / "report" / "results_tidy.csv")
        measured = (frame["probe"] + "/" + frame["metric"]).map(is_measured)
        frame = frame[~measured]  # seconds and memory differ between two runs
        keys = ["evaluation.probes.pgd_linf.attack.eps", "seed", "probe", "metric", "class"]
        tidy[name] = frame.sort_values(keys).reset_index(drop=True)[[*keys, "value"]]
    assert len(tidy["slurm"]) > 0
    pd.testing.assert_frame_equal(tidy["slurm"], tidy["local"], check_exact=False, atol=1e-6)


def test_train_multirun_on_slurm_equals_the_local_sweep(slurm_cluster: str, tmp_path: Path) -> None:
    base = ["train", "--multirun", *TRAIN_FAST, "seed=1,2"]
    on_slurm = run_cli([*base, *SLURM, f"hydra.sweep.dir={tmp_path / 'slurm'}"], tmp_path, env=slurm_env())
    assert on_slurm.returncode == 0, on_slurm.stderr[-3000:]
    local = run_cli([*base, f"hydra.sweep.dir={tmp_path / 'local'}"], tmp_path)
    assert local.returncode == 0, local.stderr[-3000:]
    assert_same_metrics(job_metrics(tmp_path / "local", ("seed",)), job_metrics(tmp_path / "slurm", ("seed",)), 1e-5)


def test_requeued_training_resumes_from_its_checkpoint_to_the_uninterrupted_metrics(
    slurm_cluster: str, tmp_path: Path
) -> None:
    """``scontrol requeue`` = SLURM's pre-emption of a running job: SIGTERM (Lightning stops at the next
    batch, submitit bypasses it), SIGKILL after KillWait, the job back in the queue; submitit reruns the same
    Hydra job into the same dir and the fit continues from its last finished epoch."""
    train = ["train", *QUIET, "training=noise", "trainer.max_epochs=4", "seed=3"]
    proc = start_cli([*train[:1], "--multirun", *train[1:], *SLURM, f"hydra.sweep.dir={tmp_path / 'slurm'}"], tmp_path)
    job_dir = tmp_path / "slurm" / "0"
    first_epoch = job_dir / "checkpoints" / "last.ckpt"
    wait_for(first_epoch.is_file, 600, "the first epoch's checkpoint", proc)
    assert not (job_dir / "results.json").is_file(), "the job finished before it could be pre-empted"
    job_id = wait_for(running_jobs, 60, "the running job", proc)[0]
    requeue(job_id)
    finish(proc, tmp_path)
    assert restarts(job_id) >= 1
    payload = json.loads((job_dir / "results.json").read_text())
    assert payload["status"] == "complete"
    assert payload["resumed_from"] and payload["resumed_from"].endswith(".ckpt")
    local = run_cli([*train, f"hydra.run.dir={tmp_path / 'local'}"], tmp_path)
    assert local.returncode == 0, local.stderr[-3000:]
    reference = json.loads((tmp_path / "local" / "results.json").read_text())["metrics"]
    assert_same_metrics({"job": reference}, {"job": payload["metrics"]}, 1e-5)


def test_requeued_evaluation_reruns_only_its_unfinished_probes(
    slurm_cluster: str, tmp_path: Path, checkpoint: Path
) -> None:
    evaluate = ["evaluate", f"ckpt_path={checkpoint}", "callbacks=none", "extras.print_config=false",
                "data.test_subset=100", "data.eval_batch_size=25", "evaluation.probes.pgd_linf.attack.steps=200",
                "evaluation.probes.pgd_linf.attack.step_size=0.01"]
    proc = start_cli([*evaluate[:1], "--multirun", *evaluate[1:], *SLURM, f"hydra.sweep.dir={tmp_path / 'slurm'}"],
                     tmp_path)
    job_dir = tmp_path / "slurm" / "0"
    clean = job_dir / "probes" / "clean.json"
    wait_for(clean.is_file, 600, "the clean probe's checkpoint", proc)
    assert not (job_dir / "probes" / "pgd_linf.json").is_file(), "pgd_linf finished before the pre-emption"
    first = json.loads(clean.read_text())
    job_id = wait_for(running_jobs, 60, "the running job", proc)[0]
    requeue(job_id)
    finish(proc, tmp_path)
    assert restarts(job_id) >= 1
    assert json.loads(clean.read_text())["finished"] == first["finished"]  # clean was not redone
    log = (job_dir / "evaluate.log").read_text()
    assert log.count("probe clean already finished: reusing") == 1
    payload = json.loads((job_dir / "results.json").read_text())
    assert payload["status"] == "complete"
    local = run_cli([*evaluate, f"hydra.run.dir={tmp_path / 'local'}"], tmp_path, timeout=1800)
    assert local.returncode == 0, local.stderr[-3000:]
    reference = json.loads((tmp_path / "local" / "results.json").read_text())["metrics"]
    assert_same_metrics({"job": reference}, {"job": payload["metrics"]})
