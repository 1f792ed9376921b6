"""The swappable pieces of the pipeline: a defocus estimator and a restorer.

Any object with the right methods plugs in; tests use small stand-ins.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = [
    "BatchEstimator",
    "BatchRestorer",
    "DefocusEstimate",
    "DefocusEstimator",
    "HashedWeights",
    "PerChannel",
    "Restorer",
    "Upscaling",
    "WarmsUp",
    "upscale_of",
]


@dataclass(frozen=True)
class DefocusEstimate:
    """What an estimator says about one frame.

    Attributes
    ----------
    defocus_um : float or None
        |defocus| in µm (median over foreground patches); ``None`` when the frame is
        all background and there is nothing to judge.
    confidence : float
        In [0, 1].
    foreground_fraction : float
        Fraction of the frame's patches that hold signal.
    defocus_map : numpy.ndarray or None
        |defocus| in µm at the frame's resolution (NaN on background), if the
        estimator makes one. Depth-variant restorers (AWDVD) read it.
    """

    defocus_um: float | None
    confidence: float
    foreground_fraction: float = 1.0
    defocus_map: np.ndarray | None = field(default=None, repr=False, compare=False)


@runtime_checkable
class DefocusEstimator(Protocol):
    """Estimates how far a frame is from focus."""

    name: str

    def estimate(self, frame: np.ndarray) -> DefocusEstimate:
        """Return the defocus estimate of one 2-D frame."""
        ...


@runtime_checkable
class Restorer(Protocol):
    """Restores a defocused frame."""

    name: str

    def restore(self, frame: np.ndarray, estimate: DefocusEstimate) -> np.ndarray:
        """Return the restored 2-D frame: float32, same shape and intensity units."""
        ...


# --- optional capabilities, checked with isinstance -----------------------------------


@runtime_checkable
class BatchRestorer(Protocol):
    """A restorer that restores several frames in one pass (a network on a GPU)."""

    def restore_batch(
        self, frames: Sequence[np.ndarray], estimates: Sequence[DefocusEstimate]
    ) -> Sequence[np.ndarray]:
        """Return the restored frames, in order."""
        ...


@runtime_checkable
class BatchEstimator(Protocol):
    """An estimator that estimates several frames in one pass (one network call)."""

    def estimate_batch(self, frames: Sequence[np.ndarray]) -> Sequence[DefocusEstimate]:
        """Return the estimates of ``frames``, in order."""
        ...


@runtime_checkable
class WarmsUp(Protocol):
    """A restorer that prepares for a frame size before the first frame (compiles)."""

    def warm_up(self, shape: tuple[int, int]) -> None:
        """Get ready to restore frames of ``shape`` without delay."""
        ...


@runtime_checkable
class HashedWeights(Protocol):
    """A restorer whose weights have a sha256, recorded with every frame it restores."""

    sha256: str


@runtime_checkable
class Upscaling(Protocol):
    """A restorer whose output has ``upscale`` times the input's pixels along each side.

    Its output of an ``(H, W)`` frame is ``(upscale·H, upscale·W)``, with pixels
    ``upscale`` times smaller (the pixel size divided by it) and the same total flux.
    """

    upscale: int


def upscale_of(restorer: object) -> int:
    """Return how many output pixels a restorer makes of one input pixel, per side (1, 2)."""
    return int(restorer.upscale) if isinstance(restorer, Upscaling) else 1


@runtime_checkable
class PerChannel(Protocol):
    """A restorer with an entry per channel (an optics profile's channel entries)."""

    def for_channel(self, channel: str | None) -> Restorer:
        """Return the restorer for frames of ``channel`` (a preset name; None if unknown)."""
        ...
