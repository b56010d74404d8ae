"""Convolutions with few channels, run on the CPU kernel that is fast for them.

Why: oneDNN, PyTorch's CPU convolution, reorders NCHW tensors into channel-blocked layouts
on every call; with 1–8 channels that reordering, not arithmetic, is most of the cost, and the
backward pass pays it again. Paper A's MNIST networks are exactly such networks (1, 8, 16 and
32 channels at 28–36 px), and every latent or image-space search spends its time in their
forward+backward passes. Measured on this project's CPU (one thread, batch 600, 3×3 convolution,
forward + input gradient, ms; whole-pass figures in ``docs/latent-search.md``):

==============  =======  ================================  =============
layer           oneDNN   im2col + matmul (``F.unfold``)    channels_last
==============  =======  ================================  =============
1 → 8, 36 px    136      **31**                            104
8 → 8, 36 px    180      420                               **39**
8 → 16, 18 px   17       58                                17
grouped ×10,    127      —                                 **33**
8 → 1, 32 px
==============  =======  ================================  =============

So: one input channel → im2col + one matmul; other small convolutions → oneDNN on a
channels_last copy (the result is handed back in the caller's layout, because the norm layers
that follow reshape their input). Both are the same sums in another order: outputs agree with
``nn.Conv2d`` to float rounding (tested). Off the CPU, or for larger convolutions, the layer is a
plain :class:`torch.nn.Conv2d`; its parameters and state-dict keys are those of ``nn.Conv2d``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

#: convolutions with at most this many input and output channels (per group) use channels_last
SMALL_CHANNELS = 8


def im2col_conv2d(x: Tensor, weight: Tensor, bias: Tensor | None, padding: int) -> Tensor:
    """A stride-1, ungrouped convolution as ``weight`` times the unfolded patches (one matmul)."""
    b, _, h, w = x.shape
    c_out, _, kh, kw = weight.shape
    cols = F.unfold(x, (kh, kw), padding=padding)  # [B, C_in·kh·kw, H_out·W_out]
    out = torch.matmul(weight.reshape(c_out, -1), cols)
    if bias is not None:
        out = out + bias.view(1, c_out, 1)
    return out.view(b, c_out, h + 2 * padding - kh + 1, w + 2 * padding - kw + 1)


def small_channel_conv2d(x: Tensor, weight: Tensor, bias: Tensor | None, padding: int, groups: int = 1) -> Tensor:
    """``F.conv2d(x, weight, bias, padding=padding, groups=groups)`` on the fast CPU kernel.

    Stride 1, dilation 1. On CPU: im2col + matmul for one input channel, else oneDNN on a
    channels_last copy when every group has at most :data:`SMALL_CHANNELS` channels in and out
    (the output keeps ``x``'s layout). Elsewhere plain ``F.conv2d``.
    """
    c_out, c_in_per_group = weight.shape[:2]
    if x.device.type == "cpu" and x.ndim == 4:
        if groups == 1 and c_in_per_group == 1:
            return im2col_conv2d(x, weight, bias, padding)
        already_channels_last = x.is_contiguous(memory_format=torch.channels_last) and x.shape[1] > 1
        if max(c_in_per_group, c_out // groups) <= SMALL_CHANNELS and not already_channels_last:
            x_cl = x.contiguous(memory_format=torch.channels_last)
            return F.conv2d(x_cl, weight, bias, padding=padding, groups=groups).contiguous()
    # elsewhere, for larger convolutions, or on input already channels_last (oneDNN keeps its layout)
    return F.conv2d(x, weight, bias, padding=padding, groups=groups)


class SmallChannelConv2d(nn.Conv2d):
    """An ``nn.Conv2d`` (3×3-style, stride 1) whose CPU forward uses :func:`small_channel_conv2d`."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, padding: int = 1):
        super().__init__(in_channels, out_channels, kernel_size, padding=padding)

    def forward(self, x: Tensor) -> Tensor:
        return small_channel_conv2d(x, self.weight, self.bias, int(self.padding[0]), self.groups)
