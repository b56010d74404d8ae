"""Batched image operations the corruptions are built from (torch re-implementations of the
SciPy / scikit-image / OpenCV / PIL calls in Hendrycks & Dietterich's ``make_cifar_c.py``).

All functions take ``[B, C, H, W]`` float tensors. Border modes are named after SciPy:
``nearest`` (edge repeated: ``aaa|abc|ccc``), ``reflect`` (half-sample symmetric:
``cba|abc|cba``, SciPy/skimage "reflect") and ``mirror`` (``cb|abc|ba``, OpenCV's default
``BORDER_REFLECT_101``). They are implemented by index arithmetic, so any padding width works
(SciPy allows kernels larger than the image; ``torch.nn.functional.pad`` does not).
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from torch import Tensor

BORDER_MODES = ("nearest", "reflect", "mirror")


def border_index(n: int, before: int, after: int, mode: str, device=None) -> Tensor:
    """Source indices for positions ``-before .. n-1+after`` of a length-``n`` axis."""
    idx = torch.arange(-before, n + after, device=device)
    if mode == "nearest" or n == 1:
        return idx.clamp(0, n - 1)
    if mode == "reflect":
        period = 2 * n
        m = idx.remainder(period)
        return torch.where(m >= n, period - 1 - m, m)
    if mode == "mirror":
        period = 2 * n - 2
        m = idx.remainder(period)
        return torch.where(m >= n, period - m, m)
    raise ValueError(f"unknown border mode {mode!r}; valid: {', '.join(BORDER_MODES)}")


def pad(x: Tensor, ph: int, pw: int, mode: str) -> Tensor:
    """Pad the last two dims by ``ph`` rows and ``pw`` columns on each side."""
    h, w = x.shape[-2:]
    iy = border_index(h, ph, ph, mode, x.device)
    ix = border_index(w, pw, pw, mode, x.device)
    return x[..., iy, :][..., :, ix]


def filter2d(x: Tensor, kernel: Tensor, mode: str) -> Tensor:
    """Correlate every channel with one odd-sized 2-D ``kernel`` (centred, like ``cv2.filter2D``)."""
    kh, kw = kernel.shape
    b, c, h, w = x.shape
    xp = pad(x, kh // 2, kw // 2, mode).reshape(b * c, 1, h + kh - 1, w + kw - 1)
    out = F.conv2d(xp, kernel.to(x)[None, None])
    return out.reshape(b, c, h, w)


def gaussian_kernel1d(sigma: float, truncate: float = 4.0) -> Tensor:
    """SciPy's ``gaussian_filter1d`` kernel: radius ``int(truncate*sigma + 0.5)``, sums to 1."""
    radius = int(truncate * sigma + 0.5)
    t = torch.arange(-radius, radius + 1, dtype=torch.float64)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    return (k / k.sum()).float()


def gaussian_blur(x: Tensor, sigma: float | Tensor, mode: str = "nearest", truncate: float = 4.0) -> Tensor:
    """``skimage.filters.gaussian`` on the spatial axes (separable; ``sigma == 0`` is the identity)."""
    if float(sigma) <= 0:
        return x
    k = gaussian_kernel1d(float(sigma), truncate)
    x = filter2d(x, k[None, :], mode)
    return filter2d(x, k[:, None], mode)


def box_blur3(x: Tensor) -> Tensor:
    """``cv2.blur(x, (3, 3))`` (OpenCV's default border: mirror)."""
    return filter2d(x, torch.full((3, 3), 1.0 / 9.0), "mirror")


