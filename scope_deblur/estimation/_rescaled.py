"""Estimate frames of another microscope: resample to DelpNet's pixel, read µm in its optics.

DelpNet was trained at the BBBC006 optics (0.645 µm pixels, NA 0.5 in air). A frame
of another microscope is resampled to that pixel size first, so that the network
sees structures at the size it knows, and the defocus map comes back at the frame's
own resolution. With an optics profile the µm are then converted to the profile's
optics (:meth:`~scope_deblur.optics.OpticsProfile.defocus_from_nominal`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from ..budget import check_memory
from ..io import check_frame
from ..optics import BBBC006_OPTICS
from ..protocols import BatchEstimator

if TYPE_CHECKING:
    from ..optics import OpticsProfile
    from ..protocols import DefocusEstimate, DefocusEstimator

__all__ = ["RescaledEstimator", "check_estimate_memory", "estimate_bytes"]

_BYTES_PER_NETWORK_PIXEL = 160
"""DelpNet's peak memory per pixel it sees (its patches, normalised, and the activations
of all of them at once). Measured on the CPU at 1–6 Mpixel: 82–85 bytes in bf16, 147
in float32."""
_BYTES_PER_FRAME_PIXEL = 32
"""Per pixel of the frame itself: the float64 copies that resampling and resizing the
defocus map back make."""


def _scale(pixel_um: float | None) -> float:
    """Return the resampling factor to DelpNet's pixel; check ``pixel_um``."""
    if pixel_um is None:
        return 1.0
    if not (pixel_um > 0 and math.isfinite(pixel_um)):
        raise ValueError(f"--pixel-size must be a positive number of µm, got {pixel_um}")
    return pixel_um / BBBC006_OPTICS.pixel_um


def _seen(shape: tuple[int, ...], pixel_um: float | None) -> tuple[float, float]:
    """Return about the height and width that DelpNet sees of a frame of ``shape``."""
    scale = _scale(pixel_um)
    return max(shape[-2] * scale, 1.0), max(shape[-1] * scale, 1.0)  # floats: may be huge


def estimate_bytes(shape: tuple[int, ...], pixel_um: float | None = None) -> float:
    """Return about how many bytes estimating one frame of ``shape`` needs at its peak.

    ``pixel_um`` is the frame's pixel size; the frame is resampled to DelpNet's, so a
    large pixel size multiplies the pixels the network sees by its square.

    Raises
    ------
    ValueError
        If ``pixel_um`` is not a positive number.
    """
    h, w = _seen(shape, pixel_um)
    return _BYTES_PER_NETWORK_PIXEL * h * w + _BYTES_PER_FRAME_PIXEL * math.prod(shape[-2:])


def check_estimate_memory(shape: tuple[int, ...], pixel_um: float | None, name: str) -> None:
    """Raise ``ValueError`` if estimating a ``shape`` frame needs more than the budget.

    ``name`` names the frame in the message (``"x.tif"``); see :mod:`scope_deblur.budget`.
    """
    what = f"{name}: estimating a {shape[-2]}×{shape[-1]} plane"
    if pixel_um is not None:
        h, w = _seen(shape, pixel_um)
        what += f" of {pixel_um:g} µm pixels (resampled to DelpNet's {h:.0f}×{w:.0f})"
    check_memory(estimate_bytes(shape, pixel_um), what)


def _resample(image: np.ndarray, pixel_um: float) -> np.ndarray:
    """Resample ``image`` from ``pixel_um`` pixels to DelpNet's (float32)."""
    scale = _scale(pixel_um)
    if abs(scale - 1) < 1e-3:
        return image
    from skimage.transform import rescale

    out = rescale(image, scale, order=1, preserve_range=True, anti_aliasing=scale < 1)
    return out.astype(np.float32)


class RescaledEstimator:
    """Wrap an estimator for frames of ``pixel_um`` pixels and, optionally, a profile."""

    def __init__(
        self,
        inner: DefocusEstimator,
        *,
        pixel_um: float | None = None,
        profile: OpticsProfile | None = None,
    ) -> None:
        _scale(pixel_um)  # checks it
        self.inner = inner
        self.name = inner.name
        self.pixel_um = pixel_um or (profile.optics.pixel_um if profile else None)
        self.ratio = 1.0 if profile is None else profile.defocus_from_nominal(1.0)

    def estimate(self, frame: np.ndarray) -> DefocusEstimate:
        """Estimate ``frame``; the defocus map comes back at its resolution."""
        return self.estimate_batch([frame])[0]

    def estimate_batch(self, frames: Sequence[np.ndarray]) -> list[DefocusEstimate]:
        """Estimate several frames, in one network call when the inner estimator can."""
        seen = [self._resampled(np.asarray(f)) for f in frames]
        if isinstance(self.inner, BatchEstimator):
            estimates = list(self.inner.estimate_batch(seen))
        else:
            estimates = [self.inner.estimate(x) for x in seen]
        return [self._back(np.shape(f), e) for f, e in zip(frames, estimates, strict=True)]

    def _resampled(self, x: np.ndarray) -> np.ndarray:
        if self.pixel_um is None:
            return x
        x = check_frame(x)
        check_estimate_memory(x.shape, self.pixel_um, "frame")  # before resampling it
        return _resample(x, self.pixel_um)

    def _back(self, shape: tuple[int, ...], est: DefocusEstimate) -> DefocusEstimate:
        """Return ``est`` with its map at the frame's ``shape`` and µm in the profile's optics."""
        dmap = est.defocus_map
        if dmap is not None and dmap.shape != shape:
            from skimage.transform import resize

            dmap = resize(dmap, shape, order=0, preserve_range=True, anti_aliasing=False)
        if self.ratio == 1.0:
            return replace(est, defocus_map=dmap)
        return replace(
            est,
            defocus_um=None if est.defocus_um is None else est.defocus_um * self.ratio,
            defocus_map=None if dmap is None else (dmap * self.ratio).astype(np.float32),
        )
