"""Fixtures for generator tests: Paper A's arch-0 classifier (re-defined here from the models'
README so these tests do not depend on the feat/data branch) and scikit-learn digits as 28×28."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn


class _Arch0Unit(nn.Module):
    def __init__(self, c_in: int, c_out: int, p: float):
        super().__init__()
        self.model = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(), nn.InstanceNorm2d(c_out, affine=True),
            nn.Conv2d(c_out, c_out, 3, padding=1), nn.ReLU(), nn.InstanceNorm2d(c_out, affine=True),
            nn.MaxPool2d(2), nn.Dropout(p),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)


class PaperAArch0(nn.Module):
    """Paper A's architecture-0 MNIST classifier on [0,1] inputs (converted to [-1,1] inside).

    Penultimate features (the flattened 512 vector) are exposed by :meth:`features`.
    """

    def __init__(self):
        super().__init__()
        self.model = nn.Sequential(
            nn.ZeroPad2d(4), _Arch0Unit(1, 8, 0.2), _Arch0Unit(8, 16, 0.3), _Arch0Unit(16, 32, 0.4),
            nn.Flatten(), nn.Linear(512, 10),
        )

    def features(self, x01: Tensor) -> Tensor:
        return self.model[:5](2 * x01 - 1)

    def forward(self, x01: Tensor) -> Tensor:
        return self.model(2 * x01 - 1)


@pytest.fixture(scope="session")
def paper_a_plain_classifier(paper_a_models: Path) -> PaperAArch0:
    net = PaperAArch0()
    state = torch.load(paper_a_models / "classifiers_architecture0/plain_MNIST.bin", map_location="cpu",
                       weights_only=True)
    net.load_state_dict(state, strict=True)
    return net.eval()


@pytest.fixture(scope="session")
def digits28() -> tuple[Tensor, Tensor]:
    """scikit-learn's 1,797 8×8 digits, upsampled to 1×28×28 in [0,1] (no download needed)."""
    from sklearn.datasets import load_digits

    data = load_digits()
    x = torch.tensor(data.images, dtype=torch.float32).unsqueeze(1) / 16.0
    x = F.interpolate(x, size=(28, 28), mode="bilinear", align_corners=False).clamp(0, 1)
    y = torch.tensor(data.target, dtype=torch.long)
    return x, y


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Run these tests on one intra-op thread, restoring the setting afterwards.

    Why: the networks here are tiny, so threads buy nothing, and on a busy 2-core machine
    (pytest-xdist, parallel jobs) oversubscribed threads made each step 10× slower.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
