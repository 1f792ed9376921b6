"""A randomised family of widefield forward models around Born–Wolf (sim-to-real).

Real BBBC006 blur at ~30-40 µm is smooth and Gaussian-like, not the ring-edged disc
of the textbook scalar model (DESIGN.md, Sim-to-real). Each draw of this family is

    PSF = bin₃ₓ₃ |FFT{A(ρ)·exp(i[φ_defocus(z) + a_sph·Z₄⁰ + a_ast·Z₂²(θ₀)])}|² ⊛ G(σ)

- ``φ_defocus = −½ k ρ² z NA²/n²``: the paraxial defocus phase of the Born–Wolf
  integral (eq. 2 of the DelpNet paper), so zero aberration, no apodisation and
  σ = 0 give :func:`~scope_deblur.optics.born_wolf_psf` back;
- Zernike spherical aberration ``Z₄⁰ = √5(6ρ⁴−6ρ²+1)`` and astigmatism
  ``Z₂² = √6 ρ² cos 2(θ−θ₀)`` (radians of wavefront phase);
- apodisation ``A(ρ) = exp(−ρ²/w²)`` (Gaussian pupil amplitude, ``w = ∞`` is off);
- extra Gaussian smoothing σ = σ₀ + σ₁·|z| px (partial coherence, finite source,
  pixel crosstalk, sample thickness).

The camera model (:func:`camera`) adds an out-of-focus background, Poisson noise at a
random photon level, Gaussian read noise, an offset and saturation.

Coarse fit to the 12 real z00 frames (~32 µm; blind statistics of
:func:`scope_deblur.lab.evaluation.realism_stats`, the 6 in-focus images blurred by each
candidate): real z00 median nucleus area 1261 px, peak 662 counts above background;
plain Born–Wolf at 32 µm gives 2276 px / 465 (far too spread), at 28 µm 1722 px;
apodisation w = 1.0 gives 1508 px / 575; w = 0.6 plus σ = 6 px gives 1214 px / 651.
Real blur is thus a smoother, more compact, Gaussian-like kernel: the ranges in
:data:`FAMILY_RANGES` centre on apodised pupils (w 0.45-1.2) with mild extra smoothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy.ndimage import gaussian_filter

from ._psf import BBBC006_OPTICS, Optics, default_psf_size

__all__ = [
    "FAMILY_RANGES",
    "FamilyRanges",
    "PsfParams",
    "camera",
    "pupil_psf",
    "pupil_psfs",
    "sample_psf",
]


class PsfParams(BaseModel):
    """One member of the family (all zero/inf: plain Born–Wolf)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    spherical: float = Field(0.0, ge=-20, le=20)
    astigmatism: float = Field(0.0, ge=-20, le=20)
    astig_angle: float = Field(0.0, ge=-np.pi, le=np.pi)
    apodisation: float = Field(np.inf, gt=0)
    sigma_px: float = Field(0.0, ge=0, le=30)
    sigma_per_um: float = Field(0.0, ge=0, le=5, description="extra σ per µm of |defocus|")

    def sigma_at(self, z_um: float) -> float:
        """Return the extra Gaussian smoothing σ (px) at defocus ``z_um``."""
        return self.sigma_px + self.sigma_per_um * abs(float(z_um))


