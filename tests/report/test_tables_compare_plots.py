"""Tables (hand-computed mean ± std), Markdown/LaTeX content, compare tolerances, PNG plots."""

from __future__ import annotations

import pandas as pd
import pytest

from robustlens.report import TableSpec, build_table, compare, gather, to_latex, to_markdown
from robustlens.report.collect import gather_jobs
from robustlens.report.plots import ClasswiseHeatmap, ConfusionGrid, MetricVsParam, PlotSkipped, RobustVsConventional
from tests.results_files import write_job


@pytest.fixture
def df(tmp_path):
    # standard: clean 0.90, 0.94 (mean 0.92, sample std 0.02·√2 = 0.028284); pgd 0.10, 0.20
    rows = [("standard", 0, 0.90, 0.10), ("standard", 1, 0.94, 0.20), ("pgd_at", 0, 0.80, 0.50)]
    for i, (mode, seed, clean, pgd) in enumerate(rows):
        write_job(tmp_path / str(i), {"clean/accuracy": clean, "pgd/accuracy": pgd,
                                      "pgd/classwise_accuracy/0": pgd, "pgd/classwise_accuracy/1": 1 - pgd},
                  sweep_params={"training.mode": mode, "seed": seed, "attack.eps": 0.1 * (seed + 1)})
    return gather(tmp_path)


def test_table_mean_std_hand_computed(df):
    table = build_table(df, TableSpec(rows=["training.mode"], metrics=["accuracy"]))
    assert list(table.mean.columns) == ["clean/accuracy", "pgd/accuracy"]
    assert table.mean.loc["standard", "clean/accuracy"] == pytest.approx(0.92)
    assert table.std.loc["standard", "clean/accuracy"] == pytest.approx(0.0282843, abs=1e-6)
    assert table.count.loc["pgd_at", "pgd/accuracy"] == 1
    md = to_markdown(table)
    assert "| training.mode | clean/accuracy | pgd/accuracy |" in md
    assert "| standard | 0.9200 ± 0.0283 | 0.1500 ± 0.0707 |" in md
    assert "| pgd_at | 0.8000 | 0.5000 |" in md  # one seed: no ± part


def test_latex_is_escaped_and_scaled(df):
    spec = TableSpec(rows=["training.mode"], metrics=["pgd/accuracy"], scale=100, decimals=1,
                     caption="Robust acc. (%)")
    tex = to_latex(build_table(df, spec))
    assert r"\begin{tabular}{lr}" in tex and r"\toprule" in tex
    assert r"pgd\_at & 50.0 \\" in tex
    assert r"standard & 15.0 $\pm$ 7.1 \\" in tex
    assert r"\caption{Robust acc. (\%)}" in tex


def test_classwise_table_and_errors(df):
    table = build_table(df, TableSpec(rows=["training.mode"], columns=["class"],
                                      metrics=["classwise_accuracy"], classes="all", aggregate="mean"))
    assert table.mean.loc["standard", "1"] == pytest.approx(0.85)
    with pytest.raises(ValueError, match="aggregate='none'"):
        build_table(df, TableSpec(rows=["training.mode"], aggregate="none"))
    with pytest.raises(KeyError, match="swept parameters are"):
        build_table(df, TableSpec(rows=["model.depth"]))
    with pytest.raises(ValueError, match="format="):
        TableSpec(format="html")


def test_compare_reproduced_and_differences(df, tmp_path):
    table = build_table(df, TableSpec(rows=["training.mode"], metrics=["accuracy"], scale=100))
    csv = tmp_path / "expected.csv"
    pd.DataFrame({"training.mode": ["standard", "pgd_at"], "clean/accuracy": [92.3, 80.0],
                  "pgd/accuracy": [15.0, None]}).to_csv(csv, index=False)
    ok = compare(table, csv, atol=0.5)
    assert ok.reproduced and list(ok.cells["status"]) == ["reproduced"] * 3
    strict = compare(table, csv, atol=0.1)
    assert not strict.reproduced
    bad = strict.cells.set_index(["row", "column"]).loc[("standard", "clean/accuracy")]
    assert bad["status"] == "differs" and bad["diff"] == pytest.approx(-0.3)
    assert "2/3 cells reproduced" in strict.summary() and "expected 92.3, got 92" in strict.summary()
    assert compare(table, csv, rtol=0.004).reproduced  # 0.3 <= 0.004 * 92.3
    pd.DataFrame({"training.mode": ["trades"], "clean/accuracy": [70.0]}).to_csv(csv, index=False)
    missing = compare(table, csv, atol=1)
    assert list(missing.cells["status"]) == ["missing"] and not missing.reproduced
    with pytest.raises(ValueError, match="tolerances"):
        compare(table, csv, atol=-1)


def _is_png(path):
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 1000


