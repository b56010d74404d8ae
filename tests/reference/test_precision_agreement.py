"""bf16 searches on Paper A's five published MNIST classifiers give fp32's verdicts (issue 22).

Small on purpose (the 40 stratified test images of ``mnist_test``, short APGD): the bulk measurement,
N = 100 per classifier with the full searches, is ``benchmarks/bench_precision.py`` and the table
in ``docs/precision.md``.
"""

from __future__ import annotations

import pytest
import torch

from robustlens.attacks import PGD
from robustlens.attacks.autoattack import APGDCE
from robustlens.models.classifiers.buzhinsky import MODES

from .conftest import robustlens_classifier


@pytest.mark.slow  # ≈ 30 s idle, 80 s on the loaded 2-core machine
def test_bf16_verdicts_agree_with_fp32_on_the_published_classifiers(mnist_test, models_dir) -> None:
    x, y, positions = mnist_test
    same, total, robust32, robust16 = 0, 0, 0, 0
    for mode in MODES:
        model = robustlens_classifier(models_dir, mode)
        for make in (lambda: PGD(eps=0.1, step_size=0.01, steps=40), lambda: APGDCE(eps=0.1, steps=25)):
            fp32 = make()(model, x, y, index=positions)
            bf16 = make()(model, x, y, index=positions, precision="bf16")
            with torch.no_grad():  # every sample counted broken is adversarial in an independent fp32 pass
                assert model(bf16.x_adv).argmax(1)[bf16.success].ne(y[bf16.success]).all(), mode
            same += int((fp32.success == bf16.success).sum())
            total += len(y)
            robust32 += int((~fp32.success).sum())
            robust16 += int((~bf16.success).sum())
    assert same >= 0.99 * total, f"{same} of {total} verdicts agree"
    # 400 searches: one sample is 0.25 points; the bulk measurement bounds the difference at 0.5
    assert abs(robust16 - robust32) <= 0.005 * total, (robust32, robust16)
