"""Restore frames of another pixel size: resample to the restorer's, restore, come back.

Every restorer works at one pixel size: the networks at the one they were trained at
(their card's optics), Richardson–Lucy and AWDVD at their PSF's. A frame sampled
otherwise is resampled to it, restored, and the change the restorer made is resampled
back onto the frame and added to it, so that a frame finer than the restorer's pixels
keeps its own fine detail and only gains the correction (same shape, dtype float32 and
intensity units as the input, as every restorer returns).

A restorer that super-resolves (:class:`~scope_deblur.protocols.Upscaling`, ``s``
output pixels per input pixel and side) gives the frame ``(s·H, s·W)`` pixels of a
size divided by ``s``: its output is resampled onto that grid and shifted by a
constant to the frame's total flux.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from ..budget import check_memory, restore_bytes
from ..io import check_frame
from ..protocols import HashedWeights, Upscaling, WarmsUp, upscale_of

if TYPE_CHECKING:
    from ..protocols import DefocusEstimate, Restorer

__all__ = ["TOLERANCE", "RescaledRestorer", "needs_resampling"]

TOLERANCE = 0.05
"""Pixel sizes within this fraction of the restorer's are used as they are."""

_RESAMPLE_BYTES_PER_PIXEL = 24
"""Per pixel of the frame and of its resampled copy: the float64 copies skimage makes."""


def needs_resampling(pixel_um: float, working_um: float) -> bool:
    """Whether frames of ``pixel_um`` pixels are far from a restorer's ``working_um``."""
    return abs(pixel_um / working_um - 1.0) > TOLERANCE


class RescaledRestorer:
    """Restore frames of ``pixel_um`` pixels with ``inner``, which works at ``working_um``."""

    def __init__(self, inner: Restorer, *, pixel_um: float, working_um: float) -> None:
        if not (pixel_um > 0 and np.isfinite(pixel_um)):
            raise ValueError(f"--pixel-size must be a positive number of µm, got {pixel_um}")
        self.inner, self.name = inner, inner.name
        self.pixel_um, self.working_um = pixel_um, working_um
        self.scale = pixel_um / working_um
        self.sha256 = inner.sha256 if isinstance(inner, HashedWeights) else ""
        if isinstance(inner, Upscaling):
            self.upscale = inner.upscale

    def working_shape(self, shape: tuple[int, ...]) -> tuple[int, int]:
        """Return the shape the restorer sees of a frame of ``shape``."""
        return (max(round(shape[-2] * self.scale), 1), max(round(shape[-1] * self.scale), 1))

    def check_memory(self, shape: tuple[int, ...], name: str) -> None:
        """Raise ``ValueError`` if restoring a ``shape`` frame needs more than the budget."""
        h, w = self.working_shape(shape)
        s = upscale_of(self.inner)  # a super-resolved output, and its copy, are s² larger
        resampled = (h * w + shape[-2] * shape[-1]) * s * s
        need = restore_bytes((s * h, s * w)) + _RESAMPLE_BYTES_PER_PIXEL * resampled
        check_memory(
            need,
            f"{name}: restoring a {shape[-2]}×{shape[-1]} plane of {self.pixel_um:g} µm pixels "
            f"(resampled to {self.name}'s {self.working_um:g} µm: {h}×{w})",
        )

    def warm_up(self, shape: tuple[int, int]) -> None:
        """Warm the inner restorer up for the resampled frame size."""
        if isinstance(self.inner, WarmsUp):
            self.inner.warm_up(self.working_shape(shape))

    def restore(self, frame: np.ndarray, estimate: DefocusEstimate) -> np.ndarray:
        """Return ``frame`` restored at the working pixel size, on its own grid (float32)."""
        from skimage.transform import resize

        x = check_frame(frame)
        self.check_memory(x.shape, "frame")
        seen = self.working_shape(x.shape)
        xs = resize(x, seen, order=1, preserve_range=True, anti_aliasing=self.scale < 1)
        xs = xs.astype(np.float32)
        dmap = estimate.defocus_map
        if dmap is not None:
            dmap = resize(dmap, seen, order=0, preserve_range=True, anti_aliasing=False)
        restored = self.inner.restore(xs, replace(estimate, defocus_map=dmap))
        s = upscale_of(self.inner)
        if s > 1:  # a super-resolved output: onto the frame's grid, s times finer
            fine = (s * x.shape[0], s * x.shape[1])
            up = resize(restored, fine, order=1, preserve_range=True, anti_aliasing=self.scale > 1)
            shift = float(x.sum(dtype=np.float64) - up.sum(dtype=np.float64)) / up.size
            return (up + shift).astype(np.float32)
        change = np.asarray(restored, np.float32) - xs
        back = resize(change, x.shape, order=1, preserve_range=True, anti_aliasing=self.scale > 1)
        return x + back.astype(np.float32)
