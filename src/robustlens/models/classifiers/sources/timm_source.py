"""``classifier=timm``: a timm model with a local checkpoint or timm's own cached weights.

The model's pretrained config (``timm.get_pretrained_cfg``) gives the input size and the
normalisation timm's data pipeline applies outside the network; robustlens puts it inside.
``checkpoint`` is a state dict (``torch.save`` or ``.safetensors``, e.g. the
``model.safetensors`` of a Hugging Face snapshot); without one, ``pretrained: true`` reads the
weights timm downloaded earlier into the Hugging Face cache, with the hub switched offline
(robustlens never downloads unless ``allow_download: true``).
"""

from __future__ import annotations

from typing import Any

from robustlens.models.classifiers.sources.contract import ZooClassifier
from robustlens.models.classifiers.sources.errors import ModelSourceError, missing_extra
from robustlens.models.classifiers.sources.options import SourceOptions
from robustlens.utils.environment import environ_set
from robustlens.utils.signatures import passes_on


def import_timm() -> Any:
    try:
        import timm
    except ImportError:
        raise missing_extra("timm") from None
    return timm


def pretrained_preprocessing(model: Any) -> dict[str, Any]:
    """Input size, mean and std of the model's pretrained config (what timm's transforms use)."""
    cfg = getattr(model, "pretrained_cfg", None) or {}
    return {
        "input_size": list(cfg["input_size"]) if cfg.get("input_size") else None,
        "mean": [float(v) for v in cfg["mean"]] if cfg.get("mean") else None,
        "std": [float(v) for v in cfg["std"]] if cfg.get("std") else None,
        "tag": cfg.get("tag"),
    }


@passes_on(SourceOptions)
def load_timm(
    name: str,
    checkpoint: str | None = None,
    pretrained: bool = False,
    allow_download: bool = False,
    model_kwargs: dict[str, Any] | None = None,
    **options: Any,
) -> ZooClassifier:
    """A timm classifier in robustlens' contract.

    Args:
        name: a timm model name, optionally with its pretrained tag (``resnet18.a1_in1k``).
        checkpoint: state-dict file; ``None`` with ``pretrained: true``: timm's cached weights.
        pretrained: load timm's pretrained weights from the local cache.
        allow_download: let timm download pretrained weights that are not cached.
        model_kwargs: further arguments of ``timm.create_model`` (``drop_rate``, ...).
        options: :class:`~robustlens.models.classifiers.sources.options.SourceOptions`; ``num_classes``
            also sizes the network's head, ``mean``/``std``/``input_size`` override the pretrained config's.
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
    source = SourceOptions(**options)
    kwargs = dict(model_kwargs or {})
    if source.num_classes is not None:
        kwargs["num_classes"] = source.num_classes
    if source.channels != 3:
        kwargs["in_chans"] = source.channels
    use_hub = checkpoint is None
    try:
        with environ_set("HF_HUB_OFFLINE", "1", active=not allow_download):  # cache only
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
        source.load_state(
            network, checkpoint,
            fix=f"check that the file holds timm's {base_name} weights; set classifier.prefix=module. for "
            "DataParallel checkpoints",
        )
    pre = pretrained_preprocessing(network)
    info = {"source": "timm", "name": name, "architecture": base_name, "weights": checkpoint or f"timm cache ({pre['tag']})"}
    return source.wrap(network, info, metadata=pre)