@functools.lru_cache(maxsize=16)
def disk_kernel(radius: float, alias_blur: float) -> Tensor:
    """The anti-aliased disk of ``make_cifar_c.disk``, cropped to its non-zero support.

    Cached: a host-side constant of its two arguments (its crop reads the kernel's values), built
    once instead of on every batch; :func:`filter2d` moves it to the input's device and dtype.
    """
    if radius <= 8:
        size, ksize = 8, 3
    else:
        size, ksize = int(radius), 5
    t = torch.arange(-size, size + 1, dtype=torch.float64)
    yy, xx = torch.meshgrid(t, t, indexing="ij")
    disk = ((xx**2 + yy**2) <= radius**2).double()
    disk /= disk.sum()
    # cv2.GaussianBlur with a ksize x ksize kernel of sigma alias_blur (border: mirror)
    g = torch.exp(-0.5 * (torch.arange(ksize, dtype=torch.float64) - ksize // 2) ** 2 / alias_blur**2)
    g /= g.sum()
    k = filter2d(disk[None, None], (g[:, None] * g[None, :]), "mirror")[0, 0]
    nz = (k.abs() > 0).nonzero()
    r = int((nz - size).abs().max()) if len(nz) else 0
    return k[size - r : size + r + 1, size - r : size + r + 1].float()


def zoom_linear(x: Tensor, zoom: float) -> Tensor:
    """``scipy.ndimage.zoom(x, zoom, order=1)`` on the spatial axes (corner-aligned grid)."""
    h, w = x.shape[-2:]
    size = (round(h * zoom), round(w * zoom))
    return F.interpolate(x, size=size, mode="bilinear", align_corners=True)


def clipped_zoom(x: Tensor, zoom: float) -> Tensor:
    """Zoom into the centre and crop back to the input size (``make_cifar_c.clipped_zoom``)."""
    h, w = x.shape[-2:]
    ch, cw = math.ceil(h / zoom), math.ceil(w / zoom)
    top, left = (h - ch) // 2, (w - cw) // 2
    z = zoom_linear(x[..., top : top + ch, left : left + cw], zoom)
    th, tw = (z.shape[-2] - h) // 2, (z.shape[-1] - w) // 2
    return z[..., th : th + h, tw : tw + w]


def motion_blur(x: Tensor, radius: int, sigma: float, angle: Tensor) -> Tensor:
    """ImageMagick-style motion blur as re-implemented by ``imagecorruptions._motion_blur``.

    A one-sided Gaussian-weighted streak of ``2*radius+1`` taps along ``angle`` (degrees,
    one per sample), edges repeated. Taps that would leave the image are dropped (unnormalised),
    as in the reference.
    """
    b, c, h, w = x.shape
    width = 2 * radius + 1
    taps = torch.arange(width, dtype=torch.float64)
    weights = torch.exp(-(taps**2) / (2 * sigma**2))
    weights = (weights / weights.sum()).to(x)
    rad = torch.deg2rad(angle.detach().cpu().double())
    p = width  # shifts are at most width-1 pixels: pad once, then gather shifted windows
    xp = pad(x, p, p, "nearest").reshape(b, c, -1)
    wp = w + 2 * p
    base = (torch.arange(h)[:, None] * wp + torch.arange(w)[None, :]).reshape(1, 1, -1).to(x.device)
    out = torch.zeros(b, c, h * w, dtype=x.dtype, device=x.device)
    active = torch.ones(b, dtype=torch.bool)
    for i in range(width):
        dy = -torch.ceil(i * torch.sin(rad) - 0.5).long()
        dx = -torch.ceil(i * torch.cos(rad) - 0.5).long()
        active &= (dy.abs() < h) & (dx.abs() < w)
        offset = ((p - dy) * wp + (p - dx)).to(x.device)
        index = (base + offset[:, None, None]).expand(b, c, h * w)
        out += (weights[i] * active.to(x))[:, None, None] * torch.gather(xp, 2, index)
    return out.reshape(b, c, h, w)


def plasma_fractal(uniform: Tensor, mapsize: int, wibbledecay: float) -> Tensor:
    """Batched diamond-square height maps in [0,1] (``make_cifar_c.plasma_fractal``).

    ``uniform``: ``[B, plasma_draws(mapsize)]`` numbers in [-1, 1); the reference adds
    ``wibble * U(-wibble, wibble)`` (i.e. ``wibble**2 * U(-1,1)``), kept as is.
    """
    if mapsize & (mapsize - 1):
        raise ValueError(f"mapsize must be a power of two, got {mapsize}")
    b = uniform.shape[0]
    m = torch.zeros(b, mapsize, mapsize, dtype=torch.float64, device=uniform.device)
    u = uniform.double()
    pos = 0
    step, wibble = mapsize, 100.0

    def wibbled(arr: Tensor) -> Tensor:
        nonlocal pos
        n = arr[0].numel()
        noise = u[:, pos : pos + n].reshape(arr.shape)
        pos += n
        return arr / 4 + wibble * wibble * noise

    while step >= 2:
        half = step // 2
        corner = m[:, 0::step, 0::step]
        sq = corner + torch.roll(corner, -1, dims=1)
        sq = sq + torch.roll(sq, -1, dims=2)
        m[:, half::step, half::step] = wibbled(sq)
        dr = m[:, half::step, half::step]
        ul = m[:, 0::step, 0::step]
        lsum = dr + torch.roll(dr, 1, dims=1) + ul + torch.roll(ul, -1, dims=2)
        m[:, 0::step, half::step] = wibbled(lsum)
        tsum = dr + torch.roll(dr, 1, dims=2) + ul + torch.roll(ul, -1, dims=1)
        m[:, half::step, 0::step] = wibbled(tsum)
        step //= 2
        wibble /= wibbledecay
    m = m - m.amin(dim=(1, 2), keepdim=True)
    return (m / m.amax(dim=(1, 2), keepdim=True).clamp_min(1e-12)).float()


def plasma_draws(mapsize: int) -> int:
    """How many uniform numbers :func:`plasma_fractal` consumes per map."""
    total, step = 0, mapsize
    while step >= 2:
        total += 3 * (mapsize // step) ** 2
        step //= 2
    return total


def pil_box_matrix(in_size: int, out_size: int) -> Tensor:
    """``[out, in]`` weights of PIL's ``Image.resize(..., Image.BOX)`` along one axis."""
    scale = in_size / out_size
    filterscale = max(scale, 1.0)
    support = 0.5 * filterscale
    mat = torch.zeros(out_size, in_size, dtype=torch.float64)
    for o in range(out_size):
        center = (o + 0.5) * scale
        lo = max(int(center - support + 0.5), 0)
        hi = min(int(center + support + 0.5), in_size)
        for i in range(lo, hi):
            t = (i - center + 0.5) / filterscale
            if -0.5 < t <= 0.5:  # PIL's box_filter
                mat[o, i] = 1.0
        mat[o] /= mat[o].sum()
    return mat.float()


def box_resize(x: Tensor, size: tuple[int, int]) -> Tensor:
    """PIL BOX resize of every channel to ``size`` = (height, width)."""
    mh = pil_box_matrix(x.shape[-2], size[0]).to(x)
    mw = pil_box_matrix(x.shape[-1], size[1]).to(x)
    return mh @ x @ mw.T


LUMA = (0.299, 0.587, 0.114)


def to_gray(x: Tensor) -> Tensor:
    """ITU-R 601 luma (OpenCV's ``RGB2GRAY``) of ``[B,3,H,W]`` → ``[B,1,H,W]``; grey input passes through."""
    if x.shape[1] == 1:
        return x
    w = torch.tensor(LUMA, dtype=x.dtype, device=x.device)[None, :, None, None]
    return (x * w).sum(dim=1, keepdim=True)


def dilate3(mask: Tensor) -> Tensor:
    """3x3 binary dilation of a ``[B,1,H,W]`` float mask."""
    return F.max_pool2d(mask, 3, stride=1, padding=1)


def erode3(mask: Tensor) -> Tensor:
    return -F.max_pool2d(-mask, 3, stride=1, padding=1)
