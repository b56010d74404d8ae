"""The 19 corruptions × 5 severities against the published CIFAR-10-C generation parameters.

The published table below is copied from Hendrycks & Dietterich's generation script, repository
``hendrycks/robustness``, file ``ImageNet-C/create_c/make_cifar_c.py`` (the ``c = [...]`` list of each
corruption, CIFAR-10 32x32 values), written here independently of robustlens' own table
(``robustlens.attacks.corruptions.functional.PARAMETERS``), which is compared with it entry by entry.
A table alone does not show that a function uses it, so the corruptions whose parameter can be read off
their output are measured too: noise levels from the spread of the output, blurs, zooms, JPEG and
pixelation against scipy / torchvision / numpy computations of the published formula with the published
value, the photometric ones from hand-computed pixels, and the elastic transform's affine jitter and
local displacement from where it samples a coordinate ramp.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage as ndi
import torch

from robustlens.attacks.corruptions import ALL_CORRUPTIONS, Corruption
from robustlens.attacks.corruptions import _filters as fl
from robustlens.attacks.corruptions.functional import PARAMETERS

IMSIZE = 32  # make_cifar_c.py's image size, by which it multiplies the elastic parameters

#: make_cifar_c.py's ``c`` per corruption and severity 1..5, as published
PUBLISHED: dict[str, list] = {
    "gaussian_noise": [0.04, 0.06, .08, .09, .10],
    "shot_noise": [500, 250, 100, 75, 50],
    "impulse_noise": [.01, .02, .03, .05, .07],
    "speckle_noise": [.06, .1, .12, .16, .2],
    "gaussian_blur": [.4, .6, 0.7, .8, 1],
    "glass_blur": [(0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2)],
    "defocus_blur": [(0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)],
    "motion_blur": [(6, 1), (6, 1.5), (6, 2), (8, 2), (9, 2.5)],
    "zoom_blur": [np.arange(1, 1.06, 0.01), np.arange(1, 1.11, 0.01), np.arange(1, 1.16, 0.01),
                  np.arange(1, 1.21, 0.01), np.arange(1, 1.26, 0.01)],
    "fog": [(.2, 3), (.5, 3), (0.75, 2.5), (1, 2), (1.5, 1.75)],
    "frost": [(1, 0.2), (1, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45)],
    "snow": [(0.1, 0.2, 1, 0.6, 8, 3, 0.95),
             (0.1, 0.2, 1, 0.5, 10, 4, 0.9),
             (0.15, 0.3, 1.75, 0.55, 10, 4, 0.9),
             (0.25, 0.3, 2.25, 0.6, 12, 6, 0.85),
             (0.3, 0.3, 1.25, 0.65, 14, 12, 0.8)],
    "spatter": [(0.62, 0.1, 0.7, 0.7, 0.5, 0),
                (0.65, 0.1, 0.8, 0.7, 0.5, 0),
                (0.65, 0.3, 1, 0.69, 0.5, 0),
                (0.65, 0.1, 0.7, 0.69, 0.6, 1),
                (0.65, 0.1, 0.5, 0.68, 0.6, 1)],
    "contrast": [.75, .5, .4, .3, 0.15],
    "brightness": [.05, .1, .15, .2, .3],
    "saturate": [(0.3, 0), (0.1, 0), (1.5, 0), (2, 0.1), (2.5, 0.2)],
    "jpeg_compression": [80, 65, 58, 50, 40],
    "pixelate": [0.95, 0.9, 0.85, 0.75, 0.65],
    "elastic_transform": [(IMSIZE * 0, IMSIZE * 0, IMSIZE * 0.08),
                          (IMSIZE * 0.05, IMSIZE * 0.2, IMSIZE * 0.07),
                          (IMSIZE * 0.08, IMSIZE * 0.06, IMSIZE * 0.06),
                          (IMSIZE * 0.1, IMSIZE * 0.04, IMSIZE * 0.05),
                          (IMSIZE * 0.1, IMSIZE * 0.03, IMSIZE * 0.03)],
}

SEVERITIES = range(1, 6)


def _published_form(name: str, entry) -> np.ndarray:
    """robustlens' table entry in the published form (zoom factors as the arange; elastic in pixels)."""
    if name == "zoom_blur":
        return np.arange(1, entry, 0.01)
    if name == "elastic_transform":
        return np.asarray(entry) * IMSIZE
    return np.asarray(entry, dtype=float)


