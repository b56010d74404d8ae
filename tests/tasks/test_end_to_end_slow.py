"""The long paths a user runs, end to end (``pytest -m slow``).

* the generator path: ``train task=generator`` → ``evaluate evaluation=latent generator_ckpt_path=...``;
* the README's main job, ``robustlens train experiment=quickstart``: two classifiers, one cached
  generator trained by the first job and reused by the second, the comparison printed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from robustlens.tasks.common import task_wrapper
from robustlens.tasks.evaluate import evaluate
from robustlens.tasks.train import train
from tests.hydra_utils import compose_config, run_cli

pytestmark = pytest.mark.slow

LATENT = ("lga", "lra", "laga", "lara", "lags", "lars")
SMALL_SEARCH = [f"evaluation.probes.{p}.{k}={v}" for p in ("laga", "lara", "lags", "lars")
                for k, v in (("steps", 5), ("restarts", 2))]


def test_a_trained_generator_drives_the_latent_evaluation(tmp_path: Path) -> None:
    quick = ["trainer.max_epochs=1", "extras.print_config=false", "+trainer.limit_train_batches=5"]
    classifier = task_wrapper(train)(compose_config("train", quick, tmp_path / "classifier"))
    generator = task_wrapper(train)(
        compose_config("train", ["task=generator", "generator=cvae", *quick], tmp_path / "generator")
    )
    generator_ckpt = Path(generator["checkpoints"]["last"])
    assert generator_ckpt.is_file()
    out = tmp_path / "evaluate"
    cfg = compose_config(
        "evaluate",
        [f"ckpt_path={classifier['checkpoints']['last']}", f"generator_ckpt_path={generator_ckpt}",
         "evaluation=latent", "evaluation.probes.autoattack=null", "evaluation.probes.severity_l2=null",
         "evaluation.probes.severity_linf=null", "evaluation.probes.pgd_linf.attack.steps=3",
         "data.test_subset=30", "extras.print_config=false", *SMALL_SEARCH],
        out,
    )
    payload = task_wrapper(evaluate)(cfg)
    results = json.loads((out / "results.json").read_text())
    assert results["status"] == "complete" and payload["metrics"].keys() == results["metrics"].keys()
    for probe in LATENT:
        assert f"{probe}/accuracy" in results["metrics"], probe
    assert 0.0 <= results["metrics"]["lga/accuracy"] <= 1.0
    assert (out / "latent" / "lags__grid.png").is_file()  # the latent figures of the new callback hook


def test_the_readme_main_job_runs_and_shares_one_generator(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    result = run_cli(
        ["train", "experiment=quickstart", f"hydra.sweep.dir={sweep}", f"paths.log_dir={tmp_path / 'logs'}"],
        tmp_path, timeout=3600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = sorted(sweep.glob("*/results.json"))
    assert len(jobs) == 2
    for job in jobs:
        payload = json.loads(job.read_text())
        assert payload["status"] == "complete", payload.get("error")
        for key in ("clean/accuracy", "pgd_linf/accuracy", "lga/accuracy", "laga/accuracy"):
            assert key in payload["metrics"], (job, key)
    cache = tmp_path / "logs" / "cache" / "quickstart_cvae_digits.ckpt"
    assert cache.is_file()
    assert (result.stdout + result.stderr).count("training the generator once") == 1  # the second job reused it
    assert "quickstart" in result.stdout  # the comparison table printed at the end of the sweep
