"""Sample-quality checks: generated-sample accuracy and classifier-feature FID/KID."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import Tensor

from robustlens.models.generators.base import Generator
from robustlens.models.generators.quality import (
    PenultimateFeatures,
    class_conditional_samples,
    classifier_feature_fid,
    classifier_feature_kid,
    generated_sample_accuracy,
)


class _ReplayGenerator(Generator):
    """A 'generator' that returns real labelled images: the k-th request for class c gets the
    k-th real image of class c (codes are ignored)."""

    def __init__(self, x: Tensor, y: Tensor):
        super().__init__()
        self.latent_dim, self.num_classes = 1, int(y.max()) + 1
        self.by_class = [x[y == c] for c in range(self.num_classes)]
        self.served = [0] * self.num_classes
        self.dummy = torch.nn.Parameter(torch.zeros(1))  # gives the generator a device

    def decode(self, z: Tensor, y: Tensor) -> Tensor:
        out = []
        for c in y.tolist():
            out.append(self.by_class[c][self.served[c]])
            self.served[c] += 1
        return torch.stack(out)


def test_accuracy_on_replayed_real_images_equals_the_classifiers_accuracy(digits28, paper_a_plain_classifier):
    x, y = digits28
    n = 40
    gen = _ReplayGenerator(x, y)
    overall, per_class = generated_sample_accuracy(
        gen, paper_a_plain_classifier, n_per_class=n, batch_size=64
    )
    # the same images, classified directly
    served = torch.cat([x[y == c][:n] for c in range(10)])
    labels = torch.arange(10).repeat_interleave(n)
    with torch.no_grad():
        correct = paper_a_plain_classifier(served).argmax(dim=1).eq(labels).float()
    assert overall.item() == pytest.approx(correct.mean().item())
    assert torch.allclose(per_class, correct.view(10, n).mean(dim=1))
    assert 0 < overall < 1  # upsampled 8×8 digits are hard for an MNIST model: a non-trivial check


def test_samples_are_class_major_and_repeatable() -> None:
    torch.manual_seed(0)
    from robustlens.models.generators.cvae import ConditionalVAE

    gen = ConditionalVAE(latent_dim=3, num_classes=4, image_shape=(1, 4, 4), hidden=(8,))
    a = list(class_conditional_samples(gen, n_per_class=5, seed=7, batch_size=6))
    b = list(class_conditional_samples(gen, n_per_class=5, seed=7, batch_size=20))
    assert [len(x) for x, _ in a] == [6, 6, 6, 2]
    assert torch.equal(torch.cat([y for _, y in a]), torch.arange(4).repeat_interleave(5))
    assert torch.allclose(torch.cat([x for x, _ in a]), b[0][0], atol=1e-6)


def test_penultimate_features_are_the_last_linear_layers_input(paper_a_plain_classifier, digits28) -> None:
    features = PenultimateFeatures(paper_a_plain_classifier)
    assert features.layer == "model.5" and features.num_features == 512
    x = digits28[0][:8]
    net = paper_a_plain_classifier
    with torch.no_grad():
        expected = net.model[:5](net.normalize(x))  # everything before the final Linear
    assert torch.allclose(features(x), expected)
    with pytest.raises(ValueError, match="no layer 'head'"):
        PenultimateFeatures(paper_a_plain_classifier, layer="head")


def _psd_sqrt(m: np.ndarray) -> np.ndarray:
    w, v = torch.linalg.eigh(torch.from_numpy(m))
    return ((v * w.clamp(min=0).sqrt()) @ v.T).numpy()


def _fid_by_hand(f1: np.ndarray, f2: np.ndarray) -> float:
    """‖μ₁−μ₂‖² + Tr(Σ₁ + Σ₂ − 2(Σ₁Σ₂)^½) (Heusel et al. 2017).

    The trace term is computed another way than torchmetrics does (eigenvalues of Σ₁Σ₂):
    Tr((Σ₁Σ₂)^½) = Tr((Σ₁^½ Σ₂ Σ₁^½)^½), both square roots of symmetric PSD matrices by eigh.
    """
    mu1, mu2 = f1.mean(0), f2.mean(0)
    s1, s2 = np.cov(f1, rowvar=False), np.cov(f2, rowvar=False)
    r1 = _psd_sqrt(s1)
    trace_sqrt = np.trace(_psd_sqrt(r1 @ s2 @ r1))
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2) - 2 * trace_sqrt)


def test_classifier_feature_fid(paper_a_plain_classifier, digits28) -> None:
    x, y = digits28
    features = PenultimateFeatures(paper_a_plain_classifier)
    real = x[:600]
    # a set against itself: 0 up to the matrix square root's round-off (measured ~1e-10; 0s vs 1s: 1155)
    same = classifier_feature_fid(features, real.split(200), real.split(200)).item()
    # against a different set (all 0s vs all 1s): must match the closed form on the same features
    zeros, ones = x[y == 0], x[y == 1]
    fid = classifier_feature_fid(features, [zeros], [ones]).item()
    expected = _fid_by_hand(features(zeros).double().numpy(), features(ones).double().numpy())
    assert fid == pytest.approx(expected, rel=1e-3)
    assert abs(same) < 1e-3 * fid


def test_classifier_feature_kid(paper_a_plain_classifier, digits28) -> None:
    x, y = digits28
    features = PenultimateFeatures(paper_a_plain_classifier)
    torch.manual_seed(0)
    same_mean, _ = classifier_feature_kid(features, [x[:300]], [x[:300]], subset_size=100, subsets=10)
    diff_mean, _ = classifier_feature_kid(features, [x[y == 0]], [x[y == 1]], subset_size=100, subsets=10)
    # unbiased MMD² of two draws from one set fluctuates around 0 (measured −0.19 ± 0.19);
    # different digits are far apart (measured 19.8)
    assert abs(same_mean.item()) < 0.05 * diff_mean.item()
