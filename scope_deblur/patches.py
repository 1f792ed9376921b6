"""Patch grids, the paper's background rule and triangular blending weights.

Shared by the patch-wise defocus estimator (DelpNet) and the depth-variant restorer
(AWDVD), both from the DelpNet/AWDVD paper (section 2.1 for the "bg" rule, section
2.3 for the weights). Pure numpy, no torch.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "BG_MAX_COUNTS",
    "BG_RANGE_COUNTS",
    "full_scale_of",
    "is_background",
    "patch_grid",
    "patch_starts",
    "triangular_weights",
]

BG_MAX_COUNTS = 230.0
"""A background patch's maximum is below this (16-bit counts, paper section 2.1)."""
BG_RANGE_COUNTS = 30.0
"""A background patch's maximum minus minimum is below this (16-bit counts)."""


def patch_starts(length: int, patch: int, stride: int) -> list[int]:
    """Return patch start offsets along one axis that cover ``[0, length)``.

    Starts are ``0, stride, 2·stride, ...``; a last patch flush with the end is added
    when the regular grid leaves a remainder. If ``length < patch`` there is a single
    start, ``0`` (the caller clips the patch to the image).
    """
    if patch < 1 or stride < 1:
        raise ValueError(f"patch and stride must be >= 1, got {patch} and {stride}")
    if length < 1:
        raise ValueError(f"length must be >= 1, got {length}")
    if length <= patch:
        return [0]
    starts = list(range(0, length - patch + 1, stride))
    if starts[-1] != length - patch:
        starts.append(length - patch)
    return starts


def patch_grid(shape: tuple[int, int], patch: int, stride: int) -> list[tuple[int, int]]:
    """Return the top-left corners ``(y, x)`` of a patch grid covering ``shape``."""
    h, w = shape
    return [(y, x) for y in patch_starts(h, patch, stride) for x in patch_starts(w, patch, stride)]


def triangular_weights(patch: int | tuple[int, int], stride: int) -> np.ndarray:
    """Return the separable triangular weight of AWDVD for one patch.

    The 1-D triangle has its base equal to the patch size; its height is scaled by
    ``stride / (patch / 2)``, so that on a regular grid whose stride divides half the
    patch the overlapping weights sum to 1 (stride = patch/2 gives bilinear
    interpolation between adjacent patches). Weights are positive everywhere, so
    dividing by the accumulated weight is always defined.

    Parameters
    ----------
    patch : int or (int, int)
        Patch side, or ``(height, width)`` for a patch clipped to a small image.
    stride : int
        Grid stride in pixels.

    Returns
    -------
    numpy.ndarray
        ``(height, width)`` float64 weights.
    """
    ph, pw = (patch, patch) if isinstance(patch, int) else patch
    if min(ph, pw) < 1 or stride < 1:
        raise ValueError(f"need patch >= 1 and stride >= 1, got {patch} and {stride}")

    def tri(n: int) -> np.ndarray:
        half = n / 2
        centre = np.arange(n) + 0.5
        return (1.0 - np.abs(centre - half) / half) * min(stride, n) / half

    return np.outer(tri(ph), tri(pw))


def full_scale_of(frame: np.ndarray) -> float:
    """Return the full-scale value a frame's counts refer to.

    Integer frames: the dtype's maximum (255 for uint8, 65535 for uint16). Float
    frames: 1.0 if they look normalised (maximum ≤ 1), else 65535 (float counts).
    """
    arr = np.asarray(frame)
    if np.issubdtype(arr.dtype, np.integer):
        return float(np.iinfo(arr.dtype).max)
    return 1.0 if arr.size and float(np.nanmax(arr)) <= 1.0 else 65535.0


def is_background(
    patch: np.ndarray,
    *,
    full_scale: float = 65535.0,
    max_counts: float = BG_MAX_COUNTS,
    range_counts: float = BG_RANGE_COUNTS,
) -> bool:
    """Apply the paper's "bg" rule: max < 230 and max − min < 30 (16-bit counts).

    Parameters
    ----------
    patch : numpy.ndarray
        Image patch in the frame's own units.
    full_scale : float
        What those units' full scale is (see :func:`full_scale_of`). The thresholds,
        given in 16-bit counts, are scaled by ``full_scale / 65535``.
    max_counts, range_counts : float
        The two thresholds, in 16-bit counts.

    Returns
    -------
    bool
        True when the patch is background.
    """
    p = np.asarray(patch)
    if p.size == 0:
        raise ValueError(f"empty patch (shape {p.shape})")
    scale = full_scale / 65535.0
    hi, lo = float(p.max()), float(p.min())
    return hi < max_counts * scale and hi - lo < range_counts * scale
