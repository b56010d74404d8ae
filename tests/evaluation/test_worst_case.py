"""The pointwise worst case over attack probes, against a hand-built per-sample table.

With two attacks that break *different* samples, the three ways one could combine them give
three different numbers: the worst case (a sample is robust only if every attack failed), the
best case (robust to at least one attack) and the mean of the attacks' accuracies. Only the
first is the worst case. The same table runs in one process and in two DDP processes, one of
them adding a probe reused from a saved table, as the evaluate task does on resume.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch

from robustlens.evaluation.worst_case import WorstCaseAccuracy, worst_case_probes
from tests.metrics.metric_tester import gloo_group, spawn_ranks

# 8 samples of 3 classes; index is the dataset index (not the row)
TABLE = pd.DataFrame(
    {
        "index": [10, 11, 12, 13, 14, 15, 16, 17],
        "label": [0, 0, 1, 1, 2, 2, 2, 0],
        "pgd/pred": [0, 0, 2, 1, 2, 1, 2, 0],  # correct: 1 1 0 1 1 0 1 1 -> 6/8
        "fgsm/pred": [0, 1, 1, 1, 0, 2, 2, 0],  # correct: 1 0 1 1 0 1 1 1 -> 6/8
        "rotation/pred": [1, 1, 1, 0, 0, 0, 0, 1],  # wrong everywhere but 12: not in the worst case
    }
)
ATTACKS = ["pgd", "fgsm"]
# by hand: robust to both = samples 10, 13, 16, 17 -> 4/8; class 0: 10, 17 of 10, 11, 17 -> 2/3;
# class 1: 13 of 12, 13 -> 1/2; class 2: 16 of 14, 15, 16 -> 1/3
EXPECTED_ACCURACY = 4 / 8
EXPECTED_CLASSWISE = [2 / 3, 1 / 2, 1 / 3]


def correct(probe: str, rows: slice | list[int] = slice(None)) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    part = TABLE.iloc[rows]
    return (
        torch.tensor(part["index"].to_numpy()),
        torch.tensor(part["label"].to_numpy()),
        torch.tensor((part[f"{probe}/pred"] == part["label"]).to_numpy()),
    )


def probe_table(probe: str) -> pd.DataFrame:
    return TABLE[["index", "label", f"{probe}/pred"]].rename(columns={f"{probe}/pred": "pred"})


def test_the_worst_case_is_pointwise_not_the_mean_nor_the_best_case() -> None:
    metric = WorstCaseAccuracy(num_classes=3, probes=ATTACKS)
    for probe in ATTACKS:
        metric.update(probe, *correct(probe))
    out = metric.compute()
    each = {p: (TABLE[f"{p}/pred"] == TABLE["label"]) for p in ATTACKS}
    mean = sum(c.mean() for c in each.values()) / len(each)
    best = (each["pgd"] | each["fgsm"]).mean()
    assert (mean, best) == (6 / 8, 1.0)  # the table makes the three combinations disagree
    assert out["accuracy"].item() == EXPECTED_ACCURACY
    assert out["accuracy"].dtype == torch.float64
    assert out["classwise_accuracy"].tolist() == pytest.approx(EXPECTED_CLASSWISE, abs=0)


def test_batching_order_and_a_reused_table_do_not_change_it() -> None:
    metric = WorstCaseAccuracy(num_classes=3, probes=ATTACKS)
    metric.update_from_table("fgsm", probe_table("fgsm"))  # a probe reused on resume
    for rows in ([7, 2, 5], [0, 1, 3, 4, 6]):  # shuffled, uneven batches
        metric.update("pgd", *correct("pgd", rows))
    out = metric.compute()
    assert out["accuracy"].item() == EXPECTED_ACCURACY
    assert out["classwise_accuracy"].tolist() == pytest.approx(EXPECTED_CLASSWISE, abs=0)


def test_a_class_without_samples_is_nan_and_a_sample_counted_twice_is_an_error() -> None:
    metric = WorstCaseAccuracy(num_classes=4, probes=ATTACKS)
    metric.update("pgd", *correct("pgd"))
    assert torch.isnan(metric.compute()["classwise_accuracy"][3])
    metric.update("pgd", *correct("pgd", [0]))
    with pytest.raises(RuntimeError, match="twice"):
        metric.compute()
    with pytest.raises(KeyError, match="not in this worst case"):
        metric.update("rotation", *correct("rotation"))


def test_only_probes_in_the_worst_case_enter_it() -> None:
    class Probe:
        def __init__(self, in_worst_case: bool) -> None:
            self.in_worst_case = in_worst_case

    probes = {"clean": Probe(False), "pgd": Probe(True), "rotation": Probe(False), "fgsm": Probe(True)}
    assert worst_case_probes(probes) == ["pgd", "fgsm"]


def _worker(rank: int, world: int, port: int, out_dir: str) -> None:
    with gloo_group(rank, world, port):
        metric = WorstCaseAccuracy(num_classes=3, probes=ATTACKS)
        if rank == 0:  # the reused probe is added once, on rank 0, as the evaluate task does
            metric.update_from_table("fgsm", probe_table("fgsm"))
        metric.update("pgd", *correct("pgd", list(range(rank, len(TABLE), world))))  # interleaved halves
        torch.save(metric.compute(), Path(out_dir) / f"rank{rank}.pt")


@pytest.mark.ddp
def test_two_processes_give_the_hand_computed_worst_case(tmp_path: Path) -> None:
    spawn_ranks(_worker, (str(tmp_path),), preload=["torch", "torchmetrics", "robustlens.evaluation.worst_case"])
    for rank in range(2):
        out = torch.load(tmp_path / f"rank{rank}.pt", weights_only=True)
        assert out["accuracy"].item() == EXPECTED_ACCURACY, rank
        assert out["classwise_accuracy"].tolist() == pytest.approx(EXPECTED_CLASSWISE, abs=0), rank
