"""Small user-side networks for the bring-your-own tests (importable by class path)."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class ToyConditionalDecoder(nn.Module):
    """A class-conditional decoder to [-1, 1] images with an encoder (the user's own conventions)."""

    def __init__(self, latent_dim: int = 8, num_classes: int = 3, side: int = 16):
        super().__init__()
        self.side = side
        self.embed = nn.Embedding(num_classes, latent_dim)
        self.fc = nn.Linear(latent_dim, 3 * side * side)
        self.enc = nn.Linear(3 * side * side, latent_dim)

    def decode(self, z: Tensor, y: Tensor) -> Tensor:
        return torch.tanh(self.fc(z + self.embed(y))).view(-1, 3, self.side, self.side)

    def encode(self, x: Tensor, y: Tensor) -> Tensor:
        return self.enc(x.flatten(1))


class ToyDecoder(nn.Module):
    """An unconditional decoder (one per class) to [0, 1] images, called as ``forward(z)``."""

    def __init__(self, latent_dim: int = 8, side: int = 16):
        super().__init__()
        self.side = side
        self.fc = nn.Linear(latent_dim, 3 * side * side)

    def forward(self, z: Tensor) -> Tensor:
        return torch.sigmoid(self.fc(z)).view(-1, 3, self.side, self.side)


class ScriptableDecoder(ToyConditionalDecoder):
    """A class-conditional decoder to [0, 1] with an exported encoder, for ``torch.jit.script``."""

    def forward(self, z: Tensor, y: Tensor) -> Tensor:
        return torch.sigmoid(self.fc(z + self.embed(y))).view(-1, 3, self.side, self.side)

    @torch.jit.export
    def encode(self, x: Tensor, y: Tensor) -> Tensor:
        return self.enc(x.flatten(1))


class TinyImageNetNet(nn.Module):
    """A 1000-class stand-in for the ImageNet classifiers (cheap on CPU at 128 px)."""

    def __init__(self, num_classes: int = 1000):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 4, 3, stride=4), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten())
        self.fc = nn.Linear(16, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.features(x))
