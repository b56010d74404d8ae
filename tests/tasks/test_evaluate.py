"""The evaluate task end to end: results files, worst case, resume, skip, DDP counting."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from robustlens.evaluation.cost import is_measured
from robustlens.tasks.common import task_wrapper
from robustlens.tasks.evaluate import evaluate
from robustlens.tasks.train import train
from tests.hydra_utils import compose_config, run_cli
from tests.metrics.numpy_reference import reference_metrics

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


#: two more bounded attacks beside pgd_linf (an L2 PGD and FGSM), each breaking a different number of samples
MORE_ATTACKS = ["+probe@evaluation.probes.pgd_l2=pgd_l2", "evaluation.probes.pgd_l2.attack.eps=1.5",
                "evaluation.probes.pgd_l2.attack.steps=5", "evaluation.probes.pgd_l2.attack.step_size=0.4",
                "+probe@evaluation.probes.fgsm=fgsm", "evaluation.probes.fgsm.attack.eps=0.07"]
ATTACKS = ("pgd_linf", "pgd_l2", "fgsm")


@pytest.fixture(scope="module")
def three_attacks(tmp_path_factory: pytest.TempPathFactory, checkpoint: Path) -> Path:
    """The run dir of one real evaluation with three bounded attacks."""
    out = tmp_path_factory.mktemp("three-attacks")
    run_evaluate(out, checkpoint, MORE_ATTACKS)
    return out


def test_worst_case_over_three_attacks_is_pointwise_over_per_sample_csv(three_attacks: Path) -> None:
    """A sample is robust only if every attack failed on it: worst_case/* from per_sample.csv's rows."""
    metrics = json.loads((three_attacks / "results.json").read_text())["metrics"]
    table = pd.read_csv(three_attacks / "per_sample.csv")
    held = {attack: table[f"{attack}/pred"] == table["label"] for attack in ATTACKS}
    accuracies = {attack: float(h.mean()) for attack, h in held.items()}
    assert len(set(accuracies.values())) == 3, accuracies  # the worst case is not the only attack's number
    robust = held["pgd_linf"] & held["pgd_l2"] & held["fgsm"]
    assert metrics["worst_case/accuracy"] == pytest.approx(robust.mean(), abs=1e-12)
    assert metrics["worst_case/accuracy"] < max(accuracies.values())
    for c in range(10):
        of_class = robust[table["label"] == c]
        expected = of_class.mean() if len(of_class) else float("nan")
        assert metrics[f"worst_case/classwise_accuracy/{c}"] == pytest.approx(expected, abs=1e-12, nan_ok=True), c


def test_every_metric_of_a_real_evaluation_is_its_numpy_definition_over_per_sample_csv(three_attacks: Path) -> None:
    """Accuracy, errors, flips, confusion, CFPS/CFNS, per-class rates and the worst case of every probe,
    recomputed in numpy from the run's per-sample predictions (tests/metrics/numpy_reference.py)."""
    metrics = json.loads((three_attacks / "results.json").read_text())["metrics"]
    reference = reference_metrics(pd.read_csv(three_attacks / "per_sample.csv"), ("clean", *ATTACKS), worst=ATTACKS)
    assert len(reference) > 150
    for key, expected in reference.items():
        assert np.allclose(np.asarray(metrics[key], float), np.asarray(expected, float), rtol=0, atol=1e-12,
                           equal_nan=True), (key, metrics[key], expected)


def test_report_of_a_real_evaluation_shows_the_values_of_its_results_json(three_attacks: Path) -> None:
    """``robustlens report`` on the run: every overall scalar of results.json in table.md (at the table's 4
    decimals) and in results_tidy.csv (exactly), and the per-class values in results_tidy.csv."""
    result = run_cli(["report", str(three_attacks)], three_attacks)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((three_attacks / "results.json").read_text())["metrics"]
    header, _, row = (line.strip("|").split("|") for line in
                      (three_attacks / "report" / "table.md").read_text().splitlines()[:3])
    shown = {name.strip(): cell.strip() for name, cell in zip(header[1:], row[1:], strict=True)}
    assert {f"{attack}/accuracy" for attack in ATTACKS} | {"clean/accuracy", "worst_case/accuracy"} <= shown.keys()
    for key, cell in shown.items():
        assert cell == f"{metrics[key]:.4f}", (key, cell, metrics[key])
    tidy = pd.read_csv(three_attacks / "report" / "results_tidy.csv")
    keys = set()
    columns = ["probe", "metric", "class", "value", "ci_low", "ci_high"]
    for probe, metric, cls, value, low, high in tidy[columns].itertuples(index=False):
        suffix = "" if pd.isna(cls) else f"/{int(cls)}"
        key = f"{probe}/{metric}{suffix}"
        assert value == pytest.approx(metrics[key], abs=0, rel=0, nan_ok=True), key
        keys.add(key)
        for bound, number in (("ci_low", low), ("ci_high", high)):  # an interval's bounds sit beside its value
            if not pd.isna(number):
                bound_key = f"{probe}/{metric}/{bound}{suffix}"
                assert number == pytest.approx(metrics[bound_key], abs=0, rel=0), bound_key
                keys.add(bound_key)
    # every number of results.json is in the tidy table (the matrices are plotted, not tabulated)
    assert keys == {key for key, value in metrics.items() if isinstance(value, int | float)}


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
    for run, payload, ranks in ((single, one_payload, 1), (double, two_payload, 2)):
        output = run.stdout + run.stderr
        # Lightning's per-job banner is filtered; the device is in the job's header line and results.json
        assert "GPU available" not in output and "TPU available" not in output
        assert f"robustlens evaluate on cpu, {ranks} process" in output
        assert payload["device"] == {"device": "cpu", "accelerator": "cpu", "devices": ranks, "num_nodes": 1,
                                     "world_size": ranks}
    one, two = one_payload["metrics"], two_payload["metrics"]
    table = pd.read_csv(tmp_path / "two" / "per_sample.csv")
    assert len(table) == 61 and table["index"].is_unique  # 61 = odd: no padding duplicate
    # the passes per sample are counted on both ranks and summed: 1 clean + 5 steps + 1 verification
    assert two["pgd_linf/cost/samples"] == 61 and two["pgd_linf/cost/backward_per_sample"] <= 5
    for key, value in one.items():
        if is_measured(key):  # seconds and memory are measured, not computed
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
