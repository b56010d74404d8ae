"""``ClassifierModule``: one LightningModule for every training mode.

The network and the training mode are injected (built from the ``classifier=`` and
``training=`` config groups), so the module only wires optimisation, validation
metrics and checkpoint contents. Checkpoints carry the job's resolved config under
``checkpoint["robustlens"]`` so that :func:`load_classifier_checkpoint` rebuilds the
exact network from the file alone (the ``evaluate`` task relies on this).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torch import Tensor, nn

from robustlens.metrics.accuracy import Accuracy, ClasswiseAccuracy
from robustlens.metrics.base import ProbeOutput
from robustlens.training.modes import Standard, TrainingMode

CHECKPOINT_KEY = "robustlens"


class ClassifierModule(L.LightningModule):
    """Trains ``net`` with ``training`` (a :class:`TrainingMode`).

    Args:
        net: classifier mapping [0,1] images to logits (owns its normalisation).
        training: the training mode (standard, noise, PGD-AT, TRADES).
        optimizer: a partial optimizer, called with the parameters.
        scheduler: an optional partial LR scheduler, called with the optimizer.
        num_classes: for the per-class validation accuracy.
        run_config: the resolved job config, stored in every checkpoint.

    Logged names are the evaluation's (``docs/metrics.md``): ``train/accuracy``, ``val/accuracy``,
    ``val/classwise_accuracy/<c>``; validation uses the evaluation's own count-based metrics,
    so the numbers are exact rates, DDP-synced the same way.
    """

    def __init__(
        self,
        net: nn.Module,
        training: TrainingMode | None = None,
        optimizer: Callable[..., torch.optim.Optimizer] | None = None,
        scheduler: Callable[..., Any] | None = None,
        num_classes: int = 10,
        class_names: list[str] | None = None,
        run_config: dict | None = None,
    ):
        super().__init__()
        self.net = net
        self.training_mode = training or Standard()
        self.optimizer_factory = optimizer or (lambda params: torch.optim.Adam(params, lr=1e-3))
        self.scheduler_factory = scheduler
        self.num_classes = num_classes
        self.class_names = class_names or [str(c) for c in range(num_classes)]
        self.run_config = run_config or {}
        self.val_accuracy = Accuracy(num_classes)
        self.val_classwise = ClasswiseAccuracy(num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)

    def training_step(self, batch: tuple[Tensor, Tensor, Tensor], batch_idx: int) -> Tensor:
        x, y, _ = batch
        loss, logits = self.training_mode.loss(self.net, x, y, step=self.global_step)
        acc = (logits.argmax(dim=1) == y).float().mean()
        self.log("train/loss", loss, prog_bar=True, on_step=False, on_epoch=True, sync_dist=True)
        self.log("train/accuracy", acc, prog_bar=True, on_step=False, on_epoch=True, sync_dist=True)
        return loss

    def validation_step(self, batch: tuple[Tensor, Tensor, Tensor], batch_idx: int) -> None:
        x, y, index = batch
        logits = self.net(x)
        self.log("val/loss", nn.functional.cross_entropy(logits, y), on_epoch=True, sync_dist=True)
        output = ProbeOutput(index=index, labels=y, preds=logits.argmax(dim=1))
        self.val_accuracy.update(output)
        self.val_classwise.update(output)

    def on_validation_epoch_end(self) -> None:
        # the metric states are summed over processes by torchmetrics: the values are already global
        self.log("val/accuracy", self.val_accuracy.compute()["accuracy"], prog_bar=True)
        for c, value in enumerate(self.val_classwise.compute()["classwise_accuracy"]):
            self.log(f"val/classwise_accuracy/{c}", value)
        self.val_accuracy.reset()
        self.val_classwise.reset()

    def configure_optimizers(self) -> Any:
        optimizer = self.optimizer_factory(self.parameters())
        if self.scheduler_factory is None:
            return optimizer
        scheduler = self.scheduler_factory(optimizer)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint[CHECKPOINT_KEY] = {
            "config": self.run_config,
            "class_names": self.class_names,
            "num_classes": self.num_classes,
            "training": self.training_mode.describe(),
        }


def load_classifier_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> nn.Module:
    """Rebuild the trained network from a robustlens checkpoint alone (eval mode).

    Raises:
        FileNotFoundError: the checkpoint does not exist (message names the path).
        ValueError: the file is not a robustlens classifier checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"classifier checkpoint not found: {path}. Pass the `checkpoints/last.ckpt` (or best) "
            "file of a `robustlens train` run as `ckpt_path=...`."
        )
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as exc:
        raise ValueError(f"cannot read checkpoint {path}: {exc}. Is the file complete?") from exc
    meta = checkpoint.get(CHECKPOINT_KEY) if isinstance(checkpoint, dict) else None
    if not meta or "classifier" not in meta.get("config", {}):
        raise ValueError(
            f"{path} is not a robustlens classifier checkpoint (no '{CHECKPOINT_KEY}' config); "
            "use `classifier=<config>` to evaluate other models."
        )
    config = OmegaConf.create(meta["config"])
    net = instantiate(config.classifier, num_classes=meta["num_classes"]) if "num_classes" in _params(
        config.classifier
    ) else instantiate(config.classifier)
    state = {k.removeprefix("net."): v for k, v in checkpoint["state_dict"].items() if k.startswith("net.")}
    net.load_state_dict(state)
    net.eval()
    net.robustlens_meta = meta  # type: ignore[attr-defined]
    return net


def _params(node: Any) -> set[str]:
    import inspect

    from hydra.utils import get_object

    try:
        return set(inspect.signature(get_object(node._target_)).parameters)
    except Exception:
        return set()
