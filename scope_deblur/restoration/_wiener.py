"""Wiener deconvolution with a known PSF, in the FFT convention of :func:`scope_deblur.optics.blur`.

    X̂ = Y · K* / (|K|² + balance),   K = FFT of the PSF (K(0) = 1)

``balance`` is the constant noise-to-signal power ratio. Borders are reflect-padded by
the PSF's radius, as :func:`~scope_deblur.optics.blur` pads them, so a frame's edges
behave like its interior. The fusion U-Net takes this as an extra input plane
(:func:`~scope_deblur.restoration.input_planes`): it hands the network the explicit inverse of
the estimated blur, noise and all, and leaves it the denoising and the correction of
a wrong PSF.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

__all__ = ["wiener", "wiener_transfer"]


def _check(psf: np.ndarray, balance: float) -> int:
    k = psf.shape[-1]
    if psf.ndim != 2 or psf.shape[0] != k or k % 2 == 0:
        raise ValueError(f"PSF must be square with an odd side, got {psf.shape}")
    if balance <= 0:
        raise ValueError(f"balance must be positive, got {balance}")
    return k // 2


def wiener_transfer(
    psf: np.ndarray, shape: tuple[int, int], balance: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return ``(K*, |K|² + balance)`` on the rfft2 grid of a padded ``shape`` frame.

    ``shape`` is the frame's unpadded ``(H, W)``; the filter applies to the rfft2 of
    the frame reflect-padded by the PSF's radius (see :func:`wiener`). Numerator and
    denominator are kept apart so that the result is bitwise the same as without it.
    """
    import torch

    pad = _check(psf, balance)
    ph, pw = shape[0] + 2 * pad, shape[1] + 2 * pad
    kernel = torch.from_numpy(np.array(psf, dtype=np.float32))
    otf = torch.fft.rfft2(kernel, s=(ph, pw))
    # K carries the kernel's corner offset (a shift by +pad); conj(K) shifts back by
    # as much again, so the unpadded frame starts at index 0.
    return otf.conj(), otf.abs() ** 2 + balance


def wiener(
    images: torch.Tensor,
    psf: np.ndarray,
    balance: float = 0.02,
    *,
    transfer: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> torch.Tensor:
    """Return the Wiener deconvolution of ``(H, W)`` or ``(B, H, W)`` images by ``psf``.

    Parameters
    ----------
    images : torch.Tensor
        Float images; the result has their shape, dtype and device.
    psf : numpy.ndarray
        One odd-sized ``(k, k)`` kernel that sums to 1.
    balance : float
        Noise-to-signal power ratio (> 0); larger is smoother.
    transfer : torch.Tensor, optional
        :func:`wiener_transfer` of the same PSF, shape and balance, to reuse.
    """
    import torch
    import torch.nn.functional as F

    pad = _check(psf, balance)
    squeeze = images.ndim == 2
    x = (images[None] if squeeze else images).to(torch.float32)
    h, w = x.shape[-2:]
    if transfer is None:
        transfer = wiener_transfer(psf, (h, w), balance)
    mode = "reflect" if pad < min(h, w) else "replicate"
    xp = F.pad(x[:, None], (pad, pad, pad, pad), mode=mode)[:, 0]
    numerator, denominator = (t.to(x.device) for t in transfer)
    spec = torch.fft.rfft2(xp) * numerator / denominator
    out = torch.fft.irfft2(spec, s=xp.shape[-2:])[..., :h, :w].to(images.dtype)
    return out[0] if squeeze else out
