"""An optics profile: what is known about one microscope's PSF, at any defocus.

A profile holds the imaging parameters (:class:`Optics`) and one member of the
forward-model family (:class:`PsfParams`: aberrations, apodisation, smoothing).
``scope-deblur calibrate`` fits one to a bead z-stack and writes it as JSON;
``--profile`` hands it to the restorers, which then deconvolve with this PSF instead
of the textbook one. :data:`NOMINAL` is the textbook case: scalar Born–Wolf at the
BBBC006 optics, exactly the PSF of the demo microscope and of the synthetic tables.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import field_error
from ..io import require_file
from ._family import PsfParams, pupil_psf
from ._psf import BBBC006_OPTICS, Optics, born_wolf_psf

__all__ = ["NOMINAL", "PSF_Z_STEP_UM", "ChannelOptics", "OpticsProfile", "load_profile"]

PSF_Z_STEP_UM = 0.5
"""PSFs are taken at ``|z|`` rounded to this step, so that they can be cached."""


class ChannelOptics(BaseModel):
    """One channel's entry in a profile: its emission wavelength and, if fitted, its PSF."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    wavelength_um: float = Field(gt=0.2, lt=2.0)
    psf_params: PsfParams | None = Field(
        None, description="this channel's fitted PSF; the profile's when not given"
    )


class OpticsProfile(BaseModel):
    """The PSF model of one microscope (serialisable; see module docstring).

    ``channels`` maps a channel's preset name (as in the MDA sequence, ``"DAPI"``) to
    its own entry; a frame of that channel is restored with :meth:`for_channel`'s
    profile, and any other frame with this one.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    optics: Optics = BBBC006_OPTICS
    psf_params: PsfParams = PsfParams()
    source: str = "nominal: scalar Born-Wolf at the BBBC006 optics"
    fit: dict[str, Any] | None = Field(None, description="calibration report, if fitted")
    channels: dict[str, ChannelOptics] = Field(
        default_factory=dict, description="per-channel entries, by channel preset name"
    )

    def for_channel(self, channel: str | None) -> OpticsProfile:
        """Return the profile of ``channel`` (its wavelength and PSF), without channel entries.

        A channel without an entry (or None) gets this profile's own optics.
        """
        entry = self.channels.get(channel) if channel is not None else None
        if entry is None:
            return self.model_copy(update={"channels": {}}) if self.channels else self
        return self.model_copy(
            update={
                "optics": self.optics.model_copy(update={"wavelength_um": entry.wavelength_um}),
                "psf_params": entry.psf_params or self.psf_params,
                "source": f"{self.source}; channel {channel}",
                "channels": {},
            }
        )

    def psf(self, z_um: float, step_um: float = PSF_Z_STEP_UM) -> np.ndarray:
        """Return the pixel PSF (sums to 1) at ``|z_um|`` rounded to ``step_um`` (cached).

        A single frame cannot tell above focus from below, so the PSF is taken on
        one side; it differs from the other only through spherical aberration.
        """
        z = round(round(abs(float(z_um)) / step_um) * step_um, 6)
        return _psf(self.optics, self.psf_params, z)

    def defocus_from_nominal(self, z_um: float) -> float:
        """Convert a defocus read at the nominal optics to this profile's optics.

        DelpNet was trained at the BBBC006 optics (NA 0.5 in air), on frames resampled
        to its pixel size, so it reads the blur's width. The same width comes from a
        defocus smaller by the ratio of the marginal-ray slopes, tan θ = tan asin(NA/n).
        This geometric conversion is approximate near focus, where diffraction rules.
        """

        def slope(o: Optics) -> float:
            return float(np.tan(np.arcsin(min(o.na / o.n, 0.999))))

        return float(z_um) * slope(BBBC006_OPTICS) / slope(self.optics)

    def save(self, path: str | Path) -> Path:
        """Write the profile as JSON and return the path."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(self.model_dump(mode="json"), indent=2) + "\n")
        return p


@lru_cache(maxsize=128)
def _psf(optics: Optics, params: PsfParams, z_um: float) -> np.ndarray:
    if params == PsfParams():
        psf = born_wolf_psf(z_um, optics)
    else:
        psf = pupil_psf(z_um, params, optics)
    psf = np.asarray(psf, dtype=np.float32)
    psf.setflags(write=False)
    return psf


NOMINAL = OpticsProfile()


def load_profile(path: str | Path) -> OpticsProfile:
    """Read a profile written by ``scope-deblur calibrate``.

    Raises
    ------
    FileNotFoundError, IsADirectoryError
        If there is no such file.
    ValueError
        If it is not a valid profile (with what is wrong and what to do).
    """
    p = require_file(path, "optics profile")
    try:
        return OpticsProfile.model_validate_json(p.read_bytes())
    except ValidationError as e:
        raise ValueError(
            f"{p} is not an optics profile: {field_error(e)}; "
            "write one with `scope-deblur calibrate`"
        ) from e
