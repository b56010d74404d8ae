"""A job that fails records ``status: failed`` in results.json, but never at the cost of finished work:
complete results stay as they are, and a partial file keeps its metrics and finished probes (the
rerun reuses them). In-process and fast: the fault campaign checks the same through a full disk."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from robustlens.tasks.common import task_wrapper
from robustlens.utils.results_file import write_results_atomic
from tests.hydra_utils import compose_config
from tests.results_files import make_results


def _dies(cfg) -> dict:
    raise RuntimeError("the node went away")


def test_a_failure_after_complete_results_leaves_them_untouched(tmp_path: Path) -> None:
    cfg = compose_config("evaluate", ["extras.print_config=false"], tmp_path)
    write_results_atomic(tmp_path, make_results({"clean/accuracy": 0.9}))
    before = (tmp_path / "results.json").read_text()
    with pytest.raises(RuntimeError, match="went away"):
        task_wrapper(_dies)(cfg)
    assert (tmp_path / "results.json").read_text() == before


def test_a_failure_after_partial_results_keeps_their_metrics_and_finished_probes(tmp_path: Path) -> None:
    cfg = compose_config("evaluate", ["extras.print_config=false"], tmp_path)
    partial = make_results({"clean/accuracy": 0.9}, status="partial") | {"completed_probes": ["clean"]}
    write_results_atomic(tmp_path, partial)
    with pytest.raises(RuntimeError, match="went away"):
        task_wrapper(_dies)(cfg)
    after = json.loads((tmp_path / "results.json").read_text())
    assert after["status"] == "failed" and after["error"]["type"] == "RuntimeError"
    assert after["metrics"] == {"clean/accuracy": 0.9} and after["completed_probes"] == ["clean"]
