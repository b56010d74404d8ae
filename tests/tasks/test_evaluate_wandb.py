"""`evaluate logger=wandb`: the offline run holds every headline scalar of results.json, with its value.

Read back from the run's own record file (``robustlens.utils.wandb_records``): the worst case
(computed after the last probe) and probes reused from an interrupted run are logged too, once;
so are the bounds of every headline value's interval (``<probe>/<metric>/ci_low``, ``/ci_high``).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest

from robustlens.evaluation.scalars import headline_scalars
from robustlens.tasks.common import task_wrapper
from robustlens.tasks.evaluate import evaluate
from robustlens.tasks.train import train
from robustlens.utils.wandb_records import find_run_files, logged_history, wait_for_finished_run
from tests.hydra_utils import compose_config

FAST = ["data.test_subset=40", "extras.print_config=false", "evaluation.probes.pgd_linf.attack.steps=3",
        "evaluation.probes.pgd_linf.attack.step_size=0.05", "+probe@evaluation.probes.fgsm=fgsm", "logger=wandb"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("train")
    payload = task_wrapper(train)(compose_config("train", ["trainer.max_epochs=1", "extras.print_config=false",
                                                           "+trainer.limit_train_batches=3"], out))
    return Path(payload["checkpoints"]["last"])


def logged(run_file: Path) -> dict[str, list]:
    """Every value logged per key (a key logged twice has two entries)."""
    values: dict[str, list] = {}
    for row in logged_history(wait_for_finished_run(run_file)):
        for key, value in row.items():
            if not key.startswith("_"):
                values.setdefault(key, []).append(value)
    return values


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=1e-9, abs=0)


def assert_run_has_every_headline(out: Path, run_file: Path) -> dict[str, float]:
    results = json.loads((out / "results.json").read_text())["metrics"]
    expected = headline_scalars(results)
    values = logged(run_file)
    assert {"clean/accuracy", "pgd_linf/accuracy", "fgsm/accuracy", "worst_case/accuracy"} <= expected.keys()
    assert {"clean/accuracy/ci_low", "clean/accuracy/ci_high", "pgd_linf/flip_rate/ci_low",
            "worst_case/accuracy/ci_high", "clean/worst_class_accuracy/ci_low"} <= expected.keys()
    for key, value in expected.items():
        assert key in values, f"{key} never reached W&B"
        assert len(values[key]) == 1, f"{key} logged {len(values[key])} times"
        logged_value = float("nan") if values[key][0] in (None, "NaN", "nan") else float(values[key][0])
        assert same(logged_value, value), (key, logged_value, value)
    assert not any(key.split("/")[-1].isdigit() and key.split("/")[0] in ("clean", "pgd_linf") for key in values), \
        "per-class values go to W&B as tables, not scalars"
    # what each probe and the job cost, in one `cost` section, once, with the value of results.json
    for key in ("pgd_linf/cost/forward_per_sample", "fgsm/cost/backward_per_sample", "job/cost/seconds"):
        probe, _, field = key.split("/")
        assert values[f"cost/{probe}/{field}"] == [pytest.approx(results[key])], key
    return expected


def test_offline_run_holds_every_headline_scalar_with_its_value(tmp_path: Path, checkpoint: Path) -> None:
    # the user's login is out; Lightning's WandbLogger(offline=True) sets the older synonym "dryrun"
    assert "WANDB_API_KEY" not in os.environ and os.environ["WANDB_MODE"] in ("offline", "dryrun")
    task_wrapper(evaluate)(compose_config("evaluate", [f"ckpt_path={checkpoint}", *FAST], tmp_path))
    runs = find_run_files(tmp_path / "wandb")
    assert len(runs) == 1
    expected = assert_run_has_every_headline(tmp_path, runs[0])
    worst = json.loads((tmp_path / "results.json").read_text())["metrics"]["worst_case/accuracy"]
    assert expected["worst_case/accuracy"] == worst


def test_probes_reused_on_resume_are_logged_to_the_new_run(tmp_path: Path, checkpoint: Path) -> None:
    args = [f"ckpt_path={checkpoint}", *FAST]
    task_wrapper(evaluate)(compose_config("evaluate", args, tmp_path))
    before = json.loads((tmp_path / "results.json").read_text())["metrics"]
    for name in ("pgd_linf.json", "pgd_linf.csv"):  # killed during PGD: clean and fgsm are reused
        (tmp_path / "probes" / name).unlink()
    (tmp_path / "results.json").unlink()
    first = set(find_run_files(tmp_path / "wandb"))
    task_wrapper(evaluate)(compose_config("evaluate", args, tmp_path))
    (second,) = set(find_run_files(tmp_path / "wandb")) - first
    assert_run_has_every_headline(tmp_path, second)
    # the intervals of the reused probes, of the rerun one and of the worst case over both are
    # those of the uninterrupted run, per class too
    after = json.loads((tmp_path / "results.json").read_text())["metrics"]
    bounds = [k for k in before if "/ci_" in k]
    assert any(k.startswith("worst_case/classwise_accuracy/ci_low/") for k in bounds)
    assert {k: after[k] for k in bounds} == {k: before[k] for k in bounds}
