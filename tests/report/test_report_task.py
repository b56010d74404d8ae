"""The report task through its real config (conf/report.yaml + conf/table/*), and config files."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import OmegaConf

from robustlens.report.paired import CompareSpec
from robustlens.report.tables import TableSpec
from robustlens.tasks.report import run_report
from tests.results_files import write_job

CONF = Path(__file__).resolve().parents[2] / "conf"


@pytest.mark.parametrize("path", sorted((CONF / "table").glob("*.yaml")), ids=lambda p: p.stem)
def test_table_configs_instantiate(path):
    assert isinstance(instantiate(OmegaConf.load(path), _convert_="all"), TableSpec | CompareSpec)


def test_run_report_end_to_end(tmp_path):
    sweep = tmp_path / "multirun"
    for i, (mode, seed) in enumerate([("standard", 0), ("standard", 1), ("pgd_at", 0)]):
        write_job(sweep / str(i), {"clean/accuracy": 0.9 - 0.1 * i, "worst_case/accuracy": 0.1 * i,
                                   "clean/classwise_accuracy/0": 0.5, "pgd/classwise_accuracy/0": 0.25},
                  sweep_params={"training.mode": mode, "seed": seed})
    write_job(sweep / "3", {}, status="failed", error=RuntimeError("CUDA OOM"),
              sweep_params={"training.mode": "trades", "seed": 0})
    expected = tmp_path / "expected.csv"
    expected.write_text("training.mode,clean/accuracy\nstandard,85\npgd_at,70\n")
    with initialize_config_dir(str(CONF), version_base="1.3"):
        cfg = compose("report", overrides=[f"run_dir={sweep}", "table=robust_vs_conventional",
                                           f"expected.path={expected}", "expected.atol=0.01",
                                           "+plots.0.group=training.mode"])
    summary = run_report(cfg)
    out = sweep / "report"
    assert summary["jobs"] == 4 and summary["complete"] == 3 and summary["incomplete"] == 1
    assert summary["reproduced"] is True
    assert "| standard | 85.00 ± 7.07 | 5.00 ± 7.07 |" in (out / "table.md").read_text()
    assert (out / "table.tex").read_text().startswith(r"\begin{table}")
    failed = pd.read_csv(out / "incomplete_jobs.csv")
    assert failed.loc[0, "status"] == "failed" and "CUDA OOM" in failed.loc[0, "error"]
    assert len(pd.read_csv(out / "results_tidy.csv")) == 12
    assert sorted(p.name for p in (out / "plots").glob("*.png")) == [
        "classwise_accuracy_by_probe.png", "robust_vs_conventional_training.mode.png"]


def test_run_report_needs_run_dir(tmp_path):
    with pytest.raises(ValueError, match="run_dir"):
        run_report(OmegaConf.create({"run_dir": None}))
    with pytest.raises(FileNotFoundError, match="no job results"):
        run_report(OmegaConf.create({"run_dir": str(tmp_path)}))


@pytest.mark.timeout(900)
def test_experiment_layout_writes_its_tables_and_confusion_grids_through_the_cli(tmp_path):
    from tests.hydra_utils import run_cli

    sweep = tmp_path / "sweep"
    for i, (data, mode, cfps0) in enumerate([("mnist", "standard", 0.75), ("mnist", "trades", 0.5),
                                             ("fashion_mnist", "standard", 0.25)]):
        metrics = {"clean/accuracy": 0.9, "pgd_eps2/accuracy": 0.1 * (i + 1),
                   "pgd_eps2/confusion_normalized": [[0.5, 0.5], [0.25, 0.75]],
                   "clean/classwise_accuracy/0": 1.0, "clean/classwise_accuracy/1": 0.8,
                   "pgd_eps2/cfps/0": cfps0, "pgd_eps2/cfps/1": 1 - cfps0,
                   "pgd_eps2/classwise_accuracy/0": 0.5, "pgd_eps2/classwise_accuracy/1": 0.75}
        write_job(sweep / str(i), metrics, sweep_params={"data": data, "classifier": "small_cnn", "training": mode})
    conf = Path(__file__).resolve().parents[2] / "experiments" / "medi2024_classwise" / "conf"
    # the run dir first and the config dir after it: the CLI hands Hydra its flags first
    result = run_cli(["report", str(sweep), "-cd", str(conf), "layout=medi2024_classwise"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    out = sweep / "report"
    assert "| mnist | small_cnn | trades | 0.50 | 0.50 |" in (out / "cfps_pgd.md").read_text()
    assert "| fashion_mnist | small_cnn | standard | 0.25 | 0.75 |" in (out / "cfps_pgd.md").read_text()
    assert "| mnist | small_cnn | standard | 0.900 | 0.100 |" in (out / "table.md").read_text()
    plots = sorted(p.name for p in (out / "plots").glob("*.png"))
    assert "pgd_eps2_confusion_normalized_grid.png" in plots and "cfps_by_data_classifier_training.png" in plots
    assert not (out / "cfps_targeted.md").exists()  # no targeted probe in these results: table skipped
    assert "skipped table cfps_targeted" in (out / "report.log").read_text()


def test_a_failing_plot_costs_neither_the_tables_nor_the_other_plots(tmp_path):
    sweep = tmp_path / "multirun"
    for i, mode in enumerate(["standard", "pgd_at"]):
        write_job(sweep / str(i), {"clean/accuracy": 0.9, "worst_case/accuracy": 0.1 * i},
                  sweep_params={"training.mode": mode})
    with initialize_config_dir(str(CONF), version_base="1.3"):
        # the first "plot" is not callable: it fails the way a buggy plot would
        cfg = compose("report", overrides=[f"run_dir={sweep}", "table=robust_vs_conventional",
                                           "+plots.0.group=training.mode"])
    cfg.plots.insert(0, {"_target_": "builtins.dict"})
    summary = run_report(cfg)
    assert any("dict failed" in s for s in summary["skipped_plots"])
    assert (sweep / "report" / "table.md").is_file()
    assert (sweep / "report" / "plots" / "robust_vs_conventional_training.mode.png").is_file()


@pytest.mark.parametrize("table", ["default", "fairness", "classwise"])
def test_intervals_on_request_from_the_command_line(table):
    with initialize_config_dir(str(CONF), version_base="1.3"):
        cfg = compose("report", overrides=["run_dir=x", f"table={table}", "table.intervals=true"])
    assert instantiate(cfg.table, _convert_="all").intervals is True
