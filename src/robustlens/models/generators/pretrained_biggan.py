"""BigGAN-deep (and BigGAN) through the ``pytorch-pretrained-biggan`` package (optional extra).

The package ports DeepMind's TF-Hub generators; a model folder holds its ``config.json`` and
``pytorch_model.bin`` (what ``BigGAN.from_pretrained`` caches). robustlens never downloads:
it reads that folder, builds the package's ``BigGAN`` from the config and loads the weights
strictly (the package itself loads non-strictly).

Truncation: the package's models take the truncation ψ as an input (it selects the batch-norm
statistics) and expect codes ``ψ·z`` with ``z`` from a normal truncated at ±2. Here a code
``z ~ N(0, I)`` (the prior every latent probe assumes) is decoded as ``G(ψ·z, onehot(c), ψ)``;
the ±2 truncation is left out, so searches may move a code anywhere.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from robustlens.models.generators.biggan import ClassConditionalGAN
from robustlens.models.generators.checks import check_codes

WEIGHTS_NAME = "pytorch_model.bin"
CONFIG_NAME = "config.json"


def _package():
    try:
        import pytorch_pretrained_biggan
    except ImportError as err:
        raise ImportError(
            "generator=pretrained_biggan needs the optional package pytorch-pretrained-biggan: "
            "pip install 'robustlens[biggan]' (or pip install pytorch-pretrained-biggan)"
        ) from err
    return pytorch_pretrained_biggan


class PretrainedBigGAN(ClassConditionalGAN):
    """A ``pytorch_pretrained_biggan.BigGAN`` decoding to [0, 1]: ``(G(ψ·z, onehot(c), ψ) + 1)/2``."""

    def __init__(self, model: torch.nn.Module, truncation: float = 0.4, class_map: list[int] | None = None):
        config = model.config
        super().__init__(config.z_dim, config.num_classes, class_map)
        if not 0 < truncation <= 1:
            raise ValueError(f"truncation must lie in (0, 1] (the package's range), got {truncation}")
        self.model, self.truncation = model, float(truncation)
        self.output_shape = (3, config.output_dim, config.output_dim)
        self.generator_num_classes = config.num_classes

    def decode(self, z: Tensor, y: Tensor) -> Tensor:
        check_codes(z, y, self.latent_dim, self.num_classes)
        onehot = F.one_hot(self.generator_classes(y), self.generator_num_classes).to(z.dtype)
        out = self.model(z * self.truncation, onehot, self.truncation)
        return ((out + 1) / 2).clamp(0.0, 1.0)


def load_pretrained_biggan(
    model_dir: str | Path, truncation: float = 0.4, class_map: list[int] | None = None
) -> PretrainedBigGAN:
    """The package's model stored in ``model_dir`` (``config.json`` + ``pytorch_model.bin``)."""
    root = Path(model_dir)
    missing = [name for name in (CONFIG_NAME, WEIGHTS_NAME) if not (root / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{root} lacks {', '.join(missing)}: point generator.model_dir at a folder with the package's "
            "config.json and pytorch_model.bin (e.g. the two files of biggan-deep-128 that "
            "BigGAN.from_pretrained downloads; see docs/generators.md)"
        )
    package = _package()  # after the file check: a missing folder is the first thing to fix
    config = package.BigGANConfig.from_dict(json.loads((root / CONFIG_NAME).read_text()))
    model = package.BigGAN(config)
    state = torch.load(root / WEIGHTS_NAME, map_location="cpu", weights_only=True)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise ValueError(f"{root / WEIGHTS_NAME} does not fit the BigGAN of {root / CONFIG_NAME}.\n{err}") from err
    return PretrainedBigGAN(model.eval(), truncation, class_map).eval()
