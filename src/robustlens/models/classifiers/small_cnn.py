"""A small, fast CNN for MNIST-like data (the quickstart and test workhorse).

Why this shape: two 3×3 conv layers with pooling and two fully connected layers reach ~99%
on MNIST in one epoch yet train in about a minute on two CPU cores, so end-to-end runs and
tests stay cheap. Adaptive pooling makes the same network accept 28×28 and 32×32 inputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from pydantic import Field
from torch import Tensor, nn

from robustlens.models.normalize import Normalize

#: MNIST training-set statistics (the usual 0.1307 / 0.3081)
MNIST_MEAN: tuple[float, ...] = (0.1307,)
MNIST_STD: tuple[float, ...] = (0.3081,)


class SmallCNN(nn.Module):
    """``Normalize → [Conv(32)-ReLU-Pool] → [Conv(64)-ReLU-Pool] → FC(128)-ReLU → FC(classes)``.

    Args:
        num_classes: number of output logits.
        in_channels: image channels (1 for MNIST, 3 for CIFAR-10).
        mean, std: normalisation applied inside the model (inputs are [0,1]).
        hidden: width of the penultimate feature vector.
    """

    #: module whose output is the penultimate feature vector (for a forward hook)
    penultimate_layer: str = "embedding"

    def __init__(
        self,
        num_classes: Annotated[int, Field(gt=1)] = 10,
        in_channels: Annotated[int, Field(gt=0)] = 1,
        mean: Sequence[float] = MNIST_MEAN,
        std: Sequence[float] = MNIST_STD,
        hidden: Annotated[int, Field(gt=0)] = 128,
    ):
        super().__init__()
        self.num_classes = num_classes
        self.normalize = Normalize(mean, std)
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(7),
        )
        self.embedding = nn.Sequential(nn.Flatten(), nn.Linear(64 * 7 * 7, hidden), nn.ReLU())
        self.classifier = nn.Linear(hidden, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.embedding(self.features(self.normalize(x))))