def test_the_table_covers_the_19_corruptions() -> None:
    assert set(PUBLISHED) == set(ALL_CORRUPTIONS) == set(PARAMETERS)


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_every_severity_has_the_published_parameters(name: str) -> None:
    assert len(PARAMETERS[name]) == 5
    for severity in SEVERITIES:
        ours = _published_form(name, PARAMETERS[name][severity - 1])
        published = np.asarray(PUBLISHED[name][severity - 1], dtype=float)
        assert ours.shape == published.shape, (name, severity, ours, published)
        np.testing.assert_allclose(ours, published, rtol=0, atol=1e-12, err_msg=f"{name} severity {severity}")


# ------------------------------------------------------------ parameters read off the outputs
def _corrupt(name: str, severity: int, x: torch.Tensor) -> torch.Tensor:
    return Corruption(name, severity).apply(x, torch.arange(len(x)))


GREY_HALF = torch.full((8, 3, 32, 32), 0.5)  # 24,576 values: noise levels to about 1 %


@pytest.mark.parametrize("severity", SEVERITIES)
def test_noise_levels_are_the_published_ones(severity: int) -> None:
    """Gaussian: std = c; shot: Poisson(x c)/c has variance x/c; speckle: std = x c; impulse: a share c of the
    values is replaced by 0 or 1 (``skimage.util.random_noise(mode='s&p', amount=c)``)."""
    x = GREY_HALF
    gaussian, shot, impulse, speckle = (PUBLISHED[n][severity - 1] for n in
                                        ("gaussian_noise", "shot_noise", "impulse_noise", "speckle_noise"))
    assert float((_corrupt("gaussian_noise", severity, x) - x).std()) == pytest.approx(gaussian, rel=0.05)
    assert 0.5 / float(_corrupt("shot_noise", severity, x).var()) == pytest.approx(shot, rel=0.08)
    assert float((_corrupt("speckle_noise", severity, x) - x).std()) == pytest.approx(0.5 * speckle, rel=0.05)
    replaced = _corrupt("impulse_noise", severity, x).ne(x).float().mean()
    assert float(replaced) == pytest.approx(impulse, rel=0.25)


def _texture(n: int = 4) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(5).random((n, 3, 32, 32)).astype(np.float32))


@pytest.mark.parametrize("severity", SEVERITIES)
def test_gaussian_blur_is_scipys_filter_with_the_published_sigma(severity: int) -> None:
    """skimage's ``gaussian`` (the reference) is scipy's ``gaussian_filter``, mode 'nearest', truncate 4."""
    x = _texture()
    sigma = PUBLISHED["gaussian_blur"][severity - 1]
    expected = ndi.gaussian_filter(x.numpy(), sigma=(0, 0, sigma, sigma), mode="nearest")
    np.testing.assert_allclose(_corrupt("gaussian_blur", severity, x).numpy(), expected, atol=1e-5)


