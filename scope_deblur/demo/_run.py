"""The main job: a drifting time-lapse on the demo microscope, restored live.

Because the demo camera knows every frame's true defocus and sharp image, the run
scores itself: defocus error of the estimator and PSNR/SSIM before and after.
"""

from __future__ import annotations

import gc
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ..live import FrameRecord, LivePipeline
from ..protocols import DefocusEstimator, Restorer
from ._drift import DriftConfig
from ._world import DemoWorld

__all__ = ["DemoRun", "run_demo", "summarize"]


class DemoRun(BaseModel):
    """Settings of a demo run (the ``scope-deblur demo`` options)."""

    model_config = ConfigDict(extra="forbid")

    frames: int = Field(60, ge=1, le=100_000)
    interval_ms: float = Field(100.0, ge=0, le=3_600_000)
    drift_um_per_frame: float = Field(0.5, ge=-20, le=20)
    method: str = "fusion"
    device: str = "auto"
    out: Path = Path("scope-deblur-demo")
    seed: int = Field(0, ge=0)
    queue_size: int = Field(4, ge=1, le=1024)


def _scorer(camera: Any) -> Callable[[np.ndarray, np.ndarray, FrameRecord], None]:
    from ..metrics import psnr, ssim

    def score(raw: np.ndarray, restored: np.ndarray, rec: FrameRecord) -> None:
        truth = camera.truth_for(raw)
        if truth is None:
            return
        sharp = camera.sharp_frame(truth)
        rec.true_defocus_um = abs(truth.defocus_um)
        rec.psnr_input_db = psnr(sharp, raw)
        rec.psnr_restored_db = psnr(sharp, restored)
        rec.ssim_input = ssim(sharp, raw)
        rec.ssim_restored = ssim(sharp, restored)

    return score


def run_demo(
    run: DemoRun,
    *,
    estimator: DefocusEstimator | None = None,
    restorer: Restorer | None = None,
    on_frame: Callable[[int, int], None] | None = None,
    on_catchup: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Acquire, restore live, catch up, and return the summary (also saved as JSON).

    ``estimator`` and ``restorer`` default to the ones ``run.method`` names.
    """
    import useq

    from ..methods import build_estimator, build_restorer, resolve_device
    from . import demo_camera, load_demo_core

    device = resolve_device(run.device)
    restorer = restorer or build_restorer(run.method, device)
    estimator = estimator or build_estimator(device)
    out = Path(run.out)
    out.mkdir(parents=True, exist_ok=True)
    raw_path = out / "raw.ome.tif"
    drift = DriftConfig(ramp_um_per_frame=run.drift_um_per_frame, seed=run.seed)
    core = load_demo_core(DemoWorld(drift))
    try:
        pipeline = LivePipeline(
            estimator,
            restorer,
            out / "restored.ome.tif",
            queue_size=run.queue_size,
            scorer=_scorer(demo_camera(core)),
        )
        seq = useq.MDASequence(time_plan={"interval": run.interval_ms / 1000, "loops": run.frames})
        with pipeline.connected(core):
            if on_frame is not None:  # after the pipeline's handler, so records count
                core.mda.events.frameReady.connect(
                    lambda *_: on_frame(len(pipeline.records), run.frames)
                )
            core.mda.run(seq, output=raw_path, overwrite=True)
        restored = pipeline.finish(raw_path, on_catchup)
    finally:
        del core  # release MMCore now: alive at exit, it aborts the process
        gc.collect()  # (it sits in reference cycles)
    summary = summarize(pipeline, raw_path, device)
    summary["outputs"].update(
        restored=str(restored) if restored else None, table=str(out / "frames.csv")
    )
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    summary["outputs"]["summary"] = str(out / "summary.json")
    try:
        from ..report import plot_run

        summary["outputs"]["plot"] = str(plot_run(pipeline.records, out / "run.png"))
    except Exception as e:  # a plot must never cost the data
        summary["outputs"]["plot_error"] = f"{type(e).__name__}: {e}"
    return summary


def summarize(pipeline: LivePipeline, raw_path: Path, device: str) -> dict[str, Any]:
    """Build the summary object that ``scope-deblur demo --json`` prints."""
    from .._rawfile import count_frames

    recs = pipeline.records
    done = [r for r in recs if r.mode in ("live", "catch-up")]

    def mean(values: list[float]) -> float | None:
        v = np.asarray(values, dtype=np.float64)
        v = v[np.isfinite(v)]
        return round(float(v.mean()), 4) if v.size else None

    errors = [abs(r.defocus_um - r.true_defocus_um) for r in done]
    latencies = [r.latency_ms for r in done if r.mode == "live"]
    t = pipeline.frame_times
    fps = (len(t) - 1) / (t[-1] - t[0]) if len(t) > 1 and t[-1] > t[0] else None
    return {
        "frames_acquired": len(recs),
        "frames_saved_raw": count_frames(raw_path) if raw_path.exists() else 0,
        "frames_restored": len(done),
        "frames_restored_live": sum(r.mode == "live" for r in done),
        "defocus_mae_um": mean(errors),
        "psnr_input_db": mean([r.psnr_input_db for r in done]),
        "psnr_restored_db": mean([r.psnr_restored_db for r in done]),
        "ssim_input": mean([r.ssim_input for r in done]),
        "ssim_restored": mean([r.ssim_restored for r in done]),
        "restore_latency_ms_median": round(float(np.median(latencies)), 2) if latencies else None,
        "acquisition_fps": round(fps, 3) if fps else None,
        "device": device,
        "method": pipeline.restorer.name,
        "errors": sorted({r.error for r in recs if r.error}),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "outputs": {"raw": str(raw_path)},
    }
