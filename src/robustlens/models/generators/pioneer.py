"""PIONEER per-class autoencoders (Heljakka et al. 2018) in the checkpoint format of their code.

Paper A's CelebA-128 and LSUN-128 studies use one PIONEER autoencoder per class. PIONEER
saves a training *session*: ``torch.save({'G_state_dict', 'D_state_dict',
'G_running_state_dict', 'optimizerD', 'optimizerG', 'iteration', 'phase', 'alpha'})``, the
three networks wrapped in ``nn.DataParallel`` (keys start with ``module.``). Evaluation uses
the running-average generator (``G_running_state_dict``) and the encoder (``D_state_dict``).
The networks below are robustlens' own definitions whose parameter names are those of the
format, so every file loads with ``strict=True``.

The latent code: PIONEER decodes and encodes points on the unit sphere of ``nz + 1 = 512``
dimensions (the last entry is a label slot, 0 for these unconditional models). As in Paper A,
a code ``l ~ N(0, I_511)`` is decoded as ``G([l/√511, 0])`` and an image is encoded as
``√511 · E(x)[:511]``, so codes live at the scale of the N(0, I) prior.

Two deliberate choices, both documented in ``docs/generators.md``:

* Spectral norm of the encoder: the format does not store PIONEER's power-iteration vector
  (it is a plain attribute, re-drawn at every load and "warmed" on a few images); here the
  exact largest singular value is used, which is what that iteration converges to.
* Output range: PIONEER has no output non-linearity, so images can leave [-1, 1] slightly.
  ``clamp=True`` (default) clips the [0, 1] images; ``clamp=False`` keeps the authors'
  unclipped images (the classifiers were evaluated on those).
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from robustlens.models.generators.base import PerClassGenerator
from robustlens.models.generators.checks import check_codes

#: progressive stages: 4, 8, ..., 1024 px; a 128-px model runs stages 0..5
NUM_STAGES = 9
#: channel fraction of nz per stage (generator order; the encoder runs them reversed)
_STAGE_WIDTH = (1, 1, 1, 1, 2, 4, 8, 16, 32)
#: the four published checkpoints of Paper A (per class, in the class order of the classifiers)
PAPER_A_CHECKPOINTS: dict[str, list[str]] = {
    "celeba": [
        "pioneer/CelebA-128-female/checkpoint/20580000_state",
        "pioneer/CelebA-128-male/checkpoint/22452000_state",
    ],
    "lsun": [
        "pioneer/LSUN-128-bedroom/checkpoint/15268000_state",
        "pioneer/LSUN-128-church_outdoor/checkpoint/20212000_state",
    ],
}


class _PixelNorm(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return x / torch.sqrt(x.pow(2).mean(dim=1, keepdim=True) + 1e-8)


class _ScaledConv(nn.Module):
    """A convolution whose stored ``weight_orig`` is rescaled at run time.

    ``equalised`` (generator): ``w·√(2/fan_in)`` (equalised learning rate);
    otherwise (encoder): ``w/σ_max(w)``, the exact spectral norm.
    """

    def __init__(self, c_in: int, c_out: int, kernel: int, padding: int, equalised: bool):
        super().__init__()
        self.weight_orig = nn.Parameter(torch.randn(c_out, c_in, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(c_out))
        self.padding, self.equalised = padding, equalised

    def weight(self) -> Tensor:
        w = self.weight_orig
        if self.equalised:
            return w * math.sqrt(2.0 / (w.shape[1] * w[0, 0].numel()))
        return w / torch.linalg.matrix_norm(w.flatten(1), ord=2)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight(), self.bias, padding=self.padding)


class _ConvHolder(nn.Module):
    """Gives the stored key prefix ``...conv.<i>.conv.`` its inner ``conv`` level."""

    def __init__(self, *args, equalised: bool):
        super().__init__()
        self.conv = _ScaledConv(*args, equalised=equalised)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x)


class _GenBlock(nn.Module):
    """``[EqConv, PixelNorm, LReLU, EqConv, PixelNorm, LReLU]`` (keys ``conv.{0,3}``)."""

    def __init__(self, c_in: int, c_out: int, k1: int, p1: int, k2: int, p2: int):
        super().__init__()
        self.conv = nn.Sequential(
            _ConvHolder(c_in, c_out, k1, p1, equalised=True), _PixelNorm(), nn.LeakyReLU(0.2),
            _ConvHolder(c_out, c_out, k2, p2, equalised=True), _PixelNorm(), nn.LeakyReLU(0.2),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x)


class _EncBlock(nn.Module):
    """``[SNConv, LReLU, SNConv, LReLU?]`` (keys ``conv.{0,2}``); the last block has no final activation."""

    def __init__(self, c_in: int, c_out: int, k2: int = 3, p2: int = 1, last_act: bool = True):
        super().__init__()
        self.conv = nn.Sequential(
            _ConvHolder(c_in, c_out, 3, 1, equalised=False), nn.LeakyReLU(0.2),
            _ConvHolder(c_out, c_out, k2, p2, equalised=False),
            nn.LeakyReLU(0.2) if last_act else nn.Identity(),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x)


def _widths(nz: int) -> list[int]:
    return [nz // f for f in _STAGE_WIDTH]


class PioneerGeneratorNet(nn.Module):
    """PIONEER's progressive generator: a point of the (nz)-sphere → 3×(4·2^step)² image, ~[-1, 1].

    ``nz`` counts the label slot (512 for the published models).
    """

    def __init__(self, nz: int = 512, n_label: int = 1):
        super().__init__()
        w = _widths(nz)
        self.label_embed = nn.Embedding(n_label, n_label)  # stored, unused by PIONEER's forward
        self.progression = nn.ModuleList(
            [_GenBlock(nz, nz, 4, 3, 3, 1)] + [_GenBlock(w[i - 1], w[i], 3, 1, 3, 1) for i in range(1, NUM_STAGES)]
        )
        self.to_rgb = nn.ModuleList([nn.Conv2d(c, 3, 1) for c in w])

    def forward(self, code: Tensor, step: int, alpha: float) -> Tensor:
        out = code[:, :, None, None]
        for i, (block, to_rgb) in enumerate(zip(self.progression, self.to_rgb, strict=True)):
            if i > 0 and step > 0:
                upsampled = F.interpolate(out, scale_factor=2)  # nearest, as PIONEER
                out = block(upsampled)
            else:
                out = block(out)
            if i == step:
                out = to_rgb(out)
                if i > 0 and 0 <= alpha < 1:  # fade-in between the last two stages
                    out = (1 - alpha) * self.to_rgb[i - 1](upsampled) + alpha * out
                return out
        raise ValueError(f"step must be in 0..{NUM_STAGES - 1}, got {step}")


class PioneerEncoderNet(nn.Module):
    """PIONEER's encoder (its "discriminator" in cyclic mode): image in [-1, 1] → unit (nz)-vector."""

    def __init__(self, nz: int = 512):
        super().__init__()
        w = list(reversed(_widths(nz)))  # nz/32, nz/16, ..., nz
        outs = [*w[1:], nz]
        blocks = [_EncBlock(w[i], outs[i]) for i in range(NUM_STAGES - 1)]
        blocks.append(_EncBlock(nz, nz, 4, 0, last_act=False))
        self.progression = nn.ModuleList(blocks)
        self.from_rgb = nn.ModuleList([nn.Conv2d(3, c, 1) for c in w])

    def forward(self, x: Tensor, step: int, alpha: float) -> Tensor:
        n = len(self.progression)
        out = x
        for i in range(step, -1, -1):
            index = n - i - 1
            if i == step:
                out = self.from_rgb[index](x)
            out = self.progression[index](out)
            if i > 0:
                out = F.avg_pool2d(out, 2)
                if i == step and 0 <= alpha < 1:
                    skip = self.from_rgb[index + 1](F.avg_pool2d(x, 2))
                    out = (1 - alpha) * skip + alpha * out
        z = out.flatten(1)
        return z / z.norm(dim=1, keepdim=True)


