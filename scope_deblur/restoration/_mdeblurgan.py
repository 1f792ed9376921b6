"""MDeblurganRestorer: M-Deblurgan's generator, a defocused frame to a sharp one at 2× sampling.

For a low-magnification objective or a binning camera: the generator
(:class:`~scope_deblur.nets.MDeblurGenerator`, ``scope-deblur train m-deblurgan``)
was trained on 2×2-binned frames (1.29 µm pixels of the BBBC006 optics) and returns
frames with twice the pixels along each side (0.645 µm). Around the network, as the
fusion U-Net's restorer: per-frame normalisation ``(x − p1) / (p99.9 − p1)``,
reflection padding to the network's multiple, overlapping tiles blended with linear
ramps for large frames (tiles in input pixels, blended on the output's grid), bf16
on CPUs that have it, CUDA when present.

The output is in the input's intensity units per output pixel: each output pixel
holds its share of the flux, so the output's total equals the input's (the network's
output, per binned-pixel area, is divided by ``upscale²`` and shifted by a constant
to the input's total). Its pixel size is the input's divided by :attr:`upscale`.

Do no harm (DESIGN.md, Sim-to-real): the network is blind, and on real in-focus
frames, binned and restored, it lost 3-4 dB against bicubic up-sampling (README).
So, as the fusion networks' output, its output is blended with the input up-sampled
bicubically (:func:`bicubic_up`) by a ramp in the estimated defocus, from 0 at
``in_focus_um`` (2 µm) to 1 at twice that; a frame with no estimate comes back
up-sampled only. ``in_focus_um < 0`` (``gates=False``) gives the network alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..patches import patch_starts
from ._fusion import FusionRestorer, _match_flux, _window
from ._fusion_inputs import normalise

if TYPE_CHECKING:
    from ..protocols import DefocusEstimate

__all__ = ["MDEBLURGAN_IN_FOCUS_UM", "MDeblurganRestorer", "bicubic_up"]

MDEBLURGAN_IN_FOCUS_UM = 2.0
"""Below this estimated |defocus| (µm) the frame is only up-sampled (bicubic)."""


def bicubic_up(frame: np.ndarray, s: int) -> np.ndarray:
    """Return ``frame`` up-sampled ``s``× per side by bicubic interpolation, flux kept.

    Each output pixel holds its share of the flux: the result, float32, totals the
    input's (a constant shift after dividing by ``s²``).
    """
    from skimage.transform import resize

    x = np.asarray(frame, np.float64)
    up = resize(x, (s * x.shape[0], s * x.shape[1]), order=3, preserve_range=True) / s**2
    return (up + (x.sum() - up.sum()) / up.size).astype(np.float32)


class MDeblurganRestorer(FusionRestorer):
    """Restore and 2× super-resolve frames with a shipped M-Deblurgan generator.

    Parameters
    ----------
    weights : str
        Shipped model name (``"m-deblurgan"``) or a path to ``.safetensors`` with its card.
    device : {"auto", "cpu", "cuda"}
        ``"auto"`` picks CUDA when available.
    tile, overlap : int
        Frames larger than ``tile`` input pixels on a side are restored in tiles that
        overlap by ``overlap`` input pixels.
    dtype : {"auto", "float32", "bfloat16", "float16"}
        As :class:`FusionRestorer`'s.
    in_focus_um : float
        The depth gate (module docstring); negative: no gate.
    """

    def __init__(
        self,
        weights: str = "m-deblurgan",
        *,
        device: str = "auto",
        tile: int = 512,
        overlap: int = 32,
        dtype: str = "auto",
        in_focus_um: float = MDEBLURGAN_IN_FOCUS_UM,
    ) -> None:
        from ..nets import MDeblurGenerator

        net = self._load(weights, MDeblurGenerator, "an M-Deblurgan", device, dtype, tile, overlap)
        self.upscale = net.config.upscale
        """Output pixels per input pixel along each side."""
        self.profile = None
        self.in_focus_um = float(in_focus_um)
        self.error_floor = 0.0

    def _planes(self, batch: np.ndarray, z_um: np.ndarray) -> np.ndarray:
        """Return the generator's input, the normalised frame alone: ``(B, 1, H, W)``."""
        return np.ascontiguousarray(batch[:, None], dtype=np.float32)

    def _restore_normalised(self, xn: np.ndarray, z_um: float) -> np.ndarray:
        """Return the network's ``(s·H, s·W)`` output of a normalised ``(H, W)`` frame."""
        m, s = self.net.multiple, self.upscale
        h, w = xn.shape
        ph, pw = max(-(-h // m) * m, m), max(-(-w // m) * m, m)
        xp = np.pad(xn, ((0, ph - h), (0, pw - w)), mode="symmetric")
        planes = self._planes(xp[None], np.zeros(1))
        th, tw = self._tile_side(ph), self._tile_side(pw)
        if (th, tw) == (ph, pw):
            return self._forward(planes)[0, : s * h, : s * w]
        acc = np.zeros((s * ph, s * pw), np.float32)
        wsum = np.zeros((s * ph, s * pw), np.float32)
        for y0 in patch_starts(ph, th, max(th - self.overlap, 1)):
            for x0 in patch_starts(pw, tw, max(tw - self.overlap, 1)):
                out = self._forward(planes[:, :, y0 : y0 + th, x0 : x0 + tw])[0]
                wy = _window(s * th, s * self.overlap, y0 > 0, y0 + th < ph)
                wx = _window(s * tw, s * self.overlap, x0 > 0, x0 + tw < pw)
                wt = wy[:, None] * wx[None, :]
                ys, xs = slice(s * y0, s * (y0 + th)), slice(s * x0, s * (x0 + tw))
                acc[ys, xs] += out * wt
                wsum[ys, xs] += wt
        return (acc / wsum)[: s * h, : s * w]

    def _restore_scaled(self, x: np.ndarray, defocus_um: float | None) -> tuple[np.ndarray, float]:
        """Return the ``(s·H, s·W)`` restoration (flux per output pixel) and the scale."""
        lo, scale = normalise(x)
        y = (self._restore_normalised((x - lo) / scale, 0.0) * scale + lo) / self.upscale**2
        return _match_flux(x, y), scale

    def strength(self, estimate: DefocusEstimate | None) -> float:
        """Return the blend weight of the network output, in [0, 1] (1 without gates)."""
        return 1.0 if self.in_focus_um < 0 else super().strength(estimate)

    def _unrestored(self, x: np.ndarray) -> np.ndarray:
        """Return the frame on the output grid: bicubic, ``upscale`` times finer, same flux."""
        return bicubic_up(x, self.upscale)

    def restore_batch(
        self, frames: Sequence[np.ndarray], estimates: Sequence[DefocusEstimate | None]
    ) -> list[np.ndarray]:
        """Restore several frames, one after the other."""
        if len(frames) != len(estimates):
            raise ValueError(f"got {len(frames)} frames but {len(estimates)} estimates")
        return [self.restore(f, e) for f, e in zip(frames, estimates, strict=True)]