class FamilyRanges(BaseModel):
    """Uniform sampling ranges of the family's parameters."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    spherical: tuple[float, float] = (-1.5, 1.5)
    astigmatism: tuple[float, float] = (0.0, 1.0)
    apodisation: tuple[float, float] = (0.45, 1.2)
    p_apodise: float = Field(0.85, ge=0, le=1)
    sigma0_px: tuple[float, float] = (0.0, 1.0)
    sigma_per_um: tuple[float, float] = (0.0, 0.25)
    photons: tuple[float, float] = (300.0, 3000.0)
    read_noise: tuple[float, float] = (1.0, 4.0)
    offset: tuple[float, float] = (90.0, 110.0)
    background: tuple[float, float] = (0.0, 0.05)


FAMILY_RANGES = FamilyRanges()


@lru_cache(maxsize=8)
def _pupil_grid(m: int, df: float, cutoff: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    f = np.fft.fftfreq(m) * m * df
    fx, fy = np.meshgrid(f, f)
    rho = np.hypot(fx, fy) / cutoff
    return rho, np.arctan2(fy, fx), rho <= 1.0


def pupil_psf(
    z_um: float,
    params: PsfParams | None = None,
    optics: Optics = BBBC006_OPTICS,
    *,
    size: int | None = None,
    oversample: int = 3,
) -> np.ndarray:
    """Return a pixel-integrated PSF of the pupil-function model, summing to 1.

    Parameters
    ----------
    z_um : float
        Defocus in µm.
    params : PsfParams, optional
        Aberrations, apodisation and extra smoothing; default plain Born–Wolf.
    optics : Optics
        Wavelength, NA, refractive index, pixel size.
    size : int, optional
        Odd kernel side; default as :func:`born_wolf_psf`, enlarged for smoothing.
    oversample : int
        Sub-pixels per pixel side (the intensity OTF needs ≥ 3 at BBBC006 optics).
    """
    p = params or PsfParams()
    if size is None:
        size = default_psf_size(z_um, optics) + 2 * int(np.ceil(3 * p.sigma_at(z_um)))
    return pupil_psfs([z_um], p, optics, size=size, oversample=oversample)[0]


def pupil_psfs(
    z_um: Sequence[float] | np.ndarray,
    params: PsfParams,
    optics: Optics = BBBC006_OPTICS,
    *,
    size: int,
    oversample: int = 3,
) -> np.ndarray:
    """Return :func:`pupil_psf` at several defocus values at once, ``(Z, size, size)``.

    One batched FFT: what a through-focus fit evaluates many times over.
    """
    p = params
    if size < 1 or size % 2 == 0:
        raise ValueError(f"PSF size must be a positive odd integer, got {size}")
    z = np.asarray(z_um, dtype=np.float64).reshape(-1, 1, 1)
    dx = optics.pixel_um / oversample
    # FFT window twice the kernel, so the periodic PSF does not wrap into it.
    m = int(2 ** np.ceil(np.log2(2 * size * oversample)))
    df = 1.0 / (m * dx)
    k = 2 * np.pi / optics.wavelength_um
    rho, theta, inside = _pupil_grid(m, df, optics.na / optics.wavelength_um)
    phase = -0.5 * k * rho**2 * z * optics.na**2 / optics.n**2
    phase = phase + p.spherical * np.sqrt(5) * (6 * rho**4 - 6 * rho**2 + 1)
    phase = phase + p.astigmatism * np.sqrt(6) * rho**2 * np.cos(2 * (theta - p.astig_angle))
    amp = inside * (np.exp(-(rho**2) / p.apodisation**2) if np.isfinite(p.apodisation) else 1.0)
    field = np.fft.ifft2(amp * np.exp(1j * phase))
    inten = np.fft.fftshift(np.abs(field) ** 2, axes=(-2, -1))
    # Crop size*oversample sub-pixels centred on the optical axis, then bin.
    c = m // 2
    half = size * oversample // 2
    n = size * oversample
    sub = inten[:, c - half : c - half + n, c - half : c - half + n]
    kernels = sub.reshape(-1, size, oversample, size, oversample).mean(axis=(2, 4))
    for i, zi in enumerate(z[:, 0, 0]):
        if (sigma := p.sigma_at(zi)) > 0:
            kernels[i] = gaussian_filter(kernels[i], sigma, mode="constant")
    return kernels / kernels.sum(axis=(-2, -1), keepdims=True)


def sample_params(
    z_um: float, rng: np.random.Generator, ranges: FamilyRanges = FAMILY_RANGES
) -> PsfParams:
    """Draw one member of the family for defocus ``z_um``."""
    r = ranges
    apod = rng.uniform(*r.apodisation) if rng.random() < r.p_apodise else np.inf
    return PsfParams(
        spherical=rng.uniform(*r.spherical),
        astigmatism=rng.uniform(*r.astigmatism),
        astig_angle=rng.uniform(-np.pi, np.pi),
        apodisation=apod,
        sigma_px=rng.uniform(*r.sigma0_px) + abs(z_um) * rng.uniform(*r.sigma_per_um),
    )


def sample_psf(
    z_um: float,
    rng: np.random.Generator,
    optics: Optics = BBBC006_OPTICS,
    ranges: FamilyRanges = FAMILY_RANGES,
) -> np.ndarray:
    """Return a random PSF of the family at defocus ``z_um`` (sums to 1)."""
    return pupil_psf(z_um, sample_params(z_um, rng, ranges), optics)


def camera(
    blurred: np.ndarray,
    rng: np.random.Generator,
    *,
    scale_q: float,
    ranges: FamilyRanges = FAMILY_RANGES,
    saturation: float = 65535.0,
) -> np.ndarray:
    """Add background, shot and read noise, offset and saturation to a blurred image.

    ``blurred`` is in background-free intensity units whose 99.9th percentile (of the
    sharp image) is ``scale_q``; the result is in raw camera counts (offset included).
    """
    photons = rng.uniform(*ranges.photons)
    gain = photons / max(scale_q, 1e-12)  # photons per intensity unit
    bg = rng.uniform(*ranges.background) * scale_q
    signal = np.clip(blurred + bg, 0, None) * gain
    counts = rng.poisson(signal).astype(np.float32)
    counts += rng.normal(0.0, rng.uniform(*ranges.read_noise), counts.shape).astype(np.float32)
    adu = counts / gain + rng.uniform(*ranges.offset)
    return np.clip(adu, 0, saturation).astype(np.float32)
