"""The main job: a drifting time-lapse on the demo microscope, restored live.

Because the demo camera knows every frame's true defocus and sharp image, the run
scores itself: defocus error of the estimator and PSNR/SSIM before and after. With
camera binning and a restorer that super-resolves (M-Deblurgan), the restored frame
is scored against the sharp frame at its own, finer sampling, and the input, for a
fair comparison, as its bicubic up-sampling onto that grid (flux kept).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ..focus import FocusLock, LockConfig
from ..live import FrameRecord, LiveEvents, LiveSession, RunFolder, Scorer, open_core
from ..optics import NOMINAL, OpticsProfile
from ..protocols import DefocusEstimator, Restorer
from ..restoration import bicubic_up
from ._core import demo_camera, load_demo_core
from ._drift import DriftConfig
from ._world import DemoWorld

__all__ = ["DemoRun", "demo_pixel_um", "frame_scorer", "run_demo"]


def demo_pixel_um(binning: int, profile: OpticsProfile | None = None) -> float | None:
    """Return the demo camera's pixel size at ``binning`` (None unbinned: the default).

    The restorers and the estimator resample binned frames to their own pixel size.
    """
    if binning == 1:
        return None
    return (profile or NOMINAL).optics.pixel_um * binning


class DemoRun(BaseModel):
    """Settings of a demo run (the ``scope-deblur demo`` options)."""

    model_config = ConfigDict(extra="forbid")

    frames: int = Field(60, ge=1, le=1_000_000)
    interval_ms: float = Field(100.0, ge=0, le=3_600_000)
    drift_um_per_frame: float = Field(0.5, ge=-20, le=20)
    method: str = "fusion"
    profile: Path | None = None
    device: str = "auto"
    out: Path = Path("scope-deblur-demo")
    format: Literal["ome-zarr", "ome-tiff"] = "ome-zarr"
    overwrite: bool = False
    seed: int = Field(0, ge=0)
    binning: Literal[1, 2, 4] = 1
    """Camera binning: a binned pixel is the sum of ``binning``×``binning`` sensor pixels."""
    queue_size: int = Field(4, ge=1, le=1024)
    focus_lock: LockConfig | None = None


def frame_scorer(camera: Any) -> Scorer:
    """Return a scorer that fills a record's truth fields from the demo camera."""
    from ..metrics import psnr, ssim

    def score(raw: np.ndarray, restored: np.ndarray, rec: FrameRecord) -> None:
        truth = camera.truth_for(raw)
        if truth is None:
            return
        s = restored.shape[-1] // raw.shape[-1]
        sharp = camera.sharp_frame(truth, upscale=s)
        if s > 1:  # a super-resolved frame: the input up-sampled onto its grid
            raw = bicubic_up(raw, s)
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
    connect: Callable[[LiveEvents], None] | None = None,
) -> dict[str, Any]:
    """Acquire, restore live, catch up, and return the summary (also saved as JSON).

    ``estimator`` and ``restorer`` default to the ones ``run.method`` names;
    ``connect`` is given the session's events before the run starts.
    """
    import useq

    from ..methods import build_estimator, build_restorer, resolve_device

    device = resolve_device(run.device)
    pixel_um = demo_pixel_um(run.binning)
    restorer = restorer or build_restorer(run.method, device, pixel_um=pixel_um)
    estimator = estimator or build_estimator(device, pixel_um=pixel_um)
    folder = RunFolder(run.out, run.format)
    drift = DriftConfig(ramp_um_per_frame=run.drift_um_per_frame, seed=run.seed)
    seq = useq.MDASequence(time_plan={"interval": run.interval_ms / 1000, "loops": run.frames})

    def make_core() -> Any:
        core = load_demo_core(DemoWorld(drift))
        if run.binning != 1:
            core.setProperty(core.getCameraDevice(), "Binning", str(run.binning))
        return core

    with open_core(make_core) as core:
        camera = demo_camera(core)
        session = LiveSession(
            core,
            folder,
            estimator=estimator,
            restorer=restorer,
            device=device,
            queue_size=run.queue_size,
            scorer=frame_scorer(camera),
            focus_lock=FocusLock(run.focus_lock) if run.focus_lock is not None else None,
            focus_truth=lambda frame: getattr(camera.truth_for(frame), "defocus_um", None),
            settings={
                "command": "demo",
                "method": run.method,
                "profile": run.profile,
                "demo": run.model_dump(mode="json"),
            },
        )
        if connect is not None:
            connect(session.events)
        summary = session.run(seq, overwrite=run.overwrite)
        records = session.pipeline.records if session.pipeline is not None else []
        del session  # it holds the core
    if records and summary["state"] == "complete":
        try:
            from ..figures import plot_run

            summary["outputs"]["plot"] = str(plot_run(records, folder.path / "run.png"))
        except Exception as e:  # a plot must never cost the data
            summary["outputs"]["plot_error"] = f"{type(e).__name__}: {e}"
        folder.summary.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    return summary
