"""NormStatistics and RobustAccuracyCurve against hand-computed values and their definitions."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from robustlens.metrics.base import ProbeOutput
from robustlens.metrics.functional import DuplicateSamplesWarning
from robustlens.metrics.perturbation import NormStatistics, RobustAccuracyCurve


def _out(index, labels, preds, clean_preds=None, success=None, norm=None, values=None):
    t = torch.tensor
    return ProbeOutput(
        index=t(index), labels=t(labels), preds=t(preds),
        clean_preds=None if clean_preds is None else t(clean_preds),
        success=None if success is None else t(success),
        norm=None if norm is None else t(norm, dtype=torch.float32),
        values=values or {},
    )


def test_norm_statistics_hand_computed():
    m = NormStatistics()
    m.update(_out([0, 1], [0, 0], [1, 1], success=[True, False], norm=[1.0, 2.0]))
    m.update(_out([2, 3], [0, 0], [1, 1], success=[True, True], norm=[3.0, 4.0]))
    r = m.compute()
    # values 1,2,3,4: mean 2.5; population variance (2.25+0.25+0.25+2.25)/4 = 1.25
    assert r["norm"].item() == pytest.approx(2.5)
    assert r["norm_std"].item() == pytest.approx(math.sqrt(1.25))
    assert r["norm_min"].item() == 1.0 and r["norm_max"].item() == 4.0
    # linear interpolation: q25 at position 0.75 → 1.75; median 2.5; q75 at 2.25 → 3.25
    assert r["norm_q25"].item() == pytest.approx(1.75)
    assert r["norm_median"].item() == pytest.approx(2.5)
    assert r["norm_q75"].item() == pytest.approx(3.25)


def test_norm_statistics_successful_only_and_duplicates():
    m = NormStatistics(successful_only=True, name="adv")
    assert m.emits == ("adv", "adv_std", "adv_min", "adv_q25", "adv_median", "adv_q75", "adv_max",
                       "adv/ci_low", "adv/ci_high")
    m.update(_out([0, 1, 2], [0, 0, 0], [1, 0, 1], success=[True, False, True], norm=[1.0, 10.0, 3.0]))
    m.update(_out([2], [0], [1], success=[True], norm=[3.0]))  # DDP padding repeats sample 2
    with pytest.warns(DuplicateSamplesWarning, match="1 samples were evaluated twice"):
        r = m.compute()
    assert set(r) == set(m.emits)
    assert r["adv"].item() == pytest.approx(2.0)  # (1 + 3) / 2, the failure excluded
    assert r["adv_max"].item() == 3.0


def test_norm_statistics_ignores_nan_and_handles_empty():
    m = NormStatistics()
    m.update(_out([0, 1], [0, 0], [0, 0], norm=[float("nan"), 2.0]))
    assert m.compute()["norm"].item() == 2.0
    empty = NormStatistics(successful_only=True)
    empty.update(_out([0], [0], [0], success=[False], norm=[1.0]))
    assert math.isnan(empty.compute()["norm_median"].item())


def test_norm_statistics_needs_norm():
    with pytest.raises(ValueError, match="norm"):
        NormStatistics().update(_out([0], [0], [0]))


def test_robust_accuracy_curve_hand_computed():
    m = RobustAccuracyCurve([0.0, 0.1, 0.25, 0.5])
    inf = math.inf
    # sample: clean correct?, minimal norm
    # 0: yes, 0.2   1: yes, inf   2: no (clean wrong), 0.0   3: yes, 0.1 (not robust at 0.1: needs > eps)
    m.update(_out([0, 1, 2, 3], [0, 1, 2, 3], [9, 1, 9, 9], clean_preds=[0, 1, 5, 3],
                  values={"min_norm": torch.tensor([0.2, inf, 0.0, 0.1])}))
    r = m.compute()
    assert r["robust_accuracy@0"].item() == pytest.approx(3 / 4)
    assert r["robust_accuracy@0.1"].item() == pytest.approx(2 / 4)
    assert r["robust_accuracy@0.25"].item() == pytest.approx(1 / 4)
    assert r["robust_accuracy@0.5"].item() == pytest.approx(1 / 4)


def test_robust_accuracy_curve_from_success_and_norm():
    m = RobustAccuracyCurve([0.3])
    m.update(_out([0, 1, 2], [0, 0, 0], [1, 0, 1], clean_preds=[0, 0, 0], success=[True, False, True],
                  norm=[0.4, 0.3, 0.2]))
    m.update(_out([0], [0], [1], clean_preds=[0], success=[True], norm=[0.4]))  # duplicate
    # robust at 0.3: sample 0 (adv norm 0.4 > 0.3), sample 1 (never adversarial) → 2/3
    with pytest.warns(DuplicateSamplesWarning, match="RobustAccuracyCurve"):
        assert m.compute()["robust_accuracy@0.3"].item() == 2 / 3


def test_curve_is_non_increasing_in_eps():
    g = torch.Generator().manual_seed(0)
    m = RobustAccuracyCurve([0.0, 0.05, 0.1, 0.2, 0.4, 1.0])
    n = 200
    mn = torch.rand(n, generator=g) * 0.5
    mn[::7] = math.inf
    m.update(ProbeOutput(index=torch.arange(n), labels=torch.zeros(n, dtype=torch.long),
                         preds=torch.ones(n, dtype=torch.long),
                         clean_preds=(torch.rand(n, generator=g) < 0.2).long(),
                         values={"min_norm": mn}))
    values = [v for k, v in m.compute().items() if "/ci_" not in k]  # the curve, not its intervals
    assert len(values) == 6 and all(a >= b for a, b in itertools.pairwise(values))


def test_bad_grid():
    with pytest.raises(ValueError, match="eps_grid"):
        RobustAccuracyCurve([])
    with pytest.raises(ValueError, match="eps_grid"):
        RobustAccuracyCurve([-0.1])
