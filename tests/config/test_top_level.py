"""The top-level keys a config may have come from the config tree, not from a list in the code."""

from __future__ import annotations

import pytest

from robustlens.config.top_level import keys_of_tree, top_level_keys
from robustlens.config.validate import ConfigValidationError, validate_config
from tests.hydra_utils import compose_config


def test_the_tree_gives_groups_primary_keys_and_global_packages():
    keys = top_level_keys()
    assert {"data", "classifier", "evaluation", "trainer", "generator"} <= keys  # groups
    assert {"task_name", "seed", "ckpt_path", "skip_if_complete", "note", "run_dir"} <= keys  # primary configs
    assert {"expected", "tables", "generator_training"} <= keys  # written by `_global_` experiment files
    assert "defaults" not in keys and "sed" not in keys


def test_a_new_group_and_a_global_file_need_no_code(tmp_path):
    (tmp_path / "train.yaml").write_text("defaults:\n  - _self_\ntask_name: train\nseed: 1\n")
    (tmp_path / "sampler").mkdir()
    (tmp_path / "sampler" / "uniform.yaml").write_text("_target_: x.Uniform\nwidth: 2\n")
    (tmp_path / "experiment").mkdir()
    (tmp_path / "experiment" / "mine.yaml").write_text("# @package _global_\ndefaults:\n  - override /data: a\n"
                                                       "budget: 3\ndata:\n  subset: 5\n")
    assert keys_of_tree(tmp_path) == {"task_name", "seed", "sampler", "budget", "data"}


def test_a_misspelt_top_level_override_is_refused(tmp_path):
    cfg = compose_config("train", ["+sed=3"], tmp_path)
    with pytest.raises(ConfigValidationError, match=r"unknown top-level key 'sed'.*did you mean `seed`"):
        validate_config(cfg, top_level_keys())
