"""Choose the estimator and the restorer by name (what the CLI and GUI offer)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, get_args

import numpy as np

from ._device import resolve_device
from .protocols import DefocusEstimate, DefocusEstimator, Restorer

if TYPE_CHECKING:
    from .optics import OpticsProfile

__all__ = [
    "FUSION_METHODS",
    "METHODS",
    "Method",
    "Passthrough",
    "build_estimator",
    "build_restorer",
    "resolve_device",
]

Method = Literal["fusion", "fusion-fast", "fusion-known", "awdvd", "rl", "none"]
METHODS: tuple[str, ...] = get_args(Method)
FUSION_METHODS = ("fusion", "fusion-fast", "fusion-known")
"""The shipped fusion networks: the best one, a 4x lighter one for live CPU use, and
one for known optics (a calibrated profile, or the textbook PSF)."""


class Passthrough:
    """The ``none`` method: returns the frame unchanged (as float32)."""

    name = "none"

    def restore(self, frame: np.ndarray, estimate: DefocusEstimate) -> np.ndarray:
        """Return ``frame`` as float32."""
        return np.asarray(frame, dtype=np.float32)


def build_restorer(
    method: str,
    device: str = "auto",
    *,
    compile: bool = False,
    profile: OpticsProfile | None = None,
) -> Restorer:
    """Return the restorer called ``method`` (one of :data:`METHODS`).

    ``compile`` compiles the fusion network (see :class:`FusionRestorer`). With an
    optics ``profile`` (``scope-deblur calibrate``), ``rl`` and ``awdvd`` deconvolve
    with its PSF, and ``fusion`` becomes ``fusion-known``, the network that trusts it.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if compile and method not in FUSION_METHODS:
        raise ValueError(f"--compile applies to the fusion methods, not {method!r}")
    if profile is not None and method in ("fusion-fast", "none"):
        raise ValueError(f"--profile works with fusion, fusion-known, awdvd and rl, not {method!r}")
    if method == "none":
        return Passthrough()
    from . import restoration
    from .optics import NOMINAL

    dev = resolve_device(device)
    if method in FUSION_METHODS:
        if profile is not None:
            method = "fusion-known"
        known = profile if method == "fusion-known" else None
        return restoration.FusionRestorer(method, device=dev, compile=compile, profile=known)
    if method == "awdvd":
        return restoration.AWDVDRestorer(device=dev, profile=profile or NOMINAL)
    return restoration.RLRestorer(device=dev, profile=profile or NOMINAL)


def build_estimator(
    device: str = "auto",
    *,
    pixel_um: float | None = None,
    profile: OpticsProfile | None = None,
) -> DefocusEstimator:
    """Return the shipped DelpNet defocus estimator.

    For frames of ``pixel_um`` pixels, or of a microscope with an optics ``profile``,
    it resamples them to DelpNet's pixel size and, with a profile, reads the µm in
    its optics (:class:`~scope_deblur.estimation.RescaledEstimator`).
    """
    from .estimation import DelpNetEstimator, RescaledEstimator

    delpnet = DelpNetEstimator(device=resolve_device(device))
    if pixel_um is None and profile is None:
        return delpnet
    return RescaledEstimator(delpnet, pixel_um=pixel_um, profile=profile)
