"""The options every weights-file classifier source shares (``module``, ``timm``, ``torchvision``).

Why one dataclass: the three loaders differ in how they build the network and where its
preprocessing comes from, but take the same dozen options for loading a state dict and wrapping
the network in robustlens' contract. Declared once here, with their defaults and types, the
loaders take them as ``**options`` (:func:`~robustlens.utils.signatures.passes_on` lists them in
each loader's signature, so config validation knows every key) and share the two steps below.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

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


@dataclass(frozen=True)
class SourceOptions:
    """Loading and wrapping options of a weights-file classifier source.

    Args:
        num_classes: the data's class count (``${data.num_classes}``), checked against the outputs.
        mean, std: per-channel normalisation applied inside the model (override a source's metadata).
        input_size: the resolution the network expects (checked on every call); ``None``: the
            source's metadata, else any.
        resize: resize inputs to this size inside the model (only when asked for).
        strict: refuse missing/unexpected state-dict keys (listed in the error).
        key: the entry of the file that holds the state dict (e.g. ``state_dict``).
        prefix: a key prefix to strip (e.g. ``module.`` from DataParallel).
        outputs: ``logits`` | ``probabilities`` | ``log_probabilities``.
        channels: input channels of the probe batch.
        trust_pickle: allow files with pickled Python objects (only for files you trust).
        allow_stochastic: accept outputs that differ between identical calls.
    """

    num_classes: Annotated[int, Field(ge=2)] | None = None
    mean: list[float] | None = None
    std: list[float] | None = None
    input_size: int | list[int] | None = None
    resize: int | list[int] | None = None
    strict: bool = True
    key: str | None = None
    prefix: str | None = None
    outputs: Outputs = "logits"
    channels: Annotated[int, Field(ge=1, le=3)] = 3
    trust_pickle: bool = False
    allow_stochastic: bool = False

    def load_state(self, network: nn.Module, weights_file: str, fix: str) -> None:
        """Load ``weights_file`` into ``network`` (prefix stripped, keys checked; ``fix`` says what to do)."""
        state = strip_prefix(load_weights_file(weights_file, self.trust_pickle, self.key), self.prefix)
        load_state_dict_checked(network, state, self.strict, str(weights_file), fix=fix)

    def wrap(self, network: nn.Module, info: dict[str, Any], metadata: dict[str, Any] | None = None) -> ZooClassifier:
        """``network`` in robustlens' contract, checked; ``metadata``: the source's ``mean``/``std``/``input_size``."""
        metadata = metadata or {}
        mean = self.mean if self.mean is not None else metadata.get("mean")
        std = self.std if self.std is not None else metadata.get("std")
        if (mean is None) != (std is None):
            raise ModelSourceError("give both classifier.mean and classifier.std (or neither)")
        input_size = self.input_size if self.input_size is not None else metadata.get("input_size")
        model = ZooClassifier(
            network, mean, std, as_size(input_size, "input_size"), as_size(self.resize, "resize"), self.outputs,
            info=info,
        )
        return finish(model, self.num_classes, self.channels, self.allow_stochastic)
