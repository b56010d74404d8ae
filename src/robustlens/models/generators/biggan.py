"""The class-conditional BigGAN of BigGAN-PyTorch (Brock et al.), as Paper A used it for ImageNet.

Paper A's ImageNet study decodes with the 128×128 BigGAN trained by BigGAN-PyTorch (its
``G_ema.pth``: a bare state dict of the ``Generator``), options ``G_ch=96, dim_z=120,
shared_dim=128, hier, G_shared, G_attn=64, SN_eps=1e-6, BN_eps=1e-5``, evaluated in eval mode,
and scales every code by ``1 − 0.25`` before decoding (their "built-in decay": plausibler,
less diverse images). This module is robustlens' own definition of that generator whose
parameter and buffer names are those of BigGAN-PyTorch, so the file loads with ``strict=True``.

What eval mode means in BigGAN-PyTorch, reproduced here:

* spectral norm: one power-iteration step from the *stored* vector ``u0`` (not updated), the
  weight divided by the resulting estimate — not the exact singular value;
* class-conditional batch norm with the stored running statistics;
* the class enters as the shared embedding ``shared(y)``; with ``hier`` the code is split
  into ``len(blocks)+1`` chunks: the first feeds the linear layer, each other one is
  concatenated to the embedding for one block's conditional norms.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from robustlens.models.generators.base import Generator
from robustlens.models.generators.checks import check_codes

#: channel multipliers (in, out) and resolutions of BigGAN-PyTorch's ``G_arch`` per image size
_ARCH: dict[int, tuple[list[int], list[int], list[int]]] = {
    32: ([4, 4, 4], [4, 4, 4], [8, 16, 32]),
    64: ([16, 16, 8, 4], [16, 8, 4, 2], [8, 16, 32, 64]),
    128: ([16, 16, 8, 4, 2], [16, 8, 4, 2, 1], [8, 16, 32, 64, 128]),
    256: ([16, 16, 8, 8, 4, 2], [16, 8, 8, 4, 2, 1], [8, 16, 32, 64, 128, 256]),
    512: ([16, 16, 8, 8, 4, 2, 1], [16, 8, 8, 4, 2, 1, 1], [8, 16, 32, 64, 128, 256, 512]),
}


def _sn_weight(weight: Tensor, u: Tensor, eps: float) -> Tensor:
    """BigGAN-PyTorch's eval-mode spectral norm: one power step from the stored ``u``."""
    w = weight.flatten(1)
    with torch.no_grad():
        v = F.normalize(u @ w, eps=eps)
        u_new = F.normalize(v @ w.t(), eps=eps)
    sigma = (v @ w.t() @ u_new.t()).squeeze()
    return weight / sigma


class _SN(nn.Module):
    """Buffers ``u0`` (power-iteration vector) and ``sv0`` (logged singular value) of one SN layer."""

    def _register_sn(self, num_outputs: int, eps: float) -> None:
        self.register_buffer("u0", torch.randn(1, num_outputs))
        self.register_buffer("sv0", torch.ones(1))
        self.sn_eps = eps

    def sn_weight(self) -> Tensor:
        return _sn_weight(self.weight, self.u0, self.sn_eps)


class SNConv2d(_SN):
    def __init__(self, c_in: int, c_out: int, kernel_size: int = 3, padding: int = 1, bias: bool = True,
                 eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(c_out, c_in, kernel_size, kernel_size))
        nn.init.orthogonal_(self.weight)
        self.bias = nn.Parameter(torch.zeros(c_out)) if bias else None
        self.padding = padding
        self._register_sn(c_out, eps)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.sn_weight(), self.bias, padding=self.padding)


class SNLinear(_SN):
    def __init__(self, n_in: int, n_out: int, bias: bool = True, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_out, n_in))
        nn.init.orthogonal_(self.weight)
        self.bias = nn.Parameter(torch.zeros(n_out)) if bias else None
        self._register_sn(n_out, eps)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.sn_weight(), self.bias)


class ConditionalBatchNorm(nn.Module):
    """``ccbn``: batch norm with stored statistics, gain ``1 + W_g·c`` and bias ``W_b·c`` from the condition ``c``."""

    def __init__(self, channels: int, cond_dim: int, bn_eps: float, sn_eps: float):
        super().__init__()
        self.gain = SNLinear(cond_dim, channels, bias=False, eps=sn_eps)
        self.bias = SNLinear(cond_dim, channels, bias=False, eps=sn_eps)
        self.register_buffer("stored_mean", torch.zeros(channels))
        self.register_buffer("stored_var", torch.ones(channels))
        self.eps = bn_eps

    def forward(self, x: Tensor, cond: Tensor) -> Tensor:
        gain = (1 + self.gain(cond))[:, :, None, None]
        bias = self.bias(cond)[:, :, None, None]
        out = F.batch_norm(x, self.stored_mean, self.stored_var, None, None, False, 0.1, self.eps)
        return out * gain + bias


