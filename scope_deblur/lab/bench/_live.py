"""Live throughput: restoration must keep up with the camera and leave it alone.

For each frame rate the demo microscope streams a 512×512 time-lapse twice: once
with live restoration and once without, so the acquisition jitter of the two can
be compared. No frame may be lost; skipped frames are counted, then caught up.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ...protocols import DefocusEstimator, Restorer

__all__ = ["bench_live"]


def _stream(
    fps: float,
    frames: int,
    folder: Path,
    restorer: Restorer | None = None,
    estimator: DefocusEstimator | None = None,
    **session_options: Any,
) -> dict[str, Any]:
    """Stream the demo microscope through a live session; time the frames and the rest."""
    import useq

    from ...demo import DemoWorld, DriftConfig, load_demo_core
    from ...live import LiveSession, RunFolder, open_core

    seq = useq.MDASequence(time_plan={"interval": 1 / fps, "loops": frames})
    world = DemoWorld(DriftConfig(ramp_um_per_frame=0.3))
    with open_core(lambda: load_demo_core(world)) as core:
        session = LiveSession(
            core,
            RunFolder(folder),
            estimator=estimator,
            restorer=restorer,
            settings={"command": "bench --live"},
            **session_options,
        )
        t_acq: list[float] = []
        session.events.frameAcquired.connect(
            lambda done, total: t_acq.append(time.perf_counter()) if done == frames else None
        )
        summary = session.run(seq)
        stamps = session.frame_times
        records = session.pipeline.records if session.pipeline is not None else []
        del session  # it holds the core
    t_end = time.perf_counter()
    gaps = np.diff(stamps) * 1e3
    row: dict[str, Any] = {
        "frames_acquired": summary["frames_acquired"],
        "frames_saved_raw": summary["frames_saved_raw"],
        "achieved_fps": (len(stamps) - 1) / (stamps[-1] - stamps[0]),
        "interval_ms_median": float(np.median(gaps)),
        "interval_jitter_ms": float(np.std(gaps)),
        "interval_ms_max": float(gaps.max()),
    }
    if records:
        live = [r.latency_ms for r in records if r.mode == "live"]
        row.update(
            frames_restored_live=len(live),
            frames_caught_up=sum(r.mode == "catch-up" for r in records),
            frames_failed=sum(r.mode == "passthrough" for r in records),
            catch_up_s=t_end - t_acq[-1] if t_acq else None,
            latency_ms_median=float(np.median(live)) if live else None,
            latency_ms_p95=float(np.percentile(live, 95)) if live else None,
        )
    return row


def bench_live(
    fps: Sequence[float] = (10, 20, 50),
    *,
    frames: int = 100,
    method: str = "fusion",
    device: str = "auto",
    queue_size: int = 4,
    compile: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Stream the demo microscope at each frame rate, with and without restoration.

    ``compile`` compiles the fusion network (before the streams start).
    """
    import torch

    from ...methods import build_estimator, build_restorer, resolve_device

    dev = resolve_device(device)
    estimator, restorer = build_estimator(dev), build_restorer(method, dev, compile=compile)
    batch = 4 if dev == "cuda" else 1
    results = []
    with tempfile.TemporaryDirectory() as tmp:  # warm-up: imports, PSF cache, first frames
        _stream(max(fps), 5, Path(tmp))
    for i, rate in enumerate(fps):
        with tempfile.TemporaryDirectory() as tmp:
            off = _stream(rate, frames, Path(tmp) / "off")
            on = _stream(
                rate,
                frames,
                Path(tmp) / "on",
                restorer,
                estimator,
                queue_size=queue_size,
                batch_size=batch,
                device=dev,
            )
        results.append(
            {
                "target_fps": rate,
                "frames": frames,
                "without_restoration": off,
                "with_restoration": on,
            }
        )
        if progress:
            progress(i + 1, len(fps))
    return {
        "device": dev,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "method": method,
        "compiled": bool(getattr(restorer, "compiled", False)),
        "frame_size": [512, 512],
        "date": time.strftime("%Y-%m-%d"),
        "results": results,
    }