@pytest.mark.parametrize("severity", SEVERITIES)
def test_zoom_defocus_pixelate_and_jpeg_use_the_published_parameters(severity: int) -> None:
    """Each against its published formula built from robustlens' separately tested building blocks
    (clipped zoom and box resize match scipy / PIL in test_corruptions.py) or torchvision's JPEG."""
    from torchvision.io import decode_jpeg, encode_jpeg

    x = _texture()
    zooms = PUBLISHED["zoom_blur"][severity - 1]
    zoomed = (x + sum(fl.clipped_zoom(x, float(z)) for z in zooms)) / (len(zooms) + 1)
    torch.testing.assert_close(_corrupt("zoom_blur", severity, x), zoomed.clamp(0, 1), atol=1e-5, rtol=0)

    radius, alias = PUBLISHED["defocus_blur"][severity - 1]
    defocused = fl.filter2d(x, fl.disk_kernel(radius, alias), "mirror").clamp(0, 1)
    torch.testing.assert_close(_corrupt("defocus_blur", severity, x), defocused, atol=1e-6, rtol=0)

    side = int(32 * PUBLISHED["pixelate"][severity - 1])
    pixelated = fl.box_resize(fl.box_resize(x, (side, side)), (32, 32)).clamp(0, 1)
    torch.testing.assert_close(_corrupt("pixelate", severity, x), pixelated, atol=1e-6, rtol=0)

    quality = PUBLISHED["jpeg_compression"][severity - 1]
    jpeg = decode_jpeg(encode_jpeg(list(torch.round(x * 255).to(torch.uint8)), quality=quality))
    torch.testing.assert_close(_corrupt("jpeg_compression", severity, x), torch.stack(jpeg) / 255, atol=0, rtol=0)


@pytest.mark.parametrize("severity", SEVERITIES)
def test_photometric_corruptions_hand_computed_at_every_severity(severity: int) -> None:
    # contrast: (x - mean) c + mean, per image and channel
    x = torch.tensor([[0.2, 0.4], [0.6, 0.8]]).reshape(1, 1, 2, 2)
    c = PUBLISHED["contrast"][severity - 1]
    torch.testing.assert_close(_corrupt("contrast", severity, x), (x - 0.5) * c + 0.5)
    # brightness: HSV value + c; a grey pixel of 0.4 becomes 0.4 + c in every channel
    grey = torch.full((1, 3, 1, 1), 0.4)
    torch.testing.assert_close(_corrupt("brightness", severity, grey), grey + PUBLISHED["brightness"][severity - 1])
    # saturate: S' = clip(S a + b); (0.8, 0.6, 0.4) has V = 0.8, S = 0.5 and hue weights (0, .5, 1):
    # channel = V - S' V w
    a, b = PUBLISHED["saturate"][severity - 1]
    s_new = min(max(0.5 * a + b, 0.0), 1.0)
    rgb = torch.tensor([0.8, 0.6, 0.4]).reshape(1, 3, 1, 1)
    expected = torch.tensor([0.8, 0.8 - s_new * 0.8 * 0.5, 0.8 - s_new * 0.8])
    torch.testing.assert_close(_corrupt("saturate", severity, rgb).flatten(), expected)
    # frost: a x + b texture; two constant images with the same index share the texture, so a = Δout / Δx
    weight = PUBLISHED["frost"][severity - 1][0]
    low, high = torch.full((2, 3, 32, 32), 0.1), torch.full((2, 3, 32, 32), 0.2)
    ratio = (_corrupt("frost", severity, high) - _corrupt("frost", severity, low)) / 0.1
    torch.testing.assert_close(ratio, torch.full_like(ratio, weight), atol=1e-4, rtol=0)


# ----------------------------------------------------------------------------- elastic transform
RAMP_SAMPLES = 96
INTERIOR = slice(10, 23)  # farther from the border than the affine warp + displacement reach: no reflection


def _sampled_coordinates(severity: int) -> torch.Tensor:
    """Where the elastic transform samples each output pixel, as [B, H, W, 2] (x, y) in pixels: the image's
    channels are the column and row ramps, and bilinear sampling of a linear ramp returns the coordinate."""
    yy, xx = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    ramp = torch.stack([xx / 31, yy / 31, torch.full_like(xx, 0.5)]).expand(RAMP_SAMPLES, 3, 32, 32)
    out = _corrupt("elastic_transform", severity, ramp.contiguous())
    return out[:, :2].permute(0, 2, 3, 1).double() * 31


