"""The evaluate task end to end: results files, worst case, resume, skip, DDP counting."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from robustlens.tasks.common import task_wrapper
from robustlens.tasks.evaluate import evaluate
from robustlens.tasks.train import train
from tests.hydra_utils import compose_config, run_cli

EVAL_FAST = [
    "data.test_subset=60", "extras.print_config=false", "evaluation.probes.pgd_linf.attack.steps=5",
    "evaluation.probes.pgd_linf.attack.step_size=0.05",
]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SmallCNN trained briefly on the built-in digits (its last.ckpt)."""
    out = tmp_path_factory.mktemp("train")
    payload = task_wrapper(train)(compose_config("train", ["trainer.max_epochs=2", "extras.print_config=false"], out))
    return Path(payload["checkpoints"]["last"])


def run_evaluate(tmp_path: Path, checkpoint: Path, extra: list[str] | None = None) -> dict:
    cfg = compose_config("evaluate", [f"ckpt_path={checkpoint}", *EVAL_FAST, *(extra or [])], tmp_path)
    return task_wrapper(evaluate)(cfg)


def test_results_files_follow_the_contract(tmp_path: Path, checkpoint: Path) -> None:
    payload = run_evaluate(tmp_path, checkpoint)
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["status"] == "complete" and results["schema"] == "robustlens.results/1"
    assert results["metrics"].keys() == payload["metrics"].keys()
    assert results["metrics"]["clean/accuracy"] == payload["metrics"]["clean/accuracy"]
    metrics = results["metrics"]
    for key in ("clean/accuracy", "pgd_linf/accuracy", "worst_case/accuracy", "clean/classwise_accuracy/0",
                "pgd_linf/cfps/3", "pgd_linf/flip_rate"):
        assert key in metrics, key
    assert isinstance(metrics["pgd_linf/confusion"], list) and len(metrics["pgd_linf/confusion"]) == 10
    assert results["versions"]["torch"] and results["probes"]["pgd_linf"]
    assert results["config"]["evaluation"]["probes"]["pgd_linf"]["attack"]["eps"] == 0.1
    table = pd.read_csv(tmp_path / "per_sample.csv")
    assert len(table) == 60 and table["index"].is_unique
    assert {"index", "label", "clean/pred", "pgd_linf/pred", "pgd_linf/norm"} <= set(table.columns)
    # the metrics are what the per-sample table says
    assert metrics["clean/accuracy"] == pytest.approx((table["clean/pred"] == table["label"]).mean())
    robust = (table["pgd_linf/pred"] == table["label"]) & (table["clean/pred"] == table["label"])
    assert metrics["pgd_linf/accuracy"] == pytest.approx((table["pgd_linf/pred"] == table["label"]).mean())
    assert metrics["worst_case/accuracy"] == pytest.approx((table["pgd_linf/pred"] == table["label"]).mean())
    assert metrics["worst_case/accuracy"] >= robust.mean() - 1e-9
    assert (table["pgd_linf/norm"] <= 0.1 + 1e-6).all()
    assert (tmp_path / "classwise" / "per_class.csv").is_file()
    # what each probe cost: numbers beside the metrics, strings in the probe's record, the job's total
    for probe in ("clean", "pgd_linf"):
        assert metrics[f"{probe}/cost/samples"] == 60 and metrics[f"{probe}/cost/seconds"] > 0
        assert results["probes"][probe]["cost"]["device"] == "cpu"
        assert results["probes"][probe]["cost"]["precision"] == "fp32"
    assert (metrics["clean/cost/forward_per_sample"], metrics["clean/cost/backward_per_sample"]) == (1, 0)
    assert metrics["job/cost/seconds"] == pytest.approx(
        sum(metrics[f"{p}/cost/seconds"] for p in results["probes"]))


def test_killed_evaluation_resumes_without_redoing_finished_probes(tmp_path: Path, checkpoint: Path) -> None:
    run_evaluate(tmp_path, checkpoint)
    first = json.loads((tmp_path / "results.json").read_text())["metrics"]
    clean_file = tmp_path / "probes" / "clean.json"
    stamp = clean_file.stat().st_mtime_ns
    # simulate a job killed during the PGD probe: its files and the final results are missing
    (tmp_path / "probes" / "pgd_linf.json").unlink()
    (tmp_path / "probes" / "pgd_linf.csv").unlink()
    (tmp_path / "results.json").unlink()
    run_evaluate(tmp_path, checkpoint)
    assert clean_file.stat().st_mtime_ns == stamp  # the finished probe was not redone
    assert (tmp_path / "probes" / "pgd_linf.json").is_file()
    second = json.loads((tmp_path / "results.json").read_text())["metrics"]
    assert second["clean/accuracy"] == first["clean/accuracy"]
    assert second["pgd_linf/accuracy"] == first["pgd_linf/accuracy"]  # per-sample seeding: same draws


