"""ComiRestorer: COMI's deblurring generator as a :class:`~scope_deblur.protocols.Restorer`.

The generator (:class:`~scope_deblur.nets.ComiGenerator`) was trained on unpaired
real images (``scope-deblur train comi``). Everything around the network is the
fusion U-Net's (:class:`~scope_deblur.restoration.FusionRestorer`): per-frame
normalisation ``(x − p1) / (p99.9 − p1)``, reflection padding to the network's
multiple, overlapping tiles blended with linear ramps for large frames, bf16 on CPUs
that have it, CUDA when present, output mapped back to the input's units with the
total flux of the input.

Do no harm: the network is blind (it is not told the defocus) and learned the
strong defocus of the real z00 frames (about 32 µm) and simulated 10-40 µm blur, so
its weight ramps from 0 at ``in_focus_um`` (5 µm) to 1 at twice that; as for the
fusion networks, a frame with no estimate comes back unchanged and the confidence
gates nothing.
"""

from __future__ import annotations

import numpy as np

from ._fusion import FusionRestorer, _match_flux
from ._fusion_inputs import normalise

__all__ = ["COMI_IN_FOCUS_UM", "ComiRestorer"]

COMI_IN_FOCUS_UM = 5.0
"""Below this estimated |defocus| (µm) the input comes back unchanged."""


class ComiRestorer(FusionRestorer):
    """Restore defocused frames with a shipped COMI generator.

    Parameters
    ----------
    weights : str
        Shipped model name (``"comi"``) or a path to ``.safetensors`` with its card.
    device : {"auto", "cpu", "cuda"}
        ``"auto"`` picks CUDA when available.
    tile, overlap : int
        Frames larger than ``tile`` px on a side are restored in tiles that overlap by
        ``overlap`` px.
    dtype : {"auto", "float32", "bfloat16", "float16"}
        As :class:`FusionRestorer`'s.
    in_focus_um : float
        The depth gate (module docstring).
    """

    def __init__(
        self,
        weights: str = "comi",
        *,
        device: str = "auto",
        tile: int = 1024,
        overlap: int = 32,
        dtype: str = "auto",
        in_focus_um: float = COMI_IN_FOCUS_UM,
    ) -> None:
        from ..nets import ComiGenerator

        self._load(weights, ComiGenerator, "a COMI generator", device, dtype, tile, overlap)
        self.profile = None
        self.in_focus_um = float(in_focus_um)
        self.error_floor = 0.0

    def _planes(self, batch: np.ndarray, z_um: np.ndarray) -> np.ndarray:
        """Return the generator's input, the normalised frame alone: ``(B, 1, H, W)``."""
        return np.ascontiguousarray(batch[:, None], dtype=np.float32)

    def _restore_scaled(self, x: np.ndarray, defocus_um: float | None) -> tuple[np.ndarray, float]:
        """Return the network's restoration (input units, flux matched) and the scale."""
        lo, s = normalise(x)
        y = self._restore_normalised((x - lo) / s, 0.0) * s + lo
        return _match_flux(x, y), s
