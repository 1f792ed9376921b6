"""Wiener deconvolution with a known PSF, in the FFT convention of :func:`scope_deblur.optics.blur`.

    X̂ = Y · K* / (|K|² + balance),   K = FFT of the PSF (K(0) = 1)

``balance`` is the constant noise-to-signal power ratio. Borders are reflect-padded by
the PSF's radius, as :func:`~scope_deblur.optics.blur` pads them, so a frame's edges
behave like its interior. The fusion U-Net takes this as an extra input plane
(:mod:`scope_deblur.nets.fusion_inputs`): it hands the network the explicit inverse of
the estimated blur, noise and all, and leaves it the denoising and the correction of
a wrong PSF.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

__all__ = ["wiener"]


def wiener(images: torch.Tensor, psf: np.ndarray, balance: float = 0.02) -> torch.Tensor:
    """Return the Wiener deconvolution of ``(H, W)`` or ``(B, H, W)`` images by ``psf``.

    Parameters
    ----------
    images : torch.Tensor
        Float images; the result has their shape, dtype and device.
    psf : numpy.ndarray
        One odd-sized ``(k, k)`` kernel that sums to 1.
    balance : float
        Noise-to-signal power ratio (> 0); larger is smoother.
    """
    import torch
    import torch.nn.functional as F

    if balance <= 0:
        raise ValueError(f"balance must be positive, got {balance}")
    k = psf.shape[-1]
    if psf.ndim != 2 or psf.shape[0] != k or k % 2 == 0:
        raise ValueError(f"PSF must be square with an odd side, got {psf.shape}")
    squeeze = images.ndim == 2
    x = (images[None] if squeeze else images).to(torch.float32)
    h, w = x.shape[-2:]
    pad = k // 2
    mode = "reflect" if pad < min(h, w) else "replicate"
    xp = F.pad(x[:, None], (pad, pad, pad, pad), mode=mode)[:, 0]
    ph, pw = xp.shape[-2:]
    kernel = torch.from_numpy(np.array(psf, dtype=np.float32)).to(x.device)
    otf = torch.fft.rfft2(kernel, s=(ph, pw))
    # K carries the kernel's corner offset (a shift by +pad); conj(K) shifts back by
    # as much again, so the unpadded frame starts at index 0.
    spec = torch.fft.rfft2(xp) * otf.conj() / (otf.abs() ** 2 + balance)
    out = torch.fft.irfft2(spec, s=(ph, pw))[..., :h, :w]
    out = out.to(images.dtype)
    return out[0] if squeeze else out
