"""The `robustlens` command as a user meets it: help, and every bad-input case failing with its message."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.hydra_utils import run_cli


def test_help_lists_tasks(tmp_path: Path) -> None:
    result = run_cli(["--help"], tmp_path)
    assert result.returncode == 0
    for task in ("train", "evaluate", "report"):
        assert task in result.stdout


def test_task_help_lists_config_groups(tmp_path: Path) -> None:
    result = run_cli(["train", "--help"], tmp_path)
    assert result.returncode == 0, result.stderr
    for group in ("data:", "classifier:", "training:", "trainer:", "logger:"):
        assert group in result.stdout
    assert "pgd_at" in result.stdout and "trades" in result.stdout


def test_unknown_task_is_refused(tmp_path: Path) -> None:
    result = run_cli(["trian"], tmp_path)
    assert result.returncode == 2
    assert "valid tasks: train, evaluate, report" in result.stderr


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["data=mnsit"], ["Could not find 'data/mnsit'", "digits", "mnist", "fashion_mnist"]),
        (["+data.bach_size=3"], ["data.bach_size: unknown key", "valid keys:", "batch_size"]),
        (["data.batch_size=abc"], ["data.batch_size = 'abc'", "valid integer"]),
        (["training=pgd_at", "training.eps=-1"], ["training.eps = -1", "greater than or equal to 0"]),
        (["training=pgd_at", "training.norm=l3"], ["training.norm = 'l3'", "'linf' or 'l2'"]),
        (["+foo=1"], ["unknown top-level key 'foo'"]),
    ],
)
def test_bad_config_fails_before_work_with_a_message(tmp_path: Path, overrides: list[str], expected: list[str]) -> None:
    result = run_cli(["train", *overrides, f"hydra.run.dir={tmp_path / 'run'}"], tmp_path)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    for text in expected:
        assert text in output, output[-3000:]
    assert not (tmp_path / "run" / "checkpoints").exists()  # no work was done


def test_missing_dataset_names_the_path_and_the_fix(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    result = run_cli(["train", "data=mnist", f"paths.data_dir={missing}", f"hydra.run.dir={tmp_path / 'run'}"], tmp_path)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert str(missing) in output
    assert "ROBUSTLENS_DATA_DIR" in output


def test_missing_checkpoint_is_reported(tmp_path: Path) -> None:
    result = run_cli(["evaluate", f"ckpt_path={tmp_path / 'none.ckpt'}", f"hydra.run.dir={tmp_path / 'run'}"], tmp_path)
    assert result.returncode != 0
    assert "classifier checkpoint not found" in result.stdout + result.stderr


def test_nothing_to_evaluate_names_the_options(tmp_path: Path) -> None:
    result = run_cli(["evaluate", f"hydra.run.dir={tmp_path / 'run'}"], tmp_path)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "ckpt_path=" in output and "classifier=buzhinsky_mnist" in output
    # the failure is recorded for the sweep summary, with its error
    results = (tmp_path / "run" / "results.json").read_text()
    assert '"status": "failed"' in results
