"""The `robustlens` command as a user meets it: help, and every bad-input case failing with its message."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hydra.errors import MissingConfigException

from robustlens.config.top_level import top_level_keys
from robustlens.config.validate import ConfigValidationError, validate_config
from robustlens.tasks.common import task_wrapper
from robustlens.tasks.evaluate import evaluate, load_classifier
from tests.hydra_utils import compose_config, run_cli


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
        (["+data.bach_size=3"], ["data.bach_size: unknown key", "valid keys:", "batch_size"]),
        (["data.batch_size=abc"], ["data.batch_size = 'abc'", "valid integer"]),
        (["training=pgd_at", "training.eps=-1"], ["training.eps = -1", "greater than or equal to 0"]),
        (["training=pgd_at", "training.norm=l3"], ["training.norm = 'l3'", "'linf' or 'l2'"]),
        (["+foo=1"], ["unknown top-level key 'foo'"]),
        (["+seeed=1"], ["unknown top-level key 'seeed' (did you mean `seed`?)"]),
        (["+data.batch_sise=3"], ["data.batch_sise: unknown key", "(did you mean `batch_size`?)"]),
        (["data._target_=robustlens.data.NoSuchModule"], ["data._target_: cannot import 'robustlens.data.NoSuchModule'"]),
    ],
)
def test_bad_config_is_refused_with_a_message_naming_key_and_choices(
    tmp_path: Path, overrides: list[str], expected: list[str]
) -> None:
    cfg = compose_config("train", overrides, tmp_path)
    with pytest.raises(ConfigValidationError) as error:
        validate_config(cfg, top_level_keys())
    for text in expected:
        assert text in str(error.value)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["evaluation.probes.pgd_linf.attack.eps=-0.1"], ["evaluation.probes.pgd_linf.attack.eps = -0.1",
                                                           "greater than or equal to 0"]),
        (["evaluation.probes.pgd_linf.attack.steps=many"], ["evaluation.probes.pgd_linf.attack.steps = 'many'",
                                                             "valid integer"]),
        (["+evaluation.probes.pgd_linf.attack.epss=0.1"], ["evaluation.probes.pgd_linf.attack.epss: unknown key",
                                                            "(did you mean `eps`?)"]),
        (["+evaluation.probes.pgd_linf.target_mode=some"], ["evaluation.probes.pgd_linf.target_mode = 'some'"]),
        (["+evaluation.default_metrics.accuracy.num_clases=10"],
         ["evaluation.default_metrics.accuracy.num_clases: unknown key", "(did you mean `num_classes`?)"]),
    ],
)
def test_bad_evaluate_and_probe_parameters_are_refused(tmp_path: Path, overrides: list[str], expected: list[str]) -> None:
    cfg = compose_config("evaluate", overrides, tmp_path)
    with pytest.raises(ConfigValidationError) as error:
        validate_config(cfg, top_level_keys())
    for text in expected:
        assert text in str(error.value)


def test_several_problems_are_reported_in_one_message(tmp_path: Path) -> None:
    cfg = compose_config(
        "evaluate",
        ["evaluation.probes.pgd_linf.attack.eps=-1", "evaluation.probes.pgd_linf.attack.steps=-1", "+fooo=1"],
        tmp_path,
    )
    with pytest.raises(ConfigValidationError) as error:
        validate_config(cfg, top_level_keys())
    assert len(error.value.problems) == 3, error.value.problems
    message = str(error.value)
    for text in ("unknown top-level key 'fooo'", "evaluation.probes.pgd_linf.attack.eps = -1",
                 "evaluation.probes.pgd_linf.attack.steps = -1"):
        assert text in message
    cfg = compose_config("evaluate", ["+data.bach_size=3", "+trainer.max_epoch=1"], tmp_path)
    with pytest.raises(ConfigValidationError) as error:
        validate_config(cfg, top_level_keys())
    assert len(error.value.problems) == 2, error.value.problems


def test_a_bad_attack_parameter_is_refused_before_lightning_and_torchmetrics_are_imported(tmp_path: Path) -> None:
    """The attacks' objects are checked first (``validate.LIGHT_TARGETS``): a bad ε is refused after importing
    torch only; the problems of the other objects follow once it is fixed."""
    args = ["evaluate", "evaluation.probes.pgd_linf.attack.eps=-1", "+data.bach_size=3",
            f"hydra.run.dir={tmp_path / 'run'}"]
    result = run_cli(args, tmp_path, env={"PYTHONPROFILEIMPORTTIME": "1"})  # python -X importtime
    assert result.returncode == 2
    assert "evaluation.probes.pgd_linf.attack.eps = -1" in result.stderr
    assert "bach_size" not in result.stderr  # checked in the second round, after the attacks passed
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time")}
    assert "torch" in imported and "robustlens.attacks.pgd" in imported
    assert not {"lightning", "torchmetrics", "wandb", "pandas"} & imported


@pytest.mark.timeout(900)
def test_a_configuration_error_prints_its_message_without_a_traceback(tmp_path: Path) -> None:
    args = ["evaluate", "+evaluation.probes.pgd_linf.attack.epss=0.1", f"hydra.run.dir={tmp_path / 'run'}"]
    result = run_cli(args, tmp_path)
    assert result.returncode == 2
    assert "(did you mean `eps`?)" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    full = run_cli(args, tmp_path, env={"HYDRA_FULL_ERROR": "1"})
    assert full.returncode != 0 and "Traceback" in full.stderr  # the trace on request


def test_a_misspelled_override_key_suggests_the_nearest_one(tmp_path: Path) -> None:
    result = run_cli(["train", "data.batch_sise=64", f"hydra.run.dir={tmp_path / 'run'}"], tmp_path)
    assert result.returncode != 0
    assert "did you mean `batch_size`?" in result.stderr
    assert "Traceback" not in result.stderr


def test_help_suggests_only_options_that_exist(tmp_path: Path) -> None:
    from robustlens.config.locate import config_dir
    from robustlens.tasks.cli import USAGE

    for group, option in re.findall(r"\b(evaluation|training|data|classifier|experiment)=(\w+)", USAGE):
        assert (config_dir() / group / f"{option}.yaml").is_file(), f"{group}={option}"


def test_misspelled_group_option_lists_the_available_ones(tmp_path: Path) -> None:
    with pytest.raises(MissingConfigException) as error:
        compose_config("train", ["data=mnsit"], tmp_path)
    message = str(error.value)
    assert "data/mnsit" in message
    for option in ("digits", "mnist", "fashion_mnist", "cifar10"):
        assert option in message


def test_bad_config_stops_the_job_before_any_work(tmp_path: Path) -> None:
    """End to end through the command: non-zero exit, the message, no training output."""
    result = run_cli(["train", "+data.bach_size=3", f"hydra.run.dir={tmp_path / 'run'}"], tmp_path)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "data.bach_size: unknown key" in output and "batch_size" in output
    assert not (tmp_path / "run" / "checkpoints").exists()
    assert '"status": "failed"' in (tmp_path / "run" / "results.json").read_text()


def test_missing_dataset_names_the_path_and_the_fix(tmp_path: Path) -> None:
    from hydra.utils import instantiate

    missing = tmp_path / "nowhere"
    cfg = compose_config("train", ["data=mnist", f"paths.data_dir={missing}"], tmp_path)
    datamodule = instantiate(cfg.data)
    with pytest.raises(FileNotFoundError) as error:
        datamodule.setup("fit")
    assert str(missing) in str(error.value)
    assert "ROBUSTLENS_DATA_DIR" in str(error.value)


def test_missing_checkpoint_is_reported(tmp_path: Path) -> None:
    cfg = compose_config("evaluate", [f"ckpt_path={tmp_path / 'none.ckpt'}"], tmp_path)
    with pytest.raises(FileNotFoundError, match="classifier checkpoint not found"):
        load_classifier(cfg)


def test_nothing_to_evaluate_names_the_options(tmp_path: Path) -> None:
    cfg = compose_config("evaluate", ["extras.print_config=false"], tmp_path)
    with pytest.raises(ValueError) as error:
        task_wrapper(evaluate)(cfg)
    assert "ckpt_path=" in str(error.value) and "classifier=buzhinsky_mnist" in str(error.value)
    # the failure is recorded, with its error, for the sweep summary
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["status"] == "failed" and results["error"]["type"] == "ConfigError"


def test_hydra_flags_are_moved_before_the_overrides() -> None:
    from robustlens.tasks.cli import split_flags

    flags, rest = split_flags(["runs/x", "-cd", "exp/conf", "layout=a", "--multirun", "--info", "defaults", "b=1"])
    assert flags == ["-cd", "exp/conf", "--multirun", "--info", "defaults"]
    assert rest == ["runs/x", "layout=a", "b=1"]
    assert split_flags(["--info", "x=1"]) == (["--info"], ["x=1"])  # --info's value is optional