class PioneerClassModel(nn.Module):
    """One class's autoencoder at a fixed progressive stage: codes ``N(0, I_{nz-1})`` ↔ [-1, 1] images."""

    def __init__(self, generator: PioneerGeneratorNet, encoder: PioneerEncoderNet, step: int, alpha: float):
        super().__init__()
        self.generator, self.encoder = generator, encoder
        self.step, self.alpha = int(step), float(alpha)
        self.latent_dim = generator.to_rgb[0].in_channels - 1

    def forward(self, z: Tensor) -> Tensor:
        code = torch.cat([z / math.sqrt(self.latent_dim), z.new_zeros(z.shape[0], 1)], dim=1)
        return self.generator(code, self.step, self.alpha)

    def encode(self, x_pm1: Tensor) -> Tensor:
        return self.encoder(x_pm1, self.step, self.alpha)[:, : self.latent_dim] * math.sqrt(self.latent_dim)


class PioneerAutoencoders(PerClassGenerator):
    """Per-class PIONEER autoencoders behind the :class:`Generator` interface.

    ``decode`` returns [0, 1] images (``(out + 1)/2``, clipped when ``clamp``); ``encode`` is
    the amortised encoder (no gradient inversion), as in Paper A.
    """

    has_encoder = True

    def __init__(self, models: list[PioneerClassModel], clamp: bool = True):
        super().__init__(list(models), latent_dim=models[0].latent_dim)
        self.clamp = clamp
        side = 4 * 2 ** models[0].step
        self.output_shape = (3, side, side)
        self.output_range = (0.0, 1.0) if clamp else (-math.inf, math.inf)

    def decode(self, z: Tensor, y: Tensor) -> Tensor:
        check_codes(z, y, self.latent_dim, self.num_classes)
        images = (super().decode(z, y) + 1) / 2
        return images.clamp(0.0, 1.0) if self.clamp else images

    def encode(self, x: Tensor, y: Tensor, generator: torch.Generator | None = None) -> Tensor:
        out = x.new_empty(x.shape[0], self.latent_dim)
        for c in torch.unique(y).tolist():
            mask = y == c
            out[mask] = self.generators[c].encode(x[mask] * 2 - 1)
        return out


