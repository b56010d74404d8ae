"""Natural perturbations: exact geometry on known cases and the worst-case choice on toy models."""

from __future__ import annotations

import pytest
import torch

from robustlens.attacks.natural import (
    Brightness,
    Contrast,
    Rotation,
    Scaling,
    Translation,
    adjust_contrast,
    rotate,
    scale,
    translate,
)


def test_rotation_zero_and_ninety():
    x = torch.rand(3, 3, 9, 9)
    torch.testing.assert_close(rotate(x, torch.zeros(3)), x)
    torch.testing.assert_close(
        rotate(x, torch.full((3,), 90.0)), torch.rot90(x, 1, dims=(-2, -1)), atol=1e-5, rtol=0
    )


def test_translation_is_roll_with_zero_fill():
    x = torch.rand(2, 1, 8, 8)
    out = translate(x, torch.tensor([[2.0, -1.0], [0.0, 0.0]]))
    expected = torch.roll(x[0], shifts=(-1, 2), dims=(-2, -1))
    expected[:, -1:, :] = 0
    expected[:, :, :2] = 0
    torch.testing.assert_close(out[0], expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(out[1], x[1], atol=1e-5, rtol=0)


def test_scaling_identity_and_centre():
    x = torch.rand(2, 3, 9, 9)
    torch.testing.assert_close(scale(x, torch.ones(2)), x, atol=1e-5, rtol=0)
    big = scale(x, torch.full((2,), 3.0))
    torch.testing.assert_close(big[..., 4, 4], x[..., 4, 4], atol=1e-5, rtol=0)  # centre fixed
    torch.testing.assert_close(big[..., 4, 7], x[..., 4, 5], atol=1e-5, rtol=0)  # 3 px out = 1 px in


def test_contrast_formula():
    x = torch.tensor([0.2, 0.6]).reshape(1, 1, 1, 2)
    torch.testing.assert_close(adjust_contrast(x, torch.tensor([0.5])).flatten(), torch.tensor([0.3, 0.5]))


class MeanThreshold(torch.nn.Module):
    def forward(self, x):
        m = x.mean(dim=(1, 2, 3))
        return torch.stack([0.5 - m, m - 0.5], dim=1)


def test_worst_case_picks_mildest_misclassifying_value():
    x = torch.cat([torch.full((1, 1, 4, 4), 0.3), torch.zeros(1, 1, 4, 4)])
    y = torch.zeros(2, dtype=torch.long)
    res = Brightness(0.3, num=7)(MeanThreshold(), x, y, index=torch.arange(2))
    # grid ±0.1, ±0.2, ±0.3: image 0 (mean .3) first flips at +0.3 (0.2 only ties at 0.5)
    assert res.success.tolist() == [True, False]
    assert abs(float(res.extra["param"][0]) - 0.3) < 1e-6
    # image 1 never flips: the lowest-margin value is the brightest
    assert abs(float(res.extra["param"][1]) - 0.3) < 1e-6
    assert res.iterations.eq(7).all()


def test_translation_worst_case_on_a_toy_detector():
    class LeftDetector(torch.nn.Module):  # class 0 iff the bright pixel lies in the left half
        def forward(self, x):
            left = x[..., :4].sum(dim=(1, 2, 3))
            right = x[..., 4:].sum(dim=(1, 2, 3))
            return torch.stack([left - right, right - left], dim=1)

    x = torch.zeros(1, 1, 8, 8)
    x[..., 3, 2] = 1.0  # column 2: needs a shift of +2 to reach the right half
    res = Translation(3, num=7)(LeftDetector(), x, torch.tensor([0]), index=torch.tensor([0]))
    assert bool(res.success[0])
    dx, dy = res.extra["param"][0].tolist()
    assert dx == 2.0 and abs(dy) <= 1.0  # mildest shift (by distance) that moves it right


@pytest.mark.parametrize(
    "attack",
    [
        Rotation(30, mode="random", num=4),
        Translation(2, mode="random", num=3),
        Scaling(0.8, 1.2, mode="random", num=3),
        Brightness(0.2, mode="random", num=3),
        Contrast(0.5, 1.5, mode="random", num=3),
    ],
)
def test_random_mode_is_per_sample_and_in_range(attack):
    x = torch.rand(10, 3, 8, 8)
    idx = torch.arange(10) + 7
    p = attack.candidates(x, idx)
    assert torch.equal(p, attack.candidates(x, idx))
    assert torch.equal(torch.cat([attack.candidates(x[:3], idx[:3]), attack.candidates(x[3:], idx[3:])]), p)
    assert p.min() >= attack.low and p.max() <= attack.high
    attack.seed += 1
    assert not torch.equal(attack.candidates(x, idx), p)
    res = attack(MeanThreshold(), x, MeanThreshold()(x).argmax(1), index=idx)
    assert res.x_adv.shape == x.shape and res.x_adv.min() >= 0 and res.x_adv.max() <= 1


def test_bad_arguments():
    with pytest.raises(ValueError, match="mode"):
        Rotation(10, mode="grdi")
    with pytest.raises(ValueError, match="empty"):
        Scaling(1.2, 0.8)
    with pytest.raises(ValueError, match="num"):
        Brightness(0.1, num=0)
