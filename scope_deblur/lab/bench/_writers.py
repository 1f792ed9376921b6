"""Raw writers: a bare ome-writers OME-Zarr stream per backend, its time and memory.

Each backend writes the same ``frames`` frames of ``side`` x ``side`` uint16 (with the
per-frame metadata pymmcore-plus hands it) in a fresh process, so that one backend's
memory is not counted against the next. Resident memory is read after a tenth of the
frames and after the last; the difference over the frames between is the growth a long
acquisition would see.
"""

from __future__ import annotations

import multiprocessing
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from ._soak import process_sample

__all__ = ["bench_writers"]

BACKENDS = ("tensorstore", "zarr-python")
"""The OME-Zarr backends compared: ome-writers' default, and the one the raw data uses."""


def bench_writers(
    frames: int, side: int = 512, backends: tuple[str, ...] = BACKENDS
) -> dict[str, Any]:
    """Write ``frames`` frames through each backend in its own process; return the rows."""
    spawn = multiprocessing.get_context("spawn")
    rows = {}
    for backend in backends:
        with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
            rows[backend] = pool.submit(_write, backend, frames, side).result()
    return {"frames": frames, "shape": [side, side], "dtype": "uint16", "rows": rows}


def _write(backend: str, frames: int, side: int) -> dict[str, float]:
    from ome_writers import AcquisitionSettings, create_stream, dims_from_standard_axes

    frame = np.random.default_rng(0).integers(0, 4000, (side, side), dtype=np.uint16)
    settle = max(frames // 10, 1)
    with tempfile.TemporaryDirectory() as where:
        settings = AcquisitionSettings(
            root_path=str(Path(where) / "raw.ome.zarr"),
            dimensions=dims_from_standard_axes({"t": frames, "y": side, "x": side}),
            dtype="uint16",
            format={"name": "ome-zarr", "backend": backend},
        )
        t0 = time.perf_counter()
        with create_stream(settings) as stream:
            for i in range(frames):
                stream.append(frame, frame_metadata={"delta_t": 0.04 * i, "exposure_time": 0.01})
                if i == settle - 1:
                    first = process_sample()["rss_mb"]
            last = process_sample()["rss_mb"]
        seconds = time.perf_counter() - t0
    return {
        "ms_per_frame": round(1e3 * seconds / frames, 2),
        "rss_mb_after_a_tenth": round(first, 1),
        "rss_mb_at_the_end": round(last, 1),
        "growth_kb_per_frame": round(1e3 * (last - first) / max(frames - settle, 1), 2),
    }
