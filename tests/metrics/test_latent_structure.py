"""Penultimate-layer features and latent class structure against hand-computed cases."""

from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest
import torch
from torch import nn

from robustlens.metrics.base import ProbeOutput
from robustlens.metrics.functional import DuplicateSamplesWarning
from robustlens.metrics.latent_structure import (
    FeatureExtractor,
    LatentStructure,
    embed_2d,
    paired_embedding,
    paired_embedding_from_metrics,
    select_per_class,
)


def tiny_net() -> nn.Sequential:
    net = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 2))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0, 0.0], [0.0, -1.0], [1.0, 1.0]]))
        net[0].bias.copy_(torch.tensor([0.0, 0.5, -1.0]))
        net[2].weight.copy_(torch.ones(2, 3))
        net[2].bias.zero_()
    return net


class IdentityFeatures(nn.Module):
    """Features = inputs, so the latent statistics can be computed by hand."""

    penultimate_layer = "body"

    def __init__(self, num_classes: int):
        super().__init__()
        self.body = nn.Identity()
        self.head = nn.Linear(2, num_classes)

    def forward(self, x):
        return self.head(self.body(x))


def test_feature_hook_equals_manual_computation():
    net = tiny_net()
    x = torch.tensor([[1.0, 2.0], [-1.0, 0.25]])
    # manual: relu(W x + b)
    expected = torch.tensor([[1.0, 0.0, 2.0], [0.0, 0.25, 0.0]])
    assert torch.allclose(FeatureExtractor(net, "1")(x), expected)
    # the input of the final layer is the same representation
    assert torch.allclose(FeatureExtractor(net, "2", capture="input")(x), expected)
    assert not net[1]._forward_hooks, "the hook must not outlive the call"


def test_features_in_eval_mode_and_model_left_untouched():
    net = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3), nn.Linear(3, 2)).train()
    x = torch.randn(8, 2, generator=torch.Generator().manual_seed(0))
    stats = net[1].running_mean.clone()
    feats = FeatureExtractor(net, "1")(x)
    with torch.no_grad():
        expected = net.eval()[1](net[0](x))
    assert torch.allclose(feats, expected)
    net.train()
    FeatureExtractor(net, "1")(x)
    assert net.training and torch.equal(net[1].running_mean, stats)


def test_penultimate_layer_attribute_name_or_module():
    net = tiny_net()
    net.penultimate_layer = "1"
    x = torch.tensor([[1.0, 2.0]])
    assert torch.allclose(FeatureExtractor(net)(x), torch.tensor([[1.0, 0.0, 2.0]]))
    model = IdentityFeatures(3)
    model.penultimate_layer = model.body  # a module works too
    assert FeatureExtractor(model).layer == "body"


def test_wrong_layer_name_lists_available_modules():
    with pytest.raises(ValueError, match=r"no module named 'fc'.*available modules: 0, 1, 2"):
        FeatureExtractor(tiny_net(), "fc")
    with pytest.raises(ValueError, match="penultimate_layer"):
        FeatureExtractor(tiny_net())


def feed(metric: LatentStructure, points, labels, index=None) -> None:
    x = torch.tensor(points, dtype=torch.float)
    labels = torch.tensor(labels)
    index = torch.arange(len(labels)) if index is None else torch.tensor(index)
    metric.update(ProbeOutput(index=index, labels=labels, preds=labels, inputs=x))


def test_centroids_compactness_separation_hand_computed():
    metric = LatentStructure(num_classes=4)
    metric.set_model(IdentityFeatures(4))
    # class 0 centroid (1,0), class 1 centroid (10,1), class 2 a single point (0,10), class 3 absent
    feed(metric, [[0, 0], [2, 0], [10, 0], [10, 2], [0, 10]], [0, 0, 1, 1, 2])
    res = metric.compute()
    d01, d02, d12 = math.sqrt(82), math.sqrt(101), math.sqrt(181)
    dist = res["centroid_distance"]
    np.testing.assert_allclose(dist[:3, :3].numpy(), [[0, d01, d02], [d01, 0, d12], [d02, d12, 0]], rtol=1e-6)
    assert torch.isnan(dist[3]).all() and torch.isnan(dist[:, 3]).all()
    assert res["compactness"][:3].tolist() == pytest.approx([1.0, 1.0, 0.0])
    assert res["separation"][:3].tolist() == pytest.approx([d01, d01, d02], rel=1e-6)
    assert math.isnan(res["compactness"][3].item()) and math.isnan(res["separation"][3].item())
    assert res["nearest_centroid_accuracy"].item() == 1.0
    assert res["latent_count"].tolist() == [2, 2, 1, 0]


