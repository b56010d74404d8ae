"""Fixtures for generator tests: Paper A's arch-0 classifier and scikit-learn digits as 28×28."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn


@pytest.fixture(scope="session")
def paper_a_plain_classifier(paper_a_models: Path) -> nn.Module:
    """Paper A's published arch-0 ``plain`` classifier (the project's loader)."""
    from robustlens.models.classifiers import load_buzhinsky_classifier

    return load_buzhinsky_classifier(str(paper_a_models), "plain", 0).eval()


@pytest.fixture(scope="session")
def digits28() -> tuple[Tensor, Tensor]:
    """scikit-learn's 1,797 8×8 digits, upsampled to 1×28×28 in [0,1] (no download needed)."""
    from sklearn.datasets import load_digits

    data = load_digits()
    x = torch.tensor(data.images, dtype=torch.float32).unsqueeze(1) / 16.0
    x = F.interpolate(x, size=(28, 28), mode="bilinear", align_corners=False).clamp(0, 1)
    y = torch.tensor(data.target, dtype=torch.long)
    return x, y
