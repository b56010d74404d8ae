"""Paper A's published MNIST classifiers: loading, batched == one-image-at-a-time, accuracy."""

from __future__ import annotations

import shutil

import pytest
import torch
from torch import nn

from robustlens.data import MNISTDataModule
from robustlens.data.subsets import stratified_first_n
from robustlens.models.classifiers import MNISTNet, buzhinsky_weights_path, load_buzhinsky_classifier
from robustlens.models.classifiers.buzhinsky import ARCHITECTURES, MODES

# --- an independent rebuild of the authors' network, straight from the weights' README -------
# BatchNorm2d(track_running_stats=False) on one image at a time, inputs in [-1, 1]: this is
# how the authors trained and evaluated; MNISTNet must reproduce it in batches.


class _RefResBlock(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.layer = nn.Sequential(
            nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c, track_running_stats=False), nn.ReLU(),
            nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c, track_running_stats=False),
        )

    def forward(self, x):
        return torch.relu(x + self.layer(x))


class _RefUnit(nn.Module):
    def __init__(self, cin: int, cout: int, p: float, arch: int):
        super().__init__()

        def block(i: int, o: int) -> list[nn.Module]:
            return [nn.Conv2d(i, o, 3, padding=1), nn.ReLU(), nn.BatchNorm2d(o, track_running_stats=False)]

        if arch == 0:
            body = block(cin, cout) + block(cout, cout)
        elif arch == 1:
            body = [_RefResBlock(cin), *block(cin, cout)]
        else:
            body = block(cin, cout) + block(cout, cout) + block(cout, cout)
        self.model = nn.Sequential(*body, nn.MaxPool2d(2), nn.Dropout(p))

    def forward(self, x):
        return self.model(x)


def _reference_net(arch: int) -> nn.Module:
    return nn.Sequential(
        nn.ZeroPad2d(4),
        _RefUnit(1, 8, 0.2, arch), _RefUnit(8, 16, 0.3, arch), _RefUnit(16, 32, 0.4, arch),
        nn.Flatten(), nn.Linear(512, 10),
    )


def _reference_logits(arch: int, state: dict, x01: torch.Tensor) -> torch.Tensor:
    ref = nn.Module()
    ref.model = _reference_net(arch)
    ref.load_state_dict(state)
    ref.eval()
    with torch.no_grad():
        return torch.cat([ref.model(xi[None] * 2 - 1) for xi in x01])  # one image at a time, [-1,1]


@pytest.fixture(scope="module")
def mnist_test(shared_data):
    dm = MNISTDataModule(data_dir=str(shared_data))
    dm.setup("test")
    data = dm.data_test
    return data.images.float() / 255.0, data.labels


def test_parameter_counts_match_readme():
    counts = {a: sum(p.numel() for p in MNISTNet(a).parameters()) for a in ARCHITECTURES}
    assert counts == {0: 23_394, 1: 17_058, 2: 35_658}


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_all_files_load_in_eval_mode(paper_a_models, arch):
    for mode in MODES:
        model = load_buzhinsky_classifier(str(paper_a_models), mode, arch)
        assert isinstance(model, MNISTNet) and not model.training
        out = model(torch.rand(3, 1, 28, 28))
        assert out.shape == (3, 10)
        assert not torch.allclose(out.softmax(1).sum(1), out.sum(1))  # logits, not probabilities


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_batched_equals_authors_one_image_at_a_time(paper_a_models, mnist_test, arch):
    x, _ = mnist_test
    x = torch.cat([x[:12], torch.rand(4, 1, 28, 28)])  # real digits and off-distribution inputs
    for mode in ("plain", "robust"):
        path = buzhinsky_weights_path(paper_a_models, mode, arch)
        state = torch.load(path, map_location="cpu", weights_only=True)
        expected = _reference_logits(arch, state, x)
        with torch.no_grad():
            got = load_buzhinsky_classifier(str(paper_a_models), mode, arch)(x)
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_plain_batched_bn_would_differ(paper_a_models, mnist_test):
    """Sanity of the reference: batch statistics (the naive port) do change the outputs."""
    x, _ = mnist_test
    path = buzhinsky_weights_path(paper_a_models, "plain", 0)
    state = torch.load(path, map_location="cpu", weights_only=True)
    ref = nn.Module()
    ref.model = _reference_net(0)
    ref.load_state_dict(state)
    ref.eval()
    with torch.no_grad():
        batch_bn = ref.model(x[:32] * 2 - 1)
    assert (batch_bn - _reference_logits(0, state, x[:32])).abs().max() > 1e-3


