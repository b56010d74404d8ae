"""The fault campaign's ledger: every test records the faults it injected and what came of them; the
session ends with a summary table (printed, and written as JSON) of faults injected, runs recovered and
finished results lost per kind. Lost must be zero — a test that loses a result also fails on its own.

The JSON goes to ``$ROBUSTLENS_FAULT_SUMMARY`` or ``<repo>/outputs/fault-campaign-summary.json``.
"""

from __future__ import annotations

import json
import os
import shutil
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class FaultLedger:
    """Counts per fault kind: ``injected``, ``recovered`` (the run afterwards finished as it should) and
    ``lost`` (finished results — jobs, probes, epochs — that were complete before the fault and gone or
    changed after recovery)."""

    counts: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(lambda: {
        "injected": 0, "recovered": 0, "lost": 0}))

    def record(self, kind: str, *, recovered: bool, lost: int = 0, injected: int = 1) -> None:
        entry = self.counts[kind]
        entry["injected"] += injected
        entry["recovered"] += injected if recovered else 0
        entry["lost"] += lost

    def as_dict(self) -> dict[str, dict[str, int]]:
        return {kind: dict(entry) for kind, entry in sorted(self.counts.items())}


_LEDGER = FaultLedger()


@pytest.fixture(scope="session")
def fault_ledger() -> FaultLedger:
    return _LEDGER


def summary_path() -> Path:
    return Path(os.environ.get("ROBUSTLENS_FAULT_SUMMARY", REPO_ROOT / "outputs" / "fault-campaign-summary.json"))


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    counts = _LEDGER.as_dict()
    if not counts:
        return
    total = {key: sum(entry[key] for entry in counts.values()) for key in ("injected", "recovered", "lost")}
    reporter = terminalreporter
    reporter.section("fault campaign")
    reporter.write_line(f"{'fault':<44} {'injected':>8} {'recovered':>9} {'lost':>5}")
    for kind, entry in counts.items():
        reporter.write_line(f"{kind:<44} {entry['injected']:>8} {entry['recovered']:>9} {entry['lost']:>5}")
    reporter.write_line(f"{'total':<44} {total['injected']:>8} {total['recovered']:>9} {total['lost']:>5}")
    path = summary_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"faults": counts, "total": total}, indent=2))
        reporter.write_line(f"written to {path}")
    except OSError as err:
        reporter.write_line(f"could not write {path}: {err}")


@pytest.fixture(scope="session")
def fault_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small trained classifier (1 epoch on digits) every evaluation fault case probes."""
    from robustlens.tasks.common import task_wrapper
    from robustlens.tasks.train import train
    from tests.hydra_utils import compose_config

    out = tmp_path_factory.mktemp("fault-train")
    overrides = ["trainer.max_epochs=1", "data.train_subset=300", "extras.print_config=false", "callbacks=none"]
    payload = task_wrapper(train)(compose_config("train", overrides, out))
    found = Path(payload["checkpoints"]["last"] or payload["checkpoints"]["best"])
    return Path(shutil.copyfile(found, out / "model.ckpt"))  # Lightning's name has '=': no Hydra override value
