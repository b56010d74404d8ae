"""Corrupt or truncated files of an earlier run, found by a resumed run: each is detected, reported as a
warning naming the file, and its unit recomputed — never silently reused, never a crash without a message;
the units that were intact are reused; the final results equal an uninterrupted run."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from robustlens.tasks.common import task_wrapper
from robustlens.tasks.evaluate import evaluate
from robustlens.tasks.train import train
from robustlens.utils.io import UntrustedFileWarning
from tests.faults.helpers import EVAL_FAST, finished_units, lost_units, metrics_of, same_metrics
from tests.hydra_utils import compose_config

pytestmark = [pytest.mark.faults, pytest.mark.slow]


def _truncate_half(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _keep_lines(count: int) -> Callable[[Path], None]:
    def cut(path: Path) -> None:  # a cut on a line boundary: still a valid CSV, only the checksum tells
        path.write_text("".join(path.read_text().splitlines(keepends=True)[:count]))

    return cut


def _garbage(path: Path) -> None:
    path.write_bytes(b"\x00\xff\x13garbage\x00" * 7)


def _other_probe(path: Path) -> None:  # a file copied over from another probe
    shutil.copyfile(path.with_name("clean.json"), path)


# (fault kind, file under the job dir, how it is damaged, whether results.json is gone as after a kill)
CASES = [
    ("truncated results.json", "results.json", _truncate_half, False),
    ("garbage results.json", "results.json", _garbage, False),
    ("truncated probe checkpoint", "probes/pgd_linf.json", _truncate_half, True),
    ("probe checkpoint of another probe", "probes/pgd_linf.json", _other_probe, True),
    ("per-sample table cut on a line boundary", "probes/clean.csv", _keep_lines(10), True),
    ("per-sample table truncated mid-line", "probes/clean.csv", _truncate_half, True),
    ("garbage per-sample table", "probes/pgd_linf.csv", _garbage, True),
]


@pytest.mark.parametrize(("kind", "target", "damage", "killed"), CASES, ids=[c[0] for c in CASES])
def test_a_damaged_file_is_named_and_its_unit_recomputed(
    tmp_path: Path, fault_checkpoint: Path, fault_ledger, kind: str, target: str, damage, killed: bool
) -> None:
    overrides = [f"ckpt_path={fault_checkpoint}", *EVAL_FAST, "extras.ignore_warnings=false"]
    out = tmp_path / "job"
    task_wrapper(evaluate)(compose_config("evaluate", overrides, out))
    reference = metrics_of(out / "results.json")
    before = finished_units(out)
    if killed:
        (out / "results.json").unlink()
    damage(out / target)
    damaged_unit = target if target.endswith(".json") else target.replace(".csv", ".json")
    with pytest.warns(UntrustedFileWarning, match=str(out / target).replace("\\", "/").split("/")[-1]) as caught:
        task_wrapper(evaluate)(compose_config("evaluate", overrides, out))
    messages = [str(w.message) for w in caught if issubclass(w.category, UntrustedFileWarning)]
    assert any(str(out / target) in m for m in messages), messages  # the full path is named
    after = finished_units(out)
    lost = lost_units(before, after, damaged={damaged_unit, "results.json"})
    equal = same_metrics(reference, metrics_of(out / "results.json"))
    recomputed = damaged_unit == "results.json" or after[damaged_unit] != before[damaged_unit]
    fault_ledger.record(kind, recovered=equal and recomputed, lost=len(lost) + (0 if equal else 1))
    assert recomputed, f"{target} was damaged but its probe was not recomputed"
    assert not lost, f"intact finished probes were redone or lost: {lost}"
    assert equal


@pytest.mark.parametrize("damage", [_truncate_half, _garbage], ids=["truncated", "garbage"])
def test_a_damaged_training_checkpoint_is_named_and_never_resumed_from(
    tmp_path: Path, fault_ledger, damage
) -> None:
    overrides = ["trainer.max_epochs=2", "data.train_subset=200", "extras.print_config=false",
                 "callbacks.rich_progress_bar=null", "callbacks.latent_report=null", "extras.ignore_warnings=false"]
    out = tmp_path / "job"
    task_wrapper(train)(compose_config("train", overrides, out))
    reference = metrics_of(out / "results.json")
    (out / "results.json").unlink()  # as after a kill at the very end
    last = out / "checkpoints" / "last.ckpt"
    damage(last)
    with pytest.warns(UntrustedFileWarning, match="last.ckpt") as caught:
        payload = task_wrapper(train)(compose_config("train", overrides, out))
    assert any(str(last) in str(w.message) for w in caught)
    equal = same_metrics(reference, metrics_of(out / "results.json"), atol=1e-5)
    fault_ledger.record(("truncated" if damage is _truncate_half else "garbage") + " training checkpoint", recovered=equal, lost=0 if equal else 1)
    assert payload["resumed_from"] != str(last)
    assert equal


def test_a_corrupt_results_file_is_reported_by_report_not_taken_as_a_result(tmp_path: Path, fault_ledger) -> None:
    from robustlens.report.collect import gather_jobs
    from robustlens.utils.results_file import write_results_atomic
    from tests.results_files import make_results

    write_results_atomic(tmp_path / "0", make_results({"clean/accuracy": 0.5}))
    (tmp_path / "1").mkdir()
    (tmp_path / "1" / "results.json").write_text(json.dumps(make_results({"clean/accuracy": 0.7}))[:60])
    records = {r.job: r for r in gather_jobs(tmp_path)}
    fault_ledger.record("truncated results.json read by report", recovered=records["1"].status == "corrupt")
    assert records["0"].status == "complete" and records["1"].status == "corrupt"
    assert records["1"].payload is None
