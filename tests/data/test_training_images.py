"""Paper A's reconstruction split: each test sample's partner is the training image of its class and rank."""

from __future__ import annotations

import pytest
import torch

from robustlens.data.subsets import stratified_first_n
from robustlens.data.training_images import SameRankTrainingImages, rank_within_class
from robustlens.evaluation.latent_probes import LatentAccuracyProbe, LatentAdversarialProbe, LatentNoiseProbe
from robustlens.evaluation.probe import ProbeContext


class _TensorData:
    """A datamodule stand-in: ``load_split`` returns fixed tensors."""

    name = "toy"

    def __init__(self, train, test):
        self.splits = {True: train, False: test}
        self.loads = 0

    def load_split(self, train: bool):
        self.loads += 1
        return self.splits[train]


def _toy(n_train=12, n_test=9, k=3):
    train_labels = torch.tensor([2, 0, 0, 1, 2, 1, 0, 2, 1, 0, 1, 2])[:n_train]
    test_labels = torch.tensor([1, 1, 0, 2, 0, 2, 1, 0, 2])[:n_test]
    # image value = position + 1 (uint8), so the chosen position can be read from the image
    train_images = (torch.arange(n_train, dtype=torch.uint8) + 1).view(-1, 1, 1, 1).expand(-1, 1, 2, 2).clone()
    test_images = torch.zeros(n_test, 1, 2, 2, dtype=torch.uint8)
    return _TensorData((train_images, train_labels), (test_images, test_labels))


def test_rank_within_class_hand_case():
    assert rank_within_class(torch.tensor([1, 1, 0, 2, 0, 2, 1])).tolist() == [0, 1, 0, 0, 1, 1, 2]


def test_partner_is_same_class_same_rank_hand_case():
    data = _toy()
    pairing = SameRankTrainingImages(data)
    test_labels = data.splits[False][1]
    index = torch.tensor([0, 1, 2, 4, 3, 5])  # test positions: classes 1,1,0,0,2,2 (ranks 0,1,0,1,0,1)
    # training positions of class 0: 1,2,6,9; class 1: 3,5,8,10; class 2: 0,4,7,11
    assert pairing.positions(test_labels[index], index).tolist() == [3, 5, 1, 2, 0, 4]
    x = pairing(test_labels[index], index)
    assert x.dtype == torch.float32
    torch.testing.assert_close(x[:, 0, 0, 0], (torch.tensor([3, 5, 1, 2, 0, 4]) + 1) / 255.0)
    pairing(test_labels[index], index)
    assert data.loads == 2  # both splits read once, on first use


def test_stratified_test_subset_maps_to_stratified_training_subset():
    """With test_subset = N the partners are exactly the class-stratified first N training images."""
    g = torch.Generator().manual_seed(0)
    train_labels, test_labels = torch.randint(0, 4, (200,), generator=g), torch.randint(0, 4, (80,), generator=g)
    data = _TensorData((torch.zeros(200, 1, 1, 1), train_labels), (torch.zeros(80, 1, 1, 1), test_labels))
    test_pos = stratified_first_n(test_labels, 20, 4)
    partners = SameRankTrainingImages(data).positions(test_labels[test_pos], test_pos)
    assert sorted(partners.tolist()) == stratified_first_n(train_labels, 20, 4).tolist()
    assert torch.equal(train_labels[partners], test_labels[test_pos])


def test_too_few_training_images_of_a_class_names_the_fix():
    data = _toy(n_train=5)  # classes in train: 2,0,0,1,2 → one image of class 1
    pairing = SameRankTrainingImages(data)
    with pytest.raises(ValueError, match=r"only 1 images of that class; use a smaller data\.test_subset"):
        pairing(torch.tensor([1, 1]), torch.tensor([0, 1]))


def test_reconstruction_probes_encode_the_training_partners():
    from tests.latent.helpers import LinearClassifier, LinearGenerator

    gen = LinearGenerator(dtype=torch.float32, num_classes=3, side=4)
    clf = LinearClassifier(16, 3, seed=5, dtype=torch.float32)
    g = torch.Generator().manual_seed(1)
    train_labels, test_labels = torch.arange(30) % 3, torch.arange(12) % 3
    train_codes = torch.randn(30, gen.latent_dim, generator=g)
    with torch.no_grad():
        train_images = gen.decode(train_codes, train_labels)
    assert train_images.min() >= 0 and train_images.max() <= 1
    data = _TensorData((train_images, train_labels), (torch.zeros(12, 1, 4, 4), test_labels))
    pairing = SameRankTrainingImages(data)
    index = torch.arange(12)
    batch = (torch.zeros(12, 1, 4, 4), test_labels, index)  # blank test images: must not be encoded
    ctx = ProbeContext(seed=0, generator=gen)
    lra = LatentAccuracyProbe("reconstruction", train_images=pairing, max_images=4)
    codes = lra.codes(batch, ctx)
    with torch.no_grad():
        torch.testing.assert_close(gen.decode(codes, test_labels), train_images[:12], atol=1e-5, rtol=1e-5)
    out = lra.run(clf, batch, ctx)
    assert torch.equal(out.clean_preds, clf(train_images[:12]).argmax(dim=1))  # decided on the training image
    assert torch.equal(out.images["original"], train_images[:4])
    assert lra.describe()["images"] == "train (same class and rank)"
    # the cache is per split: a test-split probe on the same batch does not reuse training codes
    test_codes = LatentAccuracyProbe("reconstruction").codes(batch, ctx)
    assert not torch.allclose(test_codes, codes)
    for probe in (LatentNoiseProbe(eps=0.0, draws=2, train_images=pairing),
                  LatentAdversarialProbe("reconstruction", "min", steps=5, restarts=1, train_images=pairing)):
        assert probe.run(clf, batch, ProbeContext(seed=0, generator=gen)).labels.tolist() == test_labels.tolist()
    with pytest.raises(ValueError, match="reconstruction probes"):
        LatentAccuracyProbe("generation", train_images=pairing)
