"""Tiny importable networks for the classifier-source tests (``_target_: tests.zoo.tiny_nets.<Name>``)."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class TinyNet(nn.Module):
    """conv → BN → ReLU → global pool → linear: any input size, ``num_classes`` logits."""

    def __init__(self, num_classes: int = 10, width: int = 8, channels: int = 3):
        super().__init__()
        self.conv = nn.Conv2d(channels, width, 3, padding=1)
        self.bn = nn.BatchNorm2d(width)
        self.fc = nn.Linear(width, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        h = torch.relu(self.bn(self.conv(x)))
        return self.fc(h.mean(dim=(2, 3)))


class SoftmaxNet(TinyNet):
    """A classifier that (wrongly, for attacks) ends in a softmax."""

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x).softmax(dim=1)


class NoisyNet(TinyNet):
    """A randomised 'defence': Gaussian noise on the input at every call."""

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x + 0.1 * torch.randn_like(x))


class DropoutNet(TinyNet):
    """Dropout before the head: deterministic only in eval mode."""

    def __init__(self, num_classes: int = 10):
        super().__init__(num_classes)
        self.drop = nn.Dropout(0.5)

    def forward(self, x: Tensor) -> Tensor:
        h = torch.relu(self.bn(self.conv(x)))
        return self.fc(self.drop(h.mean(dim=(2, 3))))


class TinyMLP(nn.Module):
    """A second stand-in architecture: flatten → hidden → logits (32×32 RGB inputs)."""

    def __init__(self, num_classes: int = 10, hidden: int = 32):
        super().__init__()
        self.hidden = nn.Linear(3 * 32 * 32, hidden)
        self.out = nn.Linear(hidden, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.out(torch.relu(self.hidden(x.flatten(1))))
