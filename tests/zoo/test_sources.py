"""Every classifier source: random weights saved in the source's real format, loaded through the
config, evaluated end to end on a tiny CIFAR-10, logits equal to the network called directly;
and each bad input gives its message."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from robustlens.config.top_level import top_level_keys
from robustlens.config.validate import validate_config
from robustlens.models.classifiers.sources import ModelSourceError, ZooClassifier
from robustlens.tasks.evaluate import load_classifier
from tests.conftest import require_module
from tests.hydra_utils import compose_config
from tests.zoo.helpers import FAST, cifar_dir, evaluate_with, predictions_agree
from tests.zoo.tiny_nets import DropoutNet, TinyNet

MEAN, STD = [0.5, 0.4, 0.3], [0.2, 0.25, 0.3]


def classifier_from(tmp_path: Path, overrides: list[str]):
    """The classifier as `robustlens evaluate` loads it (its errors unwrapped from Hydra's)."""
    cfg = compose_config("evaluate", [*FAST, *overrides], tmp_path / "compose")
    validate_config(cfg, top_level_keys())
    return load_classifier(cfg)


def normalised(x: torch.Tensor, mean=MEAN, std=STD) -> torch.Tensor:
    return (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)


def _list(values) -> str:
    return "[" + ",".join(str(v) for v in values) + "]"


# -- module + state dict ---------------------------------------------------------------------------
def module_overrides(data: Path, weights: Path, target: str = "tests.zoo.tiny_nets.TinyNet") -> list[str]:
    return ["data=cifar10", f"paths.data_dir={data}", "classifier=module", f"classifier.network._target_={target}",
            f"classifier.weights={weights}", f"classifier.mean={_list(MEAN)}", f"classifier.std={_list(STD)}"]


def test_module_source_end_to_end(tmp_path):
    data, images = cifar_dir(tmp_path)
    torch.manual_seed(0)
    net = TinyNet()
    torch.save(net.state_dict(), tmp_path / "tiny.pt")
    overrides = module_overrides(data, tmp_path / "tiny.pt")
    model = classifier_from(tmp_path, overrides)
    assert isinstance(model, ZooClassifier) and not model.training
    with torch.no_grad():
        assert torch.allclose(model(images), net.eval()(normalised(images)), atol=1e-6)
    payload = evaluate_with(tmp_path, overrides)
    predictions_agree(payload, net, images, normalised)


def test_module_source_resizes_only_when_asked(tmp_path):
    data, images = cifar_dir(tmp_path)
    torch.save(TinyNet().state_dict(), tmp_path / "tiny.pt")
    model = classifier_from(tmp_path, [*module_overrides(data, tmp_path / "tiny.pt"), "classifier.input_size=48"])
    with pytest.raises(ModelSourceError, match=r"expects 48x48 inputs but the data is 32x32: set `classifier.resize=48`"):
        model(images)
    resized = classifier_from(tmp_path, [*module_overrides(data, tmp_path / "tiny.pt"), "classifier.resize=48"])
    assert resized(images).shape == (20, 10)


def test_module_state_dict_key_mismatches_are_listed(tmp_path):
    data, _ = cifar_dir(tmp_path)
    state = TinyNet().state_dict()
    state.pop("bn.running_mean")
    state["extra.weight"] = torch.zeros(1)
    torch.save(state, tmp_path / "bad.pt")
    with pytest.raises(ModelSourceError) as info:
        classifier_from(tmp_path, module_overrides(data, tmp_path / "bad.pt"))
    message = str(info.value)
    assert "missing keys (in the network, not in the file): bn.running_mean" in message
    assert "unexpected keys (in the file, not in the network): extra.weight" in message
    assert "classifier.strict=false" in message
    torch.save({"state_dict": TinyNet().state_dict(), "epoch": 3}, tmp_path / "nested.pt")
    with pytest.raises(ModelSourceError, match=r"set `classifier.key` \(e.g. key=state_dict\)"):
        classifier_from(tmp_path, module_overrides(data, tmp_path / "nested.pt"))
    assert classifier_from(tmp_path, [*module_overrides(data, tmp_path / "nested.pt"), "classifier.key=state_dict"])


def test_module_probabilities_class_count_and_randomness(tmp_path):
    data, _ = cifar_dir(tmp_path)
    torch.save(TinyNet().state_dict(), tmp_path / "tiny.pt")
    with pytest.raises(ModelSourceError, match=r"outputs probabilities .* `classifier.outputs=probabilities`"):
        classifier_from(tmp_path, module_overrides(data, tmp_path / "tiny.pt", "tests.zoo.tiny_nets.SoftmaxNet"))
    logs = classifier_from(tmp_path, [*module_overrides(data, tmp_path / "tiny.pt", "tests.zoo.tiny_nets.SoftmaxNet"),
                                      "classifier.outputs=probabilities"])
    x = torch.rand(2, 3, 32, 32)
    assert torch.allclose(logs(x).exp().sum(1), torch.ones(2), atol=1e-5)  # log-probabilities
    with pytest.raises(ModelSourceError, match=r"outputs 10 classes but the data has 100"):
        classifier_from(tmp_path, [*module_overrides(data, tmp_path / "tiny.pt"), "data=cifar100"])
    with pytest.raises(ModelSourceError, match=r"different outputs for the same input .*allow_stochastic=true"):
        classifier_from(tmp_path, module_overrides(data, tmp_path / "tiny.pt", "tests.zoo.tiny_nets.NoisyNet"))


# -- TorchScript -----------------------------------------------------------------------------------
def test_torchscript_source_end_to_end_and_train_mode_flag(tmp_path, caplog):
    data, images = cifar_dir(tmp_path)
    torch.manual_seed(1)
    net = DropoutNet().train()  # saved in train mode: dropout active
    scripted = torch.jit.trace(net.eval(), torch.rand(1, 3, 32, 32)).train()
    torch.jit.save(scripted, tmp_path / "net.ts")
    names = "[airplane,automobile,bird,cat,deer,dog,frog,horse,ship,truck]"
    overrides = ["data=cifar10", f"paths.data_dir={data}", "classifier=torchscript", f"classifier.path={tmp_path / 'net.ts'}",
                 "classifier.input_size=32", f"classifier.mean={_list(MEAN)}", f"classifier.std={_list(STD)}",
                 f"classifier.class_names={names}"]
    with caplog.at_level(logging.WARNING, logger="robustlens"):
        model = classifier_from(tmp_path, overrides)
    assert "was in train mode" in caplog.text and model.info["was_training"]
    with torch.no_grad():
        assert torch.allclose(model(images), net.eval()(normalised(images)), atol=1e-5)
    predictions_agree(evaluate_with(tmp_path, overrides), net, images, normalised)
    with pytest.raises(ModelSourceError, match=r"lists 3 classes but net.ts outputs 10"):
        classifier_from(tmp_path, [*overrides, "classifier.class_names=[a,b,c]"])
    with pytest.raises(ModelSourceError, match=r"not a TorchScript file"):
        torch.save(net.state_dict(), tmp_path / "state.pt")
        classifier_from(tmp_path, [*overrides, f"classifier.path={tmp_path / 'state.pt'}"])


# -- timm ------------------------------------------------------------------------------------------
def test_timm_source_end_to_end(tmp_path, monkeypatch):
    timm = require_module("timm")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty cache
    data, images = cifar_dir(tmp_path)
    torch.manual_seed(2)
    net = timm.create_model("resnet18", pretrained=False, num_classes=10)
    torch.save(net.state_dict(), tmp_path / "resnet18.pth")
    overrides = ["data=cifar10", f"paths.data_dir={data}", "classifier=timm", "classifier.name=resnet18",
                 f"classifier.checkpoint={tmp_path / 'resnet18.pth'}", "classifier.input_size=32"]
    model = classifier_from(tmp_path, overrides)
    mean, std = net.pretrained_cfg["mean"], net.pretrained_cfg["std"]  # the model's own pretrained config
    assert model.normalize.mean.flatten().tolist() == pytest.approx(list(mean))
    with torch.no_grad():
        assert torch.allclose(model(images), net.eval()(normalised(images, mean, std)), atol=1e-5)
    predictions_agree(evaluate_with(tmp_path, overrides), net, images, lambda x: normalised(x, mean, std))
    without_size = [o for o in overrides if "input_size" not in o]
    with pytest.raises(ModelSourceError, match=r"expects 224x224 inputs but the data is 32x32"):
        classifier_from(tmp_path, without_size)(images)
    with pytest.raises(ModelSourceError, match=r"not in the local cache.*timm.create_model\('resnet18', pretrained=True\)"):
        classifier_from(tmp_path, [*without_size[:-1], "classifier.pretrained=true"])


def test_timm_normalisation_comes_from_the_models_own_pretrained_config(tmp_path, monkeypatch):
    """A model whose pretrained config is NOT ImageNet's default normalisation (MobileNetV1's ra4 weights:
    mean = std = 0.5 per channel): a loader that hard-codes ImageNet's mean/std gives other logits."""
    timm = require_module("timm")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty cache: the tag's config only, no download
    data, images = cifar_dir(tmp_path)
    name = "mobilenetv1_100.ra4_e3600_r224_in1k"
    torch.manual_seed(4)
    net = timm.create_model(name, pretrained=False, num_classes=10).eval()
    torch.save(net.state_dict(), tmp_path / "mobilenet.pth")
    model = classifier_from(tmp_path, ["data=cifar10", f"paths.data_dir={data}", "classifier=timm",
                                       f"classifier.name={name}", f"classifier.checkpoint={tmp_path / 'mobilenet.pth'}",
                                       "classifier.input_size=32"])
    half = [0.5, 0.5, 0.5]  # the published config of these weights, written here, not read from timm
    assert model.normalize.mean.flatten().tolist() == pytest.approx(half)
    assert model.normalize.std.flatten().tolist() == pytest.approx(half)
    with torch.no_grad():
        ours, direct = model(images), net(normalised(images, half, half))
        assert torch.allclose(ours, direct, atol=1e-5)
        imagenet = net(normalised(images, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]))
        assert not torch.allclose(ours, imagenet, atol=1e-3)  # the test tells the two apart


