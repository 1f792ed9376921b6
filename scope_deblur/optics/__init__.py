"""Optics: the Born–Wolf PSF and synthetic defocus."""

from ._defocus import blur, defocus
from ._psf import BBBC006_OPTICS, Optics, born_wolf_intensity, born_wolf_psf

__all__ = [
    "BBBC006_OPTICS",
    "Optics",
    "blur",
    "born_wolf_intensity",
    "born_wolf_psf",
    "defocus",
]
