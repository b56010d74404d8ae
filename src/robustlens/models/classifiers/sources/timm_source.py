"""``classifier=timm``: a timm model with a local checkpoint or timm's own cached weights.

The model's pretrained config (``timm.get_pretrained_cfg``) gives the input size and the
normalisation timm's data pipeline applies outside the network; robustlens puts it inside.
``checkpoint`` is a state dict (``torch.save`` or ``.safetensors``, e.g. the
``model.safetensors`` of a Hugging Face snapshot); without one, ``pretrained: true`` reads the
weights timm downloaded earlier into the Hugging Face cache, with the hub switched offline
(robustlens never downloads unless ``allow_download: true``).
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Annotated, Any

from pydantic import Field

from robustlens.models.classifiers.sources.checks import (
    finish,
    load_state_dict_checked,
    load_weights_file,
    strip_prefix,
)
from robustlens.models.classifiers.sources.contract import Outputs, ZooClassifier, as_size
from robustlens.models.classifiers.sources.errors import ModelSourceError, missing_extra


def import_timm() -> Any:
    try:
        import timm
    except ImportError:
        raise missing_extra("timm") from None
    return timm


@contextmanager
def hub_offline(offline: bool):
    """Hugging Face hub offline (cache only) inside the block, unless downloads are allowed."""
    saved = os.environ.get("HF_HUB_OFFLINE")
    if offline:
        os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        yield
    finally:
        if offline:
            if saved is None:
                os.environ.pop("HF_HUB_OFFLINE", None)
            else:
                os.environ["HF_HUB_OFFLINE"] = saved


def pretrained_preprocessing(model: Any) -> dict[str, Any]:
    """Input size, mean and std of the model's pretrained config (what timm's transforms use)."""
    cfg = getattr(model, "pretrained_cfg", None) or {}
    return {
        "input_size": list(cfg["input_size"]) if cfg.get("input_size") else None,
        "mean": [float(v) for v in cfg["mean"]] if cfg.get("mean") else None,
        "std": [float(v) for v in cfg["std"]] if cfg.get("std") else None,
        "tag": cfg.get("tag"),
    }


def load_timm(
    name: str,
    checkpoint: str | None = None,
    pretrained: bool = False,
    num_classes: Annotated[int, Field(ge=2)] | None = None,
    mean: list[float] | None = None,
    std: list[float] | None = None,
    input_size: int | list[int] | None = None,
    resize: int | list[int] | None = None,
    strict: bool = True,
    key: str | None = None,
    prefix: str | None = None,
    outputs: Outputs = "logits",
    channels: Annotated[int, Field(ge=1, le=3)] = 3,
    allow_download: bool = False,
    trust_pickle: bool = False,
    allow_stochastic: bool = False,
    model_kwargs: dict[str, Any] | None = None,
) -> ZooClassifier:
    """A timm classifier in robustlens' contract.

    Args:
        name: a timm model name, optionally with its pretrained tag (``resnet18.a1_in1k``).
        checkpoint: state-dict file; ``None`` with ``pretrained: true``: timm's cached weights.
        pretrained: load timm's pretrained weights from the local cache.
        num_classes: the data's class count; the network's head gets this many outputs.
        mean, std, input_size: override the pretrained config's.
        allow_download: let timm download pretrained weights that are not cached.
        resize, strict, key, prefix, outputs, channels, trust_pickle, allow_stochastic: as for
            every source (docs/models-and-data.md).
        model_kwargs: further arguments of ``timm.create_model`` (``drop_rate``, ...).
    """
    timm = import_timm()
    base_name = name.split(".")[0]
    if not timm.is_model(base_name):
        close = timm.list_models(f"*{base_name[:6]}*")[:8]
        raise ModelSourceError(f"timm has no model {name!r}" + (f"; similar names: {', '.join(close)}" if close else ""))
    if checkpoint is None and not pretrained:
        raise ModelSourceError(
            f"no weights for timm model {name}: set classifier.checkpoint=<state-dict file>, or "
            "classifier.pretrained=true to use timm's cached pretrained weights"
        )
    kwargs = dict(model_kwargs or {})
    if num_classes is not None:
        kwargs["num_classes"] = num_classes
    if channels != 3:
        kwargs["in_chans"] = channels
    use_hub = checkpoint is None
    try:
        with hub_offline(not allow_download):
            network = timm.create_model(name, pretrained=use_hub, **kwargs)
    except Exception as exc:  # hub errors have many types; all mean "not available offline"
        if not use_hub:
            raise
        raise ModelSourceError(
            f"timm's pretrained weights of {name} are not in the local cache ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0][:200]}). Download them once where there is network with "
            f"`python -c \"import timm; timm.create_model('{name}', pretrained=True)\"` (they go to the Hugging Face "
            "cache, $HF_HOME), set classifier.checkpoint to a local file, or set classifier.allow_download=true"
        ) from None
    if checkpoint is not None:
        state = strip_prefix(load_weights_file(checkpoint, trust_pickle, key), prefix)
        load_state_dict_checked(
            network, state, strict, checkpoint,
            fix=f"check that the file holds timm's {base_name} weights; set classifier.prefix=module. for "
            "DataParallel checkpoints",
        )
    pre = pretrained_preprocessing(network)
    mean = mean if mean is not None else pre["mean"]
    std = std if std is not None else pre["std"]
    model = ZooClassifier(
        network, mean, std, as_size(input_size if input_size is not None else pre["input_size"], "input_size"),
        as_size(resize, "resize"), outputs,
        info={"source": "timm", "name": name, "architecture": base_name, "weights": checkpoint or f"timm cache ({pre['tag']})"},
    )
    return finish(model, num_classes, channels, allow_stochastic)
