"""``classifier=module``: any importable ``nn.Module`` plus a state-dict file.

The network is built by Hydra from ``network._target_`` (your class and its arguments), the
weights are loaded strictly by default (every missing or unexpected key is listed), and the
normalisation your training used goes inside the model (``mean``/``std``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from robustlens.models.classifiers.sources.contract import ZooClassifier
from robustlens.models.classifiers.sources.errors import ModelSourceError
from robustlens.models.classifiers.sources.options import SourceOptions
from robustlens.utils.signatures import passes_on


@passes_on(SourceOptions)
def load_module(
    network: nn.Module,
    weights: str | None = None,
    name: str | None = None,
    **options: Any,
) -> ZooClassifier:
    """Your network with its weights, in robustlens' contract.

    Args:
        network: the network (Hydra builds it from ``network._target_`` and its arguments).
        weights: state-dict file (``torch.save`` or ``.safetensors``); ``None``: the network's own
            initialisation (for tests and sanity checks only).
        name: the label reports show (default: the class name).
        options: :class:`~robustlens.models.classifiers.sources.options.SourceOptions` (normalisation,
            input size, strict loading, key/prefix of the state dict, outputs, checks).
    """
    if not isinstance(network, nn.Module):
        raise ModelSourceError(
            f"classifier.network must build an nn.Module (`network: {{_target_: my_package.MyNet, ...}}`), "
            f"got {type(network).__name__}"
        )
    label = name or type(network).__name__
    source = SourceOptions(**options)
    if weights is not None:
        source.load_state(
            network, str(weights),
            fix="check that classifier.network builds the architecture the file was saved from (its arguments too); "
            "set classifier.prefix=module. for DataParallel checkpoints, or classifier.strict=false to ignore key mismatches",
        )
    info = {"source": "module", "name": label, "architecture": type(network).__name__,
            "weights": str(Path(weights)) if weights else None}
    return source.wrap(network, info)
