"""Index selections (stratified subsets, train/val split) and the unpadded DDP sampler."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DistributedSampler

from robustlens.data.samplers import UnpaddedDistributedSampler
from robustlens.data.subsets import stratified_first_n, train_val_split


def test_stratified_first_n_hand_computed():
    labels = torch.tensor([0, 0, 1, 1, 1, 2, 0, 2])
    # round 1: first 0 (pos 0), first 1 (pos 2), first 2 (pos 5); round 2: second 0 (pos 1), second 1 (pos 3)
    assert stratified_first_n(labels, 5, 3).tolist() == [0, 1, 2, 3, 5]


def test_stratified_first_n_gives_a_short_class_share_to_others():
    labels = torch.tensor([0, 1, 1, 1, 1])
    assert stratified_first_n(labels, 4, 2).tolist() == [0, 1, 2, 3]


def test_stratified_first_n_balances_and_is_first_in_dataset_order():
    torch.manual_seed(0)
    labels = torch.randint(0, 10, (5000,))
    keep = stratified_first_n(labels, 600, 10)
    assert torch.bincount(labels[keep], minlength=10).tolist() == [60] * 10
    for c in range(10):  # exactly the first 60 of each class
        assert torch.equal(keep[labels[keep] == c], torch.nonzero(labels == c).flatten()[:60])


def test_stratified_first_n_rejects_too_many():
    with pytest.raises(ValueError, match="exceeds the 3 available"):
        stratified_first_n(torch.tensor([0, 1, 2]), 4, 3)


def test_train_val_split_deterministic_disjoint_and_seeded():
    tr, va = train_val_split(100, 0.2, seed=1)
    assert len(va) == 20 and len(tr) == 80
    assert sorted(torch.cat([tr, va]).tolist()) == list(range(100))
    tr2, va2 = train_val_split(100, 0.2, seed=1)
    assert torch.equal(va, va2) and torch.equal(tr, tr2)
    _, va3 = train_val_split(100, 0.2, seed=2)
    assert not torch.equal(va, va3)
    torch.manual_seed(123)  # the global RNG does not matter
    assert torch.equal(train_val_split(100, 0.2, seed=1)[1], va)


@pytest.mark.parametrize("fraction", [-0.1, 1.0])
def test_train_val_split_rejects_bad_fraction(fraction):
    with pytest.raises(ValueError, match="val_fraction"):
        train_val_split(10, fraction, 0)


def test_unpadded_sampler_two_ranks_cover_each_index_once():
    data = list(range(11))
    ranks = [list(UnpaddedDistributedSampler(data, num_replicas=2, rank=r)) for r in range(2)]
    assert ranks == [[0, 2, 4, 6, 8, 10], [1, 3, 5, 7, 9]]
    assert [len(UnpaddedDistributedSampler(data, num_replicas=2, rank=r)) for r in range(2)] == [6, 5]
    assert sorted(ranks[0] + ranks[1]) == data
    # why it exists: torch's sampler pads to 12 by repeating a sample
    padded = [i for r in range(2) for i in DistributedSampler(data, num_replicas=2, rank=r, shuffle=False)]
    assert len(padded) == 12 and len(set(padded)) == 11


def test_unpadded_sampler_more_ranks_than_samples():
    parts = [list(UnpaddedDistributedSampler(range(3), num_replicas=5, rank=r)) for r in range(5)]
    assert parts == [[0], [1], [2], [], []]


def test_unpadded_sampler_needs_a_process_group_or_explicit_rank():
    with pytest.raises(RuntimeError, match="process group"):
        UnpaddedDistributedSampler(range(3))
    with pytest.raises(ValueError, match="invalid rank"):
        UnpaddedDistributedSampler(range(3), num_replicas=2, rank=2)


def test_unpadded_sampler_is_left_alone_by_lightning():
    """Lightning re-wraps any sampler that is not a DistributedSampler (sharding twice)."""
    from lightning.pytorch.trainer.connectors.data_connector import _get_distributed_sampler
    from torch.utils.data import DataLoader

    sampler = UnpaddedDistributedSampler(range(11), num_replicas=2, rank=1)
    assert isinstance(sampler, DistributedSampler)
    sampler.set_epoch(3)  # Lightning calls it every epoch: order must not change
    assert list(sampler) == [1, 3, 5, 7, 9]
    # what Lightning would have done to a non-DistributedSampler custom sampler: shard again
    wrapped = _get_distributed_sampler(
        DataLoader(range(11), sampler=list(sampler)), shuffle=False, overfit_batches=0, num_replicas=2, rank=1
    )
    assert len(list(wrapped)) < 5
