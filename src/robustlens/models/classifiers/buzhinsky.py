"""Paper A's MNIST classifiers (Buzhinsky et al. 2020), rebuilt to load the authors' weights.

The published files (``<paths.shared_dir>/models/buzhinsky2020-mnist``, see its README) are bare
state dicts; the key layout below (``model.<i>.model.<j>``) is theirs, so ``strict=True``
loading proves the structure matches. Deliberate differences from the original code, all
output-preserving:

* Norm layers: the authors used ``BatchNorm2d(track_running_stats=False)`` and ran one image
  at a time, so each image's channels were normalised over their own H×W. That *is* instance
  normalisation (``InstanceNorm2d(C, affine=True, eps=1e-5)``), which gives identical outputs
  in batches; it is run as ``GroupNorm(C, C)`` (one group per channel: the same numbers and the
  same ``weight``/``bias`` keys, and 2× faster on CPU at 16–32 channels than ``InstanceNorm2d``).
* Convolutions: :class:`~robustlens.models.cpu_conv.SmallChannelConv2d` (an ``nn.Conv2d`` that
  picks the fast CPU kernel for 1–8 channels; same keys, same numbers up to rounding).
* Input range: their networks take [-1, 1] images; ours take robustlens' [0, 1] and convert
  inside (``Normalize(0.5, 0.5)``, non-persistent, so the state dict is unchanged).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import torch
from torch import Tensor, nn

from robustlens.models.cpu_conv import SmallChannelConv2d
from robustlens.models.normalize import Normalize

Architecture = Literal[0, 1, 2]
Mode = Literal["oneepoch", "plain", "conventional", "robust", "both"]
MODES: tuple[str, ...] = ("oneepoch", "plain", "conventional", "robust", "both")
ARCHITECTURES: tuple[int, ...] = (0, 1, 2)
#: (in, out, dropout) of the three units (README: "units")
_UNITS: tuple[tuple[int, int, float], ...] = ((1, 8, 0.2), (8, 16, 0.3), (16, 32, 0.4))


def _norm(c: int) -> nn.Module:
    # instance normalisation with affine parameters (see the module docstring)
    return nn.GroupNorm(c, c, eps=1e-5)


def _conv(cin: int, cout: int) -> nn.Conv2d:
    return SmallChannelConv2d(cin, cout, kernel_size=3, padding=1)


class _ResBlock(nn.Module):
    """``ReLU(x + [Conv, Norm, ReLU, Conv, Norm](x))`` with keys ``layer.{0,1,3,4}``."""

    def __init__(self, c: int):
        super().__init__()
        self.layer = nn.Sequential(_conv(c, c), _norm(c), nn.ReLU(), _conv(c, c), _norm(c))

    def forward(self, x: Tensor) -> Tensor:
        return torch.relu(x + self.layer(x))


class _Unit(nn.Module):
    """One of the three units: architecture-specific body, then MaxPool2d(2) and Dropout(p)."""

    def __init__(self, cin: int, cout: int, dropout: float, architecture: int):
        super().__init__()
        if architecture == 0:
            body: list[nn.Module] = [_conv(cin, cout), nn.ReLU(), _norm(cout)]
            body += [_conv(cout, cout), nn.ReLU(), _norm(cout)]
        elif architecture == 1:
            body = [_ResBlock(cin), _conv(cin, cout), nn.ReLU(), _norm(cout)]
        elif architecture == 2:
            body = [_conv(cin, cout), nn.ReLU(), _norm(cout)]
            for _ in range(2):
                body += [_conv(cout, cout), nn.ReLU(), _norm(cout)]
        else:
            raise ValueError(f"MNISTNet: architecture must be 0, 1 or 2, got {architecture!r}")
        self.model = nn.Sequential(*body, nn.MaxPool2d(2), nn.Dropout(dropout))

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)


class MNISTNet(nn.Module):
    """Paper A's MNIST classifier: [0,1] 1×28×28 images → 10 logits.

    Args:
        architecture: 0 (two conv blocks per unit), 1 (residual block + conv), 2 (three conv
            blocks per unit); 23,394 / 17,058 / 35,658 parameters.
    """

    #: the flattened 512-d features before the final Linear (name in ``named_modules()``)
    penultimate_layer: str = "model.4"

    def __init__(self, architecture: Architecture = 0):
        super().__init__()
        if architecture not in ARCHITECTURES:
            raise ValueError(f"MNISTNet: architecture must be 0, 1 or 2, got {architecture!r}")
        self.architecture = int(architecture)
        self.num_classes = 10
        self.input_shape = (1, 28, 28)
        self.normalize = Normalize(0.5, 0.5)  # [0,1] → [-1,1], the authors' input range
        self.model = nn.Sequential(
            nn.ZeroPad2d(4),  # 0 = mid-grey in [-1,1]; 28 → 36
            *(_Unit(cin, cout, p, self.architecture) for cin, cout, p in _UNITS),  # 36 → 18 → 9 → 4
            nn.Flatten(),
            nn.Linear(32 * 4 * 4, 10),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.model(self.normalize(x))


def buzhinsky_weights_path(weights_dir: str | Path, mode: str, architecture: int) -> Path:
    """Where the published file for ``(mode, architecture)`` lives inside ``weights_dir``."""
    return Path(weights_dir) / f"classifiers_architecture{architecture}" / f"{mode}_MNIST.bin"


def load_buzhinsky_classifier(
    weights_dir: str,
    mode: Mode = "plain",
    architecture: Architecture = 0,
) -> MNISTNet:
    """One of the authors' 15 published classifiers, in eval mode, ready for [0,1] inputs.

    Usable directly as a Hydra ``_target_`` (``conf/classifier/buzhinsky_mnist.yaml``).

    Raises:
        FileNotFoundError: the weights file is missing (the message names the path).
        ValueError: unknown mode/architecture, or the file does not fit the architecture.
    """
    if mode not in MODES:
        raise ValueError(f"unknown Paper A training mode {mode!r}; choose one of {', '.join(MODES)}")
    if architecture not in ARCHITECTURES:
        raise ValueError(f"unknown Paper A architecture {architecture!r}; choose 0, 1 or 2")
    path = buzhinsky_weights_path(weights_dir, mode, architecture)
    if not path.is_file():
        raise FileNotFoundError(
            f"Paper A classifier weights not found: expected {path}. Point `weights_dir` "
            "(config: classifier.weights_dir) at the folder holding classifiers_architecture{0,1,2}/, "
            "e.g. <shared>/models/buzhinsky2020-mnist."
        )
    return load_architecture_weights(MNISTNet, architecture, path)


def load_architecture_weights(network: type[nn.Module], architecture: int, path: Path) -> nn.Module:
    """``network(architecture)`` with the state dict at ``path`` (strict), in eval mode.

    A file saved from another of Paper A's architectures fails with the architecture it fits.
    """
    state = torch.load(path, map_location="cpu", weights_only=True)
    model = network(architecture)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        shapes = {k: v.shape for k, v in state.items()}
        fits = [
            a
            for a in ARCHITECTURES
            if a != architecture and {k: v.shape for k, v in network(a).state_dict().items()} == shapes
        ]
        hint = f" It matches architecture {fits[0]}: set architecture={fits[0]}." if fits else ""
        raise ValueError(f"{path} does not fit {network.__name__}(architecture={architecture}).{hint}\n{err}") from err
    return model.eval()