def _accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        preds = torch.cat([model(chunk).argmax(1) for chunk in x.split(500)])
    return preds.eq(y).float().mean().item()


def test_plain_clean_accuracy_full_test_set(paper_a_models, mnist_test):
    """Paper A reports ~99% clean accuracy for the plain arch-0 model (measured: 99.21%)."""
    x, y = mnist_test
    assert len(y) == 10_000
    assert _accuracy(load_buzhinsky_classifier(str(paper_a_models), "plain", 0), x, y) >= 0.985


def test_every_mode_accuracy_on_stratified_subset(paper_a_models, mnist_test):
    """Fast check of the other four arch-0 modes on the class-stratified first 1,000 test images
    (100 per digit; the full-set check of all five is marked slow)."""
    x, y = mnist_test
    keep = stratified_first_n(y, 1000, 10)
    x, y = x[keep], y[keep]
    others = [m for m in MODES if m != "plain"]
    acc = {m: _accuracy(load_buzhinsky_classifier(str(paper_a_models), m, 0), x, y) for m in others}
    assert all(a >= 0.97 for a in acc.values()), acc


@pytest.mark.slow
def test_every_mode_accuracy_full_test_set(paper_a_models, mnist_test):
    """All five arch-0 modes on all 10,000 test images (measured: oneepoch 98.23, plain 99.21,
    conventional 98.73, robust 99.09, both 98.32 %)."""
    x, y = mnist_test
    acc = {m: _accuracy(load_buzhinsky_classifier(str(paper_a_models), m, 0), x, y) for m in MODES}
    print("arch-0 clean accuracy:", {k: round(v * 100, 2) for k, v in acc.items()})
    assert acc["plain"] >= 0.985
    assert all(a >= 0.97 for a in acc.values()), acc


def test_missing_file_names_expected_path(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        load_buzhinsky_classifier(str(tmp_path), "plain", 0)
    assert str(tmp_path / "classifiers_architecture0" / "plain_MNIST.bin") in str(err.value)


def test_wrong_architecture_is_named(paper_a_models, tmp_path):
    (tmp_path / "classifiers_architecture0").mkdir()
    shutil.copy(buzhinsky_weights_path(paper_a_models, "plain", 1), tmp_path / "classifiers_architecture0")
    with pytest.raises(ValueError, match=r"architecture=0.*matches architecture 1"):
        load_buzhinsky_classifier(str(tmp_path), "plain", 0)


@pytest.mark.parametrize(("mode", "arch"), [("adversarial", 0), ("plain", 3)])
def test_unknown_mode_or_architecture(paper_a_models, mode, arch):
    with pytest.raises(ValueError, match="choose"):
        load_buzhinsky_classifier(str(paper_a_models), mode, arch)


def test_penultimate_layer_gives_512_features(paper_a_models):
    model = load_buzhinsky_classifier(str(paper_a_models), "plain", 0)
    feats = {}
    module = dict(model.named_modules())[model.penultimate_layer]
    handle = module.register_forward_hook(lambda _m, _i, out: feats.setdefault("f", out))
    logits = model(torch.rand(2, 1, 28, 28))
    handle.remove()
    torch.testing.assert_close(model.model[5](feats["f"]), logits)
