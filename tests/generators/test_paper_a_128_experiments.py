"""Paper A's CelebA/LSUN and ImageNet experiments: they compose to the paper's settings and run
end to end at tiny N on random-weight stand-ins in the real weight formats and synthetic images
in the real dataset layouts; a generator that does not fit fails before any probe runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from hydra.errors import InstantiationException

from robustlens.models.classifiers.buzhinsky128 import ColoredNet128, buzhinsky128_weights_path
from robustlens.models.generators.biggan import BigGANNet
from robustlens.models.generators.pioneer import PioneerEncoderNet, PioneerGeneratorNet
from robustlens.tasks.common import task_wrapper
from robustlens.tasks.evaluate import evaluate
from tests.conftest import require_module
from tests.data.formats import write_celeba, write_lsun_lmdb
from tests.generators._toy_nets import TinyImageNetNet
from tests.hydra_utils import REPO_ROOT, compose_config

CELEBA_CONF = REPO_ROOT / "experiments" / "buzhinsky2020_celeba_lsun" / "conf"
IMAGENET_CONF = REPO_ROOT / "experiments" / "buzhinsky2020_imagenet" / "conf"
QUIET = ["extras.print_config=false", "callbacks=none", "logger=none"]
#: tiny searches: the experiment's structure, seconds of CPU
TINY_128 = [
    "evaluation.probes.laga.steps=2", "evaluation.probes.laga.restarts=2",
    "evaluation.probes.lara.steps=2", "evaluation.probes.lara.restarts=2",
    "evaluation.probes.lags.steps=3", "evaluation.probes.lars.steps=3",
]


def _compose(conf: Path, experiment: str, tmp_path: Path, *extra: str):
    return compose_config(
        "evaluate", [f"hydra.searchpath=[file://{conf}]", f"experiment={experiment}", *QUIET, *extra], tmp_path / "out"
    )


def test_celeba_lsun_experiment_has_the_papers_settings(tmp_path):
    for study, data, names in (("celeba", "CelebA", ["not Male", "Male"]), ("lsun", "LSUN", None)):
        cfg = _compose(CELEBA_CONF, "buzhinsky2020_celeba_lsun", tmp_path, f"study={study}")
        assert cfg.data._target_.endswith(f"{data}DataModule") and cfg.data.test_subset == 600
        assert cfg.classifier.dataset == ("CelebA128Gender" if study == "celeba" else "LSUN128")
        assert cfg.generator.checkpoints == study and cfg.generator._target_.endswith("load_pioneer")
        if names:
            assert list(cfg.data.class_names) == names
        p = cfg.evaluation.probes
        assert (p.laga.rho, p.laga.steps, p.laga.rel_step, p.laga.restarts, p.laga.mode) == (0.1, 50, 0.05, 12, "any")
        assert p.laga.random_start and p.lara.rho == 0.1 and p.laga.eps == 1.0
        assert (p.lags.rho, p.lags.steps, p.lags.rel_step, p.lags.restarts) == (2.5, 1250, 0.002, 1)
        assert not p.lags.random_start and p.lags.mode == "min" and p.lars.steps == 1250
        assert cfg.evaluation.memory_budget_mb > 0


def test_imagenet_experiment_has_the_papers_settings(tmp_path):
    cfg = _compose(IMAGENET_CONF, "buzhinsky2020_imagenet", tmp_path, "zoo=resnext50_32x4d")
    assert cfg.classifier.name == "resnext50_32x4d" and cfg.classifier.resize == 224
    assert cfg.generator.latent_scale == 0.75 and cfg.generator.G_ch == 96 and cfg.generator.dim_z == 120
    assert cfg.data.test_subset == 1000 and (cfg.data.resize, cfg.data.crop) == (128, 128)
    p = cfg.evaluation.probes
    assert set(p) == {"clean", "lga", "laga", "lags"}  # generation only, as the authors' script
    assert (p.laga.rho, p.laga.restarts, p.laga.random_start) == (0.2, 12, True)
    assert (p.lags.rho, p.lags.steps, p.lags.rel_step, p.lags.restarts, p.lags.random_start) == (2.5, 50, 0.05, 12, False)
    robust = _compose(IMAGENET_CONF, "buzhinsky2020_imagenet", tmp_path, "zoo=robust_resnet50")
    assert robust.classifier.name == "Engstrom2019Robustness" and robust.classifier.dataset == "imagenet"


# --- end to end ---------------------------------------------------------------------------------

NZ = 16  # PIONEER stand-in width (published: 512)


def _write_pioneer_session(path: Path, seed: int) -> None:
    """A PIONEER session file (DataParallel keys) with random weights of robustlens' PIONEER networks."""
    torch.manual_seed(seed)
    g, e = PioneerGeneratorNet(NZ), PioneerEncoderNet(NZ)
    path.parent.mkdir(parents=True, exist_ok=True)
    prefixed = lambda net: {f"module.{k}": v for k, v in net.state_dict().items()}  # noqa: E731
    torch.save({"G_state_dict": prefixed(g), "G_running_state_dict": prefixed(g), "D_state_dict": prefixed(e),
                "optimizerD": {}, "optimizerG": {}, "iteration": 1, "phase": 5, "alpha": 1.0}, path)