# -- torchvision -----------------------------------------------------------------------------------
def test_torchvision_source_end_to_end(tmp_path, monkeypatch):
    import torchvision

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    data, images = cifar_dir(tmp_path)
    torch.manual_seed(3)
    net = torchvision.models.resnet18(num_classes=10)
    torch.save(net.state_dict(), tmp_path / "resnet18.pth")
    overrides = ["data=cifar10", f"paths.data_dir={data}", "classifier=torchvision", "classifier.name=resnet18",
                 "classifier.weights=IMAGENET1K_V1", f"classifier.weights_file={tmp_path / 'resnet18.pth'}",
                 "classifier.input_size=32"]
    model = classifier_from(tmp_path, overrides)
    meta = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.transforms()
    with torch.no_grad():
        assert torch.allclose(model(images), net.eval()(normalised(images, meta.mean, meta.std)), atol=1e-5)
    predictions_agree(evaluate_with(tmp_path, overrides), net, images, lambda x: normalised(x, meta.mean, meta.std))
    with pytest.raises(ModelSourceError, match=r"not in its cache .*resnet18-f37072fd.pth"):
        classifier_from(tmp_path, [o for o in overrides if "weights_file" not in o])
    torch.save(torchvision.models.resnet18(num_classes=1000).state_dict(), tmp_path / "imagenet_head.pth")
    with pytest.raises(ModelSourceError, match=r"fc.weight: file \(1000, 512\) vs network \(10, 512\)"):
        classifier_from(tmp_path, [*overrides, f"classifier.weights_file={tmp_path / 'imagenet_head.pth'}"])


def test_a_zoo_model_on_cifar10c_arrays(tmp_path):
    """The published CIFAR-10-C layout as data: one corruption × severity, indices of the clean test set."""
    import numpy as np

    data = tmp_path / "data"
    (data / "CIFAR-10-C").mkdir(parents=True)
    rng = np.random.default_rng(0)
    n = 10
    images = rng.integers(0, 256, size=(5 * n, 32, 32, 3), dtype=np.uint8)
    np.save(data / "CIFAR-10-C" / "fog.npy", images)
    np.save(data / "CIFAR-10-C" / "labels.npy", np.tile(np.arange(n, dtype=np.uint8) % 10, 5))
    torch.manual_seed(0)
    net = TinyNet()
    torch.save(net.state_dict(), tmp_path / "tiny.pt")
    overrides = [*module_overrides(data, tmp_path / "tiny.pt"), "data=cifar10c", "data.corruption=fog",
                 "data.severity=2", f"data.per_severity={n}"]
    payload = evaluate_with(tmp_path, overrides)
    severity2 = torch.from_numpy(images[n : 2 * n]).permute(0, 3, 1, 2).float() / 255
    predictions_agree(payload, net, severity2, normalised)
