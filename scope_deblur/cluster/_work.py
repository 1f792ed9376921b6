"""What a Dask worker does: restore one plane of one file into the run's working store.

Each worker process builds the estimator and the restorer once (:func:`models`, cached
per :class:`RestoreSpec`) with its share of the CPU threads. A task reads only its
plane from the input file, restores it as the single-process ``restore`` does
(:func:`~scope_deblur.restoration.restore_checked`), writes it into the file's
working Zarr array (one chunk per plane, so workers never write the same chunk) and
then, atomically, its completion record: a plane with a record is done, whatever
happens to the run afterwards.
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ..protocols import DefocusEstimator, Restorer

__all__ = ["RestoreSpec", "done_record", "models", "open_planes", "restore_plane_task"]


@dataclass(frozen=True)
class RestoreSpec:
    """Everything a worker needs to build the same estimator and restorer as the driver."""

    method: str
    device: str = "cpu"
    profile_json: str | None = None  # the optics profile, as JSON
    pixel_um: float | None = None
    threads: int = 1  # torch threads per worker process

    def as_dict(self) -> dict[str, Any]:
        """Return the spec as a JSON-ready dict (recorded with the run's work)."""
        return asdict(self)


@cache
def models(spec: RestoreSpec) -> tuple[DefocusEstimator, Restorer]:
    """Return this process's estimator and restorer for ``spec`` (built once)."""
    import torch

    from ..methods import build_estimator, build_restorer
    from ..optics import OpticsProfile

    torch.set_num_threads(spec.threads)
    profile = OpticsProfile.model_validate_json(spec.profile_json) if spec.profile_json else None
    restorer = build_restorer(spec.method, spec.device, profile=profile, pixel_um=spec.pixel_um)
    estimator = build_estimator(spec.device, pixel_um=spec.pixel_um, profile=profile)
    return estimator, restorer


def open_planes(store: Path, shape: tuple[int, int, int] | None = None) -> Any:
    """Open the working array of one file (created with ``shape`` if given): NaN until done."""
    import tensorstore as ts

    spec: dict[str, Any] = {"driver": "zarr3", "kvstore": {"driver": "file", "path": str(store)}}
    if shape is None:
        return ts.open(spec, open=True, read=True, write=True).result()
    return ts.open(
        spec,
        create=True,
        open=True,
        dtype=ts.float32,
        shape=shape,
        chunk_layout=ts.ChunkLayout(chunk_shape=(1, *shape[1:])),
        fill_value=np.nan,
    ).result()


def done_record(work: Path, k: int) -> Path:
    """Return the path of plane ``k``'s completion record in a file's work folder."""
    return work / "done" / f"{k}.json"


def restore_plane_task(spec: RestoreSpec, source: str, k: int, work: str) -> dict[str, Any]:
    """Restore plane ``k`` of ``source`` into ``work``; return its table row."""
    from ..io import ImageStack, atomic_path, check_frame
    from ..restoration import restore_checked

    t0 = time.perf_counter()
    estimator, restorer = models(spec)
    with ImageStack(source) as stack:
        name = f"{source} plane {k}" if len(stack) > 1 else source
        plane = check_frame(stack.plane(k), name=name)
    out, fields = restore_checked(restorer, plane, estimator)
    folder = Path(work)
    open_planes(folder / "planes.zarr")[k].write(out).result()
    row = {
        "path": source,
        "plane": k,
        "method": restorer.name,
        **fields,
        "seconds": round(time.perf_counter() - t0, 4),
        "worker": f"{socket.gethostname()}:{os.getpid()}",
    }
    with atomic_path(done_record(folder, k)) as partial:  # done once its record is whole
        partial.write_text(json.dumps(row))
    return row
