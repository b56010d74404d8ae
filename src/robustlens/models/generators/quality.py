"""Is a generator good enough to measure robustness with? Sample-quality checks that work offline.

Paper A's latent metrics are only meaningful if ``G(l, y)`` looks like class ``y``. Two checks:

* :func:`generated_sample_accuracy` — a fixed reference classifier's accuracy on class-
  conditional samples (how recognisable the samples are; LGA of the reference classifier).
* :func:`classifier_feature_fid` / :func:`classifier_feature_kid` — **classifier-feature
  FID/KID**: torchmetrics' Fréchet/kernel distances computed on the reference classifier's
  penultimate features instead of Inception-v3 pool features. Inception weights need a
  download (impossible here) and Inception features of 28×28 digits are questionable anyway.
  The numbers are **not comparable to published (Inception) FID/KID values**; compare them only
  between generators measured with the same reference classifier.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor, nn
from torchmetrics.classification import MulticlassAccuracy
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.kid import KernelInceptionDistance

from robustlens.models.generators.base import Generator


@torch.no_grad()
def class_conditional_samples(
    generator: Generator, n_per_class: int, seed: int = 0, batch_size: int = 500
) -> Iterable[tuple[Tensor, Tensor]]:
    """Yield ``(images, labels)`` batches: ``n_per_class`` samples of every class, codes from ``seed``."""
    if n_per_class < 1:
        raise ValueError(f"n_per_class must be >= 1, got {n_per_class}")
    device = next(generator.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    y_all = torch.arange(generator.num_classes).repeat_interleave(n_per_class)
    z_all = torch.randn(len(y_all), generator.latent_dim, generator=gen)
    for z, y in zip(z_all.split(batch_size), y_all.split(batch_size), strict=True):
        y = y.to(device)
        yield generator.decode(z.to(device), y), y


@torch.no_grad()
def generated_sample_accuracy(
    generator: Generator, classifier: nn.Module, n_per_class: int = 100, seed: int = 0, batch_size: int = 500
) -> tuple[Tensor, Tensor]:
    """``(overall, per_class)`` accuracy of ``classifier`` on ``n_per_class`` samples per class.

    Equal numbers per class, so ``overall`` is the mean of ``per_class``.
    """
    classifier_was_training, gen_was_training = classifier.training, generator.training
    classifier.eval()
    generator.eval()
    try:
        per_class = MulticlassAccuracy(num_classes=generator.num_classes, average=None)
        overall = MulticlassAccuracy(num_classes=generator.num_classes, average="micro")
        for x, y in class_conditional_samples(generator, n_per_class, seed, batch_size):
            preds = classifier(x).argmax(dim=1).cpu()
            per_class.update(preds, y.cpu())
            overall.update(preds, y.cpu())
        return overall.compute(), per_class.compute()
    finally:
        classifier.train(classifier_was_training)
        generator.train(gen_was_training)


class PenultimateFeatures(nn.Module):
    """A classifier's penultimate features: the input of its last ``nn.Linear`` (or of ``layer``).

    Used as the ``feature`` module of torchmetrics' FID/KID. Why the input of the final
    linear layer: it is the representation the classifier separates classes with, and needs
    no knowledge of the architecture. The classifier is frozen and kept in eval mode.

    Args:
        classifier: a model mapping [0,1] images to logits.
        layer: name (as in ``named_modules``) of the layer whose *input* is the feature;
            default: the last ``nn.Linear``.
    """

    def __init__(self, classifier: nn.Module, layer: str | None = None):
        super().__init__()
        self.classifier = classifier.eval()
        for p in self.classifier.parameters():
            p.requires_grad_(False)
        modules = dict(classifier.named_modules())
        if layer is None:
            linears = [name for name, m in modules.items() if isinstance(m, nn.Linear)]
            if not linears:
                raise ValueError("the classifier has no nn.Linear layer: name the feature layer with layer=")
            layer = linears[-1]
        if layer not in modules:
            names = ", ".join(n for n in modules if n)
            raise ValueError(f"no layer {layer!r} in the classifier; its layers: {names}")
        self.layer = layer
        target = modules[layer]
        self.num_features = target.in_features if isinstance(target, nn.Linear) else None
        self._captured: Tensor | None = None
        target.register_forward_hook(self._capture)

    def _capture(self, module: nn.Module, inputs: tuple[Tensor, ...], output: Tensor) -> None:
        self._captured = inputs[0]

    def train(self, mode: bool = True) -> PenultimateFeatures:
        # torchmetrics may call .train(); the reference classifier must stay deterministic
        super().train(mode)
        self.classifier.eval()
        return self

    @torch.no_grad()
    def forward(self, x: Tensor) -> Tensor:
        self._captured = None
        self.classifier(x)
        if self._captured is None:
            raise RuntimeError(f"layer {self.layer!r} was not called in the classifier's forward pass")
        return self._captured.flatten(1)


def _feed(metric, real: Iterable[Tensor], fake: Iterable[Tensor]) -> None:
    for x in real:
        metric.update(x, real=True)
    for x in fake:
        metric.update(x, real=False)


def classifier_feature_fid(
    features: PenultimateFeatures, real: Iterable[Tensor], fake: Iterable[Tensor]
) -> Tensor:
    """Classifier-feature FID between image batches ``real`` and ``fake`` (not Inception FID)."""
    if features.num_features is None:
        raise ValueError("feature layer size unknown: use a nn.Linear feature layer")
    metric = FrechetInceptionDistance(feature=features, reset_real_features=True)
    _feed(metric, real, fake)
    return metric.compute()


def classifier_feature_kid(
    features: PenultimateFeatures, real: Iterable[Tensor], fake: Iterable[Tensor], subset_size: int = 100,
    subsets: int = 20,
) -> tuple[Tensor, Tensor]:
    """Classifier-feature KID ``(mean, std)`` over random subsets (not Inception KID).

    The subsets are drawn from torch's global RNG (torchmetrics does so): seed it to repeat.
    """
    metric = KernelInceptionDistance(feature=features, subset_size=subset_size, subsets=subsets)
    _feed(metric, real, fake)
    return metric.compute()
