"""The one summary of a live run, printed by ``--json`` and saved as ``summary.json``."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from ._pipeline import DONE
from ._writer import FrameRecord

__all__ = ["summarize"]


def _mean(values: list[float]) -> float | None:
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    return round(float(v.mean()), 4) if v.size else None


def _quantile(values: list[float], q: float) -> float | None:
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    return round(float(np.quantile(v, q)), 3) if v.size else None


def summarize(
    records: Sequence[FrameRecord],
    *,
    frames_saved_raw: int,
    frame_times: Sequence[float] = (),
    device: str,
    method: str | None,
    state: str,
) -> dict[str, Any]:
    """Return the summary of a run from its per-frame records.

    ``state`` is ``complete``, ``interrupted`` (resumable), or ``acquired`` (raw only).
    The quality keys (``defocus_mae_um``, the true |defocus| median and 95th
    percentile, PSNR, SSIM) are null where the truth is unknown, i.e. everywhere but on
    the demo microscope.
    """
    done = [r for r in records if r.mode in DONE]
    errors = [abs(r.defocus_um - r.true_defocus_um) for r in done]
    latencies = [r.latency_ms for r in done if r.mode == "live"]
    t = list(frame_times)
    fps = (len(t) - 1) / (t[-1] - t[0]) if len(t) > 1 and t[-1] > t[0] else None
    return {
        "state": state,
        "frames_acquired": len(records),
        "frames_saved_raw": frames_saved_raw,
        "frames_restored": len(done),
        "frames_restored_live": sum(r.mode == "live" for r in done),
        "frames_lost": sum(r.mode == "lost" for r in records),
        "defocus_mae_um": _mean(errors),
        "defocus_abs_median_um": _quantile([r.true_defocus_um for r in done], 0.5),
        "defocus_abs_p95_um": _quantile([r.true_defocus_um for r in done], 0.95),
        "psnr_input_db": _mean([r.psnr_input_db for r in done]),
        "psnr_restored_db": _mean([r.psnr_restored_db for r in done]),
        "ssim_input": _mean([r.ssim_input for r in done]),
        "ssim_restored": _mean([r.ssim_restored for r in done]),
        "restore_latency_ms_median": round(float(np.median(latencies)), 2) if latencies else None,
        "acquisition_fps": round(fps, 3) if fps else None,
        "device": device,
        "method": method,
        "errors": sorted({r.error for r in records if r.error}),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "outputs": {},
    }