class BatchNorm(nn.Module):
    """The output layer's unconditional batch norm (``bn``: ``gain``, ``bias``, stored statistics)."""

    def __init__(self, channels: int, eps: float = 1e-5):
        super().__init__()
        self.gain = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.register_buffer("stored_mean", torch.zeros(channels))
        self.register_buffer("stored_var", torch.ones(channels))
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        return F.batch_norm(x, self.stored_mean, self.stored_var, self.gain, self.bias, False, 0.1, self.eps)


class GBlock(nn.Module):
    """Residual up-block: ``bn1 → ReLU → ×2 → conv1 → bn2 → ReLU → conv2``, plus ``conv_sc(×2 x)``."""

    def __init__(self, c_in: int, c_out: int, cond_dim: int, bn_eps: float, sn_eps: float):
        super().__init__()
        self.conv1 = SNConv2d(c_in, c_out, eps=sn_eps)
        self.conv2 = SNConv2d(c_out, c_out, eps=sn_eps)
        self.conv_sc = SNConv2d(c_in, c_out, kernel_size=1, padding=0, eps=sn_eps)
        self.bn1 = ConditionalBatchNorm(c_in, cond_dim, bn_eps, sn_eps)
        self.bn2 = ConditionalBatchNorm(c_out, cond_dim, bn_eps, sn_eps)

    def forward(self, x: Tensor, cond: Tensor) -> Tensor:
        h = F.interpolate(torch.relu(self.bn1(x, cond)), scale_factor=2)
        h = self.conv2(torch.relu(self.bn2(self.conv1(h), cond)))
        return h + self.conv_sc(F.interpolate(x, scale_factor=2))


