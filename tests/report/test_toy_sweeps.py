"""Real Hydra multiruns of the toy app (tests/report/toyapp) in subprocesses: joblib launcher
with a failing job and the summary callback, kill + re-run resume, submitit_local, Optuna
study that continues, and composition of the launcher / Optuna configs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from hydra import compose, initialize_config_dir

from robustlens.report import gather, incomplete
from robustlens.utils.results_file import job_is_complete
from tests.conftest import require_module

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "tests" / "report" / "toyapp" / "app.py"
SEARCH = f"hydra.searchpath=[file://{ROOT / 'conf'}]"


def run_toy(sweep_dir: Path, *overrides: str, check: bool = True, die_on_job: int = -1):
    """Run the toy app as a multirun; ``die_on_job`` makes that job kill its process."""
    path = os.pathsep.join([str(ROOT / "src"), str(ROOT), os.environ.get("PYTHONPATH", "")])  # ROOT: tests.results_files
    env = {**os.environ, "PYTHONPATH": path, "COLUMNS": "200", "WANDB_MODE": "offline",
           "TOY_DIE_ON_JOB": str(die_on_job)}
    cmd = [sys.executable, str(APP), "-m", SEARCH, f"hydra.sweep.dir={sweep_dir}", *overrides]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"toy sweep failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def executions(job_dir: Path) -> int:
    path = job_dir / "executions.txt"
    return len(path.read_text().split()) if path.exists() else 0


def test_joblib_grid_with_failing_job_is_summarised_and_reported(tmp_path):
    sweep = tmp_path / "grid"
    proc = run_toy(sweep, "hydra/launcher=local_parallel", "training.optimizer.lr=0.01,0.05",
                   "attack.eps=0.1,0.2", "fail_on_eps=0.2")
    summary = pd.read_csv(sweep / "sweep_summary.csv", dtype={"job": str})
    assert list(summary["status"]) == ["complete", "failed", "complete", "failed"]
    assert summary.loc[1, "error"] == "RuntimeError: toy failure at eps=0.2"
    assert summary.loc[0, "pgd/accuracy"] == pytest.approx(1 - 0.01 - 0.1)
    assert "toy failure at eps=0.2" in proc.stdout and "2 complete, 2 failed" in proc.stdout
    df = gather(sweep)
    pgd = df[(df["metric"] == "accuracy") & (df["probe"] == "pgd")]
    acc = pgd.set_index("training.optimizer.lr")["value"]
    assert acc.to_dict() == pytest.approx({0.01: 0.89, 0.05: 0.85})
    assert list(incomplete(sweep)["status"]) == ["failed", "failed"]


def test_killed_sweep_reruns_only_unfinished_jobs(tmp_path):
    sweep = tmp_path / "resume"
    grid = ("training.optimizer.lr=0.01,0.05", "attack.eps=0.1,0.2")
    first = run_toy(sweep, *grid, check=False, die_on_job=2)  # basic launcher: job 2 kills the sweep
    assert first.returncode != 0
    assert [job_is_complete(sweep / str(i)) for i in range(4)] == [True, True, False, False]
    assert not (sweep / "3").exists()
    run_toy(sweep, *grid)  # the same command again, the kill no longer happens
    assert [executions(sweep / str(i)) for i in range(4)] == [1, 1, 2, 1]  # 0 and 1 were skipped
    assert all(job_is_complete(sweep / str(i)) for i in range(4))


@pytest.mark.slow  # ~12 s on a loaded 2-core machine
def test_submitit_local_runs_a_job(tmp_path):
    sweep = tmp_path / "submitit"
    run_toy(sweep, "hydra/launcher=local_submitit", "attack.eps=0.3")
    assert job_is_complete(sweep / "0")
    pgd = gather(sweep).query("metric == 'accuracy' and probe == 'pgd'")
    assert pgd["value"].item() == pytest.approx(0.69)


@pytest.mark.slow  # ~60 s on a loaded 2-core machine (5 sequential trials, 2 sweeps)
def test_optuna_study_continues_after_interruption(tmp_path):
    optuna = require_module("optuna")
    from robustlens.utils.optuna_storage import optuna_storage

    sweep = tmp_path / "optuna"
    common = ("hparams_search=mnist_optuna", "hydra.sweeper.sampler.n_startup_trials=2")
    # killed during the 3rd trial:
    first = run_toy(sweep, *common, "hydra.sweeper.n_trials=3", check=False, die_on_job=2)
    assert first.returncode != 0
    study = optuna.load_study(study_name="mnist_optuna", storage=optuna_storage(f"sqlite:///{sweep}/optuna.db"))
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(done) == 2
    run_toy(sweep, *common, "hydra.sweeper.n_trials=2")
    study = optuna.load_study(study_name="mnist_optuna", storage=optuna_storage(f"sqlite:///{sweep}/optuna.db"))
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) == 4  # the 2 before the kill are kept, 2 new ones added
    assert [t.number for t in complete[:2]] == [t.number for t in done]
    assert [t.number for t in complete[2:]] == [3, 4]  # numbering continues after the killed trial
    for trial in complete:  # the stored objective is the toy's value for the trial's params
        lr, eps = trial.params["training.optimizer.lr"], trial.params["attack.eps"]
        assert trial.value == pytest.approx(1.0 - (lr - 0.03) ** 2 - eps / 2)
    assert (sweep / "optimization_results.yaml").exists()


def test_launcher_and_optuna_configs_compose():
    with initialize_config_dir(str(APP.parent / "conf"), version_base="1.3"):
        joblib = compose("toy", overrides=[SEARCH, "hydra/launcher=local_parallel"], return_hydra_config=True)
        slurm = compose("toy", overrides=[SEARCH, "hydra/launcher=slurm", "hydra.launcher.partition=gpu"],
                        return_hydra_config=True)
        local = compose("toy", overrides=[SEARCH, "hydra/launcher=local_submitit"], return_hydra_config=True)
        opt = compose("toy", overrides=[SEARCH, "hparams_search=mnist_optuna"], return_hydra_config=True)
    assert joblib.hydra.launcher.n_jobs == 2 and "JoblibLauncher" in joblib.hydra.launcher._target_
    assert slurm.hydra.launcher.gpus_per_node == 1 and slurm.hydra.launcher.partition == "gpu"
    assert slurm.hydra.launcher.max_num_timeout == 3 and "SlurmLauncher" in slurm.hydra.launcher._target_
    assert "LocalLauncher" in local.hydra.launcher._target_
    sweeper = opt.hydra.sweeper
    assert "OptunaSweeper" in sweeper._target_ and sweeper.direction == "maximize"
    assert sweeper.storage._target_ == "robustlens.utils.optuna_storage.optuna_storage"
    assert sweeper.study_name == "mnist_optuna" and "training.optimizer.lr" in sweeper.params
