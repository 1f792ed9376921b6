"""The simulated specimen and optics that the demo devices share.

A :class:`DemoWorld` holds the sample field (BBBC006 nuclei tiled into a mosaic),
the stage positions and the focus drift. The Python camera, focus stage and XY
stage of one demo microscope all refer to the same world, looked up by name: a
Micro-Manager device cannot reach other devices through the core.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np

from ..optics import NOMINAL, Optics, OpticsProfile
from ._drift import DriftConfig, DriftModel

__all__ = ["DemoWorld", "Truth", "bead_field", "get_world", "register_world", "sample_field"]

_SAMPLE_BACKGROUND = 110.0  # camera offset baked into the BBBC006 images (counts)


@cache
def sample_field() -> np.ndarray:
    """Return the shipped in-focus nuclei as one 3x2 mosaic (float32 signal, no offset)."""
    from PIL import Image

    folder = resources.files("scope_deblur.data") / "samples"
    names = sorted(p.name for p in folder.iterdir() if p.name.endswith(".png"))
    tiles = []
    for name in names:
        with resources.as_file(folder / name) as path, Image.open(path) as im:
            tiles.append(np.asarray(im, dtype=np.float32) - _SAMPLE_BACKGROUND)
    rows = [np.hstack(tiles[i : i + 3]) for i in range(0, 6, 3)]
    field = np.clip(np.vstack(rows), 0, None)
    field.setflags(write=False)
    return field


def bead_field(
    shape: tuple[int, int] = (1040, 2088), *, spacing: int = 96, brightness: float = 20000.0
) -> np.ndarray:
    """Return a bead slide: sub-resolution beads (one pixel each) on a square grid.

    ``spacing`` px apart, so that each bead's defocused image stays apart from the
    others' over a calibration's z range; ``brightness`` is each bead's signal.
    """
    field = np.zeros(shape, np.float32)
    field[spacing // 2 :: spacing, spacing // 2 :: spacing] = brightness
    field.setflags(write=False)
    return field


@dataclass(frozen=True)
class Truth:
    """What the demo knows about one rendered frame."""

    defocus_um: float
    stage_z_um: float
    focal_plane_um: float
    x_px: int
    y_px: int
    binning: int
    photons_per_count: float
    offset: float


class DemoWorld:
    """Sample, stage state and drift of one simulated microscope.

    Parameters
    ----------
    drift : DriftConfig, optional
        Focus-drift parameters.
    profile : OpticsProfile
        The microscope's optics: pixel size and the PSF of the blur (default the
        textbook Born–Wolf PSF at the BBBC006 optics).
    sample : numpy.ndarray, optional
        The in-focus specimen (float32 signal without offset, wrapped around);
        default the BBBC006 nuclei (:func:`sample_field`), or :func:`bead_field`.
    """

    def __init__(
        self,
        drift: DriftConfig | None = None,
        profile: OpticsProfile = NOMINAL,
        sample: np.ndarray | None = None,
    ):
        self.profile = profile
        self.sample = sample_field() if sample is None else np.asarray(sample, np.float32)
        self.drift = DriftModel(drift)
        self.stage_z_um = 0.0
        self.stage_xy_um = (0.0, 0.0)
        self.lock = threading.Lock()

    @property
    def optics(self) -> Optics:
        """Objective and camera pixel size."""
        return self.profile.optics

    def advance(self) -> tuple[float, float]:
        """Advance the drift by one frame; return ``(focal plane, defocus)`` in µm."""
        with self.lock:
            focal = self.drift.step()
            return focal, self.stage_z_um - focal

    def sharp_view(
        self, x_px: int, y_px: int, height: int, width: int, margin: int = 0
    ) -> np.ndarray:
        """Return the in-focus sample under the camera, wrapping around the field."""
        field = self.sample
        rows = np.arange(y_px - margin, y_px + height + margin) % field.shape[0]
        cols = np.arange(x_px - margin, x_px + width + margin) % field.shape[1]
        return field[np.ix_(rows, cols)]

    def blurred_view(
        self, x_px: int, y_px: int, height: int, width: int, defocus_um: float
    ) -> np.ndarray:
        """Return the sample blurred by the profile's PSF at ``defocus_um`` (float32)."""
        from scipy.signal import fftconvolve

        psf = self.profile.psf(defocus_um, step_um=0.1)  # 0.1 µm steps: a small PSF cache
        m = psf.shape[0] // 2
        view = self.sharp_view(x_px, y_px, height, width, margin=m)
        out = fftconvolve(view, psf.astype(np.float32), mode="valid")
        return np.clip(out, 0, None).astype(np.float32, copy=False)


_WORLDS: dict[str, DemoWorld] = {}
_WORLDS_LOCK = threading.Lock()


def get_world(name: str = "default") -> DemoWorld:
    """Return the world called ``name``, creating it on first use."""
    with _WORLDS_LOCK:
        if name not in _WORLDS:
            _WORLDS[name] = DemoWorld()
        return _WORLDS[name]


def register_world(name: str, world: DemoWorld) -> None:
    """Install ``world`` under ``name`` so that devices configured with it share it."""
    with _WORLDS_LOCK:
        _WORLDS[name] = world
