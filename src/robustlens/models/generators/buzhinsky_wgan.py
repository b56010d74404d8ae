"""Paper A's published per-digit MNIST WGANs (Buzhinsky et al. 2020), rebuilt to load strictly.

The authors released state dicts only (see the README beside the published weights);
the networks here are rebuilt from that description, and the state-dict keys are the ground
truth: every file loads with ``strict=True``, so a mismatch in the layout fails loudly instead
of producing a silently different generator.

The networks produce images in [-1, 1] (the authors' convention). :class:`BuzhinskyWGAN`
maps them to the project's [0, 1] by ``(out + 1) / 2``, so the rest of robustlens never sees
the other range.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from robustlens.models.cpu_conv import SmallChannelConv2d, small_channel_conv2d
from robustlens.models.generators.base import PerClassGenerator
from robustlens.models.generators.checks import LAST_LABELS, check_codes

LATENT_DIM = 64
NUM_DIGITS = 10
GENERATOR_FILE = "wgan/dumped_weights_{digit}.bin.generator"
CRITIC_FILE = "wgan/dumped_weights_{digit}.bin.discriminator"


class _Reshape(nn.Module):
    """``model.1`` of the generator: the flat 512 vector becomes a 32×4×4 map (no parameters)."""

    def __init__(self, *shape: int):
        super().__init__()
        self.shape = shape

    def forward(self, x: Tensor) -> Tensor:
        return x.view(x.shape[0], *self.shape)


class _UpUnit(nn.Module):
    """``[bilinear ×2, Conv3×3, ReLU, Conv3×3, ReLU?]``; keys ``model.{1,3}`` are the convolutions."""

    def __init__(self, c_in: int, c_out: int, final_relu: bool = True):
        super().__init__()
        layers: list[nn.Module] = [
            nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
            SmallChannelConv2d(c_in, c_out, 3, padding=1),
            nn.ReLU(),
            SmallChannelConv2d(c_out, c_out, 3, padding=1),
        ]
        if final_relu:
            layers.append(nn.ReLU())
        self.model = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)


class BuzhinskyGeneratorNet(nn.Module):
    """One digit's generator: ``N(0, I_64)`` codes → 1×28×28 images in **[-1, 1]**.

    Linear(64→512) → 32×4×4 → three up-units (32→16→8→1 channels, 4→32 px) → central 28×28
    crop → sigmoid → ``(s − 0.5)·2``. 42,051 parameters.
    """

    def __init__(self, latent_dim: int = LATENT_DIM):
        super().__init__()
        self.latent_dim = latent_dim
        self.model = nn.Sequential(
            nn.Linear(latent_dim, 512),
            _Reshape(32, 4, 4),
            _UpUnit(32, 16),
            _UpUnit(16, 8),
            _UpUnit(8, 1, final_relu=False),
        )

    def forward(self, z: Tensor) -> Tensor:
        out = self.model(z)[:, :, 2:-2, 2:-2]
        return (torch.sigmoid(out) - 0.5) * 2


class _SNWeight(nn.Module):
    """A layer whose weight is divided by its exact largest singular value.

    Why exact rather than power iteration: the files store ``weight_orig`` but not the
    power-iteration vectors, so the authors' running estimate cannot be restored; the exact
    spectral norm is the value power iteration converges to.
    """

    def __init__(self, weight_shape: tuple[int, ...], bias: int):
        super().__init__()
        self.weight_orig = nn.Parameter(torch.empty(weight_shape))
        self.bias = nn.Parameter(torch.zeros(bias))
        nn.init.kaiming_uniform_(self.weight_orig, a=5**0.5)

    def normalised_weight(self) -> Tensor:
        sigma = torch.linalg.matrix_norm(self.weight_orig.flatten(1), ord=2)
        return self.weight_orig / sigma


class _SNConv(_SNWeight):
    def __init__(self, c_in: int, c_out: int):
        super().__init__((c_out, c_in, 3, 3), c_out)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.normalised_weight(), self.bias, padding=1)


class _SNLinear(_SNWeight):
    def __init__(self, n_in: int, n_out: int):
        super().__init__((n_out, n_in), n_out)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.normalised_weight(), self.bias)


class _ConvHolder(nn.Module):
    """Gives the stored key prefix ``...model.<i>.conv.`` its ``conv`` level."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv = _SNConv(c_in, c_out)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x)


