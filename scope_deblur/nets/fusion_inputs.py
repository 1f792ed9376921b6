"""What the fusion U-Net is fed: one contract for training and inference.

- Every frame (or training crop) is normalised by its own percentiles,
  ``(x − p1) / (p99.9 − p1)``, and the output is mapped back with the same pair.
- A conditioned network (``FusionUNetConfig.conditioned``) also gets a constant
  plane holding ``|z| / Z_SCALE_UM``: the true defocus in training, the estimate
  in use.
"""

from __future__ import annotations

import numpy as np

__all__ = ["Z_SCALE_UM", "normalise", "with_defocus_plane"]

Z_SCALE_UM = 40.0
"""Defocus that maps to 1.0 in the conditioning plane."""


def normalise(x: np.ndarray) -> tuple[float, float]:
    """Return ``(background, scale)`` of a frame: 1st percentile and p99.9 − p1 (≥ 1e-3)."""
    lo, hi = np.percentile(x, [1.0, 99.9])
    return float(lo), float(max(hi - lo, 1e-3 * max(abs(hi), 1.0)))


def with_defocus_plane(x: np.ndarray, z_um: np.ndarray) -> np.ndarray:
    """Append the conditioning channel to a ``(B, 1, H, W)`` batch, one ``z`` per item."""
    plane = np.broadcast_to(
        (np.abs(z_um).astype(np.float32) / Z_SCALE_UM)[:, None, None, None], x.shape
    )
    return np.concatenate([x, plane], axis=1)
