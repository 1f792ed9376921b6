"""What the fusion U-Net is fed: one contract for training and inference.

- Every frame (or training crop) is normalised by its own percentiles,
  ``(x − p1) / (p99.9 − p1)``, and the output is mapped back with the same pair.
- A conditioned network (``FusionUNetConfig.conditioned``) also gets a constant
  plane holding ``|z| / Z_SCALE_UM``: the true defocus, jittered, in training; the
  estimate in use.
- A network with ``FusionUNetConfig.wiener`` also gets the normalised frame
  Wiener-deconvolved by the nominal Born–Wolf PSF at that ``|z|`` (rounded to
  ``Z_STEP_UM``; balance ``WIENER_BALANCE``). In training the true PSF is a random
  member of the forward-model family, so the network learns how far to trust it.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .fusion_unet import FusionUNetConfig

__all__ = ["WIENER_BALANCE", "Z_SCALE_UM", "Z_STEP_UM", "input_planes", "normalise"]

Z_SCALE_UM = 40.0
"""Defocus that maps to 1.0 in the conditioning plane."""
Z_STEP_UM = 0.5
"""The Wiener plane's PSF is taken at ``|z|`` rounded to this step (cached kernels)."""
WIENER_BALANCE = 0.02
"""Noise-to-signal ratio of the Wiener plane (normalised frames: peak about 1)."""


def normalise(x: np.ndarray) -> tuple[float, float]:
    """Return ``(background, scale)`` of a frame: 1st percentile and p99.9 − p1 (≥ 1e-3)."""
    lo, hi = np.percentile(x, [1.0, 99.9])
    return float(lo), float(max(hi - lo, 1e-3 * max(abs(hi), 1.0)))


@lru_cache(maxsize=32)
def _wiener_filter(z_um: float, shape: tuple[int, int]) -> tuple[np.ndarray, Any]:
    from ..optics import born_wolf_psf
    from ..restoration._wiener import wiener_transfer

    psf = born_wolf_psf(z_um)
    return psf, wiener_transfer(psf, shape, WIENER_BALANCE)


def _wiener_plane(x: np.ndarray, z_um: float) -> np.ndarray:
    import torch

    from ..restoration._wiener import wiener

    z = round(abs(float(z_um)) / Z_STEP_UM) * Z_STEP_UM
    psf, transfer = _wiener_filter(z, x.shape)
    frame = torch.from_numpy(np.ascontiguousarray(x))
    return wiener(frame, psf, WIENER_BALANCE, transfer=transfer).numpy()


def input_planes(x: np.ndarray, z_um: np.ndarray, config: FusionUNetConfig) -> np.ndarray:
    """Return the network input ``(B, C, H, W)`` for normalised frames ``(B, H, W)``.

    ``z_um`` holds one defocus per frame (ignored by a blind network).
    """
    x = np.asarray(x, dtype=np.float32)
    planes = [x[:, None]]
    if config.conditioned:
        z = np.abs(np.asarray(z_um, dtype=np.float32)) / Z_SCALE_UM
        planes.append(np.broadcast_to(z[:, None, None, None], planes[0].shape))
    if config.wiener:
        planes.append(
            np.stack([_wiener_plane(f, z) for f, z in zip(x, z_um, strict=True)])[:, None]
        )
    return np.concatenate(planes, axis=1) if len(planes) > 1 else planes[0]
