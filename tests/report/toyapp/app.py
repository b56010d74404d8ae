"""A tiny real Hydra app that writes results files by the results contract.

It stands in for the train/evaluate tasks in sweep tests: it skips itself when its output dir
already holds complete results (resume), can be told to fail (error recorded, sweep goes on)
or to die hard (``os._exit`` when ``$TOY_DIE_ON_JOB`` is its job number: a killed job
leaves no results), and returns an objective for Optuna.
"""

from __future__ import annotations

import os
from pathlib import Path

import hydra
import yaml
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from robustlens.utils.results_file import load_complete_results, write_results_atomic
from tests.results_files import make_results


def _objective(lr: float, eps: float) -> float:
    return 1.0 - (lr - 0.03) ** 2 - eps / 2


@hydra.main(version_base="1.3", config_path="conf", config_name="toy")
def main(cfg: DictConfig) -> float:
    hc = HydraConfig.get()
    out = Path(hc.runtime.output_dir)
    overrides = list(hc.overrides.task)
    previous = load_complete_results(out, overrides)
    if previous is not None:
        return previous["metrics"]["val/objective"]
    with (out / "executions.txt").open("a") as fh:  # lets tests count how often a job ran
        fh.write(f"{hc.job.num}\n")
    lr, eps = float(cfg.training.optimizer.lr), float(cfg.attack.eps)
    params = {o.split("=", 1)[0]: yaml.safe_load(o.split("=", 1)[1]) for o in overrides}
    if int(os.environ.get("TOY_DIE_ON_JOB", "-1")) == hc.job.num:
        os._exit(3)  # simulates a kill (OOM, SLURM timeout): no results file
    try:
        if cfg.fail_on_eps is not None and eps == cfg.fail_on_eps:
            raise RuntimeError(f"toy failure at eps={eps}")
        value = _objective(lr, eps)
        metrics = {"clean/accuracy": 1.0 - lr, "pgd/accuracy": 1.0 - lr - eps, "val/objective": value,
                   "pgd/classwise_accuracy/0": 1.0 - eps, "pgd/classwise_accuracy/1": 1.0 - 2 * eps}
        payload = make_results(metrics, sweep_params=params, output_dir=out, job_num=hc.job.num)
        payload["job"]["overrides"] = overrides
        write_results_atomic(out, payload)
        return value
    except Exception as err:  # record the failure; do not raise, so the sweep goes on
        payload = make_results({}, status="failed", error=err, sweep_params=params, output_dir=out,
                               job_num=hc.job.num)
        payload["job"]["overrides"] = overrides
        write_results_atomic(out, payload)
        return float("nan")


if __name__ == "__main__":
    main()
