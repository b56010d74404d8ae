"""Classifier networks: shapes, logits, penultimate features, normalisation inside the model."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from robustlens.models.classifiers import CIFAR10_MEAN, CIFAR10_STD, PreActResNet18, SmallCNN, WideResNet
from robustlens.models.normalize import Normalize


def _features(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    store = {}
    module = dict(model.named_modules())[model.penultimate_layer]
    handle = module.register_forward_hook(lambda _m, _i, out: store.setdefault("f", out))
    try:
        logits = model(x)
    finally:
        handle.remove()
    return store["f"], logits


# --- Normalize ------------------------------------------------------------------------------
def test_normalize_hand_computed_per_channel():
    norm = Normalize([0.5, 0.25], [0.5, 0.25])
    x = torch.stack([torch.full((2, 2), 1.0), torch.full((2, 2), 0.0)])[None]  # [1, 2, 2, 2]
    out = norm(x)
    assert torch.equal(out[0, 0], torch.full((2, 2), 1.0))  # (1 - 0.5) / 0.5
    assert torch.equal(out[0, 1], torch.full((2, 2), -1.0))  # (0 - 0.25) / 0.25


def test_normalize_keeps_state_dict_clean_and_moves_with_model():
    norm = Normalize(0.1307, 0.3081)
    assert norm.state_dict() == {}  # published weights keep their key layout
    assert set(Normalize(0.0, 1.0, persistent=True).state_dict()) == {"mean", "std"}
    assert norm.to(torch.float64).mean.dtype == torch.float64


@pytest.mark.parametrize(
    ("mean", "std", "match"), [(0.5, 0.0, "std must be > 0"), ([0.1, 0.2], [1, 1, 1], "channels")]
)
def test_normalize_rejects_bad_parameters(mean, std, match):
    with pytest.raises(ValueError, match=match):
        Normalize(mean, std)


def test_normalize_rejects_wrong_channel_count():
    with pytest.raises(ValueError, match="in_channels"):
        Normalize(CIFAR10_MEAN, CIFAR10_STD)(torch.rand(2, 1, 28, 28))


# --- networks ---------------------------------------------------------------------------------
CASES = [
    (lambda: SmallCNN(), (1, 28, 28), 128),
    (lambda: SmallCNN(in_channels=3, mean=CIFAR10_MEAN, std=CIFAR10_STD, num_classes=7), (3, 32, 32), 128),
    (lambda: PreActResNet18(), (3, 32, 32), 512),
    (lambda: WideResNet(depth=10, widen_factor=1), (3, 32, 32), 64),
]


@pytest.mark.parametrize(("make", "shape", "feat_dim"), CASES)
def test_forward_shape_logits_and_penultimate(make, shape, feat_dim):
    torch.manual_seed(0)
    model = make().eval()
    x = torch.rand(4, *shape)
    feats, logits = _features(model, x)
    assert logits.shape == (4, model.num_classes)
    assert feats.shape == (4, feat_dim)
    # logits, not probabilities: some negative, rows not summing to one
    assert (logits < 0).any() and not torch.allclose(logits.sum(1), torch.ones(4))
    # the penultimate features are exactly what the last Linear maps to the logits
    last = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
    torch.testing.assert_close(last(feats), logits)


@pytest.mark.parametrize(("make", "shape", "feat_dim"), CASES)
def test_eval_outputs_do_not_depend_on_batch_and_gradients_reach_input(make, shape, feat_dim):
    torch.manual_seed(0)
    model = make().eval()
    x = torch.rand(3, *shape, requires_grad=True)
    logits = model(x)
    torch.testing.assert_close(logits[1:2], model(x[1:2]), atol=1e-5, rtol=1e-4)
    logits[:, 0].sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_normalisation_is_inside_the_model():
    """Shifting mean/std by the same affine map as the input leaves the logits unchanged."""
    torch.manual_seed(0)
    a = SmallCNN(mean=[0.0], std=[1.0]).eval()
    b = SmallCNN(mean=[0.5], std=[2.0]).eval()
    b.load_state_dict(a.state_dict())
    x = torch.rand(2, 1, 28, 28)
    torch.testing.assert_close(b(x * 2 + 0.5), a(x))


def test_robustbench_state_dict_layout():
    """Module names follow RobustBench's definitions, so their checkpoints load strictly."""
    preact = PreActResNet18().state_dict()
    assert {"conv1.weight", "layer1.0.bn1.weight", "layer2.0.shortcut.0.weight", "bn.weight",
            "linear.weight"} <= set(preact)
    assert "layer1.0.shortcut.0.weight" not in preact  # same width, stride 1: identity shortcut
    wrn = WideResNet(depth=16, widen_factor=2).state_dict()
    assert {"conv1.weight", "block1.layer.0.convShortcut.weight", "block3.layer.1.conv2.weight", "bn1.weight",
            "fc.weight"} <= set(wrn)
    assert "block1.layer.1.convShortcut.weight" not in wrn  # equal in/out: identity shortcut


def test_wide_resnet_rejects_bad_depth():
    with pytest.raises(ValueError, match="6n\\+4"):
        WideResNet(depth=12, widen_factor=1)


def test_small_cnn_learns_digits():
    """A few epochs on the built-in digits must learn (guards against a broken forward/init)."""
    from robustlens.data import DigitsDataModule

    torch.manual_seed(0)
    dm = DigitsDataModule(batch_size=64)
    dm.setup()
    model = SmallCNN()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(2):
        for x, y, _i in dm.train_dataloader():
            opt.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        correct = sum(model(x).argmax(1).eq(y).sum().item() for x, y, _ in dm.test_dataloader())
    assert correct / len(dm.data_test) >= 0.9
