"""Choose the estimator and the restorer by name (what the CLI and GUI offer)."""

from __future__ import annotations

from typing import Literal, get_args

import numpy as np

from ._device import resolve_device
from .protocols import DefocusEstimate, DefocusEstimator, Restorer

__all__ = [
    "FUSION_METHODS",
    "METHODS",
    "Method",
    "Passthrough",
    "build_estimator",
    "build_restorer",
    "resolve_device",
]

Method = Literal["fusion", "fusion-fast", "awdvd", "rl", "none"]
METHODS: tuple[str, ...] = get_args(Method)
FUSION_METHODS = ("fusion", "fusion-fast")
"""The shipped fusion networks: the best one, and a 4x lighter one for live CPU use."""


class Passthrough:
    """The ``none`` method: returns the frame unchanged (as float32)."""

    name = "none"

    def restore(self, frame: np.ndarray, estimate: DefocusEstimate) -> np.ndarray:
        """Return ``frame`` as float32."""
        return np.asarray(frame, dtype=np.float32)


def build_restorer(method: str, device: str = "auto", *, compile: bool = False) -> Restorer:
    """Return the restorer called ``method`` (one of :data:`METHODS`).

    ``compile`` compiles the fusion network (see :class:`FusionRestorer`).
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if compile and method not in FUSION_METHODS:
        raise ValueError(f"--compile applies to the fusion methods, not {method!r}")
    if method == "none":
        return Passthrough()
    from . import restoration

    dev = resolve_device(device)
    if method in FUSION_METHODS:
        return restoration.FusionRestorer(method, device=dev, compile=compile)
    if method == "awdvd":
        return restoration.AWDVDRestorer(device=dev)
    return restoration.RLRestorer(device=dev)


def build_estimator(device: str = "auto") -> DefocusEstimator:
    """Return the shipped DelpNet defocus estimator."""
    from .estimation import DelpNetEstimator

    return DelpNetEstimator(device=resolve_device(device))
