"""Every tensor an attack, corruption or perturbation hands back follows the input's device and dtype.

Why on the CPU: a tensor built on the host and combined with one on the GPU fails only on a GPU
(the RGB frost corruption did, issue 22), and a constant built in float32 silently lowers a
float64 search. Two CPU-only stand-ins catch both:

* **device**: the corruptions run on *fake* CUDA tensors (``torch._subclasses.FakeTensorMode``
  computes shapes, dtypes and devices without data or a GPU, and raises exactly where CUDA would
  on a CPU tensor mixed with a CUDA one);
* **dtype**: every attack of the attack table runs on a float64 model and float64 inputs; the
  adversarial inputs and their norms must come back in float64 (a ``torch.full(...)`` without
  ``dtype=`` makes them float32), and every returned tensor must be on the input's device.

What cannot run here: the attacks' search loops read values (success, ``.any()``), which fake
tensors do not have, so their device paths run on a real GPU in ``tests/gpu/``.
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch import Tensor
from torch._subclasses.fake_tensor import FakeTensorMode

from robustlens.attacks.autoattack import APGDCE, APGDT, AutoAttack
from robustlens.attacks.corruptions.functional import ALL_CORRUPTIONS, corrupt
from robustlens.attacks.targets import random_target
from robustlens.utils.seeding import SampleRandom
from tests.attacks._attack_test_models import digits_data, trained_digits_mlp
from tests.attacks.test_attack_table import IDS, ROWS

#: not in the float64 test: pyautoattack (the library these adapters call) casts its inputs to float32 itself
FLOAT32_ONLY = (APGDCE, APGDT, AutoAttack)
#: JPEG is encoded by libjpeg on the host by design (``.cpu()`` in, ``.to(x)`` out): not traceable on fake CUDA
HOST_ONLY_CORRUPTIONS = {"jpeg_compression"}


def _tensors(result) -> dict[str, Tensor]:
    names = ("x_adv", "success", "norm", "iterations", "logits", "out_of_range", "target")
    fields = {name: getattr(result, name) for name in names}
    fields.update({f"extra.{k}": v for k, v in (getattr(result, "extra", None) or {}).items()})
    return {k: v for k, v in fields.items() if isinstance(v, Tensor)}


@pytest.fixture(scope="module")
def float64_digits():
    model = copy.deepcopy(trained_digits_mlp()).double().eval()
    x, y = digits_data()
    return model, x[1500:1508].double(), y[1500:1508], torch.arange(1500, 1508)


@pytest.mark.parametrize("name", [n for n in IDS if not isinstance(ROWS[n].make(), FLOAT32_ONLY)])
def test_attack_outputs_follow_the_input_dtype_and_device(name, float64_digits):
    model, x, y, idx = float64_digits
    row = ROWS[name]
    attack = row.make()
    target = random_target(y, 10, index=idx) if row.targeted else None
    result = attack(model, x, y, target, index=idx)
    assert result.x_adv.dtype == torch.float64, "adversarial inputs lost the input's dtype"
    assert result.norm.dtype == torch.float64, "norms are computed in another dtype than the inputs"
    assert result.logits.dtype == torch.float64, "the verdict's forward pass ran in another dtype"
    wrong_device = {k: v.device for k, v in _tensors(result).items() if v.device != x.device}
    assert not wrong_device, f"returned on another device than the input: {wrong_device}"


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("name", ALL_CORRUPTIONS)
def test_corruption_follows_the_input_dtype_and_device(name, channels):
    keys = torch.arange(2)
    real = torch.rand(2, channels, 16, 16, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    # real float64 first: checks the dtype and fills host-side caches (e.g. the defocus disk) with real tensors
    assert corrupt(real, name, 3, SampleRandom(keys, 0, name)).dtype == torch.float64
    if name in HOST_ONLY_CORRUPTIONS:
        return
    rnd = SampleRandom(keys, 0, name, "cuda")  # built outside the fake mode: its keys are real integers
    with FakeTensorMode(allow_non_fake_inputs=True):
        x = torch.empty(2, channels, 16, 16, device="cuda")
        out = corrupt(x, name, 3, rnd)  # raises FakeTensorDeviceMismatchError where a host tensor is mixed in
    assert out.device.type == "cuda" and out.dtype == torch.float32 and out.shape == x.shape
