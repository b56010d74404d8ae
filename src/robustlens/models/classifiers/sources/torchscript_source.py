"""``classifier=torchscript``: any scripted or traced classifier file (``torch.jit.save``).

A TorchScript file carries its code and weights but not what its author's pipeline did around
it, so the config declares it: the input size the network expects, the normalisation it was
trained with (``null`` when the script normalises itself) and, optionally, its class names
(checked against the output size).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import torch
from pydantic import Field

from robustlens.models.classifiers.sources.checks import finish
from robustlens.models.classifiers.sources.contract import Outputs, ZooClassifier, as_size
from robustlens.models.classifiers.sources.errors import ModelSourceError


def load_torchscript(
    path: str,
    input_size: int | list[int] | None,
    mean: list[float] | None = None,
    std: list[float] | None = None,
    class_names: list[str] | None = None,
    num_classes: Annotated[int, Field(ge=2)] | None = None,
    resize: int | list[int] | None = None,
    outputs: Outputs = "logits",
    name: str | None = None,
    channels: Annotated[int, Field(ge=1, le=3)] = 3,
    allow_stochastic: bool = False,
) -> ZooClassifier:
    """A TorchScript classifier in robustlens' contract.

    Args:
        path: the ``.pt``/``.ts`` file written by ``torch.jit.save``.
        input_size: the resolution the network expects (int or ``[h, w]``); ``null``: any.
        mean, std: the normalisation applied before the network; ``null``: none (the script
            normalises itself, or was trained on [0,1] inputs).
        class_names: the network's classes in output order; their number must match its outputs.
        num_classes: the data's class count (``${data.num_classes}``), checked against the outputs.
        resize, outputs, name, channels, allow_stochastic: as for every source
            (docs/models-and-data.md).
    """
    file = Path(path)
    if not file.is_file():
        raise ModelSourceError(f"TorchScript file not found: {file}; set `classifier.path` to the file written by torch.jit.save")
    try:
        network = torch.jit.load(str(file), map_location="cpu")
    except RuntimeError as exc:
        raise ModelSourceError(
            f"{file} is not a TorchScript file ({str(exc).splitlines()[0]}); for a state dict use classifier=module, "
            "for a whole pickled model save it with torch.jit.script/trace first"
        ) from None
    if (mean is None) != (std is None):
        raise ModelSourceError("give both classifier.mean and classifier.std (or neither)")
    model = ZooClassifier(
        network, mean, std, as_size(input_size, "input_size"), as_size(resize, "resize"), outputs,
        info={"source": "torchscript", "name": name or file.stem, "architecture": getattr(network, "original_name", "TorchScript"),
              "weights": str(file), "class_names": list(class_names) if class_names is not None else None},
    )
    model = finish(model, num_classes, channels, allow_stochastic, flag_train_mode=True)
    if class_names is not None:
        with torch.no_grad():
            width = model(torch.rand(1, channels, *(model.input_size or (32, 32)))).shape[1]
        if len(class_names) != width:
            raise ModelSourceError(
                f"classifier.class_names lists {len(class_names)} classes but {file.name} outputs {width}; "
                "give one name per output, in output order"
            )
    return model