def _strip_data_parallel(state: dict[str, Tensor]) -> dict[str, Tensor]:
    return {k.removeprefix("module."): v for k, v in state.items()}


def load_pioneer_checkpoint(path: str | Path, resolution: int = 128) -> PioneerClassModel:
    """One PIONEER session file (``<save_dir>/checkpoint/<iteration>_state``) as a class model.

    The stage is the checkpoint's ``phase``, capped at the one that produces ``resolution``
    pixels (PIONEER's ``max_phase = log2(resolution) − 2``); ``alpha`` is the checkpoint's.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"missing PIONEER checkpoint {path}. Download the authors' per-class PIONEER models and "
            "place them as <weights_dir>/pioneer/<Dataset-128-class>/checkpoint/<iteration>_state "
            "(see experiments/buzhinsky2020_celeba_lsun/README.md), or point generator.weights_dir at them"
        )
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    missing = [k for k in ("G_running_state_dict", "D_state_dict", "phase", "alpha") if k not in ckpt]
    if missing:
        raise ValueError(f"{path} is not a PIONEER session checkpoint: it lacks {', '.join(missing)}")
    g_state = _strip_data_parallel(ckpt["G_running_state_dict"])
    e_state = _strip_data_parallel(ckpt["D_state_dict"])
    nz = g_state["to_rgb.0.weight"].shape[1]
    n_label = g_state["label_embed.weight"].shape[0]
    generator, encoder = PioneerGeneratorNet(nz, n_label), PioneerEncoderNet(nz)
    for net, state, name in ((generator, g_state, "generator"), (encoder, e_state, "encoder")):
        try:
            net.load_state_dict(state, strict=True)
        except RuntimeError as err:
            raise ValueError(f"{path}: its {name} does not fit PIONEER's layout (nz={nz}).\n{err}") from err
    max_step = round(math.log2(resolution)) - 2
    if not 0 <= max_step < NUM_STAGES or 4 * 2**max_step != resolution:
        raise ValueError(f"resolution must be a power of two between 4 and 1024, got {resolution}")
    step = min(int(ckpt["phase"]), max_step)
    if 4 * 2**step != resolution:
        raise ValueError(
            f"{path} was trained up to {4 * 2**step} px (phase {step}), but resolution={resolution} was asked"
        )
    return PioneerClassModel(generator.eval(), encoder.eval(), step, float(ckpt["alpha"])).eval()


def load_pioneer(
    weights_dir: str | Path,
    checkpoints: list[str] | str = "celeba",
    resolution: int = 128,
    clamp: bool = True,
) -> PioneerAutoencoders:
    """Per-class PIONEER autoencoders, one checkpoint per class in class order.

    Args:
        weights_dir: folder the checkpoint paths are relative to.
        checkpoints: the per-class session files, or ``celeba`` / ``lsun`` for Paper A's four
            published ones (:data:`PAPER_A_CHECKPOINTS`).
        resolution: image side (128 for Paper A).
        clamp: clip decoded images to [0, 1] (see the module docstring).
    """
    if isinstance(checkpoints, str):
        if checkpoints not in PAPER_A_CHECKPOINTS:
            raise ValueError(
                f"checkpoints must be a list of per-class files or one of {', '.join(PAPER_A_CHECKPOINTS)}, "
                f"got {checkpoints!r}"
            )
        checkpoints = PAPER_A_CHECKPOINTS[checkpoints]
    if not checkpoints:
        raise ValueError("checkpoints is empty: give one PIONEER checkpoint per class")
    models = [load_pioneer_checkpoint(Path(weights_dir) / c, resolution) for c in checkpoints]
    dims = {m.latent_dim for m in models}
    if len(dims) > 1:
        raise ValueError(f"the per-class PIONEER models have different latent sizes {sorted(dims)}")
    return PioneerAutoencoders(models, clamp=clamp).eval()
