"""Every option of every config group composes, validates, and instantiates."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
from hydra.utils import get_object, instantiate
from omegaconf import OmegaConf

from robustlens.config.locate import config_dir
from robustlens.config.validate import validate_config
from robustlens.tasks.common import TOP_LEVEL_KEYS
from tests.hydra_utils import REPO_ROOT, compose_config

CONF = config_dir()


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def test_primary_configs_compose_and_validate(tmp_path: Path) -> None:
    for name in ("train", "evaluate"):
        cfg = compose_config(name, [], tmp_path)
        validate_config(cfg, TOP_LEVEL_KEYS)


#: options that need values only the user knows (tests/data writes their files and loads them)
_DATA_OVERRIDES = {"imagefolder": ["data.folder=my_images", "data.num_classes=3"]}


@pytest.mark.parametrize("option", options("data"))
def test_data_options(option: str, tmp_path: Path, shared_data: Path) -> None:
    overrides = [f"data={option}", f"paths.data_dir={shared_data}", *_DATA_OVERRIDES.get(option, [])]
    cfg = compose_config("train", overrides, tmp_path)
    validate_config(cfg, TOP_LEVEL_KEYS)
    assert isinstance(cfg.data.num_classes, int) and cfg.data.num_classes >= 2
    if option == "imagefolder":
        return  # reads its class folders when built: tests/data/test_file_datamodules.py
    dm = instantiate(cfg.data)
    assert dm.num_classes == cfg.data.num_classes
    if cfg.data.get("class_names") is not None:
        assert dm.class_names == list(cfg.data.class_names)


#: classifier sources read weights files: composed and validated here, loaded in tests/zoo
_SOURCES = {
    "robustbench": [], "timm": [], "torchvision": [],
    "torchscript": ["classifier.path=model.ts", "classifier.input_size=32"],
    "module": ["classifier.network._target_=torch.nn.Identity", "classifier.weights=model.pt"],
}


@pytest.mark.parametrize("option", options("classifier"))
def test_classifier_options(option: str, tmp_path: Path, shared: Path) -> None:
    import torch

    overrides = [f"classifier={option}", f"paths.shared_dir={shared}", *_SOURCES.get(option, [])]
    cfg = compose_config("train", overrides, tmp_path)
    validate_config(cfg, TOP_LEVEL_KEYS)
    if option in _SOURCES:
        assert cfg.classifier.num_classes == cfg.data.num_classes
        return
    net = instantiate(cfg.classifier).eval()
    #: (channels, size, classes) of the networks that do not take MNIST-like 1×28×28 digits
    shapes = {"preact_resnet18": (3, 32, 10), "wide_resnet": (3, 32, 10), "buzhinsky_celeba": (3, 128, 2),
              "buzhinsky_lsun": (3, 128, 2)}
    channels, size, classes = shapes.get(option, (1, 28, 10))
    with torch.no_grad():
        assert net(torch.rand(2, channels, size, size)).shape == (2, classes)


@pytest.mark.parametrize("group", ["training", "optimizer", "scheduler", "logger", "callbacks"])
def test_train_groups(group: str, tmp_path: Path) -> None:
    import torch

    for option in options(group):
        cfg = compose_config("train", [f"{group}={option}"], tmp_path)
        validate_config(cfg, TOP_LEVEL_KEYS)
        node = cfg.get(group)
        if not node:
            continue
        if "_target_" in node:
            obj = instantiate(node)
            if group == "optimizer":
                obj([torch.nn.Parameter(torch.zeros(1))])
        elif group != "logger":  # loggers create run dirs: composed and validated only
            for value in node.values():
                instantiate(value)


@pytest.mark.parametrize("option", options("trainer"))
def test_trainer_options(option: str, tmp_path: Path) -> None:
    cfg = compose_config("train", [f"trainer={option}"], tmp_path)
    validate_config(cfg, TOP_LEVEL_KEYS)
    if cfg.trainer.accelerator == "cpu":
        instantiate(cfg.trainer)


@pytest.mark.parametrize("option", options("debug"))
def test_debug_options(option: str, tmp_path: Path) -> None:
    validate_config(compose_config("train", [f"debug={option}"], tmp_path), TOP_LEVEL_KEYS)


@pytest.mark.parametrize("option", options("experiment"))
def test_experiment_options(option: str, tmp_path: Path) -> None:
    task = OmegaConf.load(CONF / "experiment" / f"{option}.yaml").get("task_name", "train")
    config_name = "evaluate" if "evaluate" in str(task) else "train"
    validate_config(compose_config(config_name, [f"experiment={option}"], tmp_path), TOP_LEVEL_KEYS)


@pytest.mark.parametrize("option", options("evaluation"))
def test_evaluation_options(option: str, tmp_path: Path, shared: Path) -> None:
    from robustlens.tasks.evaluate import build_probes

    cfg = compose_config("evaluate", [f"evaluation={option}", f"paths.shared_dir={shared}"], tmp_path)
    validate_config(cfg, TOP_LEVEL_KEYS)
    if cfg.evaluation and cfg.evaluation.get("probes"):
        probes = build_probes(cfg, num_classes=10)
        assert probes


@pytest.mark.parametrize("option", options("probe"))
def test_probe_options(option: str, tmp_path: Path, shared: Path) -> None:
    from robustlens.tasks.evaluate import build_probes

    cfg = compose_config(
        "evaluate", ["evaluation=none", f"+probe@evaluation.probes.p={option}", f"paths.shared_dir={shared}"], tmp_path
    )
    validate_config(cfg, TOP_LEVEL_KEYS)
    assert "p" in build_probes(cfg, num_classes=10)


_EXTERNAL_GENERATORS = {"pioneer", "biggan_pytorch", "pretrained_biggan", "module", "torchscript"}


@pytest.mark.parametrize("group", ["attack", "metric", "generator"])
def test_object_groups_instantiate(group: str, tmp_path: Path, shared: Path) -> None:
    for option in options(group):
        cfg = compose_config("evaluate", [f"+{group}@_probe_obj={option}", f"paths.shared_dir={shared}"], tmp_path)
        node = cfg["_probe_obj"]
        plain = OmegaConf.to_container(node, resolve=True)
        validate_config(OmegaConf.create({"x": plain}))
        if group == "generator" and option in _EXTERNAL_GENERATORS:
            continue  # their weights are not offline: loaded in tests/generators on real-format stand-ins
        built = instantiate(node)
        target = get_object(plain["_target_"])
        if inspect.isclass(target):  # the object the config names, not a stand-in
            assert type(built) is target, (option, type(built))
        # every numeric setting the object keeps under its own name reached it unchanged (names may be
        # decorated, e.g. a corruption's name carries its severity)
        for key, value in plain.items():
            kept = getattr(built, key, None) if not key.startswith("_") else None
            if isinstance(value, bool | int | float) and isinstance(kept, bool | int | float):
                assert kept == value, (option, key, kept, value)


EXPERIMENT_CONFIGS = sorted((REPO_ROOT / "experiments").glob("*/conf/experiment/*.yaml"))


@pytest.mark.parametrize("path", EXPERIMENT_CONFIGS, ids=[p.stem for p in EXPERIMENT_CONFIGS])
def test_paper_experiments_compose_and_validate(path: Path, tmp_path: Path, shared: Path) -> None:
    """What `robustlens <task> -cd experiments/<name>/conf experiment=<option>` composes."""
    task = "evaluate" if "robustlens evaluate" in path.read_text() else "train"
    search = f"hydra.searchpath=[file://{path.parents[1]}]"
    cfg = compose_config(task, [search, f"experiment={path.stem}", f"paths.shared_dir={shared}"], tmp_path)
    validate_config(cfg, TOP_LEVEL_KEYS)
    from robustlens.tasks.evaluate import build_probes

    assert build_probes(cfg, num_classes=int(cfg.data.num_classes))  # CelebA/LSUN: 2, ImageNet: 1000
