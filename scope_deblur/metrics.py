"""Image-quality metrics under the project's one normalisation rule, and focus measures.

The rule (DESIGN.md, "Metrics rule"): scale the prediction and the ground truth with
the same affine map, the one that sends the ground truth's 0.1st and 99.9th
percentiles to 0 and 1, without clipping. Then PSNR = 10·log10(1/MSE) and SSIM is
``skimage.metrics.structural_similarity(gt, pred, data_range=1.0)`` with defaults.
An affine change (positive scale) applied to both images leaves every score unchanged.

The focus measures are no-reference: larger means sharper.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "brenner",
    "laplacian_variance",
    "normalize_pair",
    "normalized_variance",
    "pearson",
    "psnr",
    "ssim",
]


def _pair(gt: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(gt, dtype=np.float64)
    b = np.asarray(pred, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"gt and pred shapes differ: {a.shape} vs {b.shape}")
    if a.size == 0:
        raise ValueError(f"empty images (shape {a.shape})")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("gt or pred contains NaN or infinite values")
    return a, b


def normalize_pair(gt: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Apply the metrics rule: map gt's 0.1st/99.9th percentiles to 0/1, to both.

    Parameters
    ----------
    gt, pred : numpy.ndarray
        Ground truth and prediction, same shape, any units.

    Returns
    -------
    tuple of numpy.ndarray
        ``(gt, pred)`` in float64 after the shared affine map (not clipped).

    Raises
    ------
    ValueError
        If the shapes differ, values are not finite, or gt is flat (the two
        percentiles coincide, so the map is undefined).
    """
    a, b = _pair(gt, pred)
    lo, hi = np.percentile(a, [0.1, 99.9])
    if not hi > lo:
        raise ValueError(f"gt is flat (0.1st and 99.9th percentiles both {lo})")
    return (a - lo) / (hi - lo), (b - lo) / (hi - lo)


def psnr(gt: np.ndarray, pred: np.ndarray) -> float:
    """Return PSNR in dB, ``10·log10(1/MSE)`` under the metrics rule (inf if equal)."""
    a, b = normalize_pair(gt, pred)
    mse = float(np.mean((a - b) ** 2))
    return float("inf") if mse == 0 else float(10 * np.log10(1.0 / mse))


def ssim(gt: np.ndarray, pred: np.ndarray) -> float:
    """Return SSIM under the metrics rule (skimage defaults, ``data_range=1.0``)."""
    from skimage.metrics import structural_similarity

    a, b = normalize_pair(gt, pred)
    if a.ndim != 2:
        raise ValueError(f"ssim expects 2-D images, got shape {a.shape}")
    return float(structural_similarity(a, b, data_range=1.0))


def pearson(gt: np.ndarray, pred: np.ndarray) -> float:
    """Return the Pearson correlation of the two images (affine invariant)."""
    a, b = _pair(gt, pred)
    a = a.ravel() - a.mean()
    b = b.ravel() - b.mean()
    denom = float(np.sqrt((a * a).sum() * (b * b).sum()))
    if denom == 0:
        raise ValueError("pearson is undefined for a constant image")
    return float((a * b).sum() / denom)


def _image(img: np.ndarray) -> np.ndarray:
    x = np.asarray(img, dtype=np.float64)
    if x.ndim != 2 or min(x.shape) < 3:
        raise ValueError(f"expected a 2-D image of at least 3x3, got shape {x.shape}")
    return x


def normalized_variance(img: np.ndarray) -> float:
    """Return the intensity variance divided by the mean (Groen et al. 1985)."""
    x = _image(img)
    mean = float(x.mean())
    if mean <= 0:
        raise ValueError(f"normalized variance needs a positive mean, got {mean}")
    return float(x.var() / mean)


def brenner(img: np.ndarray) -> float:
    """Return Brenner's gradient: mean squared difference of pixels two apart.

    Both directions are used and the result is averaged per pixel, so that it does
    not grow with the image size.
    """
    x = _image(img)
    dx = x[:, 2:] - x[:, :-2]
    dy = x[2:, :] - x[:-2, :]
    return float(0.5 * ((dx**2).mean() + (dy**2).mean()))


def laplacian_variance(img: np.ndarray) -> float:
    """Return the variance of the 4-neighbour Laplacian (interior pixels only)."""
    x = _image(img)
    lap = x[:-2, 1:-1] + x[2:, 1:-1] + x[1:-1, :-2] + x[1:-1, 2:] - 4 * x[1:-1, 1:-1]
    return float(lap.var())