def _affine_fit(coords: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Least-squares affine map (per sample) from output pixel (x, y, 1) to the sampled coordinate over the
    interior, and the residual (the local, non-affine displacement)."""
    yy, xx = torch.meshgrid(torch.arange(32.0, dtype=torch.float64), torch.arange(32.0, dtype=torch.float64),
                            indexing="ij")
    design = torch.stack([xx, yy, torch.ones_like(xx)], dim=-1)[INTERIOR, INTERIOR].reshape(-1, 3)
    target = coords[:, INTERIOR, INTERIOR].reshape(len(coords), -1, 2)
    fit = torch.linalg.lstsq(design.expand(len(coords), -1, -1), target).solution  # [B, 3, 2]
    return fit, target - design @ fit


CONTROL_POINTS = np.array([[26.0, 26.0, 1.0], [26.0, 6.0, 1.0], [6.0, 6.0, 1.0]])  # (x, y, 1): centre ± 32 // 3


def _published_field_statistics(alpha: float, sigma: float) -> tuple[float, float]:
    """make_cifar_c's displacement ``gaussian(uniform(-1, 1), sigma, mode='reflect', truncate=3) * alpha``
    (skimage's ``gaussian`` is scipy's ``gaussian_filter``) by Monte Carlo: the RMS over the interior of its
    non-affine part (what the fit leaves), and the RMS at the control points of its affine part (what the fit
    adds to the jitter there)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[INTERIOR, INTERIOR]
    design = np.stack([xx.ravel(), yy.ravel(), np.ones(xx.size)], axis=1).astype(float)
    local, at_points = [], []
    for _ in range(400):
        field = ndi.gaussian_filter(rng.uniform(-1, 1, (32, 32)), sigma, mode="reflect", truncate=3)
        values = alpha * field[INTERIOR, INTERIOR].ravel()
        affine = np.linalg.lstsq(design, values, rcond=None)[0]
        local.append(np.square(values - design @ affine).mean())
        at_points.append(np.square(CONTROL_POINTS @ affine).mean())
    return float(np.sqrt(np.mean(local))), float(np.sqrt(np.mean(at_points)))


@pytest.mark.parametrize("severity", SEVERITIES)
def test_elastic_transform_has_the_published_affine_jitter_and_local_displacement(severity: int) -> None:
    """make_cifar_c's elastic transform moves the three points ``centre ± size // 3`` (centre 16, so 6 and 26)
    by uniform(-jitter, jitter) each (an affine warp), then displaces every pixel by a Gaussian-smoothed
    uniform field times alpha. The affine part is fitted to where the output samples; mapping the three
    points through it gives their shifts, whose mean square over 96 images is jitter²/3 plus what the field's
    own affine part adds (simulated; at severity 5 the two are of one size, hence 15 %); the fit's residual
    has the RMS of the field's non-affine part."""
    alpha, sigma, jitter = PUBLISHED["elastic_transform"][severity - 1]
    local_rms, affine_rms = _published_field_statistics(alpha, sigma)
    fit, residual = _affine_fit(_sampled_coordinates(severity))
    # the fitted map sends the moved points (pts2) back to pts1; its inverse moves pts1 forward
    square = torch.cat([fit, torch.tensor([[0.0], [0.0], [1.0]], dtype=torch.float64).expand(len(fit), 3, 1)], dim=2)
    points = torch.from_numpy(CONTROL_POINTS)
    shift = (points @ torch.linalg.inv(square))[..., :2] - points[:, :2]
    # uniform(-J, J) has mean square J²/3; the field's affine part adds its own mean square at the points
    estimated_jitter = float(np.sqrt(3 * max(float(shift.square().mean()) - affine_rms ** 2, 0.0)))
    assert estimated_jitter == pytest.approx(jitter, rel=0.15)
    assert float(residual.square().mean().sqrt()) == pytest.approx(local_rms, rel=0.1, abs=1e-4)
