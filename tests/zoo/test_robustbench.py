"""classifier=robustbench: random weights of real zoo architectures in RobustBench's layout
(``<model_dir>/cifar10/Linf/<name>.pt``), loaded by RobustBench's own load_model through the config."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from robustlens.models.classifiers.sources import ModelSourceError, published_info
from robustlens.models.classifiers.sources.robustbench_source import import_robustbench, zoo_entries
from tests.conftest import missing
from tests.zoo.helpers import cifar_dir, evaluate_with, predictions_agree
from tests.zoo.test_sources import classifier_from

try:
    import_robustbench()
except ModelSourceError as exc:  # the zoo extra is part of the dev extra: CI has it
    missing(str(exc), module_level=True)

#: two zoo architectures: PreAct-ResNet-18 (with its own normalisation) and ResNet-18
MODELS = {"Wong2020Fast": "state_dict", "Sehwag2021Proxy_R18": None}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> tuple[Path, dict[str, torch.nn.Module]]:
    """Random-weight networks saved where RobustBench's load_model reads them (both file forms it accepts)."""
    root = tmp_path_factory.mktemp("robustbench-models")
    folder = root / "cifar10" / "Linf"
    folder.mkdir(parents=True)
    entries = zoo_entries("cifar10", "Linf")
    networks = {}
    for i, (name, key) in enumerate(MODELS.items()):
        torch.manual_seed(i)
        net = entries[name]["model"]()
        state = net.state_dict()
        torch.save({key: state} if key else state, folder / f"{name}.pt")
        networks[name] = net.eval()
    return root, networks


def overrides(data: Path, model_dir: Path, name: str) -> list[str]:
    return ["data=cifar10", f"paths.data_dir={data}", "classifier=robustbench", f"classifier.name={name}",
            f"classifier.model_dir={model_dir}"]


@pytest.mark.parametrize("name", list(MODELS))
def test_zoo_architecture_loads_and_evaluates(name, model_dir, tmp_path):
    root, networks = model_dir
    data, images = cifar_dir(tmp_path, n_test=10)
    model = classifier_from(tmp_path, overrides(data, root, name))
    with torch.no_grad():
        assert torch.equal(model(images), networks[name](images))  # RobustBench models normalise themselves
    assert model.info["name"] == name and model.info["source"] == "robustbench"
    payload = evaluate_with(tmp_path, overrides(data, root, name))
    predictions_agree(payload, networks[name], images)


def test_missing_weights_name_the_path_and_the_download_call(tmp_path):
    data, _ = cifar_dir(tmp_path, n_test=10)
    with pytest.raises(ModelSourceError) as info:
        classifier_from(tmp_path, overrides(data, tmp_path / "models", "Carmon2019Unlabeled"))
    message = str(info.value)
    assert str(tmp_path / "models" / "cifar10" / "Linf" / "Carmon2019Unlabeled.pt") in message
    assert "load_model(model_name='Carmon2019Unlabeled', dataset='cifar10', threat_model='Linf'" in message
    assert "allow_download=true" in message
    assert not (tmp_path / "models").exists()  # nothing created, nothing downloaded


def test_unknown_name_and_wrong_weights(model_dir, tmp_path):
    root, _ = model_dir
    data, _ = cifar_dir(tmp_path, n_test=10)
    with pytest.raises(ModelSourceError, match=r"no cifar10 Linf model 'Wong2020Fst'; did you mean Wong2020Fast"):
        classifier_from(tmp_path, overrides(data, root, "Wong2020Fst"))
    bad = tmp_path / "bad"
    (bad / "cifar10" / "Linf").mkdir(parents=True)
    torch.save({"state_dict": {"conv1.weight": torch.zeros(1)}}, bad / "cifar10" / "Linf" / "Standard.pt")
    with pytest.raises(ModelSourceError, match=r"does not hold this model's weights"):
        classifier_from(tmp_path, overrides(data, bad, "Standard"))


def test_published_accuracies():
    assert published_info("Wong2020Fast", "cifar10", "Linf") == pytest.approx(
        published_info("Wong2020Fast", "cifar10", "Linf") | {"clean_acc": 83.34, "autoattack_acc": 43.21}
    )
    assert published_info("NotAModel", "cifar10", "Linf") == {}


def test_the_loaded_model_carries_the_published_accuracies_as_fractions(model_dir, tmp_path):
    """RobustBench publishes percentages; robustlens' accuracies (and the report's published-vs-measured
    columns) are fractions, so the loaded model must carry 0.8334, not 83.34."""
    root, _ = model_dir
    data, _ = cifar_dir(tmp_path, n_test=10)
    info = classifier_from(tmp_path, overrides(data, root, "Wong2020Fast")).info
    assert info["published_clean_accuracy"] == pytest.approx(0.8334)
    assert info["published_robust_accuracy"] == pytest.approx(0.4321)
