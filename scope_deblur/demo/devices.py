"""Python Micro-Manager devices of the demo microscope (for ``UniMMCore``).

The demo config declares them with ``#py pyDevice`` lines. Every device has a
pre-init ``World`` property naming the :class:`~scope_deblur.demo.DemoWorld` it
shares with the others, so the camera sees where the stages are.

The camera renders the in-focus sample under the XY stage, blurs it with the
Born–Wolf PSF at (stage z − focal plane), and adds Poisson shot noise, Gaussian
read noise and a camera offset. Each exposed frame advances the focus drift.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import replace

import numpy as np
from pymmcore_plus.experimental.unicore import (
    ShutterDevice,
    SimpleCameraDevice,
    StageDevice,
    XYStageDevice,
    pymm_property,
)

from ._world import DemoWorld, Truth, get_world

__all__ = ["DemoCamera", "DemoFocus", "DemoShutter", "DemoXYStage"]

_SENSOR = (512, 512)
_HISTORY = 4096  # frames whose truth the camera remembers


class _WorldDevice:
    """Mixin: a pre-init ``World`` property that names the shared DemoWorld."""

    _world_name = "default"

    @pymm_property(is_pre_init=True, name="World")
    def world(self) -> str:
        """Name of the simulated world this device belongs to."""
        return self._world_name

    @world.setter  # type: ignore[no-redef]
    def world(self, value: str) -> None:
        self._world_name = str(value)

    @property
    def sim(self) -> DemoWorld:
        """The shared simulated world."""
        return get_world(self._world_name)


class DemoCamera(_WorldDevice, SimpleCameraDevice):
    """Simulated 16-bit camera imaging Hoechst-stained nuclei through a drifting focus."""

    def __init__(self) -> None:
        super().__init__()
        self._exposure_ms = 10.0
        self._binning = 1
        self._photons_per_count = 1.0
        self._read_noise = 2.0
        self._offset = 100.0
        self._rng = np.random.default_rng(0)
        self._truths: OrderedDict[bytes, Truth] = OrderedDict()
        self._truth_lock = threading.Lock()
        self.last_truth: Truth | None = None

    # --- Micro-Manager camera API -------------------------------------------
    def sensor_shape(self) -> tuple[int, int]:
        """Return the binned sensor shape."""
        return (_SENSOR[0] // self._binning, _SENSOR[1] // self._binning)

    def dtype(self) -> np.dtype:
        """Return the pixel type: 16-bit counts."""
        return np.dtype(np.uint16)

    def get_exposure(self) -> float:
        """Return the exposure in ms."""
        return self._exposure_ms

    def set_exposure(self, exposure: float) -> None:
        """Set the exposure in ms; the photon count scales with it."""
        value = float(exposure)
        if value <= 0:
            raise ValueError(f"exposure must be positive, got {exposure} ms")
        self._exposure_ms = value

    def get_binning(self) -> int:
        """Return the binning factor."""
        return self._binning

    def set_binning(self, value: int) -> None:
        """Set the binning factor (1, 2 or 4)."""
        if int(value) not in (1, 2, 4):
            raise ValueError(f"binning must be 1, 2 or 4, got {value}")
        self._binning = int(value)
        self.clear_roi()

    @pymm_property(limits=(0.01, 100.0), name="PhotonsPerCount")
    def photons_per_count(self) -> float:
        """Photoelectrons per sample count at 10 ms (brightness of the stain)."""
        return self._photons_per_count

    @photons_per_count.setter  # type: ignore[no-redef]
    def photons_per_count(self, value: float) -> None:
        self._photons_per_count = float(value)

    @pymm_property(limits=(0.0, 50.0), name="ReadNoise_e")
    def read_noise(self) -> float:
        """Gaussian read noise, in electrons RMS."""
        return self._read_noise

    @read_noise.setter  # type: ignore[no-redef]
    def read_noise(self, value: float) -> None:
        self._read_noise = float(value)

    def snap(self, buffer: np.ndarray) -> Mapping:
        """Render one frame into ``buffer`` and return its metadata."""
        t0 = time.perf_counter()
        focal, defocus = self.sim.advance()
        truth = self._truth(focal, defocus)
        signal = self._render(truth, blurred=True)
        electrons = self._rng.poisson(signal).astype(np.float32)
        electrons += self._rng.normal(0.0, self._read_noise, electrons.shape).astype(np.float32)
        buffer[:] = np.clip(np.rint(electrons + self._offset), 0, 65535).astype(np.uint16)
        x, y, w, h = self.get_roi()  # the base class crops the buffer to the ROI
        self._remember(buffer[y : y + h, x : x + w], truth)
        return {
            "DemoDefocus_um": f"{defocus:.3f}",
            "DemoRender_ms": f"{1e3 * (time.perf_counter() - t0):.1f}",
        }

    # --- ground truth --------------------------------------------------------
    def truth_for(self, frame: np.ndarray) -> Truth | None:
        """Return the truth of a frame this camera produced, or None if unknown."""
        with self._truth_lock:
            return self._truths.get(_fingerprint(frame))

    def sharp_frame(self, truth: Truth, *, upscale: int = 1) -> np.ndarray:
        """Return the noiseless in-focus frame (camera counts, with offset) for ``truth``.

        ``upscale`` > 1 gives it with that many times the pixels per side (a binned
        frame at a finer binning), each holding its share of the flux and offset.
        """
        if upscale == 1:
            return self._render(truth, blurred=False) + truth.offset
        if truth.binning % upscale:
            raise ValueError(f"a frame binned {truth.binning}x has no {upscale}x finer grid")
        finer = replace(truth, binning=truth.binning // upscale)
        return self._render(finer, blurred=False) + truth.offset / upscale**2

    def _truth(self, focal: float, defocus: float) -> Truth:
        x_um, y_um = self.sim.stage_xy_um
        px = self.sim.optics.pixel_um
        return Truth(
            defocus_um=defocus,
            stage_z_um=self.sim.stage_z_um,
            focal_plane_um=focal,
            x_px=round(x_um / px),
            y_px=round(y_um / px),
            binning=self._binning,
            photons_per_count=self._photons_per_count * self._exposure_ms / 10.0,
            offset=self._offset,
        )

    def _render(self, truth: Truth, *, blurred: bool) -> np.ndarray:
        h, w = _SENSOR
        if blurred:
            img = self.sim.blurred_view(truth.x_px, truth.y_px, h, w, truth.defocus_um)
        else:
            img = self.sim.sharp_view(truth.x_px, truth.y_px, h, w)
        b = truth.binning
        if b > 1:
            img = img.reshape(h // b, b, w // b, b).sum(axis=(1, 3))
        return (img * truth.photons_per_count).astype(np.float32)

    def _remember(self, frame: np.ndarray, truth: Truth) -> None:
        self.last_truth = truth
        with self._truth_lock:
            self._truths[_fingerprint(frame)] = truth
            while len(self._truths) > _HISTORY:
                self._truths.popitem(last=False)


def _fingerprint(frame: np.ndarray) -> bytes:
    import hashlib

    return hashlib.blake2b(np.ascontiguousarray(frame).tobytes(), digest_size=16).digest()


class DemoFocus(_WorldDevice, StageDevice):
    """Simulated focus (Z) drive, in µm."""

    def get_position_um(self) -> float:
        """Return the stage z in µm."""
        return self.sim.stage_z_um

    def set_position_um(self, val: float) -> None:
        """Move the stage to ``val`` µm."""
        self.sim.stage_z_um = float(val)

    def home(self) -> None:
        """Move to z = 0."""
        self.set_position_um(0.0)

    def stop(self) -> None:
        """Stop (moves are instantaneous)."""

    def set_origin(self) -> None:
        """Not supported by the simulated drive."""
        raise NotImplementedError("the demo focus drive has a fixed origin")


class DemoXYStage(_WorldDevice, XYStageDevice):
    """Simulated XY stage, in µm; the sample field wraps around."""

    def get_position_um(self) -> tuple[float, float]:
        """Return (x, y) in µm."""
        return self.sim.stage_xy_um

    def set_position_um(self, x: float, y: float) -> None:
        """Move to (x, y) µm."""
        self.sim.stage_xy_um = (float(x), float(y))

    def home(self) -> None:
        """Move to (0, 0)."""
        self.set_position_um(0.0, 0.0)

    def stop(self) -> None:
        """Stop (moves are instantaneous)."""

    def set_origin(self) -> None:
        """Not supported by the simulated stage."""
        raise NotImplementedError("the demo XY stage has a fixed origin")

    def set_origin_x(self) -> None:
        """Not supported by the simulated stage."""
        raise NotImplementedError("the demo XY stage has a fixed origin")

    def set_origin_y(self) -> None:
        """Not supported by the simulated stage."""
        raise NotImplementedError("the demo XY stage has a fixed origin")


class DemoShutter(_WorldDevice, ShutterDevice):
    """Simulated excitation shutter (the MDA runner needs one)."""

    _open = False

    def get_open(self) -> bool:
        """Return True when open."""
        return self._open

    def set_open(self, open: bool) -> None:
        """Open or close."""
        self._open = bool(open)
