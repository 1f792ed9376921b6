"""Synthetic defocus: FFT convolution with reflect padding, shot and read noise.

Works on torch tensors shaped ``(H, W)`` or ``(B, H, W)``, on any device, so that
training can generate data on the fly. Intensities stay in the input's units: the
image is scaled to photons only to draw the noise, then scaled back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ._psf import BBBC006_OPTICS, Optics, born_wolf_psf

if TYPE_CHECKING:
    import torch

__all__ = ["blur", "defocus"]


def _as_batch(x: torch.Tensor) -> tuple[torch.Tensor, bool]:
    if x.ndim == 2:
        return x[None], True
    if x.ndim == 3:
        return x, False
    raise ValueError(f"expected an (H, W) or (B, H, W) tensor, got shape {tuple(x.shape)}")


def blur(images: torch.Tensor, psf: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Convolve images with a PSF by FFT, reflect-padding the borders.

    Parameters
    ----------
    images : torch.Tensor
        ``(H, W)`` or ``(B, H, W)`` float tensor.
    psf : torch.Tensor or numpy.ndarray
        One odd-sized ``(k, k)`` kernel, or one per image ``(B, k, k)``.

    Returns
    -------
    torch.Tensor
        Blurred images, same shape, dtype and device as ``images``.
    """
    import torch
    import torch.nn.functional as F

    x, squeeze = _as_batch(images)
    kernel = torch.tensor(psf) if isinstance(psf, np.ndarray) else psf
    kernel = kernel.to(device=x.device, dtype=torch.float32)
    if kernel.ndim == 2:
        kernel = kernel[None]
    k = kernel.shape[-1]
    if kernel.shape[-2] != k or k % 2 == 0:
        raise ValueError(f"PSF must be square with an odd side, got {tuple(kernel.shape)}")
    h, w = x.shape[-2:]
    pad = k // 2
    xf = x.to(torch.float32)[:, None]
    # Reflect padding needs pad < size; fall back to replicate for tiny images.
    mode = "reflect" if pad < min(h, w) else "replicate"
    xp = F.pad(xf, (pad, pad, pad, pad), mode=mode)[:, 0]
    ph, pw = xp.shape[-2:]
    spec = torch.fft.rfft2(xp) * torch.fft.rfft2(kernel, s=(ph, pw))
    full = torch.fft.irfft2(spec, s=(ph, pw))
    out = full[..., 2 * pad : 2 * pad + h, 2 * pad : 2 * pad + w]
    out = out.to(images.dtype)
    return out[0] if squeeze else out


def defocus(
    sharp: torch.Tensor,
    z_um: float | Sequence[float],
    *,
    optics: Optics = BBBC006_OPTICS,
    photons: float | None = 1000.0,
    read_noise: float = 2.0,
    generator: torch.Generator | None = None,
    psf: np.ndarray | None = None,
) -> torch.Tensor:
    """Blur sharp images with the Born–Wolf PSF at ``z_um`` and add camera noise.

    Parameters
    ----------
    sharp : torch.Tensor
        ``(H, W)`` or ``(B, H, W)`` in-focus images (any non-negative units).
    z_um : float or sequence of float
        Defocus per batch (one value) or per image.
    optics : Optics
        Imaging parameters of the PSF.
    photons : float or None
        Photon count that each image's 99.9th percentile maps to. ``None``: no noise.
    read_noise : float
        Gaussian read-noise standard deviation, in photons.
    generator : torch.Generator, optional
        Source of randomness, for reproducible noise.
    psf : numpy.ndarray, optional
        Blur every image with this kernel instead (say, a member of the forward-model
        family of :mod:`scope_deblur.optics._family`); ``z_um`` is then ignored.

    Returns
    -------
    torch.Tensor
        Degraded images in the input's intensity units (flux is conserved).
    """
    import torch

    x, squeeze = _as_batch(sharp)
    x = x.to(torch.float32)
    zs = [float(z_um)] * x.shape[0] if isinstance(z_um, int | float) else [float(z) for z in z_um]
    if len(zs) != x.shape[0]:
        raise ValueError(f"got {len(zs)} defocus values for a batch of {x.shape[0]}")
    # Group images by z so each PSF is built and transformed once.
    out = torch.empty_like(x)
    for z in sorted(set(zs)):
        idx = [i for i, zi in enumerate(zs) if zi == z]
        out[idx] = blur(x[idx], born_wolf_psf(z, optics) if psf is None else psf)
    out = out.clamp_min(0)
    if photons is not None:
        q = torch.quantile(x.flatten(1)[:, :: max(1, x[0].numel() // 100_000)], 0.999, dim=1)
        scale = (photons / q.clamp_min(1e-12))[:, None, None]
        counts = torch.poisson(out * scale, generator=generator)
        noise = torch.randn(out.shape, generator=generator, device=out.device) * read_noise
        out = (counts + noise) / scale
    return out[0] if squeeze else out
