"""Paper A's CelebA-128 (gender) and LSUN-128 (bedroom vs church outdoor) classifiers.

The authors' ``ColoredNet128``: five units of the same bodies as their MNIST network
(:mod:`robustlens.models.classifiers.buzhinsky`), 8·2^k channels, no padding (128 → 4 px),
then ``Linear(128·4·4, 2)``. The published files are bare state dicts with the key layout
``model.<unit>.model.<j>``; ``strict=True`` loading proves the rebuild matches them.

As for MNIST, the authors' ``BatchNorm2d(track_running_stats=False)`` was run one image at a
time, which is an ``InstanceNorm2d(affine=True)``: batched outputs equal theirs image by image.
Inputs are robustlens' [0, 1] images, converted inside to the authors' [-1, 1].
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from torch import Tensor, nn

from robustlens.models.classifiers.buzhinsky import (
    ARCHITECTURES,
    MODES,
    Architecture,
    Mode,
    _Unit,
    load_architecture_weights,
)
from robustlens.models.normalize import Normalize

Dataset128 = Literal["CelebA128Gender", "LSUN128"]
DATASETS_128: tuple[str, ...] = ("CelebA128Gender", "LSUN128")
#: the authors' class order (their ``latentspace/datasets.py``)
CLASS_NAMES_128: dict[str, tuple[str, str]] = {
    "CelebA128Gender": ("female", "male"),
    "LSUN128": ("bedroom", "church_outdoor"),
}
#: (in, out, dropout) of the five units
_UNITS_128: tuple[tuple[int, int, float], ...] = (
    (3, 8, 0.2), (8, 16, 0.25), (16, 32, 0.25), (32, 64, 0.3), (64, 128, 0.4),
)


class ColoredNet128(nn.Module):
    """Paper A's 128×128 RGB classifier: [0,1] 3×128×128 images → 2 logits.

    Args:
        architecture: 0, 1 or 2: the unit body (as for the MNIST network).
        num_classes: output classes (the published models have 2).
    """

    penultimate_layer: str = "model.5"

    def __init__(self, architecture: Architecture = 0, num_classes: int = 2):
        super().__init__()
        if architecture not in ARCHITECTURES:
            raise ValueError(f"ColoredNet128: architecture must be 0, 1 or 2, got {architecture!r}")
        self.architecture = int(architecture)
        self.num_classes = int(num_classes)
        self.input_shape = (3, 128, 128)
        self.normalize = Normalize(0.5, 0.5)  # [0,1] → [-1,1], the authors' input range
        self.model = nn.Sequential(
            *(_Unit(cin, cout, p, self.architecture) for cin, cout, p in _UNITS_128),  # 128 → 4 px
            nn.Flatten(),
            nn.Linear(128 * 4 * 4, self.num_classes),
        )

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[1:] != self.input_shape:
            raise ValueError(
                f"ColoredNet128 takes images of shape [batch, 3, 128, 128], got {tuple(x.shape)}: "
                "resize/crop the data to 128×128 (data.resize=128 data.crop=128)"
            )
        return self.model(self.normalize(x))


def buzhinsky128_weights_path(weights_dir: str | Path, dataset: str, mode: str, architecture: int) -> Path:
    """Where the published file for ``(dataset, mode, architecture)`` lives inside ``weights_dir``."""
    return Path(weights_dir) / f"classifiers_architecture{architecture}" / f"{mode}_{dataset}.bin"


def load_buzhinsky128_classifier(
    weights_dir: str,
    dataset: Dataset128 = "CelebA128Gender",
    mode: Mode = "plain",
    architecture: Architecture = 0,
) -> ColoredNet128:
    """One of the authors' 30 published 128×128 classifiers, in eval mode, for [0,1] inputs.

    Raises:
        FileNotFoundError: the weights file is missing (the message names the path).
        ValueError: unknown dataset/mode/architecture, or the file does not fit the architecture.
    """
    if dataset not in DATASETS_128:
        raise ValueError(f"unknown Paper A 128×128 dataset {dataset!r}; choose one of {', '.join(DATASETS_128)}")
    if mode not in MODES:
        raise ValueError(f"unknown Paper A training mode {mode!r}; choose one of {', '.join(MODES)}")
    if architecture not in ARCHITECTURES:
        raise ValueError(f"unknown Paper A architecture {architecture!r}; choose 0, 1 or 2")
    path = buzhinsky128_weights_path(weights_dir, dataset, mode, architecture)
    if not path.is_file():
        raise FileNotFoundError(
            f"Paper A classifier weights not found: expected {path}. Point `weights_dir` "
            "(config: classifier.weights_dir) at the folder holding classifiers_architecture{0,1,2}/"
            f"<mode>_{dataset}.bin, e.g. <shared>/models/buzhinsky2020-celeba-lsun."
        )
    return load_architecture_weights(ColoredNet128, architecture, path)
