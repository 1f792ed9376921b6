"""Restore one plane without ever losing it: a failing restorer gives the plane back."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..protocols import upscale_of

if TYPE_CHECKING:
    from ..protocols import DefocusEstimator, Restorer

__all__ = ["restore_checked"]


def restore_checked(
    restorer: Restorer, plane: np.ndarray, estimator: DefocusEstimator
) -> tuple[np.ndarray, dict[str, Any]]:
    """Estimate and restore one checked plane; return the result and its table fields.

    If the restorer fails (raises, or returns non-finite pixels or another shape), the
    plane comes back unrestored and the fields carry an ``error``. A restorer that
    super-resolves (:class:`~scope_deblur.protocols.Upscaling`) returns ``upscale``
    times the pixels per side; unrestored, each pixel is then repeated, its flux shared.
    """
    s = upscale_of(restorer)
    shape = (s * plane.shape[-2], s * plane.shape[-1])
    if s > 1:
        unrestored = np.repeat(np.repeat(plane, s, axis=-2), s, axis=-1) / np.float32(s * s)
    else:
        unrestored = plane
    est = estimator.estimate(plane)
    fields: dict[str, Any] = {"defocus_um": est.defocus_um, "confidence": round(est.confidence, 4)}
    try:
        out = np.asarray(restorer.restore(plane, est))
    except Exception as e:  # a restorer's bug must not lose the plane
        return unrestored, {**fields, "error": f"{type(e).__name__}: {e}"}
    if out.shape != shape:
        return unrestored, {**fields, "error": f"restorer returned shape {out.shape}, not {shape}"}
    with np.errstate(over="ignore", invalid="ignore"):
        out = out.astype(np.float32, copy=False)
    bad = int(out.size - np.isfinite(out).sum())
    if bad:
        return unrestored, {**fields, "error": f"restorer returned {bad} NaN or infinite pixel(s)"}
    return out, fields
