"""What every loader checks before a model is evaluated, with the fix in each message.

The checks follow AutoAttack's (``check_range_output``, ``check_randomized``): a model that
outputs probabilities makes gradient attacks on the cross-entropy weak; a model whose outputs
change between two identical calls (dropout left on, a randomised defence) makes every
accuracy a sample of a random variable. robustlens refuses both unless the config says it
knows (``outputs: probabilities``, ``allow_stochastic: true``), and also refuses a class count
the data does not have. A model left in training mode is switched to eval mode and the switch
is logged: BatchNorm statistics would otherwise change with every evaluated batch.
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Iterable
from pathlib import Path

import torch
from torch import Tensor, nn

from robustlens.models.classifiers.sources.contract import ZooClassifier
from robustlens.models.classifiers.sources.errors import ModelSourceError

log = logging.getLogger("robustlens")

#: tolerance of the probability and determinism checks (AutoAttack uses 1e-5 and 1e-4)
PROBABILITY_TOLERANCE = 1e-5
DETERMINISM_TOLERANCE = 1e-4


def to_eval_mode(network: nn.Module, name: str) -> bool:
    """Switch ``network`` to eval mode; ``True`` (and a logged warning) if it was in train mode."""
    was_training = network.training or any(m.training for m in network.modules())
    if was_training:
        log.warning(
            "%s was in train mode (dropout/BatchNorm active); robustlens switched it to eval mode, as "
            "evaluation requires", name,
        )
    network.eval()
    return was_training


def check_state_dict_keys(missing: Iterable[str], unexpected: Iterable[str], where: str, fix: str) -> None:
    """Refuse a state dict that does not match the network, listing the keys."""
    missing, unexpected = sorted(missing), sorted(unexpected)
    if not missing and not unexpected:
        return
    def shown(keys: list[str]) -> str:
        return ", ".join(keys[:12]) + (f", ... ({len(keys)} in all)" if len(keys) > 12 else "")
    lines = [f"the weights in {where} do not match the network:"]
    if missing:
        lines.append(f"  missing keys (in the network, not in the file): {shown(missing)}")
    if unexpected:
        lines.append(f"  unexpected keys (in the file, not in the network): {shown(unexpected)}")
    lines.append(f"Fix: {fix}")
    raise ModelSourceError("\n".join(lines))


def probe_inputs(model: ZooClassifier, channels: int, seed: int = 0, batch: int = 4) -> Tensor:
    """A fixed batch of uniform [0,1] images at the model's resolution (32×32 if it takes any)."""
    size = model.input_size or (32, 32)
    generator = torch.Generator().manual_seed(seed)
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    return torch.rand(batch, channels, *size, generator=generator).to(device)


def check_outputs(model: ZooClassifier, num_classes: int | None, channels: int = 3, allow_stochastic: bool = False) -> None:
    """Run the model twice on a probe batch and refuse what AutoAttack would warn about."""
    name = model.info.get("name", "the classifier")
    x = probe_inputs(model, channels)
    with torch.no_grad():
        first = model.network(model.normalize(_resized(model, x)))
        if not isinstance(first, Tensor):
            raise ModelSourceError(
                f"{name} returned {type(first).__name__}, not a logits tensor; wrap the network so that forward() "
                "returns the [B, num_classes] logits"
            )
        second = model.network(model.normalize(_resized(model, x)))
    if first.ndim != 2:
        raise ModelSourceError(f"{name} returned shape {tuple(first.shape)}; a classifier returns [B, num_classes] logits")
    if not torch.isfinite(first).all():
        raise ModelSourceError(f"{name} returned NaN or infinite outputs on [0,1] inputs; check the weights file")
    if num_classes is not None and first.shape[1] != num_classes:
        raise ModelSourceError(
            f"{name} outputs {first.shape[1]} classes but the data has {num_classes} (`data.num_classes`): "
            "evaluate it on the dataset it was trained for, or give the source the matching head "
            f"(e.g. `classifier.num_classes={first.shape[1]}` only if the data really has that many classes)"
        )
    if model.outputs == "logits" and _looks_like_probabilities(first):
        raise ModelSourceError(
            f"{name} outputs probabilities (every row is in [0,1] and sums to 1), not logits: gradient attacks on "
            "probabilities are weak. Remove the final softmax from the network, or set "
            "`classifier.outputs=probabilities` to have robustlens take their log (log-probabilities are valid logits)"
        )
    if not allow_stochastic:
        scale = first.norm(dim=1, keepdim=True).clamp_min(1e-10)
        difference = ((first - second) / scale).norm(dim=1).max().item()
        if difference > DETERMINISM_TOLERANCE:
            raise ModelSourceError(
                f"{name} gives different outputs for the same input twice (relative difference {difference:.2e}): "
                "a randomised defence or dropout left active. Evaluating it needs attacks with expectation over "
                "transformation; set `classifier.allow_stochastic=true` to evaluate it anyway"
            )


