"""Bring your own generator: any importable module with a state-dict file, or a TorchScript file.

A user's generator rarely speaks robustlens' contract (codes ``N(0, I_n)``, images in [0, 1],
one class-conditional call). :class:`CustomGenerator` adapts one that declares, in config:

* ``latent_dim`` n and its ``prior``: ``normal`` (``N(0, σ²I)``, σ = ``prior_std``) or
  ``uniform`` (on [-1, 1]ⁿ). Latent probes always work on ``z ~ N(0, I)`` (Paper A's decay and
  norms assume it); a normal prior is reached as ``σ·z``, a uniform one as ``2Φ(z) − 1`` (Φ the
  normal CDF: a smooth bijection, so gradient searches still work);
* ``output_range`` ``[lo, hi]`` of its images, mapped to [0, 1] by ``(x − lo)/(hi − lo)``;
* ``conditioning``: ``class_conditional`` (one network called as ``decode(z, y)``) or
  ``per_class`` (one network per class, called as ``decode(z)``; one state file per class);
* optionally an ``encode`` method (``encode(x, y)`` / ``encode(x)``, on images in its own
  range, returning prior-space codes): used instead of gradient inversion when ``use_encoder``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

import torch
from hydra.utils import get_class
from torch import Tensor, nn

from robustlens.models.generators.base import Generator, decode_per_class
from robustlens.models.generators.checks import check_codes
from robustlens.utils.signatures import passes_on

Prior = Literal["normal", "uniform"]
Conditioning = Literal["class_conditional", "per_class"]


class CustomGenerator(Generator):
    """Adapts user networks to the :class:`Generator` contract (see the module docstring)."""

    def __init__(
        self,
        networks: list[nn.Module],
        latent_dim: int,
        num_classes: int,
        conditioning: Conditioning = "class_conditional",
        prior: Prior = "normal",
        prior_std: float = 1.0,
        output_range: tuple[float, float] = (0.0, 1.0),
        use_encoder: bool = True,
        clamp: bool = True,
    ):
        super().__init__()
        if conditioning not in ("class_conditional", "per_class"):
            raise ValueError(f"conditioning must be 'class_conditional' or 'per_class', got {conditioning!r}")
        if prior not in ("normal", "uniform"):
            raise ValueError(f"prior must be 'normal' or 'uniform', got {prior!r}")
        lo, hi = (float(v) for v in output_range)
        if not hi > lo:
            raise ValueError(f"output_range must be [low, high] with high > low, got {list(output_range)}")
        if conditioning == "per_class" and len(networks) != num_classes:
            raise ValueError(
                f"per_class conditioning needs one network per class: {len(networks)} given, num_classes={num_classes}"
            )
        self.networks = nn.ModuleList(networks)
        self.latent_dim, self.num_classes = int(latent_dim), int(num_classes)
        self.conditioning, self.prior, self.prior_std = conditioning, prior, float(prior_std)
        self.declared_range = (lo, hi)
        self.clamp = clamp
        # the declared range maps to [0, 1]; whether the declaration is right, the fit check sees
        self.output_range = (0.0, 1.0)
        self.has_encoder = bool(use_encoder) and all(hasattr(n, "encode") for n in networks)

    # code space (N(0, I)) <-> the network's prior
    def to_prior(self, z: Tensor) -> Tensor:
        if self.prior == "uniform":
            return torch.special.erf(z / math.sqrt(2.0))  # 2Φ(z) − 1
        return z * self.prior_std

    def from_prior(self, p: Tensor) -> Tensor:
        if self.prior == "uniform":
            return torch.special.erfinv(p.clamp(-1 + 1e-6, 1 - 1e-6)) * math.sqrt(2.0)
        return p / self.prior_std

    def _to_unit(self, images: Tensor) -> Tensor:
        lo, hi = self.declared_range
        out = (images - lo) / (hi - lo)
        return out.clamp(0.0, 1.0) if self.clamp else out

    def decode(self, z: Tensor, y: Tensor) -> Tensor:
        check_codes(z, y, self.latent_dim, self.num_classes)
        p = self.to_prior(z)
        if self.conditioning == "class_conditional":
            return self._to_unit(_call(self.networks[0], "decode", p, y))
        return decode_per_class(p, y, lambda c, codes: self._to_unit(_call(self.networks[c], "decode", codes)))

    def encode(self, x: Tensor, y: Tensor, generator: torch.Generator | None = None) -> Tensor:
        if not self.has_encoder:
            return super().encode(x, y, generator=generator)
        lo, hi = self.declared_range
        native = x * (hi - lo) + lo
        if self.conditioning == "class_conditional":
            return self.from_prior(self.networks[0].encode(native, y))
        out = x.new_empty(x.shape[0], self.latent_dim)
        for c in torch.unique(y).tolist():
            mask = y == c
            out[mask] = self.from_prior(self.networks[c].encode(native[mask]))
        return out


def _call(net: nn.Module, method: str, *args: Tensor) -> Tensor:
    fn = getattr(net, method, None)
    return fn(*args) if fn is not None else net(*args)


def _state_files(state_dict: str | list[str] | None, count: int) -> list[str | None]:
    if state_dict is None:
        return [None] * count
    if isinstance(state_dict, str):
        return [state_dict.format(c=c) for c in range(count)] if "{c}" in state_dict else [state_dict] * count
    files = [str(s) for s in state_dict]
    if len(files) != count:
        raise ValueError(f"lists {len(files)} files, but {count} networks are needed (one per class)")
    return files


def _load_state(net: nn.Module, path: str, strict: bool) -> None:
    if not Path(path).is_file():
        raise FileNotFoundError(f"generator state-dict file {path} not found (generator.state_dict)")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    try:
        net.load_state_dict(state, strict=strict)
    except RuntimeError as err:
        raise ValueError(f"{path} does not fit {type(net).__name__}.\n{err}") from err


@passes_on(CustomGenerator, exclude=("networks",))
def load_module_generator(
    target: str,
    num_classes: int,
    state_dict: str | list[str] | None = None,
    kwargs: dict | None = None,
    strict: bool = True,
    conditioning: Conditioning = "class_conditional",
    **adapter: Any,
) -> CustomGenerator:
    """Build ``target`` (a class path, e.g. ``mypkg.nets.Decoder``) with ``kwargs``, load its state.

    ``state_dict``: one file (``class_conditional``), or per class a list of files or a pattern
    with ``{c}`` (``per_class``). ``adapter``: :class:`CustomGenerator`'s other arguments
    (``latent_dim``, ``prior``, ``output_range``, ...).
    """
    try:
        cls = get_class(target)
    except Exception as err:  # Hydra raises ImportError or its own InstantiationException
        raise ImportError(f"generator.target {target!r} is not an importable class: {err}") from err
    count = num_classes if conditioning == "per_class" else 1
    networks = []
    for path in _state_files(state_dict, count):
        net = cls(**(kwargs or {}))
        if path is not None:
            _load_state(net, path, strict)
        networks.append(net.eval())
    return CustomGenerator(networks, num_classes=num_classes, conditioning=conditioning, **adapter).eval()


@passes_on(CustomGenerator, exclude=("networks",))
def load_torchscript_generator(
    path: str | list[str],
    num_classes: int,
    conditioning: Conditioning = "class_conditional",
    **adapter: Any,
) -> CustomGenerator:
    """A TorchScript generator (``torch.jit.save`` of a module with ``forward``/``decode``, optional ``encode``).

    ``path``: one file (``class_conditional``), or per class a list / ``{c}`` pattern (``per_class``).
    ``adapter``: :class:`CustomGenerator`'s other arguments (``latent_dim``, ``prior``, ...).
    """
    count = num_classes if conditioning == "per_class" else 1
    networks = []
    for file in _state_files(path if isinstance(path, list) else str(path), count):
        if not Path(str(file)).is_file():
            raise FileNotFoundError(f"TorchScript generator file {file} not found (generator.path)")
        networks.append(torch.jit.load(str(file), map_location="cpu").eval())
    return CustomGenerator(networks, num_classes=num_classes, conditioning=conditioning, **adapter).eval()