class _LinearHolder(nn.Module):
    def __init__(self, n_in: int, n_out: int):
        super().__init__()
        self.linear = _SNLinear(n_in, n_out)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(x)


class _DownUnit(nn.Module):
    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.model = nn.Sequential(
            _ConvHolder(c_in, c_out), nn.ReLU(), _ConvHolder(c_out, c_out), nn.ReLU(), nn.MaxPool2d(2)
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)


class BuzhinskyCriticNet(nn.Module):
    """One digit's WGAN critic on **[-1, 1]** images (only needed to continue training).

    Pad 2 with −1 (28→32 px) → three units of two spectrally normalised 3×3 convolutions
    (12/24/48 channels) with max-pooling → flatten 768 → SNLinear(768→1).
    """

    def __init__(self):
        super().__init__()
        self.model = nn.Sequential(
            nn.ConstantPad2d(2, -1.0),
            _DownUnit(1, 12),
            _DownUnit(12, 24),
            _DownUnit(24, 48),
            nn.Flatten(),
            _LinearHolder(768, 1),
        )

    def forward(self, x_pm1: Tensor) -> Tensor:
        return self.model(x_pm1).squeeze(1)


class BuzhinskyWGAN(PerClassGenerator):
    """The ten digit generators behind the class-conditional :class:`Generator` interface.

    ``decode`` returns [0, 1] images (``(out + 1) / 2`` of the networks' [-1, 1] output);
    ``encode`` is the base class's gradient inversion (Paper A, A.5), which is how the paper
    encodes real images for a GAN.

    Args:
        generators: the ten digit networks (one architecture).
        stacked: decode a mixed-class batch in **one** pass through the ten networks' stacked
            weights (:func:`stacked_decode`) instead of one pass per class present. Same
            numbers up to float rounding; faster because a search's batch holds every class
            and the per-class passes are small (see ``docs/latent-search.md``).
    """

    def __init__(self, generators: list[BuzhinskyGeneratorNet], stacked: bool = True):
        super().__init__(list(generators), latent_dim=LATENT_DIM)
        self.stacked = stacked

    def decode(self, z: Tensor, y: Tensor) -> Tensor:
        check_codes(z, y, self.latent_dim, self.num_classes)
        stack = self.stacked and z.shape[0] > 0
        out = stacked_decode(list(self.generators), z, y) if stack else super().decode(z, y)
        # clamp only guards against float rounding at the ends of the sigmoid's range
        return ((out + 1) / 2).clamp(0.0, 1.0)


def stacked_decode(nets: list[BuzhinskyGeneratorNet], z: Tensor, y: Tensor) -> Tensor:
    """``nets[y_i](z_i)`` for every row, in one batched pass over the classes present.

    Why: a search evaluates a batch of all classes at once; ten networks of one architecture
    are one network with ``K`` groups (:func:`grouped_forward`). The rows are grouped into a
    ``[K, M, n]`` block (``K`` classes present, ``M`` rows of the most frequent one; shorter
    classes padded with zero codes, whose outputs are dropped). The weights are stacked afresh at
    every call (≈ 0.4 M numbers, negligible next to a pass), so a dtype or device change of the
    networks, or their training, is always seen.
    """
    present, order, slot_sorted, rank, longest = LAST_LABELS.of(y, "blocks", lambda: _class_blocks(y))
    block = z.new_zeros((len(present), longest, z.shape[1]))
    block[slot_sorted, rank] = z[order]
    images = grouped_forward([nets[c] for c in present], block)
    out = images.new_empty((len(y), *images.shape[2:]))
    out[order] = images[slot_sorted, rank]
    return out


def _class_blocks(y: Tensor) -> tuple[list[int], Tensor, Tensor, Tensor, int]:
    """Where every row of ``y`` goes in the ``[K, M, n]`` block of :func:`stacked_decode`: the classes
    present, the rows sorted by class, each sorted row's class slot and rank, and ``M`` (host reads,
    done once per label tensor)."""
    present, slot = torch.unique(y, sorted=True, return_inverse=True)
    order = torch.argsort(slot, stable=True)
    counts = torch.bincount(slot, minlength=len(present))
    first = torch.cumsum(counts, 0) - counts
    slot_sorted = slot[order]
    rank = torch.arange(len(y), device=y.device) - first[slot_sorted]
    return present.tolist(), order, slot_sorted, rank, int(counts.max())


