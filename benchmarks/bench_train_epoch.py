"""Benchmark: one training epoch of the MNIST SmallCNN, standard vs PGD adversarial training.

Runs the real training path (``ClassifierModule`` + the training modes + Lightning's
``Trainer.fit``) on the MNIST training set read from ``$ROBUSTLENS_SHARED_DIR/data``, one
epoch each, no validation, and prints images/s and the PGD-AT / standard cost ratio.

Command (repository root)::

    ROBUSTLENS_SHARED_DIR=../shared python benchmarks/bench_train_epoch.py [--n 60000] [--threads 2] [--steps 10]

PGD-AT uses 10 inner PGD-L∞ steps (ε 0.3, step 0.04, random start), so one PGD-AT step costs
about 11 forward/backward passes instead of 1: the expected ratio is ≈ 11×; a ratio far above
that would mean overhead in the attack loop.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import lightning as L
import torch

from robustlens.data import MNISTDataModule
from robustlens.models.classifier_module import ClassifierModule
from robustlens.models.classifiers import SmallCNN
from robustlens.training.modes import PGDAdversarial, Standard


def one_epoch(mode, datamodule, seed: int = 0) -> float:
    L.seed_everything(seed, verbose=False)
    module = ClassifierModule(SmallCNN(), training=mode)
    trainer = L.Trainer(
        max_epochs=1, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
    )
    start = time.perf_counter()
    trainer.fit(module, datamodule=datamodule)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=60000, help="training images (default: all of MNIST)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=10, help="inner PGD steps of PGD-AT")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    shared = Path(os.environ.get("ROBUSTLENS_SHARED_DIR", Path(__file__).resolve().parents[2] / "shared"))
    datamodule = MNISTDataModule(
        data_dir=str(shared / "data"), batch_size=128, val_fraction=0.0,
        train_subset=None if args.n >= 60000 else args.n,
    )
    standard = one_epoch(Standard(), datamodule)
    adversarial = one_epoch(PGDAdversarial(eps=0.3, step_size=0.04, steps=args.steps), datamodule)
    n = args.n
    print(f"MNIST SmallCNN, one epoch of {n} images, {args.threads} threads, torch {torch.__version__}")
    print(f"  standard : {standard:8.1f} s  {n / standard:8.0f} img/s")
    print(f"  PGD-AT   : {adversarial:8.1f} s  {n / adversarial:8.0f} img/s  ({args.steps} PGD steps)")
    print(f"  ratio PGD-AT / standard: {adversarial / standard:.1f}x (ideal ≈ {args.steps + 1}x)")


if __name__ == "__main__":
    main()
