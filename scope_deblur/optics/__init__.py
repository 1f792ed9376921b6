"""Optics: the Born–Wolf PSF and synthetic defocus."""

from ._defocus import blur, defocus
from ._family import (
    FAMILY_RANGES,
    FamilyRanges,
    PsfParams,
    camera,
    pupil_psf,
    pupil_psfs,
    sample_psf,
)
from ._profile import NOMINAL, ChannelOptics, OpticsProfile, load_profile
from ._psf import BBBC006_OPTICS, Optics, born_wolf_intensity, born_wolf_psf

__all__ = [
    "BBBC006_OPTICS",
    "FAMILY_RANGES",
    "NOMINAL",
    "ChannelOptics",
    "FamilyRanges",
    "Optics",
    "OpticsProfile",
    "PsfParams",
    "blur",
    "born_wolf_intensity",
    "born_wolf_psf",
    "camera",
    "defocus",
    "load_profile",
    "pupil_psf",
    "pupil_psfs",
    "sample_psf",
]
