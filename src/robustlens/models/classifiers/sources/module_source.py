"""``classifier=module``: any importable ``nn.Module`` plus a state-dict file.

The network is built by Hydra from ``network._target_`` (your class and its arguments), the
weights are loaded strictly by default (every missing or unexpected key is listed), and the
normalisation your training used goes inside the model (``mean``/``std``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field
from torch import nn

from robustlens.models.classifiers.sources.checks import (
    finish,
    load_state_dict_checked,
    load_weights_file,
    strip_prefix,
)
from robustlens.models.classifiers.sources.contract import Outputs, ZooClassifier, as_size
from robustlens.models.classifiers.sources.errors import ModelSourceError


def load_module(
    network: nn.Module,
    weights: str | None = None,
    num_classes: Annotated[int, Field(ge=2)] | None = None,
    mean: list[float] | None = None,
    std: list[float] | None = None,
    input_size: int | list[int] | None = None,
    resize: int | list[int] | None = None,
    strict: bool = True,
    key: str | None = None,
    prefix: str | None = None,
    outputs: Outputs = "logits",
    name: str | None = None,
    channels: Annotated[int, Field(ge=1, le=3)] = 3,
    trust_pickle: bool = False,
    allow_stochastic: bool = False,
) -> ZooClassifier:
    """Your network with its weights, in robustlens' contract.

    Args:
        network: the network (Hydra builds it from ``network._target_`` and its arguments).
        weights: state-dict file (``torch.save`` or ``.safetensors``); ``None``: the network's own
            initialisation (for tests and sanity checks only).
        num_classes: the data's class count (``${data.num_classes}``), checked against the outputs.
        mean, std: per-channel normalisation applied inside the model; ``None``: none.
        input_size: the resolution the network expects (checked on every call); ``None``: any.
        resize: resize inputs to this size inside the model.
        strict: refuse missing/unexpected keys (listed in the error).
        key: the entry of the file that holds the state dict (e.g. ``state_dict``).
        prefix: a key prefix to strip (e.g. ``module.`` from DataParallel).
        outputs: ``logits`` | ``probabilities`` | ``log_probabilities``.
        name: the label reports show (default: the class name).
        channels: input channels of the probe batch.
        trust_pickle: allow files with pickled Python objects (only for files you trust).
        allow_stochastic: accept outputs that differ between identical calls.
    """
    if not isinstance(network, nn.Module):
        raise ModelSourceError(
            f"classifier.network must build an nn.Module (`network: {{_target_: my_package.MyNet, ...}}`), "
            f"got {type(network).__name__}"
        )
    label = name or type(network).__name__
    if weights is not None:
        state = strip_prefix(load_weights_file(weights, trust_pickle, key), prefix)
        load_state_dict_checked(
            network, state, strict, str(weights),
            fix="check that classifier.network builds the architecture the file was saved from (its arguments too); "
            "set classifier.prefix=module. for DataParallel checkpoints, or classifier.strict=false to ignore key mismatches",
        )
    if (mean is None and std is not None) or (std is None and mean is not None):
        raise ModelSourceError("give both classifier.mean and classifier.std (or neither)")
    model = ZooClassifier(
        network, mean, std, as_size(input_size, "input_size"), as_size(resize, "resize"), outputs,
        info={"source": "module", "name": label, "architecture": type(network).__name__,
              "weights": str(Path(weights)) if weights else None},
    )
    return finish(model, num_classes, channels, allow_stochastic)


