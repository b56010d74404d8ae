"""The random corruptions draw what ``skimage.util.random_noise`` draws: impulse noise replaces a share
``amount`` of the values (severity 5: 0.07) by salt (1) or pepper (0) in equal parts
(``salt_vs_pepper=0.5``), as Hendrycks & Dietterich's ``make_cifar_c.py`` calls it.

Why a test of its own: the parameter table checks the amounts, not what a replaced value becomes; an
impulse noise that only salts (or only peppers) passed every other corruption test."""

from __future__ import annotations

import torch

from robustlens.attacks.corruptions import Corruption


def test_impulse_noise_replaces_its_amount_by_salt_and_pepper_in_equal_parts() -> None:
    grey = torch.full((8, 3, 32, 32), 0.5)
    noisy = Corruption("impulse_noise", 5).apply(grey, torch.arange(8))
    replaced = noisy != 0.5
    assert set(noisy[replaced].unique().tolist()) <= {0.0, 1.0}
    share = replaced.float().mean().item()  # 24,576 values: binomial std 0.0016
    assert abs(share - 0.07) < 0.01, share
    salt = (noisy[replaced] == 1).float().mean().item()  # about 1,700 replaced values: std 0.012
    assert abs(salt - 0.5) < 0.06, salt