def _write_classifiers(root: Path, dataset: str) -> None:
    torch.manual_seed(0)
    path = buzhinsky128_weights_path(root, dataset, "plain", 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(ColoredNet128(0).state_dict(), path)


@pytest.mark.slow
@pytest.mark.parametrize("study", ["celeba", "lsun"])
def test_celeba_lsun_experiment_runs_end_to_end(tmp_path, study):
    data = tmp_path / "data"
    if study == "celeba":
        write_celeba(data, male=[1, -1, 1, -1, 1, -1], partition=[1, 1, 1, 1, 0, 2])
        checkpoints, dataset = ["pioneer/CelebA-128-female/checkpoint/1_state",
                                "pioneer/CelebA-128-male/checkpoint/1_state"], "CelebA128Gender"
    else:
        require_module("lmdb", reason="data=lsun needs the optional lmdb package")
        for i, category in enumerate(("bedroom", "church_outdoor")):
            write_lsun_lmdb(data / "lsun" / f"{category}_val_lmdb", 2, size=(140, 160), seed=i)
            write_lsun_lmdb(data / "lsun" / f"{category}_train_lmdb", 2, size=(140, 160), seed=2 + i)
        checkpoints, dataset = ["pioneer/LSUN-128-bedroom/checkpoint/1_state",
                                "pioneer/LSUN-128-church_outdoor/checkpoint/1_state"], "LSUN128"
    weights = tmp_path / "weights"
    for c, file in enumerate(checkpoints):
        _write_pioneer_session(weights / file, seed=c)
    _write_classifiers(weights, dataset)
    cfg = _compose(
        CELEBA_CONF, "buzhinsky2020_celeba_lsun", tmp_path, f"study={study}", f"data.data_dir={data}",
        "data.test_subset=4", f"classifier.weights_dir={weights}", f"generator.weights_dir={weights}",
        f"generator.checkpoints=[{','.join(checkpoints)}]", "evaluation.memory_budget_mb=2", *TINY_128,
    )
    payload = task_wrapper(evaluate)(cfg)
    metrics = json.loads((tmp_path / "out" / "results.json").read_text())["metrics"]
    assert payload and metrics.keys() == payload["metrics"].keys()
    for key in ("clean/accuracy", "lga/accuracy", "lra/accuracy", "laga/accuracy", "lara/accuracy",
                "lags/severity", "lars/severity"):
        assert key in metrics and 0 <= metrics[key] <= 2.5 + 1e-6, key


def _write_imagenet(data: Path) -> None:
    import numpy as np

    from tests.data.formats import random_image

    rng = np.random.default_rng(0)
    val = data / "ImageNet" / "val"
    for i in range(1000):
        (val / f"n{i:08d}").mkdir(parents=True)
    for i in (0, 1, 500, 999):
        (val / f"n{i:08d}" / "ILSVRC2012_val_00000001.JPEG").write_bytes(random_image(rng, 150, 200, "JPEG"))


def _imagenet_cfg(tmp_path: Path, *extra: str):
    data, weights = tmp_path / "data", tmp_path / "weights"
    _write_imagenet(data)
    weights.mkdir()
    torch.manual_seed(0)
    torch.save(BigGANNet(G_ch=4, dim_z=24, shared_dim=16, n_classes=1000).state_dict(), weights / "G_ema.pth")
    torch.save(TinyImageNetNet().state_dict(), weights / "clf.pt")
    return _compose(
        IMAGENET_CONF, "buzhinsky2020_imagenet", tmp_path, f"data.data_dir={data}", "data.test_subset=4",
        "classifier=module", "classifier.network._target_=tests.generators._toy_nets.TinyImageNetNet",
        f"classifier.weights={weights / 'clf.pt'}", "classifier.mean=[0.5,0.5,0.5]", "classifier.std=[0.5,0.5,0.5]",
        "classifier.name=tiny", "classifier.resize=null",
        f"generator.weights_file={weights / 'G_ema.pth'}", "generator.G_ch=4", "generator.dim_z=24",
        "generator.shared_dim=16", "evaluation.memory_budget_mb=4",
        "evaluation.probes.laga.steps=2", "evaluation.probes.laga.restarts=2",
        "evaluation.probes.lags.steps=2", "evaluation.probes.lags.restarts=2", *extra,
    )


@pytest.mark.slow
def test_imagenet_experiment_runs_end_to_end(tmp_path):
    payload = task_wrapper(evaluate)(_imagenet_cfg(tmp_path))
    metrics = payload["metrics"]
    for key in ("clean/accuracy", "lga/accuracy", "laga/accuracy", "lags/severity"):
        assert key in metrics, key
    assert (tmp_path / "out" / "results.json").is_file()


def test_misfit_generator_fails_before_any_probe(tmp_path):
    # a 64-px BigGAN for 128-px data: refused by name, and no probe result was written
    cfg = _imagenet_cfg(tmp_path)
    torch.save(BigGANNet(G_ch=4, dim_z=24, shared_dim=16, n_classes=1000, resolution=64).state_dict(),
               tmp_path / "weights" / "G64.pth")
    cfg.generator.weights_file = str(tmp_path / "weights" / "G64.pth")
    cfg.generator.resolution = 64
    with pytest.raises((ValueError, InstantiationException), match=r"image shape mismatch.*3×64×64.*3×128×128"):
        evaluate(cfg)
    assert not (tmp_path / "out" / "probes").exists()
