"""Paper B's robust-fairness tables (conf/table/fairness*.yaml) from ClasswiseFairness results,
against values computed by hand.

Two seeds of one model, 3 classes of 4 samples each. The clean probe is perfect; under
``pgd_linf`` (rows: true class, predictions listed):

    seed 0: class 0 -> 0 0 0 1 (3/4), class 1 -> 1 1 0 2 (2/4), class 2 -> 2 2 2 2 (4/4)
    seed 1: class 0 -> 0 0 0 0 (4/4), class 1 -> 1 2 2 0 (1/4), class 2 -> 2 2 2 1 (3/4)

seed 0: accuracy 9/12 = 75 %, worst class 1 at 50 %, spread 100 - 50 = 50, std of
(75, 50, 100) = sqrt((0 + 625 + 625) / 3) = 20.4124; class 1's errors go once to 0 and once
to 2: the tie goes to the lower index, 0, with half of them.
seed 1: accuracy 8/12 = 66.667 %, worst class 1 at 25 %, spread 75, std of (100, 25, 75) =
sqrt(14) / 12 * 100 = 31.1805; class 1's errors go twice to 2, once to 0: class 2, share 2/3.
Over the seeds (mean ± sample std): accuracy 70.83 ± 8.333/sqrt(2) = 5.89; worst 37.50 ±
17.68; spread 62.50 ± 17.68; std 25.80 ± 10.768/sqrt(2) = 7.61.
"""

from __future__ import annotations

from pathlib import Path

import torch
from hydra import compose, initialize_config_dir

from robustlens.metrics.accuracy import Accuracy, ClasswiseFairness
from robustlens.metrics.base import ProbeOutput
from robustlens.tasks.report import run_report
from tests.console_text import assert_nothing_cut, recording_console
from tests.results_files import write_job

CONF = Path(__file__).resolve().parents[2] / "conf"
LABELS = [0] * 4 + [1] * 4 + [2] * 4
PGD_PREDS = {0: [0, 0, 0, 1, 1, 1, 0, 2, 2, 2, 2, 2], 1: [0, 0, 0, 0, 1, 2, 2, 0, 2, 2, 2, 1]}


def probe_metrics(probe: str, preds: list[int]) -> dict[str, float]:
    """The probe's results.json entries, as the evaluation writes scalars."""
    output = ProbeOutput(index=torch.arange(12), labels=torch.tensor(LABELS), preds=torch.tensor(preds))
    values: dict[str, float] = {}
    for metric in (Accuracy(3), ClasswiseFairness(3)):
        metric.update(output)
        values.update({f"{probe}/{k}": float(v) for k, v in metric.compute().items()})
    return values


def test_fairness_tables_by_hand(tmp_path: Path) -> None:
    for seed, preds in PGD_PREDS.items():
        write_job(tmp_path / str(seed), {**probe_metrics("clean", LABELS), **probe_metrics("pgd_linf", preds)},
                  sweep_params={"seed": seed})
    with initialize_config_dir(str(CONF), version_base="1.3"):
        cfg = compose("report", overrides=[
            f"run_dir={tmp_path}", "table=fairness", "plots=[]",
            # one job per cell: the sweep's parameter goes into the rows, as the config says
            "+table@tables.fairness_classes=fairness_classes", "tables.fairness_classes.rows=[seed,probe]",
        ])
    console = recording_console(80)
    run_report(cfg, console=console)
    table = (tmp_path / "report" / "table.md").read_text()
    assert "| probe | accuracy | worst_class_accuracy | classwise_accuracy_spread | classwise_accuracy_std |" in table
    assert "| pgd_linf | 70.83 ± 5.89 | 37.50 ± 17.68 | 62.50 ± 17.68 | 25.80 ± 7.61 |" in table
    assert "| clean | 100.00 ± 0.00 | 100.00 ± 0.00 | 0.00 ± 0.00 | 0.00 ± 0.00 |" in table
    classes = (tmp_path / "report" / "fairness_classes.md").read_text()
    assert "| seed | probe | worst_class | worst_class_top_confusion | worst_class_top_confusion_share |" in classes
    assert "| 0 | pgd_linf | 1.00 | 0.00 | 0.50 |" in classes
    assert "| 1 | pgd_linf | 1.00 | 2.00 | 0.67 |" in classes
    # perfect: every class at 100 %, the lowest index is the worst, it has no error to send anywhere
    assert "| 0 | clean | 0.00 | -1.00 | – |" in classes
    assert (tmp_path / "report" / "table.tex").is_file() and (tmp_path / "report" / "fairness_classes.tex").is_file()
    # and `robustlens report` printed both at 80 columns, every header whole
    assert_nothing_cut(console.export_text(), 80, names=["classwise_accuracy_spread", "worst_class_top_confusion_share"],
                       cells=["70.83 ± 5.89", "25.80 ± 7.61", "0.67"])
