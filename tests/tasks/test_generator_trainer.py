"""``robustlens train task=generator`` fits with the job's ``trainer`` config (``trainer=gpu`` included).

Why: the generator's fit used to build its own ``Trainer(accelerator="cpu")``, so ``trainer=gpu``
trained on the CPU and every other trainer setting (``limit_train_batches``, precision, ...) was
silently dropped (issue 22).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from robustlens.tasks.common import task_wrapper
from robustlens.tasks.generator_training import cached_generator_trainer
from robustlens.tasks.train import train
from tests.hydra_utils import compose_config

GENERATOR = ["task=generator", "generator=cvae", "extras.print_config=false", "callbacks=none", "logger=none"]


def test_the_trainer_config_reaches_the_generator_fit(tmp_path: Path) -> None:
    cfg = compose_config("train", [*GENERATOR, "trainer.max_epochs=2", "+trainer.limit_train_batches=3"], tmp_path)
    payload = task_wrapper(train)(cfg)
    checkpoint = torch.load(payload["checkpoints"]["last"], map_location="cpu", weights_only=False)
    # two epochs of three batches each: max_epochs *and* limit_train_batches came from the config
    assert checkpoint["epoch"] == 2  # saved after the fit: two epochs done
    assert checkpoint["global_step"] == 6


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal of trainer=gpu on a machine without a GPU")
def test_trainer_gpu_reaches_the_generator_fit(tmp_path: Path) -> None:
    cfg = compose_config("train", [*GENERATOR, "trainer=gpu"], tmp_path)
    # Lightning refuses accelerator=gpu without a GPU: the generator's Trainer was built from trainer=gpu
    with pytest.raises(Exception, match="No supported gpu backend found"):
        task_wrapper(train)(cfg)


def test_the_cached_generator_trains_on_the_job_accelerator_on_one_device() -> None:
    settings = cached_generator_trainer({"accelerator": "gpu", "devices": 2, "precision": "bf16-mixed"}, 25)
    assert settings == {"_target_": "lightning.Trainer", "max_epochs": 25, "devices": 1, "accelerator": "gpu",
                        "precision": "bf16-mixed"}
    assert cached_generator_trainer(None, 3)["accelerator"] == "cpu"


def test_the_cached_generator_of_a_sweep_is_trained_once_with_the_job_trainer(tmp_path: Path) -> None:
    from hydra.utils import instantiate

    from robustlens.tasks.generator_training import ensure_cached_generator

    cached = tmp_path / "cache" / "cvae.ckpt"
    cfg = compose_config("train", ["experiment=quickstart", "generator_training.max_epochs=1",
                                   f"generator_ckpt_path={cached}", "data.train_subset=200"], tmp_path / "job")
    datamodule = instantiate(cfg.data)
    assert ensure_cached_generator(cfg, datamodule) == cached
    checkpoint = torch.load(cached, map_location="cpu", weights_only=False)
    assert checkpoint["epoch"] == 1  # generator_training.max_epochs, not the classifier's trainer.max_epochs
    stamp = cached.stat().st_mtime_ns
    assert ensure_cached_generator(cfg, datamodule) == cached
    assert cached.stat().st_mtime_ns == stamp  # the second job reuses it
