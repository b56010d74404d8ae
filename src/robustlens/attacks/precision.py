"""The arithmetic precision of a search, and the fp32 pass that decides every verdict.

Why a precision setting: on a GPU the gradient passes of an attack run 4–7× faster with TF32
or under bf16 autocast than in fp32 (``docs/precision.md``). Why verdicts stay fp32: a search
in a lower precision only steers where the attack looks; whether the returned input is
adversarial is decided by one fp32 forward pass outside any autocast (:func:`fp32_pass`, used by
``Attack.__call__`` and the latent probes), so a lower precision can make a search weaker,
never a result false.

``evaluation.precision`` (per probe ``precision``):

* ``fp32``: no autocast, TF32 off (the default, and the only value a faithful probe accepts);
* ``tf32``: fp32 tensors, matmuls and convolutions on TF32 tensor cores
  (``torch.backends.cuda.matmul.allow_tf32`` / ``torch.backends.cudnn.allow_tf32`` on for the
  search, restored after); no effect on a CPU;
* ``bf16``: the classifier's passes under ``torch.autocast(dtype=torch.bfloat16)``;
* ``fp16``: under float16 autocast, with a static loss scale (:data:`FP16_LOSS_SCALE`): the
  summed objective is multiplied by it before the backward pass and the input gradient divided
  by it in fp32, so the small gradients of confidently classified samples do not underflow to
  zero in fp16; a sample whose scaled gradient overflows gets a zero gradient for that step
  (checked on the device, never read by the host).
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import Literal

import torch
from torch import Tensor

from robustlens.attacks.geometry import rows_view

Precision = Literal["fp32", "tf32", "bf16", "fp16"]
PRECISIONS: tuple[str, ...] = ("fp32", "tf32", "bf16", "fp16")
#: earlier name of fp32 in the latent probes' ``precision`` (still accepted)
_ALIASES = {"float32": "fp32"}
#: fp16's loss scale: 2^10 keeps per-logit gradients (≤ 1 for CE and margins) far below fp16's
#: maximum 65504 and lifts gradients down to ≈ 6e-11 above fp16's smallest subnormal
FP16_LOSS_SCALE = 1024.0

_AUTOCAST = {"bf16": torch.bfloat16, "fp16": torch.float16}
_loss_scale: contextvars.ContextVar[float] = contextvars.ContextVar("robustlens_loss_scale", default=1.0)
_active: contextvars.ContextVar[str] = contextvars.ContextVar("robustlens_search_precision", default="fp32")


class PrecisionError(ValueError):
    """A precision that does not exist, or one a faithful procedure cannot run in."""


def check_precision(precision: str, *, faithful: bool = False, where: str = "") -> Precision:
    """The canonical name of ``precision``; refuse unknown names and anything but fp32 when ``faithful``."""
    name = _ALIASES.get(precision, precision)
    at = f"{where}: " if where else ""
    if name not in PRECISIONS:
        raise PrecisionError(f"{at}unknown precision {precision!r}; valid: {', '.join(PRECISIONS)}")
    if faithful and name != "fp32":
        raise PrecisionError(
            f"{at}precision={name} changes the search's numbers, and a faithful run promises the authors' "
            "numbers: set precision=fp32 for this probe (or drop faithful=true to search in " + name + ")"
        )
    return name  # type: ignore[return-value]


@contextlib.contextmanager
def _tf32(allowed: bool) -> Iterator[None]:
    """TF32 for CUDA matmuls and cuDNN convolutions set to ``allowed``, restored afterwards."""
    matmul, cudnn = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = allowed
    torch.backends.cudnn.allow_tf32 = allowed
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = matmul
        torch.backends.cudnn.allow_tf32 = cudnn


@contextlib.contextmanager
def search_precision(precision: str, device_type: str) -> Iterator[None]:
    """Run the enclosed search passes in ``precision`` on ``device_type`` (``x.device.type``)."""
    name = check_precision(precision)
    active = _active.set(name)
    try:
        if name == "fp32":
            yield
        elif name == "tf32":
            with _tf32(True):
                yield
        else:
            scale = _loss_scale.set(FP16_LOSS_SCALE if name == "fp16" else 1.0)
            try:
                with torch.autocast(device_type, dtype=_AUTOCAST[name]):
                    yield
            finally:
                _loss_scale.reset(scale)
    finally:
        _active.reset(active)


def lowered() -> bool:
    """Whether the enclosing search runs in a precision other than fp32 (its own verdicts may then
    disagree with fp32's: a search can re-check them with :func:`fp32_pass`)."""
    return _active.get() != "fp32"


@contextlib.contextmanager
def fp32_pass(device_type: str) -> Iterator[None]:
    """An fp32 forward pass whatever encloses it: autocast off, TF32 off (restored afterwards)."""
    with torch.autocast(device_type, enabled=False), _tf32(False):
        yield


def input_gradient(total: Tensor, inputs: Tensor) -> Tensor:
    """``∂ total / ∂ inputs`` in fp32; under fp16 with the loss scale of :func:`search_precision`."""
    scale = _loss_scale.get()
    if scale == 1.0:
        (grad,) = torch.autograd.grad(total, inputs)
        return grad
    (grad,) = torch.autograd.grad(total * scale, inputs)
    grad = grad.float() / scale
    finite = torch.isfinite(grad).flatten(1).all(dim=1)
    return torch.where(rows_view(finite, grad), grad, torch.zeros_like(grad))
