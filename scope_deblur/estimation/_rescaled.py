"""Estimate frames of another microscope: resample to DelpNet's pixel, read µm in its optics.

DelpNet was trained at the BBBC006 optics (0.645 µm pixels, NA 0.5 in air). A frame
of another microscope is resampled to that pixel size first, so that the network
sees structures at the size it knows, and the defocus map comes back at the frame's
own resolution. With an optics profile the µm are then converted to the profile's
optics (:meth:`~scope_deblur.optics.OpticsProfile.defocus_from_nominal`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from ..optics import BBBC006_OPTICS

if TYPE_CHECKING:
    from ..optics import OpticsProfile
    from ..protocols import DefocusEstimate, DefocusEstimator

__all__ = ["RescaledEstimator"]


def _resample(image: np.ndarray, pixel_um: float, model_pixel_um: float) -> np.ndarray:
    """Resample ``image`` from ``pixel_um`` to ``model_pixel_um`` pixels (float32)."""
    if abs(pixel_um / model_pixel_um - 1) < 1e-3:
        return image
    from skimage.transform import rescale

    return rescale(
        image,
        pixel_um / model_pixel_um,
        order=1,
        preserve_range=True,
        anti_aliasing=pixel_um < model_pixel_um,
    ).astype(np.float32)


class RescaledEstimator:
    """Wrap an estimator for frames of ``pixel_um`` pixels and, optionally, a profile."""

    def __init__(
        self,
        inner: DefocusEstimator,
        *,
        pixel_um: float | None = None,
        profile: OpticsProfile | None = None,
    ) -> None:
        if pixel_um is not None and not pixel_um > 0:
            raise ValueError(f"--pixel-size must be positive, got {pixel_um} µm")
        self.inner = inner
        self.name = inner.name
        self.pixel_um = pixel_um or (profile.optics.pixel_um if profile else None)
        self.ratio = 1.0 if profile is None else profile.defocus_from_nominal(1.0)

    def estimate(self, frame: np.ndarray) -> DefocusEstimate:
        """Estimate ``frame``; the defocus map comes back at its resolution."""
        x = np.asarray(frame)
        if self.pixel_um is not None:
            x = _resample(x.astype(np.float32), self.pixel_um, BBBC006_OPTICS.pixel_um)
        est = self.inner.estimate(x)
        dmap = est.defocus_map
        if dmap is not None and dmap.shape != frame.shape:
            from skimage.transform import resize

            dmap = resize(dmap, frame.shape, order=0, preserve_range=True, anti_aliasing=False)
        if self.ratio == 1.0:
            return replace(est, defocus_map=dmap)
        return replace(
            est,
            defocus_um=None if est.defocus_um is None else est.defocus_um * self.ratio,
            defocus_map=None if dmap is None else (dmap * self.ratio).astype(np.float32),
        )
