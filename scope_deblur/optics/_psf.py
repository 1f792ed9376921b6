"""Scalar Born–Wolf defocus PSF (DelpNet/AWDVD paper, eq. 2).

    I(r, z) = | ∫₀¹ J0(k·NA/n·r·ρ) · exp(−½ j k ρ² z NA²/n²) ρ dρ |²,   k = 2π/λ

The integral is evaluated by Gauss–Legendre quadrature, vectorised over all radii at
once. Pixel integration averages an ``oversample``×``oversample`` grid of sub-pixel
samples per pixel. Kernels are cached by their (hashable) parameters.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy.special import j0

__all__ = ["BBBC006_OPTICS", "Optics", "born_wolf_intensity", "born_wolf_psf"]

_N_QUAD = 256


class Optics(BaseModel):
    """Widefield imaging parameters, in micrometres."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    wavelength_um: float = Field(0.451, gt=0.2, lt=2.0)
    na: float = Field(0.5, gt=0.0, le=1.7)
    n: float = Field(1.0, ge=1.0, le=2.0)
    pixel_um: float = Field(0.645, gt=0.0, le=50.0)


BBBC006_OPTICS = Optics()
"""Optics of the BBBC006 images: 20x/0.5 air, Hoechst (451 nm), 0.645 µm pixels."""


@lru_cache(maxsize=4)
def _quadrature(n: int) -> tuple[np.ndarray, np.ndarray]:
    x, w = np.polynomial.legendre.leggauss(n)
    return 0.5 * (x + 1.0), 0.5 * w  # nodes and weights on [0, 1]


def born_wolf_intensity(
    r_um: np.ndarray | float,
    z_um: float,
    *,
    wavelength_um: float,
    na: float,
    n: float = 1.0,
) -> np.ndarray:
    """Evaluate the unnormalised Born–Wolf intensity ``I(r, z)`` (eq. 2).

    Parameters
    ----------
    r_um : array_like
        Lateral distances from the optical axis, in µm.
    z_um : float
        Defocus, in µm.
    wavelength_um, na, n : float
        Emission wavelength (µm), numerical aperture and immersion refractive index.

    Returns
    -------
    numpy.ndarray
        ``I`` at each ``r``; ``I(0, 0) = 0.25``.
    """
    r = np.asarray(r_um, dtype=np.float64)
    k = 2.0 * np.pi / wavelength_um
    # The defocus phase oscillates ~ k z NA²/(2n²) / 2π times over ρ; keep ≥ 8 nodes each.
    n_quad = max(_N_QUAD, int(8 * k * abs(z_um) * na**2 / (2 * n**2) / (2 * np.pi)) + 1)
    rho, w = _quadrature(n_quad)
    phase = np.exp(-0.5j * k * rho**2 * z_um * na**2 / n**2)
    bessel = j0(k * na / n * r[..., None] * rho)
    amplitude = (bessel * (phase * rho * w)).sum(axis=-1)
    return np.abs(amplitude) ** 2


def default_psf_size(z_um: float, optics: Optics) -> int:
    """Return an odd kernel size that holds the geometric blur disc plus a margin."""
    sin_t = min(optics.na / optics.n, 0.999)
    radius_um = abs(z_um) * sin_t / np.sqrt(1 - sin_t**2) + 4 * optics.wavelength_um / optics.na
    radius_px = int(np.ceil(1.25 * radius_um / optics.pixel_um)) + 2
    return 2 * radius_px + 1


@lru_cache(maxsize=512)
def _psf_cached(z_um: float, optics: Optics, size: int, oversample: int) -> np.ndarray:
    half = size // 2
    step = 1.0 / oversample
    sub = (np.arange(oversample) + 0.5) * step - 0.5  # sub-pixel offsets in px
    coords = (np.arange(-half, half + 1)[:, None] + sub[None, :]).ravel()
    r_px = np.hypot(coords[:, None], coords[None, :])
    # Evaluate on a fine 1-D radius table and interpolate: O(size) Bessel calls.
    r_table = np.arange(0.0, r_px.max() + 2 * step, step / 4)
    i_table = born_wolf_intensity(
        r_table * optics.pixel_um,
        z_um,
        wavelength_um=optics.wavelength_um,
        na=optics.na,
        n=optics.n,
    )
    fine = np.interp(r_px, r_table, i_table)
    kernel = fine.reshape(size, oversample, size, oversample).mean(axis=(1, 3))
    kernel /= kernel.sum()
    kernel.setflags(write=False)
    return kernel


def born_wolf_psf(
    z_um: float,
    optics: Optics = BBBC006_OPTICS,
    *,
    size: int | None = None,
    oversample: int = 3,
) -> np.ndarray:
    """Return a pixel-integrated Born–Wolf PSF kernel that sums to 1.

    Parameters
    ----------
    z_um : float
        Defocus in µm. The PSF is symmetric in ``z``.
    optics : Optics
        Wavelength, NA, refractive index and pixel size.
    size : int, optional
        Odd kernel side in pixels; by default large enough for the blur disc.
    oversample : int
        Sub-pixel samples per pixel side (1 samples at pixel centres).

    Returns
    -------
    numpy.ndarray
        Read-only ``(size, size)`` float64 kernel (cached; copy before editing).
    """
    z = round(abs(float(z_um)), 4)
    if size is None:
        size = default_psf_size(z, optics)
    if size < 1 or size % 2 == 0:
        raise ValueError(f"PSF size must be a positive odd integer, got {size}")
    if oversample < 1:
        raise ValueError(f"oversample must be >= 1, got {oversample}")
    return _psf_cached(z, optics, int(size), int(oversample))
