"""Live throughput: restoration must keep up with the camera and leave it alone.

For each frame rate the demo microscope streams a 512×512 time-lapse twice: once
with live restoration and once without, so the acquisition jitter of the two can
be compared. No frame may be lost; skipped frames are counted, then caught up.
"""

from __future__ import annotations

import gc
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["bench_live"]


def _stream(fps: float, frames: int, folder: Path, pipeline: Any | None) -> dict[str, Any]:
    import useq

    from .._rawfile import count_frames
    from ..demo import DemoWorld, DriftConfig, load_demo_core

    core = load_demo_core(DemoWorld(DriftConfig(ramp_um_per_frame=0.3)))
    stamps: list[float] = []
    core.mda.events.frameReady.connect(lambda *_: stamps.append(time.perf_counter()))
    raw = folder / "raw.ome.tif"
    seq = useq.MDASequence(time_plan={"interval": 1 / fps, "loops": frames})
    try:
        if pipeline is None:
            core.mda.run(seq, output=raw, overwrite=True)
        else:
            with pipeline.connected(core):
                core.mda.run(seq, output=raw, overwrite=True)
    finally:
        del core  # release MMCore now: alive at exit, it aborts the process
        gc.collect()  # (it sits in reference cycles)
    t_acq = time.perf_counter()
    gaps = np.diff(stamps) * 1e3
    row: dict[str, Any] = {
        "frames_acquired": len(stamps),
        "frames_saved_raw": count_frames(raw),
        "achieved_fps": (len(stamps) - 1) / (stamps[-1] - stamps[0]),
        "interval_ms_median": float(np.median(gaps)),
        "interval_jitter_ms": float(np.std(gaps)),
        "interval_ms_max": float(gaps.max()),
    }
    if pipeline is not None:
        pipeline.finish(raw)
        recs = pipeline.records
        live = [r.latency_ms for r in recs if r.mode == "live"]
        row.update(
            frames_restored_live=len(live),
            frames_caught_up=sum(r.mode == "catch-up" for r in recs),
            frames_failed=sum(r.mode == "passthrough" for r in recs),
            catch_up_s=time.perf_counter() - t_acq,
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

    from ..live import LivePipeline
    from ..methods import build_estimator, build_restorer, resolve_device

    dev = resolve_device(device)
    estimator, restorer = build_estimator(dev), build_restorer(method, dev, compile=compile)
    batch = 4 if dev == "cuda" else 1
    results = []
    with tempfile.TemporaryDirectory() as tmp:  # warm-up: imports, PSF cache, first frames
        _stream(max(fps), 5, Path(tmp), None)
    for i, rate in enumerate(fps):
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            off = _stream(rate, frames, folder, None)
            pipe = LivePipeline(
                estimator,
                restorer,
                folder / "restored.tif",
                queue_size=queue_size,
                batch_size=batch,
            )
            on = _stream(rate, frames, folder, pipe)
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
