"""``classifier=torchvision``: a torchvision architecture with a weights file.

Normalisation and input size come from the weights' own metadata (``weights: IMAGENET1K_V1``
gives ``mean``, ``std`` and the 224×224 crop of that release), as torchvision's
``weights.transforms()`` would apply them outside the network. The weights file is a state
dict saved by ``torch.save(model.state_dict())``; ``weights_file: null`` reads the file torchvision
itself downloaded into its cache (``$TORCH_HOME/hub/checkpoints/``), never downloading.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from robustlens.models.classifiers.sources.contract import ZooClassifier
from robustlens.models.classifiers.sources.errors import ModelSourceError
from robustlens.models.classifiers.sources.options import SourceOptions
from robustlens.utils.signatures import passes_on


def weights_metadata(name: str, weights: str | None) -> tuple[Any, dict[str, Any]]:
    """The torchvision ``Weights`` enum member and its preprocessing (mean, std, input size)."""
    import torchvision.models as tvm

    if weights is None:
        return None, {}
    try:
        enum = tvm.get_model_weights(name)
    except (ValueError, KeyError):
        raise ModelSourceError(f"torchvision has no weights for {name!r}") from None
    try:
        member = enum[weights] if weights != "DEFAULT" else enum.DEFAULT
    except KeyError:
        raise ModelSourceError(
            f"{name} has no weights {weights!r}; torchvision's are: {', '.join(m.name for m in enum)}"
        ) from None
    transforms = member.transforms()
    meta = {
        "mean": [float(v) for v in transforms.mean],
        "std": [float(v) for v in transforms.std],
        "input_size": list(transforms.crop_size) * (2 if len(transforms.crop_size) == 1 else 1),
        "num_classes": len(member.meta.get("categories") or []) or None,
        "url": member.url,
    }
    return member, meta


@passes_on(SourceOptions)
def load_torchvision(
    name: str,
    weights_file: str | None = None,
    weights: str | None = "DEFAULT",
    model_kwargs: dict[str, Any] | None = None,
    **options: Any,
) -> ZooClassifier:
    """A torchvision classifier in robustlens' contract.

    Args:
        name: the architecture (``torchvision.models.list_models()``: ``resnet18``, ``vit_b_16``, ...).
        weights_file: the state dict; ``None``: torchvision's cached download of ``weights``.
        weights: the weights release whose metadata gives normalisation and input size
            (``IMAGENET1K_V1``, ``DEFAULT``, ...); ``None``: give ``mean``/``std``/``input_size`` yourself.
        model_kwargs: further arguments of the torchvision builder.
        options: :class:`~robustlens.models.classifiers.sources.options.SourceOptions`; ``num_classes``
            also sizes the network, ``mean``/``std``/``input_size`` override the weights' metadata.
    """
    import torchvision.models as tvm

    if name not in tvm.list_models():
        raise ModelSourceError(f"torchvision has no model {name!r}; see torchvision.models.list_models()")
    source = SourceOptions(**options)
    member, meta = weights_metadata(name, weights)
    if weights_file is None:
        if member is None:
            raise ModelSourceError("set classifier.weights_file (or classifier.weights for torchvision's cached download)")
        cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(meta["url"]).name
        if not cached.is_file():
            raise ModelSourceError(
                f"torchvision's {name} {member.name} weights are not in its cache ({cached}) and robustlens never "
                f"downloads; fetch them once where there is network with `python -c \"import torchvision; "
                f"torchvision.models.get_model('{name}', weights='{member.name}')\"` and copy the file there, or set "
                "classifier.weights_file"
            )
        weights_file = str(cached)
    classes = source.num_classes or meta.get("num_classes") or 1000
    network = tvm.get_model(name, weights=None, num_classes=classes, **(model_kwargs or {}))
    source.load_state(
        network, weights_file,
        fix=f"check that the file holds torchvision's {name} weights (model_kwargs too); set classifier.prefix=module. "
        "for DataParallel checkpoints",
    )
    if (source.mean if source.mean is not None else meta.get("mean")) is None:
        raise ModelSourceError(
            "no normalisation known: set classifier.weights to the release the file comes from (its metadata gives "
            "mean/std), or classifier.mean and classifier.std"
        )
    info = {"source": "torchvision", "name": name, "architecture": name, "weights": weights_file,
            "weights_release": member.name if member is not None else None}
    return source.wrap(network, info, metadata=meta)