def _resized(model: ZooClassifier, x: Tensor) -> Tensor:
    from torch.nn import functional as F

    if model.resize is not None and tuple(x.shape[-2:]) != model.resize:
        return F.interpolate(x, size=model.resize, mode="bilinear", align_corners=False, antialias=True)
    return x


def _looks_like_probabilities(out: Tensor) -> bool:
    return bool(
        out.max() < 1 + PROBABILITY_TOLERANCE and out.min() > -PROBABILITY_TOLERANCE
        and ((out.sum(dim=1) - 1).abs() < PROBABILITY_TOLERANCE).all()
    )


def finish(
    model: ZooClassifier, num_classes: int | None, channels: int = 3, allow_stochastic: bool = False,
    flag_train_mode: bool = False,
) -> ZooClassifier:
    """Eval mode, the output checks, then the model (what every loader returns).

    ``flag_train_mode``: warn if the network arrived in train mode (a file saved that way);
    networks the loader builds itself start in train mode by PyTorch's default, which is no news.
    """
    if flag_train_mode:
        model.info["was_training"] = to_eval_mode(model.network, str(model.info.get("name", "the classifier")))
    model.eval()
    check_outputs(model, num_classes, channels, allow_stochastic)
    return model


def load_weights_file(path: str | Path, trust_pickle: bool = False, key: str | None = None) -> dict[str, Tensor]:
    """The state dict in ``path`` (``torch.save`` or ``.safetensors``), optionally under ``key``."""
    path = Path(path)
    if not path.is_file():
        raise ModelSourceError(f"weights file not found: {path}; set the source's path to the file")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(path))
    else:
        try:
            state = torch.load(path, map_location="cpu", weights_only=not trust_pickle)
        except pickle.UnpicklingError as exc:
            raise ModelSourceError(
                f"{path} holds Python objects besides tensors, which torch refuses to unpickle by default "
                f"({str(exc).splitlines()[0]}). If you trust the file, set `classifier.trust_pickle=true`"
            ) from None
    if key is not None:
        if not isinstance(state, dict) or key not in state:
            keys = list(state)[:10] if isinstance(state, dict) else type(state).__name__
            raise ModelSourceError(f"{path} has no entry {key!r} (top-level entries: {keys}); set `classifier.key`")
        state = state[key]
    if isinstance(state, nn.Module):
        state = state.state_dict()
    if not isinstance(state, dict):
        raise ModelSourceError(f"{path} holds a {type(state).__name__}, not a state dict")
    if key is None and not any(isinstance(v, Tensor) for v in state.values()):
        nested = [k for k, v in state.items() if isinstance(v, dict)]
        raise ModelSourceError(
            f"{path} holds no tensors at the top level; the weights are probably under one of {nested}: set "
            "`classifier.key` (e.g. key=state_dict)"
        )
    return state


def strip_prefix(state: dict[str, Tensor], prefix: str | None) -> dict[str, Tensor]:
    """Remove ``prefix`` (e.g. ``module.`` of DataParallel checkpoints) from every key that has it."""
    if not prefix:
        return state
    return {k[len(prefix):] if k.startswith(prefix) else k: v for k, v in state.items()}


def load_state_dict_checked(network: nn.Module, state: dict[str, Tensor], strict: bool, where: str, fix: str) -> None:
    """``network.load_state_dict(state)`` with every mismatch listed: shapes always, keys when ``strict``."""
    own = network.state_dict()
    shapes = [
        f"{k}: file {tuple(v.shape)} vs network {tuple(own[k].shape)}"
        for k, v in state.items() if k in own and tuple(v.shape) != tuple(own[k].shape)
    ]
    if shapes:
        raise ModelSourceError(
            f"the weights in {where} have other shapes than the network:\n  " + "\n  ".join(shapes[:12])
            + (f"\n  ... ({len(shapes)} in all)" if len(shapes) > 12 else "")
            + f"\nFix: {fix} (a different head size usually means another class count: compare with data.num_classes)"
        )
    result = network.load_state_dict(state, strict=False)
    if strict:
        check_state_dict_keys(result.missing_keys, result.unexpected_keys, where, fix)
    elif result.missing_keys or result.unexpected_keys:
        log.warning(
            "loading %s with strict=false: %d missing and %d unexpected keys ignored",
            where, len(result.missing_keys), len(result.unexpected_keys),
        )