def grouped_forward(nets: list[BuzhinskyGeneratorNet], block: Tensor) -> Tensor:
    """``nets[k](block[k])`` for all ``k`` at once: codes ``[K, M, n]`` → images ``[K, M, 1, 28, 28]``.

    The ``K`` networks run as one network whose feature maps hold ``K`` groups of channels
    (``[M, K·C, H, W]``): the linear layer is one batched matmul, each convolution one grouped
    convolution, upsampling and ReLU act on the channels alike. The maps stay channels_last
    from the linear layer to the crop: the grouped convolutions of 1–16 channels per group are
    2–4× faster that way on CPU (``robustlens.models.cpu_conv``), and nothing in between needs
    another layout. Same sums as the separate networks, up to float rounding (tested).
    """
    k, m, _ = block.shape
    linears = [net.model[0] for net in nets]
    weight = torch.stack([lin.weight for lin in linears]).transpose(1, 2)  # [K, n, 512]
    bias = torch.stack([lin.bias for lin in linears]).unsqueeze(1)  # [K, 1, 512]
    shape = nets[0].model[1].shape  # (32, 4, 4)
    h = torch.baddbmm(bias, block, weight)  # [K, M, 512]
    h = h.transpose(0, 1).reshape(m, k * shape[0], *shape[1:]).contiguous(memory_format=torch.channels_last)
    for position in range(2, len(nets[0].model)):
        units: list[_UpUnit] = [net.model[position] for net in nets]
        for index, layer in enumerate(units[0].model):
            if isinstance(layer, nn.Upsample):
                h = F.interpolate(
                    h, scale_factor=layer.scale_factor, mode=layer.mode, align_corners=layer.align_corners
                )
            elif isinstance(layer, nn.Conv2d):
                weights = torch.cat([unit.model[index].weight for unit in units])
                biases = torch.cat([unit.model[index].bias for unit in units])
                h = small_channel_conv2d(h, weights, biases, int(layer.padding[0]), groups=k)
            elif isinstance(layer, nn.ReLU):
                h = torch.relu(h)
            else:  # pragma: no cover - the architecture above has no other layers
                raise TypeError(f"grouped_forward: unexpected layer {layer!r}")
    out = (torch.sigmoid(h[:, :, 2:-2, 2:-2]) - 0.5) * 2  # [M, K, 28, 28]
    return out.transpose(0, 1).unsqueeze(2)


def _load_state(path: Path, what: str) -> dict[str, Tensor]:
    if not path.is_file():
        raise FileNotFoundError(
            f"missing Paper A {what} weights file {path}. Point weights_dir at the folder holding "
            "the published buzhinsky2020-mnist models (it contains wgan/dumped_weights_<digit>.bin.*), "
            "e.g. ${paths.shared_dir}/models/buzhinsky2020-mnist"
        )
    # the files were saved from CUDA tensors: map to CPU so they load on any machine
    return torch.load(path, map_location="cpu", weights_only=True)


def load_buzhinsky_generators(weights_dir: str | Path, stacked: bool = True) -> BuzhinskyWGAN:
    """Load the ten published digit generators (strictly) as one [0,1] class-conditional generator.

    ``stacked``: one pass for all classes (see :class:`BuzhinskyWGAN`)."""
    root = Path(weights_dir)
    nets = []
    for digit in range(NUM_DIGITS):
        net = BuzhinskyGeneratorNet()
        net.load_state_dict(_load_state(root / GENERATOR_FILE.format(digit=digit), "generator"), strict=True)
        nets.append(net.eval())
    return BuzhinskyWGAN(nets, stacked=stacked).eval()


def load_buzhinsky_critics(weights_dir: str | Path) -> nn.ModuleList:
    """Load the ten published digit critics (strictly); each takes [-1, 1] images."""
    root = Path(weights_dir)
    critics = []
    for digit in range(NUM_DIGITS):
        net = BuzhinskyCriticNet()
        net.load_state_dict(_load_state(root / CRITIC_FILE.format(digit=digit), "critic"), strict=True)
        critics.append(net.eval())
    return nn.ModuleList(critics)
