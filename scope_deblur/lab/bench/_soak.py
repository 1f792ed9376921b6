"""Soak: a long run at the demo's top rate, watching memory, file handles and the queue.

A live session streams N frames with no interval from the demo microscope held at a
steady 8 µm defocus. A sampler thread records, about once a second, the process's
resident memory (all of it, and the anonymous part that a leak would grow), its open
file descriptors and the restoration queue's depth. Memory is judged after a warm-up
as the growth from the first sample after it to the largest, and as the slope of a
line fitted through the samples after it; the warm-up is the first tenth of the frames.

The core's circular buffer is set to 64 MB for the soak. At Micro-Manager's default
(1 GB) its pages are touched for the first time over the first few thousand frames,
and memory rises by about 1.1 GB before it stays flat; a bare pymmcore-plus MDA of the
demo camera, without scope-deblur, rises the same way (0.52 MB a frame), and with a
64 MB buffer it does not. That is the buffer's size, not a leak.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ...live import LivePipeline

__all__ = ["bench_soak", "process_sample"]

_PAGE = os.sysconf("SC_PAGE_SIZE")
BUFFER_MB = 64
"""The core's circular buffer during a soak (see the module's docstring)."""


def process_sample() -> dict[str, float]:
    """Return this process's resident memory (MB, total and anonymous) and open fds."""
    with open("/proc/self/statm") as f:
        rss = int(f.read().split()[1]) * _PAGE
    anon = 0
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                anon = int(line.split()[1]) * 1024
    return {"rss_mb": rss / 1e6, "rss_anon_mb": anon / 1e6, "fds": len(os.listdir("/proc/self/fd"))}


def bench_soak(
    frames: int,
    *,
    method: str = "none",
    device: str = "auto",
    out: Path | None = None,
    every_s: float = 1.0,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Stream ``frames`` demo frames at top rate through a live session; sample as it runs.

    The run's files go to ``out`` (kept) or to a temporary folder (removed after).
    """
    import useq

    from ...demo import DemoWorld, DriftConfig, load_demo_core
    from ...live import LiveSession, RunFolder, open_core
    from ...methods import build_estimator, build_restorer, resolve_device

    dev = resolve_device(device)
    restorer, estimator = build_restorer(method, dev), build_estimator(dev)
    seq = useq.MDASequence(time_plan={"interval": 0, "loops": frames})
    samples: list[dict[str, float]] = []
    with nullcontext(out) if out else tempfile.TemporaryDirectory() as where:
        folder = RunFolder(Path(where))
        # A steady 8 µm defocus: the demo camera caches a blur kernel per 0.1 µm of
        # defocus (up to 512, ~0.6 GB), which is the simulator's memory, not the pipeline's.
        steady = DriftConfig(start_um=8, ramp_um_per_frame=0, walk_um_per_frame=0)
        world = DemoWorld(steady.model_copy(update={"jump_probability": 0}))
        with open_core(lambda: load_demo_core(world)) as core:
            core.setCircularBufferMemoryFootprint(BUFFER_MB)
            session = LiveSession(core, folder, estimator=estimator, restorer=restorer, device=dev)
            assert session.pipeline is not None
            stop = threading.Event()
            sampler = threading.Thread(
                target=_sample,
                args=(session.indices, session.pipeline, samples, stop, every_s),
                name="soak-sampler",
                daemon=True,
            )
            if progress is not None:
                session.events.frameAcquired.connect(progress)
            sampler.start()
            try:
                summary = session.run(seq)
            finally:
                stop.set()
                sampler.join()
            del session  # it holds the core
    return _report(frames, summary, samples, method, dev, frames // 10)


def _sample(
    indices: list[Any],
    pipeline: LivePipeline,
    out: list[dict[str, float]],
    stop: threading.Event,
    every_s: float,
) -> None:
    """Append a sample to ``out`` every ``every_s`` until ``stop`` is set."""
    t0 = time.perf_counter()
    while not stop.wait(every_s):
        out.append(
            {
                "t_s": round(time.perf_counter() - t0, 2),
                "frames": len(indices),
                "queue_depth": pipeline.queue_depth,
                **process_sample(),
            }
        )


def _report(
    frames: int,
    summary: dict[str, Any],
    samples: list[dict[str, float]],
    method: str,
    dev: str,
    warm_up: int,
) -> dict[str, Any]:
    acquiring = [s for s in samples if s["frames"] < frames]
    settled = [s for s in acquiring if s["frames"] >= warm_up]
    result: dict[str, Any] = {
        "frames": frames,
        "method": method,
        "device": dev,
        "frames_acquired": summary["frames_acquired"],
        "frames_saved_raw": summary["frames_saved_raw"],
        "frames_lost": summary["frames_acquired"] - summary["frames_saved_raw"],
        "frames_restored": summary["frames_restored"],
        "frames_restored_live": summary["frames_restored_live"],
        "acquisition_fps": summary["acquisition_fps"],
        "warm_up_frames": warm_up,
        "circular_buffer_mb": BUFFER_MB,
        "date": time.strftime("%Y-%m-%d"),
    }
    for key in ("rss_mb", "rss_anon_mb") if len(settled) > 1 else ():
        first, peak = settled[0][key], max(s[key] for s in settled)
        slope = np.polyfit([s["frames"] for s in settled], [s[key] for s in settled], 1)[0]
        result[f"{key}_after_warm_up"] = round(first, 1)
        result[f"{key}_max"] = round(peak, 1)
        result[f"{key}_growth_pct"] = round(100 * (peak - first) / first, 2)
        result[f"{key}_kb_per_frame"] = round(1e3 * float(slope), 2)
    if acquiring:
        result["fds_min"] = min(s["fds"] for s in acquiring)
        result["fds_max"] = max(s["fds"] for s in acquiring)
        result["queue_depth_max"] = max(s["queue_depth"] for s in acquiring)
    result["samples"] = samples
    return result
