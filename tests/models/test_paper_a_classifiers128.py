"""Paper A's CelebA-128 / LSUN-128 classifiers: every published file loads, and the batched
network equals the authors' ``ColoredNet128`` evaluated one image at a time."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from robustlens.models.classifiers.buzhinsky import ARCHITECTURES, MODES
from robustlens.models.classifiers.buzhinsky128 import (
    DATASETS_128,
    ColoredNet128,
    buzhinsky128_weights_path,
    load_buzhinsky128_classifier,
)
from tests.conftest import missing
from tests.reference_code import import_latentspace

CONF = Path(__file__).resolve().parents[2] / "conf" / "classifier"


@pytest.fixture(scope="module")
def celeba_lsun_models(shared: Path) -> Path:
    path = shared / "models" / "buzhinsky2020-celeba-lsun"
    if not path.is_dir():
        missing(f"Paper A CelebA/LSUN classifiers not found at {path}")
    return path


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_batched_equals_authors_one_image_evaluation(celeba_lsun_models, architecture):
    cnn = import_latentspace("cnn")
    torch.manual_seed(architecture)
    x01 = torch.rand(4, 3, 128, 128)
    for dataset in DATASETS_128:
        for mode in ("plain", "robust"):
            state = torch.load(
                buzhinsky128_weights_path(celeba_lsun_models, dataset, mode, architecture),
                map_location="cpu", weights_only=True,
            )
            ref = cnn.ColoredNet128(no_classes=2, unit_type=architecture)
            ref.load_state_dict(state, strict=True)
            ref.eval()
            with torch.no_grad():
                expected = torch.cat([ref(x01[i : i + 1] * 2 - 1) for i in range(len(x01))])
                got = load_buzhinsky128_classifier(str(celeba_lsun_models), dataset, mode, architecture)(x01)
            torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


def test_all_thirty_published_files_load(celeba_lsun_models):
    for dataset in DATASETS_128:
        for mode in MODES:
            for architecture in ARCHITECTURES:
                model = load_buzhinsky128_classifier(str(celeba_lsun_models), dataset, mode, architecture)
                assert model.architecture == architecture and not model.training


def test_wrong_architecture_names_the_fitting_one(celeba_lsun_models, tmp_path):
    # an architecture-2 file placed where architecture 0 is expected: refused, with the fix
    target = buzhinsky128_weights_path(tmp_path, "LSUN128", "plain", 0)
    target.parent.mkdir(parents=True)
    target.write_bytes(buzhinsky128_weights_path(celeba_lsun_models, "LSUN128", "plain", 2).read_bytes())
    with pytest.raises(ValueError, match="set architecture=2"):
        load_buzhinsky128_classifier(str(tmp_path), "LSUN128", "plain", 0)


def test_missing_file_and_bad_names_are_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"plain_LSUN128\.bin"):
        load_buzhinsky128_classifier(str(tmp_path), "LSUN128", "plain", 0)
    with pytest.raises(ValueError, match="CelebA128Gender, LSUN128"):
        load_buzhinsky128_classifier(str(tmp_path), "CIFAR", "plain", 0)


def test_wrong_image_size_names_the_fix():
    with pytest.raises(ValueError, match="128"):
        ColoredNet128(0)(torch.rand(1, 3, 64, 64))


@pytest.mark.parametrize("name", ["buzhinsky_celeba", "buzhinsky_lsun"])
def test_configs_load(celeba_lsun_models, name):
    cfg = OmegaConf.load(CONF / f"{name}.yaml")
    cfg.weights_dir = str(celeba_lsun_models)
    model = instantiate(cfg)
    assert model(torch.rand(2, 3, 128, 128)).shape == (2, 2)
    assert model.penultimate_layer in dict(model.named_modules())
