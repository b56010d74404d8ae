"""Resume helpers: complete / partial / failed / corrupt / foreign results files, probe checkpoints."""

from __future__ import annotations

import json

import pytest

from robustlens.utils.io import write_json_atomic
from robustlens.utils.probe_checkpoints import completed_probes, write_probe_checkpoint
from robustlens.utils.results_file import (
    ResultsFileError,
    job_is_complete,
    job_state,
    load_complete_results,
    read_results,
    write_results_atomic,
)
from tests.results_files import make_results


def test_missing_dir_is_not_complete(tmp_path):
    done, why = job_state(tmp_path)
    assert not done and "does not exist" in why
    assert completed_probes(tmp_path) == set()


def test_complete_results_are_complete(tmp_path):
    write_results_atomic(tmp_path, make_results({"clean/accuracy": 0.9, "pgd/accuracy": 0.1}))
    assert job_is_complete(tmp_path)
    assert completed_probes(tmp_path) == {"clean", "pgd"}
    assert load_complete_results(tmp_path)["metrics"]["clean/accuracy"] == 0.9


def test_partial_and_failed_are_not_complete(tmp_path):
    payload = make_results({"clean/accuracy": 0.9}, status="partial")
    payload["completed_probes"] = ["clean"]
    write_results_atomic(tmp_path / "p", payload)
    write_results_atomic(tmp_path / "f", make_results({}, status="failed", error=RuntimeError("x")))
    assert not job_is_complete(tmp_path / "p")
    assert "status is 'partial'" in job_state(tmp_path / "p")[1]
    assert completed_probes(tmp_path / "p") == {"clean"}
    assert not job_is_complete(tmp_path / "f")
    assert completed_probes(tmp_path / "f") == set()
    assert load_complete_results(tmp_path / "f") is None


def test_corrupt_results_are_not_complete_and_say_so(tmp_path):
    (tmp_path / "results.json").write_text('{"schema": "robustlens.results/1", "status": "compl')
    done, why = job_state(tmp_path)
    assert not done
    assert "corrupt" in why and "re-run" in why
    with pytest.raises(ResultsFileError, match="corrupt"):
        read_results(tmp_path)


def test_wrong_schema_is_not_complete(tmp_path):
    payload = make_results({"clean/accuracy": 1.0})
    payload["schema"] = "robustlens.results/0"
    write_json_atomic(tmp_path / "results.json", payload)
    done, why = job_state(tmp_path)
    assert not done and "robustlens.results/1" in why


def test_overrides_must_match_when_given(tmp_path):
    write_results_atomic(tmp_path, make_results({"a/b": 1.0}, sweep_params={"attack.eps": 0.1}))
    assert job_is_complete(tmp_path, ["attack.eps=0.1"])
    done, why = job_state(tmp_path, ["attack.eps=0.2"])
    assert not done and "attack.eps=0.2" in why


def test_write_results_rejects_payload_outside_contract(tmp_path):
    with pytest.raises(ResultsFileError, match="status"):
        write_results_atomic(tmp_path, {**make_results({}), "status": "done"})
    assert not (tmp_path / "results.json").exists()


def _no_constants(name: str):
    raise AssertionError(f"{name} is not JSON: strict readers (JavaScript, jq) refuse the file")


def test_write_json_atomic_leaves_no_temp_files_and_stores_nan_as_null(tmp_path):
    import numpy as np
    import torch

    # an FMN minimal norm is +inf where nothing was found: infinities are not JSON either
    payload = {"a": float("nan"), "inf": float("inf"), "l": [float("-inf"), 1.0], "t": torch.tensor([1.5]),
               "n": np.int64(2)}
    path = write_json_atomic(tmp_path / "x.json", payload)
    assert json.loads(path.read_text(), parse_constant=_no_constants) == {
        "a": None, "inf": None, "l": [None, 1.0], "t": [1.5], "n": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_write_json_atomic_keeps_old_file_when_serialisation_fails(tmp_path):
    write_json_atomic(tmp_path / "x.json", {"a": 1})
    with pytest.raises(TypeError):
        write_json_atomic(tmp_path / "x.json", {"a": object()})
    assert json.loads((tmp_path / "x.json").read_text()) == {"a": 1}
    assert len(list(tmp_path.iterdir())) == 1


def test_probe_checkpoints(tmp_path):
    write_probe_checkpoint(tmp_path, "pgd", {"pgd/accuracy": 0.2}, {"eps": 0.3})
    write_probe_checkpoint(tmp_path, "clean", {"clean/accuracy": 0.9})
    (tmp_path / "probes" / "fgsm.json").write_text("{not json")  # a torn file: that probe reruns
    assert completed_probes(tmp_path) == {"pgd", "clean"}
    stored = json.loads((tmp_path / "probes" / "pgd.json").read_text())
    assert stored["schema"] == "robustlens.probe/1" and stored["params"] == {"eps": 0.3}
    assert not job_is_complete(tmp_path)  # probe checkpoints never make a job complete
    with pytest.raises(ValueError, match="no '/'"):
        write_probe_checkpoint(tmp_path, "a/b", {})
