"""The small-channel CPU convolutions compute exactly what ``F.conv2d`` computes.

Each kernel path (im2col for one input channel, channels_last oneDNN for ≤ 8 channels per
group, plain ``F.conv2d`` otherwise) is checked against ``F.conv2d`` on values and on the
gradients a search takes (input, weight, bias), and the output's memory layout is the caller's.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from robustlens.models.classifiers.buzhinsky import _norm
from robustlens.models.cpu_conv import SMALL_CHANNELS, SmallChannelConv2d, im2col_conv2d, small_channel_conv2d

CASES = [  # (in channels, out channels, groups, size): one per path
    pytest.param(1, 8, 1, 12, id="one-input-channel-im2col"),
    pytest.param(8, 8, 1, 10, id="small-channels-last"),
    pytest.param(80, 10, 10, 9, id="grouped-channels-last"),
    pytest.param(16, 32, 1, 7, id="large-plain"),
]


def _grads(fn, x, weight, bias, padding, groups):
    x, weight, bias = (t.detach().clone().requires_grad_(True) for t in (x, weight, bias))
    out = fn(x, weight, bias, padding=padding, groups=groups)
    probe = torch.linspace(-1, 1, out.numel()).view_as(out)  # a non-uniform upstream gradient
    (out * probe).sum().backward()
    return out.detach(), x.grad, weight.grad, bias.grad


@pytest.mark.parametrize(("c_in", "c_out", "groups", "size"), CASES)
@pytest.mark.parametrize("padding", [0, 1])
def test_values_and_gradients_equal_conv2d(c_in: int, c_out: int, groups: int, size: int, padding: int) -> None:
    gen = torch.Generator().manual_seed(c_in * 100 + c_out + padding)
    x = torch.randn(5, c_in, size, size, generator=gen)
    weight = torch.randn(c_out, c_in // groups, 3, 3, generator=gen)
    bias = torch.randn(c_out, generator=gen)
    ours = _grads(small_channel_conv2d, x, weight, bias, padding, groups)
    reference = _grads(F.conv2d, x, weight, bias, padding, groups)
    for got, want, what in zip(ours, reference, ("output", "input grad", "weight grad", "bias grad"), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4, msg=lambda m, w=what: f"{w}: {m}")


def test_im2col_is_a_convolution() -> None:
    """The unfolded matmul equals the convolution on a case small enough to read."""
    x = torch.arange(16.0).view(1, 1, 4, 4)
    weight = torch.zeros(1, 1, 3, 3)
    weight[0, 0, 1, 1] = 2.0  # the centre tap: output = 2 · input (+ bias) inside the border
    out = im2col_conv2d(x, weight, torch.tensor([1.0]), padding=0)
    assert out.shape == (1, 1, 2, 2)
    assert out.flatten().tolist() == [2 * 5 + 1, 2 * 6 + 1, 2 * 9 + 1, 2 * 10 + 1]


@pytest.mark.parametrize("channels_last", [False, True])
def test_output_keeps_the_callers_layout(channels_last: bool) -> None:
    x = torch.randn(3, SMALL_CHANNELS, 9, 9)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    out = small_channel_conv2d(x, torch.randn(4, SMALL_CHANNELS, 3, 3), None, padding=1)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    assert out.is_contiguous(memory_format=fmt)


def test_module_is_a_conv2d_with_its_keys() -> None:
    """Checkpoints of ``nn.Conv2d`` load into it unchanged and give the same outputs."""
    plain = nn.Conv2d(1, 8, 3, padding=1)
    fast = SmallChannelConv2d(1, 8, 3, padding=1)
    fast.load_state_dict(plain.state_dict(), strict=True)
    x = torch.randn(4, 1, 11, 11)
    torch.testing.assert_close(fast(x), plain(x), rtol=1e-5, atol=1e-5)
    assert isinstance(fast, nn.Conv2d)


@pytest.mark.skipif(not torch.backends.mps.is_available() and not torch.cuda.is_available(), reason="no accelerator")
def test_off_cpu_is_plain_conv2d() -> None:  # pragma: no cover - runs where an accelerator is
    device = "cuda" if torch.cuda.is_available() else "mps"
    x = torch.randn(2, 1, 8, 8, device=device)
    weight = torch.randn(4, 1, 3, 3, device=device)
    torch.testing.assert_close(small_channel_conv2d(x, weight, None, 1), F.conv2d(x, weight, None, padding=1))


@pytest.mark.parametrize("channels", [8, 16, 32])
def test_classifier_norm_is_instance_norm(channels: int) -> None:
    """Paper A's classifiers' norm (run as one-group-per-channel GroupNorm) is InstanceNorm2d."""
    norm = _norm(channels)
    reference = nn.InstanceNorm2d(channels, affine=True, eps=1e-5)
    with torch.no_grad():
        norm.weight.copy_(torch.rand(channels) + 0.5)
        norm.bias.copy_(torch.randn(channels))
    reference.load_state_dict(norm.state_dict(), strict=True)
    x = torch.randn(6, channels, 7, 7) * 3 + 1
    torch.testing.assert_close(norm(x), reference(x), rtol=1e-5, atol=1e-5)