def test_complete_job_is_skipped(tmp_path: Path, checkpoint: Path) -> None:
    run_evaluate(tmp_path, checkpoint)
    stamp = (tmp_path / "results.json").stat().st_mtime_ns
    run_evaluate(tmp_path, checkpoint)
    assert (tmp_path / "results.json").stat().st_mtime_ns == stamp


@pytest.mark.ddp
def test_two_process_ddp_counts_every_sample_once_and_matches_one_process(tmp_path: Path, checkpoint: Path) -> None:
    args = [f"ckpt_path={checkpoint}", "data.test_subset=61", "extras.print_config=false",
            "evaluation.probes.pgd_linf.attack.steps=5", "evaluation.probes.pgd_linf.attack.step_size=0.05",
            "data.eval_batch_size=16", "callbacks=none"]
    single = run_cli(["evaluate", *args, f"hydra.run.dir={tmp_path / 'one'}"], tmp_path)
    assert single.returncode == 0, single.stderr[-3000:]
    double = run_cli(["evaluate", *args, "trainer=ddp_sim", f"hydra.run.dir={tmp_path / 'two'}"], tmp_path)
    assert double.returncode == 0, double.stderr[-3000:]
    one_payload = json.loads((tmp_path / "one" / "results.json").read_text())
    two_payload = json.loads((tmp_path / "two" / "results.json").read_text())
    assert (one_payload["world_size"], two_payload["world_size"]) == (1, 2)  # two processes really ran
    one, two = one_payload["metrics"], two_payload["metrics"]
    table = pd.read_csv(tmp_path / "two" / "per_sample.csv")
    assert len(table) == 61 and table["index"].is_unique  # 61 = odd: no padding duplicate
    # the passes per sample are counted on both ranks and summed: 1 clean + 5 steps + 1 verification
    assert two["pgd_linf/cost/samples"] == 61 and two["pgd_linf/cost/backward_per_sample"] <= 5
    for key, value in one.items():
        if key.endswith(("/cost/seconds", "/cost/peak_memory_mb")):  # measured, not computed
            continue
        if isinstance(value, float):
            assert two[key] == pytest.approx(value, abs=1e-6, nan_ok=True), key
        else:
            assert two[key] == value, key


def test_finished_probes_of_another_configuration_are_not_reused(tmp_path: Path, checkpoint: Path) -> None:
    run_evaluate(tmp_path, checkpoint)
    stamp = (tmp_path / "probes" / "clean.json").stat().st_mtime_ns
    (tmp_path / "results.json").unlink()
    run_evaluate(tmp_path, checkpoint, ["data.test_subset=50"])  # other data: every probe is redone
    assert (tmp_path / "probes" / "clean.json").stat().st_mtime_ns != stamp
    assert len(pd.read_csv(tmp_path / "per_sample.csv")) == 50


def test_a_probe_added_to_a_finished_evaluation_runs_alone(tmp_path: Path, checkpoint: Path) -> None:
    first = run_evaluate(tmp_path, checkpoint)
    stamps = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "probes").glob("*.json")}
    assert set(stamps) == {"clean.json", "pgd_linf.json"}
    second = run_evaluate(tmp_path, checkpoint, ["+probe@evaluation.probes.fgsm=fgsm"])
    # results.json was complete, but not for this probe set: only the new probe ran
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "probes").glob("*.json") if p.name in stamps} == stamps
    assert (tmp_path / "probes" / "fgsm.json").is_file()
    assert "fgsm/accuracy" in second["metrics"]
    for key in ("clean/accuracy", "pgd_linf/accuracy"):
        assert second["metrics"][key] == first["metrics"][key]
    assert "fgsm/pred" in pd.read_csv(tmp_path / "per_sample.csv").columns


def test_changing_one_probe_reruns_only_that_probe(tmp_path: Path, checkpoint: Path) -> None:
    run_evaluate(tmp_path, checkpoint)
    clean_stamp = (tmp_path / "probes" / "clean.json").stat().st_mtime_ns
    pgd_stamp = (tmp_path / "probes" / "pgd_linf.json").stat().st_mtime_ns
    payload = run_evaluate(tmp_path, checkpoint, ["evaluation.probes.pgd_linf.attack.eps=0.05"])
    assert (tmp_path / "probes" / "clean.json").stat().st_mtime_ns == clean_stamp
    assert (tmp_path / "probes" / "pgd_linf.json").stat().st_mtime_ns != pgd_stamp
    assert (pd.read_csv(tmp_path / "per_sample.csv")["pgd_linf/norm"] <= 0.05 + 1e-6).all()
    assert payload["config"]["evaluation"]["probes"]["pgd_linf"]["attack"]["eps"] == 0.05
