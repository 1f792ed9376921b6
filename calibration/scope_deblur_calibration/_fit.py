"""Fit an optics profile to a bead z-stack: through-focus calibration.

A sub-resolution bead imaged through focus is the microscope's PSF, measured. The
fit:

1. finds the brightest bead (the maximum of the smoothed maximum projection), and
   crops a square window around it in every plane, minus each plane's median
   (camera offset and background);
2. centres the window on the bead's in-focus centroid with a sub-pixel Fourier
   shift, and finds focus: the plane of highest peak, refined by a parabola;
3. fits three candidate models, each plane normalised to unit flux in the window
   (widefield blur conserves flux, so only the shape is compared), by least squares
   over the whole stack:

   - ``born_wolf``: the textbook scalar PSF (only the focus position is fitted);
   - ``born_wolf_smoothed``: plus Gaussian smoothing σ = σ₀ + σ₁·|z|;
   - ``family``: plus spherical aberration, astigmatism and apodisation, the full
     pupil-function family of :mod:`scope_deblur.optics`.

The report gives each candidate's relative residual ‖model − data‖² / ‖data‖²
(0 is a perfect fit), so one can see how much of the real PSF each explains. The
profile keeps the simplest candidate whose residual is within 0.005 (and 5 %) of
the lowest: noise alone lets a richer model fit a little better.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scope_deblur.optics import Optics, OpticsProfile, PsfParams, pupil_psfs

__all__ = ["CANDIDATES", "BeadStack", "CalibrationResult", "extract_bead", "fit_stack"]

CANDIDATES = ("born_wolf", "born_wolf_smoothed", "family")
MAX_WINDOW = 129  # px: the largest window fitted (odd)
SIMPLER_BY = 0.005  # residual a richer candidate must save to be kept


@dataclass(frozen=True)
class BeadStack:
    """One bead through focus: unit-flux planes, their defocus and where it was found."""

    planes: np.ndarray  # (Z, w, w) float64, each plane sums to 1
    z_um: np.ndarray  # (Z,) stage position relative to the fitted focus plane
    focus_index: float  # sub-plane index of focus
    yx: tuple[int, int]  # bead position in the stack (px)
    peak_counts: float  # bead peak above background, in focus


@dataclass
class CalibrationResult:
    """The fitted profile and how well each candidate explains the stack."""

    profile: OpticsProfile
    bead: BeadStack
    candidates: dict[str, dict[str, Any]] = field(default_factory=dict)
    best: str = "family"

    def report(self) -> dict[str, Any]:
        """Return a JSON-ready summary (also stored in the profile's ``fit``)."""
        return {
            "best": self.best,
            "bead_yx_px": list(self.bead.yx),
            "focus_plane": round(self.bead.focus_index, 2),
            "bead_peak_counts": round(self.bead.peak_counts, 1),
            "planes": int(self.bead.planes.shape[0]),
            "window_px": int(self.bead.planes.shape[-1]),
            "candidates": self.candidates,
        }


def _window(stack: np.ndarray, yx: tuple[int, int], z_extent_um: float, optics: Optics) -> int:
    """Return the odd window side: the blur disc at the deepest plane, inside the image."""
    theta = np.arcsin(min(optics.na / optics.n, 0.999))
    airy = 0.61 * optics.wavelength_um / optics.na
    radius = (1.15 * z_extent_um * np.tan(theta) + 2 * airy) / optics.pixel_um + 3
    y, x = yx
    h, w = stack.shape[-2:]
    room = min(y, x, h - 1 - y, w - 1 - x)
    half = int(min(np.ceil(radius), room, MAX_WINDOW // 2))
    if half < 3:
        raise ValueError(
            "the brightest bead is at the image edge; crop the stack around a bead near "
            "the centre, or choose a field with a bead away from the border"
        )
    return 2 * half + 1


def extract_bead(stack: np.ndarray, z_step_um: float, optics: Optics) -> BeadStack:
    """Return the brightest bead of a ``(Z, Y, X)`` stack, centred and normalised.

    Raises
    ------
    ValueError
        If the stack is not 3-D with at least 5 planes, holds NaN or inf, or shows
        no bead above the noise.
    """
    from scipy.ndimage import fourier_shift, gaussian_filter, uniform_filter

    s = np.asarray(stack, dtype=np.float64)
    if s.ndim != 3 or s.shape[0] < 5:
        raise ValueError(
            f"a calibration stack is (Z, Y, X) with at least 5 planes, got shape {s.shape}"
        )
    if not np.isfinite(s).all():
        raise ValueError("the calibration stack holds NaN or inf values")
    s = s - np.median(s, axis=(1, 2), keepdims=True)
    proj = gaussian_filter(s.max(axis=0), 1.0)
    y, x = np.unravel_index(int(np.argmax(proj)), proj.shape)
    noise = 1.4826 * float(np.median(np.abs(s[s.shape[0] // 2])))
    peaks = uniform_filter(s, size=(1, 3, 3))[:, y, x]
    k = int(np.argmax(peaks))
    if peaks[k] < 10 * max(noise / 3, 1e-12):
        raise ValueError("no bead stands out of the noise in this stack; is it a bead z-stack?")
    # Focus: parabola through the peak plane and its neighbours.
    focus = float(k)
    if 0 < k < len(peaks) - 1:
        a, b, c = np.log(np.clip(peaks[k - 1 : k + 2], 1e-12, None))
        denom = a - 2 * b + c
        if denom < 0:
            focus = k + 0.5 * (a - c) / denom
    z_um = (np.arange(s.shape[0]) - focus) * z_step_um
    side = _window(s, (int(y), int(x)), float(np.abs(z_um).max()), optics)
    h = side // 2
    crop = s[:, y - h : y + h + 1, x - h : x + h + 1]
    # Centre on the in-focus centroid (3 px radius), sub-pixel, in every plane.
    inner = crop[k, h - 3 : h + 4, h - 3 : h + 4].clip(0)
    g = np.arange(-3, 4)
    total = inner.sum()
    dy = float((inner.sum(axis=1) * g).sum() / total) if total > 0 else 0.0
    dx = float((inner.sum(axis=0) * g).sum() / total) if total > 0 else 0.0
    shifted = np.fft.ifft2(fourier_shift(np.fft.fft2(crop, axes=(-2, -1)), (0, -dy, -dx))).real
    flux = shifted.sum(axis=(1, 2), keepdims=True)
    if (flux <= 0).any():
        raise ValueError("a plane of the bead window has no signal above its median")
    return BeadStack(
        planes=shifted / flux,
        z_um=z_um,
        focus_index=focus,
        yx=(int(y), int(x)),
        peak_counts=float(peaks[k]),
    )


# Parameters of each candidate: (name, start, lower, upper).
_PARAMS: dict[str, list[tuple[str, float, float, float]]] = {
    "born_wolf": [("dz", 0.0, -1.0, 1.0)],
    "born_wolf_smoothed": [
        ("dz", 0.0, -1.0, 1.0),
        ("sigma_px", 0.5, 0.0, 10.0),
        ("sigma_per_um", 0.0, 0.0, 2.0),
    ],
    "family": [
        ("dz", 0.0, -1.0, 1.0),
        ("sigma_px", 0.5, 0.0, 10.0),
        ("sigma_per_um", 0.0, 0.0, 2.0),
        ("spherical", 0.0, -3.0, 3.0),
        ("astig_x", 0.0, -2.0, 2.0),  # astigmatism as a vector: a·cos 2θ₀, a·sin 2θ₀
        ("astig_y", 0.0, -2.0, 2.0),
        ("inv_apodisation", 0.2, 0.0, 3.0),  # 1/w, so that 0 is no apodisation
    ],
}


def _params(names: list[str], v: np.ndarray) -> tuple[float, PsfParams]:
    d = dict(zip(names, (float(x) for x in v), strict=True))
    ax, ay = d.get("astig_x", 0.0), d.get("astig_y", 0.0)
    inv_w = d.get("inv_apodisation", 0.0)
    return d["dz"], PsfParams(
        spherical=d.get("spherical", 0.0),
        astigmatism=float(np.hypot(ax, ay)),
        astig_angle=0.5 * float(np.arctan2(ay, ax)),
        apodisation=1.0 / inv_w if inv_w > 1e-6 else np.inf,
        sigma_px=d.get("sigma_px", 0.0),
        sigma_per_um=d.get("sigma_per_um", 0.0),
    )


def _oversample(optics: Optics) -> int:
    """Sub-pixels per pixel that sample the intensity OTF (cutoff 2 NA / λ) at Nyquist."""
    return max(1, int(np.ceil(4 * optics.na * optics.pixel_um / optics.wavelength_um)))


def _model(bead: BeadStack, optics: Optics, dz: float, params: PsfParams) -> np.ndarray:
    side = bead.planes.shape[-1]
    m = pupil_psfs(bead.z_um - dz, params, optics, size=side, oversample=_oversample(optics))
    return m / m.sum(axis=(1, 2), keepdims=True)


def fit_stack(
    stack: np.ndarray,
    z_step_um: float,
    optics: Optics,
    *,
    candidates: tuple[str, ...] = CANDIDATES,
    source: str = "",
) -> CalibrationResult:
    """Fit each candidate model to a bead z-stack; return the profile of the best.

    Parameters
    ----------
    stack : numpy.ndarray
        ``(Z, Y, X)`` bead z-stack, any dtype; planes ``z_step_um`` apart.
    z_step_um : float
        Stage step between planes, µm (> 0).
    optics : Optics
        Nominal wavelength, NA, immersion index and pixel size of the microscope.
    candidates : tuple of str
        Models to fit, from :data:`CANDIDATES`.
    source : str
        What was fitted, recorded in the profile.
    """
    from scipy.optimize import least_squares

    if not z_step_um > 0:
        raise ValueError(f"the z step must be positive, got {z_step_um} µm")
    unknown = set(candidates) - set(CANDIDATES)
    if unknown:
        raise ValueError(f"unknown candidates {sorted(unknown)}; choose from {CANDIDATES}")
    bead = extract_bead(stack, z_step_um, optics)
    data = bead.planes
    norm = float(np.sum(data**2))
    report: dict[str, dict[str, Any]] = {}
    fitted: dict[str, PsfParams] = {}
    for name in candidates:
        spec = _PARAMS[name]
        names = [p[0] for p in spec]
        lower = [p[2] * (z_step_um if p[0] == "dz" else 1) for p in spec]
        upper = [p[3] * (z_step_um if p[0] == "dz" else 1) for p in spec]

        def residual(v: np.ndarray, names: list[str] = names) -> np.ndarray:
            dz, params = _params(names, v)
            return (_model(bead, optics, dz, params) - data).ravel() / np.sqrt(norm)

        sol = least_squares(
            residual, [p[1] for p in spec], bounds=(lower, upper), x_scale="jac", max_nfev=200
        )
        dz, params = _params(names, sol.x)
        fitted[name] = params
        report[name] = {
            "relative_residual": round(float(np.sum(sol.fun**2)), 5),
            "focus_offset_um": round(dz, 4),
            "psf_params": params.model_dump(mode="json"),
            "evaluations": int(sol.nfev),
        }
    # The simplest candidate that explains the stack about as well as the best: a
    # richer model must explain another 0.5 % of the stack (and 5 % of what is left).
    lowest = min(r["relative_residual"] for r in report.values())
    best = next(
        n for n in candidates if report[n]["relative_residual"] <= 1.05 * lowest + SIMPLER_BY
    )
    result = CalibrationResult(
        profile=OpticsProfile(optics=optics, psf_params=fitted[best], source=source),
        bead=bead,
        candidates=report,
        best=best,
    )
    result.profile = result.profile.model_copy(update={"fit": result.report()})
    return result
