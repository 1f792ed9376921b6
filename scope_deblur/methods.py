"""Choose the estimator and the restorer by name (what the CLI and GUI offer)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, get_args

import numpy as np

from ._device import resolve_device
from .protocols import DefocusEstimate, DefocusEstimator, Restorer

if TYPE_CHECKING:
    from pathlib import Path

    from .optics import OpticsProfile

__all__ = [
    "FUSION_METHODS",
    "KNOWN_OPTICS",
    "METHODS",
    "Method",
    "Passthrough",
    "build_estimator",
    "build_restorer",
    "resolve_device",
]

Method = Literal[
    "fusion", "fusion-fast", "fusion-known", "fusion-known-fast", "awdvd", "rl", "none"
]
METHODS: tuple[str, ...] = get_args(Method)
FUSION_METHODS = ("fusion", "fusion-fast", "fusion-known", "fusion-known-fast")
"""The shipped fusion networks: the best one and a 4x lighter one for live CPU use, each
also for known optics (a calibrated profile, or the textbook PSF)."""
KNOWN_OPTICS = {"fusion": "fusion-known", "fusion-fast": "fusion-known-fast"}
"""The network that takes an optics profile in place of each that does not."""


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
    weights: str | Path | None = None,
    gates: bool = True,
) -> Restorer:
    """Return the restorer called ``method`` (one of :data:`METHODS`).

    ``compile`` compiles the fusion network (see :class:`FusionRestorer`). With an
    optics ``profile`` (``scope-deblur calibrate``), ``rl`` and ``awdvd`` deconvolve
    with its PSF, and ``fusion`` and ``fusion-fast`` become ``fusion-known`` and
    ``fusion-known-fast``, the networks that trust it. For the evaluation of other
    networks, a fusion method can load other ``weights`` (a ``.safetensors`` path with
    its card), and ``gates=False`` gives the network alone, without the do-no-harm
    gates (depth, confidence, fidelity).
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if compile and method not in FUSION_METHODS:
        raise ValueError(f"--compile applies to the fusion methods, not {method!r}")
    if (weights is not None or not gates) and method not in FUSION_METHODS:
        raise ValueError(f"weights and gates apply to the fusion methods, not {method!r}")
    if profile is not None and method == "none":
        raise ValueError("--profile needs a restoration method, not 'none'")
    if method == "none":
        return Passthrough()
    from . import restoration
    from .optics import NOMINAL

    dev = resolve_device(device)
    if method in FUSION_METHODS:
        if profile is not None:
            method = KNOWN_OPTICS.get(method, method)
        known = profile if method in KNOWN_OPTICS.values() else None
        restorer = restoration.FusionRestorer(
            str(weights or method), device=dev, compile=compile, profile=known
        )
        if not gates:
            restorer.in_focus_um, restorer.min_confidence, restorer.error_floor = -1.0, -1.0, 0.0
        return restorer
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
