"""Under a real 2-process gloo group, eval loaders count every sample exactly once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.utils.data import DistributedSampler


def _rank_main(rank: int, world: int, init_file: str, out_dir: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        from robustlens.data import DigitsDataModule, UnpaddedDistributedSampler

        dm = DigitsDataModule(batch_size=64, eval_batch_size=50, val_fraction=0.1, test_subset=101)
        dm.setup()
        test, val, train = dm.test_dataloader(), dm.val_dataloader(), dm.train_dataloader()
        result = {
            "test": [i for _, _, idx in test for i in idx.tolist()],
            "val": [i for _, _, idx in val for i in idx.tolist()],
            "samplers": [type(loader.sampler).__name__ for loader in (test, val, train)],
            "unpadded": isinstance(test.sampler, UnpaddedDistributedSampler),
            "train_distributed": isinstance(train.sampler, DistributedSampler),
            "all_test": dm.data_test.positions.tolist(),
            "all_val": dm.data_val.positions.tolist(),
        }
        Path(out_dir, f"rank{rank}.json").write_text(json.dumps(result))
    finally:
        dist.destroy_process_group()


@pytest.mark.ddp
@pytest.mark.slow  # ~30 s of CPU: two fresh interpreters import torch + lightning
def test_eval_loaders_unpadded_under_two_process_gloo(tmp_path):
    mp.spawn(_rank_main, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    for r in ranks:
        assert r["unpadded"] and r["train_distributed"], r["samplers"]
    for split in ("test", "val"):
        seen = ranks[0][split] + ranks[1][split]
        assert len(seen) == len(set(seen))  # nothing counted twice (101 and 144 are odd/even sizes)
        assert sorted(seen) == sorted(ranks[0][f"all_{split}"])  # nothing missing
    assert len(ranks[0]["test"]) == 51 and len(ranks[1]["test"]) == 50


def test_loaders_switch_samplers_when_a_process_group_exists(tmp_path):
    """In-process, single-rank gloo group: the wiring of the samplers (fast stand-in for DDP)."""
    from robustlens.data import DigitsDataModule, UnpaddedDistributedSampler

    dm = DigitsDataModule(eval_batch_size=100, val_fraction=0.1)
    assert not isinstance(dm.test_dataloader().sampler, UnpaddedDistributedSampler)
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'init'}", rank=0, world_size=1)
    try:
        test, val, train = dm.test_dataloader(), dm.val_dataloader(), dm.train_dataloader()
        assert isinstance(test.sampler, UnpaddedDistributedSampler)
        assert isinstance(val.sampler, UnpaddedDistributedSampler)
        assert isinstance(train.sampler, DistributedSampler)
        assert sum(len(idx) for _, _, idx in test) == len(dm.data_test)
    finally:
        dist.destroy_process_group()