def test_nearest_centroid_and_silhouette_hand_computed():
    metric = LatentStructure(num_classes=3)
    metric.set_model(IdentityFeatures(3))
    # class 0: (0,0),(0,0),(6,0) -> centroid (2,0); class 1: (8,0),(8,0) -> centroid (8,0)
    # (6,0) is 4 from its own centroid and 2 from class 1's -> assigned to class 1
    feed(metric, [[0, 0], [0, 0], [6, 0], [8, 0], [8, 0]], [0, 0, 0, 1, 1])
    res = metric.compute()
    assert res["nearest_centroid_accuracy"].item() == pytest.approx(4 / 5)
    m = res["nearest_centroid_matrix"]
    np.testing.assert_allclose(m[:2].numpy(), [[2 / 3, 1 / 3, 0], [0, 1, 0]], rtol=1e-6)
    assert torch.isnan(m[2]).all()
    assert res["compactness"][:2].tolist() == pytest.approx([8 / 3, 0.0])
    # silhouette s = (b - a) / max(a, b):
    # (0,0): a=3, b=8 -> 5/8; (6,0): a=6, b=2 -> -2/3; (8,0): a=0, b=6 -> 1
    assert res["classwise_silhouette"][:2].tolist() == pytest.approx([(5 / 8 + 5 / 8 - 2 / 3) / 3, 1.0])
    assert math.isnan(res["classwise_silhouette"][2].item())
    assert res["silhouette"].item() == pytest.approx((5 / 8 + 5 / 8 - 2 / 3 + 2) / 5)


def test_cap_keeps_smallest_indices_per_class_and_drops_duplicates():
    labels = torch.tensor([1, 0, 1, 0, 1, 0, 1])
    index = torch.tensor([9, 8, 3, 5, 1, 5, 7])  # index 5 appears twice
    kept = select_per_class(labels, index, cap=2)
    assert index[kept].tolist() == [1, 3, 5, 8]
    with pytest.warns(DuplicateSamplesWarning, match="LatentStructure: 1 samples were evaluated twice"):
        select_per_class(labels, index, cap=2, owner="LatentStructure")

    metric = LatentStructure(num_classes=2, max_samples=2)
    metric.set_model(IdentityFeatures(2))
    points = [[float(i), 0.0] for i in index.tolist()]
    feed(metric, points[:4], labels[:4].tolist(), index[:4].tolist())
    with pytest.warns(DuplicateSamplesWarning):
        feed(metric, points[4:], labels[4:].tolist(), index[4:].tolist())
    metric.compute()
    assert metric.last_features["index"].tolist() == [1, 3, 5, 8]
    assert metric.last_features["features"][:, 0].tolist() == [1.0, 3.0, 5.0, 8.0]


def test_metric_without_model_or_inputs_says_how_to_fix():
    metric = LatentStructure(num_classes=2)
    out = ProbeOutput(index=torch.arange(1), labels=torch.tensor([0]), preds=torch.tensor([0]))
    with pytest.raises(RuntimeError, match="set_model"):
        metric.update(out)
    metric.set_model(IdentityFeatures(2))
    with pytest.raises(ValueError, match="needs_inputs"):
        metric.update(out)


def test_compute_without_samples_is_nan_and_bad_options_fail_early():
    with pytest.warns(UserWarning, match="before the ``update``"):
        res = LatentStructure(num_classes=3).compute()
    assert res["latent_count"].tolist() == [0, 0, 0]
    assert torch.isnan(res["centroid_distance"]).all() and torch.isnan(res["nearest_centroid_accuracy"])
    with pytest.raises(ValueError, match="capture"):
        LatentStructure(num_classes=3, capture="inputs")
    with pytest.raises(ValueError, match="embedding = 'mds': Input should be 'pca', 'tsne', 'umap' or 'none'"):
        LatentStructure(num_classes=3, embedding="mds")


def test_pca_embedding_fitted_on_clean_coordinates():
    clean = np.array([[-1.0, 0.0], [1.0, 0.0], [0.0, 0.1], [0.0, -0.1]])
    coords = embed_2d(clean, "pca")
    # principal axes are x then y: coordinates equal the centred points up to sign
    assert np.allclose(np.abs(coords), np.abs(clean))
    pair = paired_embedding(clean, clean + np.array([1.0, 0.0]), np.array([0, 0, 1, 1]))
    shift = pair["attacked"] - pair["clean"]
    assert np.allclose(np.abs(shift[:, 0]), 1.0) and np.allclose(shift[:, 1], 0.0)


def test_tsne_embedding_shape_and_umap_message():
    feats = np.random.default_rng(0).normal(size=(20, 5))
    coords = embed_2d(feats, "tsne", seed=0, tsne_max_iter=250)
    assert coords.shape == (20, 2) and np.isfinite(coords).all()
    if importlib.util.find_spec("umap") is None:
        with pytest.raises(ImportError, match="umap-learn"):
            embed_2d(feats, "umap")


def test_paired_embedding_from_metrics_matches_samples_by_index():
    clean, attacked = LatentStructure(num_classes=2), LatentStructure(num_classes=2)
    for metric in (clean, attacked):
        metric.set_model(IdentityFeatures(2))
    points = [[-1.0, 0.0], [1.0, 0.0], [0.0, 0.1], [0.0, -0.1]]
    feed(clean, points, [0, 0, 1, 1], [10, 11, 12, 13])
    # attacked: same samples shifted by (1, 0), fed in another order, plus one the clean probe lacks
    feed(attacked, [[1.0, -0.1], [2.0, 0.0], [0.0, 0.0], [5.0, 5.0]], [1, 0, 0, 1], [13, 11, 10, 99])
    feed(attacked, [[1.0, 0.1]], [1], [12])
    clean.compute()
    attacked.compute()
    pair = paired_embedding_from_metrics(clean, attacked)
    assert pair["labels"].tolist() == [0, 0, 1, 1]
    shift = pair["attacked"] - pair["clean"]
    assert np.allclose(np.abs(shift[:, 0]), 1.0) and np.allclose(shift[:, 1], 0.0)
