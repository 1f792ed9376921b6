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
- A network with ``FusionUNetConfig.rl_plane`` (known optics) gets instead the
  normalised frame deconvolved by Richardson–Lucy (``config.rl_iterations``, TV
  ``RL_TV_WEIGHT``) with the PSF of an optics profile at that ``|z|``: a calibrated
  microscope's, or the nominal Born–Wolf one. In training the profile is the very
  member of the family that blurred the crop, so the network learns to trust it.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

from ..optics import NOMINAL, born_wolf_psf
from ._rl import estimate_background, richardson_lucy
from ._wiener import wiener, wiener_transfer

if TYPE_CHECKING:
    from ..nets.fusion_unet import FusionUNetConfig
    from ..optics import OpticsProfile

__all__ = [
    "RL_TV_WEIGHT",
    "WIENER_BALANCE",
    "Z_SCALE_UM",
    "Z_STEP_UM",
    "input_planes",
    "normalise",
    "rl_planes",
]

Z_SCALE_UM = 40.0
"""Defocus that maps to 1.0 in the conditioning plane."""
Z_STEP_UM = 0.5
"""The Wiener plane's PSF is taken at ``|z|`` rounded to this step (cached kernels)."""
WIENER_BALANCE = 0.02
"""Noise-to-signal ratio of the Wiener plane (normalised frames: peak about 1)."""
RL_TV_WEIGHT = 0.01
"""The RL plane is the ``rl`` method's TV-regularised deconvolution."""


def normalise(x: np.ndarray) -> tuple[float, float]:
    """Return ``(background, scale)`` of a frame: 1st percentile and p99.9 − p1 (≥ 1e-3)."""
    lo, hi = np.percentile(x, [1.0, 99.9])
    return float(lo), float(max(hi - lo, 1e-3 * max(abs(hi), 1.0)))


@lru_cache(maxsize=32)
def _wiener_filter(z_um: float, shape: tuple[int, int]) -> tuple[np.ndarray, Any]:
    psf = born_wolf_psf(z_um)
    return psf, wiener_transfer(psf, shape, WIENER_BALANCE)


def _wiener_plane(x: np.ndarray, z_um: float) -> np.ndarray:
    import torch

    z = round(abs(float(z_um)) / Z_STEP_UM) * Z_STEP_UM
    psf, transfer = _wiener_filter(z, x.shape)
    frame = torch.from_numpy(np.ascontiguousarray(x))
    return wiener(frame, psf, WIENER_BALANCE, transfer=transfer).numpy()


def rl_planes(
    x: np.ndarray, psfs: list[np.ndarray], iterations: int = 30, *, pad: bool = False
) -> np.ndarray:
    """Return normalised frames ``(B, H, W)`` deconvolved by RL, one PSF per frame.

    Each frame's background (:func:`~scope_deblur.restoration.estimate_background`)
    is removed before RL and added back, as the ``rl`` method does. Frames whose PSFs
    have the same size are deconvolved in one call. With ``pad`` (training) all the
    PSFs are zero-padded to the largest, so the whole batch is one call; that widens
    RL's border extension (by the PSF radius) and changes only the frames' borders.
    """
    import torch

    if pad:
        k = max(p.shape[0] for p in psfs)
        psfs = [np.pad(p, (k - p.shape[0]) // 2) for p in psfs]
    bg = np.array([estimate_background(f) for f in x], np.float32)[:, None, None]
    signal = np.ascontiguousarray(x - bg, dtype=np.float32)
    out = np.empty_like(signal)
    for k in {p.shape[0] for p in psfs}:
        idx = [i for i, p in enumerate(psfs) if p.shape[0] == k]
        with torch.inference_mode():
            out[idx] = richardson_lucy(
                torch.from_numpy(signal[idx]),
                torch.from_numpy(np.stack([psfs[i] for i in idx]).astype(np.float32)),
                iterations=iterations,
                tv_weight=RL_TV_WEIGHT,
            ).numpy()
    return out + bg


def input_planes(
    x: np.ndarray,
    z_um: np.ndarray,
    config: FusionUNetConfig,
    profile: OpticsProfile | None = None,
    *,
    psfs: list[np.ndarray] | None = None,
) -> np.ndarray:
    """Return the network input ``(B, C, H, W)`` for normalised frames ``(B, H, W)``.

    ``z_um`` holds one defocus per frame (ignored by a blind network). An
    ``rl_plane`` network deconvolves with ``profile``'s PSF at that defocus (default
    the nominal optics), or with ``psfs``, one per frame, when given (training: they
    are padded to one size, see :func:`rl_planes`).
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
    if config.rl_plane:
        given = psfs is not None
        if psfs is None:
            psfs = [(profile or NOMINAL).psf(float(z)) for z in np.ravel(z_um)]
        planes.append(rl_planes(x, psfs, config.rl_iterations, pad=given)[:, None])
    return np.concatenate(planes, axis=1) if len(planes) > 1 else planes[0]
