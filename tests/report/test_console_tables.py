"""Report tables on an 80-column console: long probe, metric and model names wrapped, never cut.

The evaluation summary already fits 80 columns (tests/evaluation/test_console.py); the report
and sweep tables share its layout through ``robustlens.utils.console_tables``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from rich.table import Table

from robustlens.report import TableSpec, build_table, gather
from robustlens.report.tables import to_rich
from robustlens.utils.console_tables import Column, fit_tables, wrap_name
from tests.console_text import assert_nothing_cut, column_names, render
from tests.results_files import write_job

PROBES = ["clean", "pgd_linf_eps8", "pgd_linf_targeted_all", "autoattack_standard", "severity_l2"]
METRICS = ["accuracy", "worst_class_accuracy", "classwise_accuracy_spread", "classwise_accuracy_std"]
MODELS = ["zoo_carmon2019_unlabeled", "small_cnn_pgd_at_eps8_trades_beta6"]


@pytest.fixture
def tidy(tmp_path: Path) -> pd.DataFrame:
    for i, (model, seed) in enumerate([(MODELS[0], 0), (MODELS[0], 1), (MODELS[1], 0)]):
        metrics = {f"{p}/{m}": 0.1 + 0.01 * (i + j + k) for j, p in enumerate(PROBES) for k, m in enumerate(METRICS)}
        write_job(tmp_path / str(i), metrics, sweep_params={"classifier": model, "seed": seed})
    return gather(tmp_path)


def test_wrap_name_breaks_only_after_separators() -> None:
    assert wrap_name("pgd_linf_targeted_all/worst_class_accuracy", 14) == (
        "pgd_linf_\ntargeted_all/\nworst_class_\naccuracy"
    )
    assert wrap_name("accuracy", 3) == "accuracy"  # one part: whole, on its own line
    assert wrap_name("training.mode", 40) == "training.mode"


def test_probe_metric_columns_at_80_columns(tidy: pd.DataFrame) -> None:
    tables = to_rich(build_table(tidy, TableSpec(rows=["classifier"], metrics=METRICS)), width=80)
    text = render(tables)
    keys = [f"{p}/{m}" for p in PROBES for m in METRICS]
    assert len(tables) > 1  # 20 columns cannot sit side by side in 80: spread over tables
    assert column_names(tables) == [n for t in tables for n in ["classifier", *[c for c in keys if c in
                                                                                 column_names([t])]]]
    assert sorted(n for n in column_names(tables) if n != "classifier") == sorted(keys)  # each once, whole
    assert_nothing_cut(text, 80, names=MODELS, cells=["0.1050 ± 0.0071", "0.1200"])
    assert text.count("zoo_carmon2019_unlabeled") == len(tables)  # the row labels repeat in every table


def test_a_wide_console_keeps_one_table(tidy: pd.DataFrame) -> None:
    table = build_table(tidy, TableSpec(rows=["classifier"], metrics=METRICS))
    assert len(to_rich(table, width=1000)) == 1


def test_fairness_table_config_at_80_columns(tidy: pd.DataFrame) -> None:
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    spec = instantiate(OmegaConf.load(Path(__file__).resolve().parents[2] / "conf/table/fairness.yaml"),
                       _convert_="all")
    tables = to_rich(build_table(tidy, spec), width=80)
    assert sorted(set(column_names(tables)) - {"probe"}) == sorted(METRICS)
    assert_nothing_cut(render(tables), 80, names=PROBES, cells=["11.00 ± 1.00"])


def test_long_labels_are_wrapped_too_and_free_text_keeps_every_word() -> None:
    label = "a_very_long_model_name_from_a_zoo_with_its_training_recipe"
    error = "RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 79.15 GiB total capacity)"
    tables = fit_tables([Column("model", [label], label=True), Column("status", ["failed"]),
                         Column("error", [error], wrap=True)], width=60, title="jobs")
    text = render(tables, width=60)
    assert_nothing_cut(text, 60, names=[label], cells=error.split())  # every word of the error, whole
    assert all(isinstance(t, Table) for t in tables)
