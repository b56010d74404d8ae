"""Real `robustlens` multiruns: joblib launcher + report, and multirun × DDP equal to single-process jobs."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from robustlens.evaluation.cost import is_measured
from robustlens.tasks.common import task_wrapper
from robustlens.tasks.train import train
from tests.hydra_utils import compose_config, run_cli

SWEEP = ["evaluation.probes.pgd_linf.attack.eps=0.05,0.1"]
FAST = ["data.test_subset=41", "data.eval_batch_size=16", "evaluation.probes.pgd_linf.attack.steps=5",
        "evaluation.probes.pgd_linf.attack.step_size=0.03", "callbacks=none", "extras.print_config=false"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("train")
    payload = task_wrapper(train)(compose_config("train", ["trainer.max_epochs=1", "extras.print_config=false"], out))
    return Path(payload["checkpoints"]["last"])


def job_metrics(sweep_dir: Path, world_size: int = 1) -> dict[str, dict]:
    """Job overrides (sorted, as a key) → metrics of every complete job of a sweep run on ``world_size`` processes."""
    out = {}
    for results in sorted(sweep_dir.glob("*/results.json")):
        payload = json.loads(results.read_text())
        assert payload["status"] == "complete", payload.get("error")
        assert payload["world_size"] == world_size, results
        key = ",".join(sorted(o for o in payload["job"]["overrides"] if "eps" in o or "seed" in o))
        out[key] = payload["metrics"]
    return out


@pytest.mark.timeout(1200)
def test_joblib_multirun_2x2_finishes_and_report_builds_its_table(tmp_path: Path, checkpoint: Path) -> None:
    sweep = tmp_path / "sweep"
    result = run_cli(
        ["evaluate", "--multirun", "hydra/launcher=local_parallel", f"ckpt_path={checkpoint}", *FAST, *SWEEP,
         "seed=0,1", f"hydra.sweep.dir={sweep}"],
        tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(job_metrics(sweep)) == 4
    assert (sweep / "sweep_summary.csv").is_file()
    report = run_cli(["report", str(sweep)], tmp_path)
    assert report.returncode == 0, report.stderr[-3000:]
    tidy = pd.read_csv(sweep / "report" / "results_tidy.csv")
    assert {"evaluation.probes.pgd_linf.attack.eps", "seed", "probe", "metric", "value"} <= set(tidy.columns)
    accuracy = tidy[(tidy["probe"] == "pgd_linf") & (tidy["metric"] == "accuracy") & tidy["class"].isna()]
    assert len(accuracy) == 4
    assert sorted(accuracy["evaluation.probes.pgd_linf.attack.eps"].unique()) == [0.05, 0.1]


@pytest.mark.ddp
@pytest.mark.timeout(1200)
def test_multirun_of_ddp_jobs_equals_single_process_jobs(tmp_path: Path, checkpoint: Path) -> None:
    single, double = tmp_path / "single", tmp_path / "ddp"
    base = ["evaluate", "--multirun", f"ckpt_path={checkpoint}", *FAST, *SWEEP]
    one = run_cli([*base, f"hydra.sweep.dir={single}"], tmp_path)
    assert one.returncode == 0, one.stderr[-3000:]
    two = run_cli([*base, "trainer=ddp_sim", f"hydra.sweep.dir={double}"], tmp_path)
    assert two.returncode == 0, two.stderr[-3000:]
    # child ranks did not re-expand the sweep: exactly the two jobs, no extra job dirs
    assert sorted(p.name for p in double.iterdir() if p.is_dir()) == ["0", "1"]
    metrics_one, metrics_two = job_metrics(single), job_metrics(double, world_size=2)
    assert metrics_one.keys() == metrics_two.keys() and len(metrics_one) == 2
    for key, reference in metrics_one.items():
        for name, value in reference.items():
            if is_measured(name):
                continue  # what a pass costs in time and memory differs between 1 and 2 processes; its counts do not
            if isinstance(value, float):
                assert metrics_two[key][name] == pytest.approx(value, abs=1e-6, nan_ok=True), (key, name)
    for job in ("0", "1"):
        table = pd.read_csv(double / job / "per_sample.csv")
        assert len(table) == 41 and table["index"].is_unique  # every sample counted once
