"""The models of a run, built from the window's settings (no Qt; on the run thread)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
from scope_deblur.demo import demo_camera, frame_scorer
from scope_deblur.methods import build_estimator, build_restorer, resolve_device
from scope_deblur.protocols import WarmsUp

if TYPE_CHECKING:
    from pymmcore_plus import CMMCorePlus
    from scope_deblur.live import Scorer
    from scope_deblur.optics import OpticsProfile
    from scope_deblur.protocols import DefocusEstimator, Restorer

    from ._types import RunSettings

__all__ = ["Models", "build_models", "demo_truth"]


class Models(NamedTuple):
    """A run's estimator and restorer (None: acquire raw data only) and their device."""

    estimator: DefocusEstimator
    restorer: Restorer | None
    device: str


def build_models(settings: RunSettings, profile: OpticsProfile | None, core: CMMCorePlus) -> Models:
    """Build the estimator and restorer that ``settings`` name, at the core's pixel size.

    With ``settings.compile`` the network is compiled here, for the camera's frame
    size, so that the window says "loading" while it compiles.
    """
    device = resolve_device(settings.device)
    pixel_um = None if profile else (core.getPixelSizeUm() or None)
    restorer = build_restorer(
        settings.method, device, compile=settings.compile, profile=profile, pixel_um=pixel_um
    )
    if settings.compile and isinstance(restorer, WarmsUp):
        restorer.warm_up((core.getImageHeight(), core.getImageWidth()))
    estimator = build_estimator(device, pixel_um=pixel_um, profile=profile)
    return Models(estimator, restorer, device)


def demo_truth(
    core: CMMCorePlus,
) -> tuple[Scorer | None, Callable[[np.ndarray], float | None] | None]:
    """Return the demo camera's per-frame scorer and true signed defocus (None, None elsewhere)."""
    try:
        camera: Any = demo_camera(core)  # type: ignore[arg-type]
    except TypeError:  # not the demo microscope
        return None, None

    def truth(frame: np.ndarray) -> float | None:
        return getattr(camera.truth_for(frame), "defocus_um", None)

    return frame_scorer(camera), truth
