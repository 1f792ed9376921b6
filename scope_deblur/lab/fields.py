"""Test fields made from real in-focus images: sparse fields with a chosen nucleus count.

A real image's nuclei are found by Otsu's threshold; all but ``keep`` of them (chosen by
``seed``) are painted over with the image's own background level, so the kept nuclei,
their texture and the camera's background stay real. The estimator and the restorers
are then scored on fields as empty as a sparse well, where a few nuclei must outvote
many patches of blur halo and noise.
"""

from __future__ import annotations

import numpy as np

__all__ = ["nucleus_labels", "sparse_field"]


def nucleus_labels(image: np.ndarray, grow_px: int = 4) -> tuple[np.ndarray, int]:
    """Return Otsu nuclei, grown by ``grow_px`` to take in their rims, labelled 1..n."""
    from scipy import ndimage
    from skimage.filters import threshold_otsu

    x = np.asarray(image, dtype=np.float32)
    x = x - np.percentile(x, 1)
    mask = ndimage.binary_dilation(x > threshold_otsu(x), iterations=grow_px)
    labels, n = ndimage.label(mask)
    return labels, int(n)


def sparse_field(image: np.ndarray, keep: int, seed: int = 0) -> np.ndarray:
    """Return ``image`` with all but ``keep`` nuclei replaced by its median background.

    Raises
    ------
    ValueError
        If ``keep`` is not positive.
    """
    if keep < 1:
        raise ValueError(f"keep must be at least 1, got {keep}")
    labels, n = nucleus_labels(image)
    kept = np.random.default_rng(seed).choice(np.arange(1, n + 1), min(keep, n), replace=False)
    drop = (labels > 0) & ~np.isin(labels, kept)
    out = np.array(image, dtype=np.float32, copy=True)
    out[drop] = np.median(out[labels == 0])
    return out
