"""Every loaded model ends in robustlens' contract: [0,1] images in, logits out, normalisation inside.

:class:`ZooClassifier` wraps a network from any source with what the source's own pipeline
did outside the network (resizing, mean/std normalisation, turning probabilities into
log-probabilities), so attacks, metrics and generators talk to ``model(x01)`` only. It also
checks on every call that the input has the resolution the model was built for: a 32×32
batch fed to a 224×224 ImageNet model is refused with the fix (``classifier.resize=224``)
instead of silently producing meaningless accuracies.

Penultimate features: the wrapper exposes the *input of the network's last* ``nn.Linear``
as the module ``features`` (``penultimate_layer = "features"``), so the latent-structure metric
works for zoo models without knowing each architecture's layer names.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from robustlens.models.classifiers.sources.errors import ModelSourceError
from robustlens.models.normalize import Normalize

Outputs = Literal["logits", "probabilities", "log_probabilities"]


def as_size(value: int | Sequence[int] | None, name: str) -> tuple[int, int] | None:
    """``(H, W)`` from an int (square) or a pair; ``None`` stays ``None``."""
    if value is None:
        return None
    if isinstance(value, int):
        pair = (value, value)
    else:
        items = [int(v) for v in value]
        if len(items) == 3:  # (C, H, W) as timm's pretrained configs give it
            items = items[1:]
        if len(items) != 2:
            raise ModelSourceError(f"{name} must be one size or [height, width], got {list(value)}")
        pair = (items[0], items[1])
    if min(pair) <= 0:
        raise ModelSourceError(f"{name} must be positive, got {pair}")
    return pair


def last_linear(network: nn.Module) -> nn.Linear | None:
    """The network's last ``nn.Linear`` in module order (its classification head), if any."""
    found = None
    for module in network.modules():
        if isinstance(module, nn.Linear):
            found = module
    return found


class ZooClassifier(nn.Module):
    """``network(normalize(resize(x)))`` as logits, for ``x`` in [0,1] of the model's resolution.

    Args:
        network: the loaded network (eval mode), taking normalised inputs.
        mean, std: the normalisation the network was trained with; ``None``: the network
            normalises itself (RobustBench models) or needs none.
        input_size: ``(H, W)`` the network expects; ``None``: any size.
        resize: resize inputs to this ``(H, W)`` inside the model (bilinear, antialiased) before
            normalising; only when asked for in the config.
        outputs: what ``network`` returns: ``logits``, ``probabilities`` (log taken here) or
            ``log_probabilities``.
        info: what the report shows about the model (source, name, architecture, training, ...).
    """

    penultimate_layer: str = "features"

    def __init__(
        self,
        network: nn.Module,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        input_size: tuple[int, int] | None = None,
        resize: tuple[int, int] | None = None,
        outputs: Outputs = "logits",
        info: dict[str, Any] | None = None,
    ):
        super().__init__()
        if outputs not in ("logits", "probabilities", "log_probabilities"):
            raise ModelSourceError(f"outputs must be logits, probabilities or log_probabilities, got {outputs!r}")
        self.network = network
        self.normalize = Normalize(mean, std) if mean is not None and std is not None else nn.Identity()
        self.input_size = input_size
        self.resize = resize
        self.outputs = outputs
        self.info = dict(info or {})
        self.features = nn.Identity()
        head = last_linear(network) if not isinstance(network, torch.jit.ScriptModule) else None
        if head is not None:
            head.register_forward_pre_hook(self._features_hook)
        else:
            self.penultimate_layer = None  # type: ignore[assignment]

    def _features_hook(self, _module: nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...]:
        return (self.features(args[0]), *args[1:])

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 4:
            raise ModelSourceError(f"the classifier takes [B, C, H, W] image batches, got shape {tuple(x.shape)}")
        if self.resize is not None:
            if tuple(x.shape[-2:]) != self.resize:
                x = F.interpolate(x, size=self.resize, mode="bilinear", align_corners=False, antialias=True)
        elif self.input_size is not None and tuple(x.shape[-2:]) != self.input_size:
            h, w = self.input_size
            raise ModelSourceError(
                f"the {self.info.get('name', 'model')} classifier expects {h}x{w} inputs but the data is "
                f"{x.shape[-2]}x{x.shape[-1]}: set `classifier.resize={h}` to resize inside the model, or give the "
                f"data that resolution (e.g. `data.resize={h} data.crop={h}` for image-file datasets), or "
                "`classifier.input_size=null` if the network accepts any size"
            )
        out = self.network(self.normalize(x))
        if not isinstance(out, Tensor):
            raise ModelSourceError(
                f"the network returned {type(out).__name__}, not a logits tensor; wrap it so that forward() returns "
                "the [B, num_classes] logits"
            )
        if self.outputs == "probabilities":
            out = torch.log(out.clamp_min(1e-12))
        return out

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in (("input_size", self.input_size), ("resize", self.resize),
                                                  ("outputs", self.outputs)) if v is not None)