def test_plots_write_pngs_or_skip_with_reason(df, tmp_path):
    paths = MetricVsParam(x="attack.eps", metric="accuracy", probe="pgd", group="training.mode")(df, tmp_path)
    paths += ClasswiseHeatmap(by="training.mode")(df, tmp_path)
    bars = RobustVsConventional(keys=["clean/accuracy", "pgd/accuracy"], group="training.mode")
    paths += bars(df, tmp_path)
    assert len(paths) == 3 and all(_is_png(p) for p in paths)
    with pytest.raises(PlotSkipped, match="not swept"):
        MetricVsParam(x="latent.rho")(df, tmp_path)
    with pytest.raises(PlotSkipped, match="lags"):
        MetricVsParam(x="attack.eps", metric="lags")(df, tmp_path)


def test_classwise_heatmap_columns_can_join_several_parameters(df, tmp_path):
    (path,) = ClasswiseHeatmap(probe="pgd", by=["training.mode", "seed"])(df, tmp_path)
    assert path.name == "classwise_accuracy_by_training.mode_seed.png" and _is_png(path)
    with pytest.raises(PlotSkipped, match="not swept"):
        ClasswiseHeatmap(by=["training.mode", "arch"])(df, tmp_path)


def test_confusion_grid_panels_follow_the_parameters_and_average_shared_cells(tmp_path):
    eye, flipped = [[1.0, 0.0], [0.0, 1.0]], [[0.0, 1.0], [1.0, 0.0]]
    jobs = [("mnist", "standard", 0, eye), ("mnist", "standard", 1, flipped), ("mnist", "trades", 0, eye),
            ("fmnist", "standard", 0, flipped)]
    for i, (data, mode, seed, matrix) in enumerate(jobs):
        write_job(tmp_path / str(i), {"pgd/accuracy": 0.5, "pgd/confusion_normalized": matrix},
                  sweep_params={"data": data, "training": mode, "seed": seed})
    records = gather_jobs(tmp_path)
    grid = ConfusionGrid(probe="pgd", rows=["data"], columns=["training"])
    panels = grid.panels(records)
    assert list(panels) == [("mnist", "standard"), ("mnist", "trades"), ("fmnist", "standard")]  # sweep order
    assert panels[("mnist", "standard")].tolist() == [[0.5, 0.5], [0.5, 0.5]]  # two seeds averaged
    assert panels[("fmnist", "standard")].tolist() == flipped
    (path,) = grid(gather(tmp_path), tmp_path / "plots", records=records)
    assert path.name == "pgd_confusion_normalized_grid.png" and _is_png(path)
    with pytest.raises(PlotSkipped, match="no complete job"):
        ConfusionGrid(probe="clean").panels(records)
    with pytest.raises(PlotSkipped, match=r"\['arch'\]"):
        ConfusionGrid(probe="pgd", rows=["arch"]).panels(records)


def test_a_table_metric_that_matches_nothing_is_named_in_a_warning(df, caplog):
    with caplog.at_level("WARNING", logger="robustlens.report.tables"):
        table = build_table(df, TableSpec(rows=["training.mode"], metrics=["clean/accuracy", "pgd/severity"]))
    assert list(table.mean.columns) == ["clean/accuracy"]
    assert "['pgd/severity'] match no result" in caplog.text


def test_bars_of_groups_with_one_job_each_have_no_error_bars_but_render(df, tmp_path):
    one_job_each = df[df["seed"] == 0]  # standard and pgd_at: one job per group, so std is undefined
    (path,) = RobustVsConventional(keys=["clean/accuracy", "pgd/accuracy"], group="training.mode")(one_job_each, tmp_path)
    assert _is_png(path)


def test_table_intervals_on_request(tmp_path):
    """``table.intervals=true``: a one-job cell shows the interval results.json stores beside its value;
    a cell over several jobs (seeds) keeps mean ± std; without the option nothing changes."""
    for i, (mode, seed) in enumerate([("standard", 0), ("standard", 1), ("pgd_at", 0)]):
        write_job(tmp_path / str(i), {"clean/accuracy": 0.8 + 0.05 * i, "clean/accuracy/ci_low": 0.7 + 0.05 * i,
                                      "clean/accuracy/ci_high": 0.85 + 0.05 * i},
                  sweep_params={"training.mode": mode, "seed": seed})
    frame = gather(tmp_path)
    spec = dict(rows=["training.mode"], metrics=["accuracy"], decimals=2, scale=100.0)
    shown = to_markdown(build_table(frame, TableSpec(**spec, intervals=True)))
    assert "| pgd_at | 90.00 [80.00, 95.00] |" in shown
    assert "| standard | 82.50 ± 3.54 |" in shown  # two seeds: no single interval
    assert "[" not in to_markdown(build_table(frame, TableSpec(**spec)))


def test_error_bars_are_the_interval_of_one_job_else_the_std_of_several():
    from robustlens.report.plots import _mean_and_error

    frame = pd.DataFrame({"x": [1, 2, 2], "value": [0.5, 0.4, 0.6], "ci_low": [0.3, 0.35, 0.5],
                          "ci_high": [0.8, 0.45, 0.7]})
    bars = _mean_and_error(frame, "x")
    assert bars.loc[1].tolist() == pytest.approx([0.5, 0.2, 0.3])  # mean - low, high - mean
    assert bars.loc[2].tolist() == pytest.approx([0.5, 0.141421, 0.141421], abs=1e-6)  # ± std of 0.4, 0.6