class Attention(nn.Module):
    """SA-GAN self-attention as in BigGAN-PyTorch (``theta``, ``phi``, ``g``, ``o``, ``gamma``)."""

    def __init__(self, ch: int, sn_eps: float):
        super().__init__()
        self.ch = ch
        self.theta = SNConv2d(ch, ch // 8, 1, 0, bias=False, eps=sn_eps)
        self.phi = SNConv2d(ch, ch // 8, 1, 0, bias=False, eps=sn_eps)
        self.g = SNConv2d(ch, ch // 2, 1, 0, bias=False, eps=sn_eps)
        self.o = SNConv2d(ch // 2, ch, 1, 0, bias=False, eps=sn_eps)
        self.gamma = nn.Parameter(torch.tensor(0.0))

    def forward(self, x: Tensor, cond: Tensor | None = None) -> Tensor:
        b, _, h, w = x.shape
        theta = self.theta(x).view(b, self.ch // 8, h * w)
        phi = F.max_pool2d(self.phi(x), 2).view(b, self.ch // 8, h * w // 4)
        g = F.max_pool2d(self.g(x), 2).view(b, self.ch // 2, h * w // 4)
        beta = torch.softmax(theta.transpose(1, 2) @ phi, dim=-1)
        o = self.o((g @ beta.transpose(1, 2)).view(b, self.ch // 2, h, w))
        return self.gamma * o + x


class BigGANNet(nn.Module):
    """BigGAN-PyTorch's ``Generator`` (``G_shared=True``): ``(z, shared(y)) → 3×R×R`` in [-1, 1]."""

    def __init__(
        self,
        G_ch: int = 96,
        dim_z: int = 120,
        resolution: int = 128,
        G_attn: str = "64",
        n_classes: int = 1000,
        shared_dim: int = 128,
        hier: bool = True,
        bottom_width: int = 4,
        BN_eps: float = 1e-5,
        SN_eps: float = 1e-6,
    ):
        super().__init__()
        if resolution not in _ARCH:
            raise ValueError(f"BigGAN resolution must be one of {sorted(_ARCH)}, got {resolution}")
        ins, outs, res = _ARCH[resolution]
        attention = {int(a) for a in str(G_attn).split("_") if a and a != "0"}
        self.hier, self.bottom_width, self.resolution = hier, bottom_width, resolution
        self.num_slots = len(ins) + 1 if hier else 1
        self.z_chunk = dim_z // self.num_slots if hier else 0
        self.dim_z = self.z_chunk * self.num_slots if hier else dim_z
        self.n_classes = n_classes
        cond_dim = shared_dim + self.z_chunk
        self.shared = nn.Embedding(n_classes, shared_dim)
        self.linear = SNLinear(self.dim_z // self.num_slots, ins[0] * G_ch * bottom_width**2, eps=SN_eps)
        blocks = []
        for c_in, c_out, r in zip(ins, outs, res, strict=True):
            block: list[nn.Module] = [GBlock(c_in * G_ch, c_out * G_ch, cond_dim, BN_eps, SN_eps)]
            if r in attention:
                block.append(Attention(c_out * G_ch, SN_eps))
            blocks.append(nn.ModuleList(block))
        self.blocks = nn.ModuleList(blocks)
        self.output_layer = nn.Sequential(
            BatchNorm(outs[-1] * G_ch), nn.ReLU(), SNConv2d(outs[-1] * G_ch, 3, eps=SN_eps)
        )

    def forward(self, z: Tensor, embedded_y: Tensor) -> Tensor:
        if self.hier:
            zs = torch.split(z, self.z_chunk, dim=1)
            z, conds = zs[0], [torch.cat([embedded_y, chunk], dim=1) for chunk in zs[1:]]
        else:
            conds = [embedded_y] * len(self.blocks)
        h = self.linear(z).view(z.shape[0], -1, self.bottom_width, self.bottom_width)
        for blocklist, cond in zip(self.blocks, conds, strict=True):
            for block in blocklist:
                h = block(h, cond)
        return torch.tanh(self.output_layer(h))


class ClassConditionalGAN(Generator):
    """A class-conditional GAN behind the :class:`Generator` interface (shared by the BigGANs).

    Args:
        latent_dim: the code size n (prior ``N(0, I_n)``).
        class_map: generator class of each data class (e.g. a subset of the 1000 ImageNet
            classes); ``None``: data class ``c`` is generator class ``c``.
        num_generator_classes: how many classes the network has.
    """

    def __init__(self, latent_dim: int, num_generator_classes: int, class_map: list[int] | None = None):
        super().__init__()
        self.latent_dim = int(latent_dim)
        if class_map is not None:
            bad = [c for c in class_map if not 0 <= int(c) < num_generator_classes]
            if bad:
                raise ValueError(
                    f"class_map entries must lie in 0..{num_generator_classes - 1} (the generator's classes), got {bad}"
                )
            self.register_buffer("class_map", torch.tensor([int(c) for c in class_map]), persistent=False)
        else:
            self.register_buffer("class_map", torch.arange(num_generator_classes), persistent=False)
        self.num_classes = len(self.class_map)
        self.output_range = (0.0, 1.0)

    def generator_classes(self, y: Tensor) -> Tensor:
        return self.class_map[y]


class BigGANPyTorch(ClassConditionalGAN):
    """BigGAN-PyTorch's generator decoding to [0, 1]: ``(G(s·z, shared(c)) + 1)/2``.

    ``latent_scale`` s is Paper A's "built-in decay" as a factor (their 0.25 → s = 0.75).
    ``encode``: the base class's batched gradient inversion (Paper A: 4 restarts × 40 Adam steps).
    """

    def __init__(self, net: BigGANNet, latent_scale: float = 0.75, class_map: list[int] | None = None):
        super().__init__(net.dim_z, net.n_classes, class_map)
        if not latent_scale > 0:
            raise ValueError(f"latent_scale must be > 0, got {latent_scale}")
        self.net, self.latent_scale = net, float(latent_scale)
        self.output_shape = (3, net.resolution, net.resolution)

    def decode(self, z: Tensor, y: Tensor) -> Tensor:
        check_codes(z, y, self.latent_dim, self.num_classes)
        out = self.net(z * self.latent_scale, self.net.shared(self.generator_classes(y)))
        return ((out + 1) / 2).clamp(0.0, 1.0)


def load_biggan_pytorch(
    weights_file: str | Path,
    latent_scale: float = 0.75,
    class_map: list[int] | None = None,
    strict: bool = True,
    **architecture,
) -> BigGANPyTorch:
    """A BigGAN-PyTorch generator state dict (e.g. ``G_ema.pth``) as a [0,1] class-conditional generator.

    Args:
        weights_file: the state dict file.
        latent_scale: factor applied to every code before decoding (Paper A: 0.75).
        class_map: see :class:`ClassConditionalGAN`.
        strict: refuse files with missing or unexpected keys (BigGAN-PyTorch itself loads
            non-strictly; set ``false`` only for a file known to carry extra entries).
        architecture: :class:`BigGANNet` options (``G_ch``, ``dim_z``, ``resolution``, ``G_attn``,
            ``n_classes``, ``shared_dim``, ``hier``, ``BN_eps``, ``SN_eps``).
    """
    path = Path(weights_file)
    if not path.is_file():
        raise FileNotFoundError(
            f"missing BigGAN-PyTorch weights {path}: download the 128×128 ImageNet BigGAN of BigGAN-PyTorch "
            "and point generator.weights_file at its G_ema.pth (see experiments/buzhinsky2020_imagenet/README.md)"
        )
    state = torch.load(path, map_location="cpu", weights_only=True)
    net = BigGANNet(**architecture)
    try:
        result = net.load_state_dict(state, strict=strict)
    except RuntimeError as err:
        raise ValueError(
            f"{path} does not fit BigGANNet({', '.join(f'{k}={v}' for k, v in architecture.items())}): "
            f"check G_ch, dim_z, resolution, G_attn, shared_dim and hier against the training run.\n{err}"
        ) from err
    if not strict and result.missing_keys:
        raise ValueError(f"{path} lacks parameters of the generator: {result.missing_keys[:5]} ...")
    return BigGANPyTorch(net.eval(), latent_scale, class_map).eval()
