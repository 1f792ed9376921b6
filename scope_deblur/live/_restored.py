"""The final restored output: the raw data's dimensions and metadata.

While a run goes on, restored frames land out of order in a flat working file
(``restored.partial.tif``, see :class:`RestoredWriter`). When the run completes they are
written one plane at a time, with the raw data's dimensions (positions, time,
channels, z), pixel size and format:

- OME-Zarr through the same ome-writers stream that pymmcore-plus writes the raw data
  with, in the sequence's order, with each plane's time and stage position; a frame
  never acquired is skipped (missing, not zero). Its attributes (``scope_deblur``)
  carry each plane's defocus estimate, confidence, method, model hash and latency.
- OME-TIFF by tifffile, one file per raw file with the same axes and shape, because
  ome-writers 0.3.2 writes float32 OME-TIFF metadata that ome-types rejects ("float32"
  is not an OME pixel type). A frame never acquired is NaN.

``frames.csv`` carries the per-plane table for both formats.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ._raw import RawData, event_index
from ._writer import FrameRecord

if TYPE_CHECKING:
    from useq import MDASequence

__all__ = ["RestoredLayout", "write_restored"]

log = logging.getLogger(__name__)

_TABLE_KEYS = ("index", "mode", "method", "model_sha256", "defocus_um", "confidence", "latency_ms")


@dataclass
class RestoredLayout:
    """Where and how the restored output is written.

    Attributes
    ----------
    path : Path
        ``restored.ome.zarr`` or ``restored.ome.tif`` (a multi-position OME-TIFF
        becomes a folder ``restored/`` of per-position files, as the raw data does).
    fmt : str
        ``ome-zarr`` or ``ome-tiff``.
    raw : Path
        The run's raw data, whose layout the output copies.
    sequence : MDASequence, optional
        The run's sequence; without it (or for a sequence ome-writers cannot lay out
        as an array) the output is a flat stack in acquisition order.
    pixel_size_um : float, optional
        The camera's pixel size in the sample.
    """

    path: Path
    fmt: str
    raw: Path
    sequence: MDASequence | None = None
    pixel_size_um: float | None = None


def write_restored(
    layout: RestoredLayout,
    shape: tuple[int, int],
    records: Mapping[int, FrameRecord],
    plane: Callable[[int], np.ndarray],
) -> Path:
    """Write the frames ``plane(k)`` of the acquired ``records`` (by place k); return the path.

    The output appears under its final name only once complete.

    Raises
    ------
    OSError
        If it cannot be written (a full disk): the working file is kept for a resume.
    """
    try:
        if layout.fmt == "ome-tiff" and layout.sequence is not None:
            return _tiff_like_raw(layout, shape, records, plane)
        return _through_ome_writers(layout, shape, records, plane)
    except Exception as e:  # tensorstore reports a full disk as ValueError
        shutil.rmtree(layout.path.parent / ".restored-writing", ignore_errors=True)
        if isinstance(e, OSError):
            raise
        raise OSError(f"cannot write {layout.path}: {e}") from e


def _through_ome_writers(
    layout: RestoredLayout,
    shape: tuple[int, int],
    records: Mapping[int, FrameRecord],
    plane: Callable[[int], np.ndarray],
) -> Path:
    from ome_writers import AcquisitionSettings, create_stream, useq_to_acquisition_settings

    dims: dict[str, Any] | None = None
    if layout.sequence is not None:
        try:
            dims = dict(
                useq_to_acquisition_settings(
                    layout.sequence,
                    image_width=shape[1],
                    image_height=shape[0],
                    pixel_size_um=layout.pixel_size_um,
                )
            )
        except NotImplementedError as e:
            log.warning("the restored output is a flat stack: %s", e)
    planned = max(records, default=-1) + 1
    if dims is None:
        return _flat_tiff(layout.path.with_name("restored.ome.tif"), shape, planned, records, plane)
    staging = _staging(layout)
    settings = AcquisitionSettings(
        root_path=str(staging / layout.path.name), format=layout.fmt, dtype="float32", **dims
    )
    stream = create_stream(settings)
    try:
        total = sum(1 for _ in layout.sequence or ())
        for k in range(total):
            rec = records.get(k)
            if rec is None or rec.mode == "lost":
                stream.skip(frames=1)
            else:
                stream.append(plane(k), frame_metadata=_plane_metadata(rec))
        if layout.fmt == "ome-zarr":
            _attach_table(stream, records)
    finally:
        stream.close()
    return _publish(staging, layout)


def _plane_metadata(rec: FrameRecord) -> dict[str, float]:
    meta = {
        "delta_t": rec.time_s,
        "position_x": rec.x_um,
        "position_y": rec.y_um,
        "position_z": rec.z_um,
    }
    return {k: float(v) for k, v in meta.items() if np.isfinite(v)}


def _attach_table(stream: Any, records: Mapping[int, FrameRecord]) -> None:
    table = [
        {"frame": k, **{key: _json_value(asdict(rec)[key]) for key in _TABLE_KEYS}}
        for k, rec in sorted(records.items())
    ]
    meta = stream.get_metadata()
    for attrs in meta.values():
        attrs["scope_deblur"] = {"frames": table}
    stream.update_metadata(meta)


def _tiff_like_raw(
    layout: RestoredLayout,
    shape: tuple[int, int],
    records: Mapping[int, FrameRecord],
    plane: Callable[[int], np.ndarray],
) -> Path:
    import tifffile

    assert layout.sequence is not None
    indices = [event_index(e) for e in layout.sequence]
    raw = RawData(layout.raw, indices)
    where: dict[tuple[int, tuple[int, ...]], int] = {}
    for k, rec in records.items():
        loc = raw.locate(indices[k]) if rec.mode != "lost" else None
        if loc is not None:
            where[loc] = k
    staging = _staging(layout)
    nan = np.full(shape, np.nan, np.float32)
    px = {"PhysicalSizeX": layout.pixel_size_um, "PhysicalSizeY": layout.pixel_size_um}
    for p, (raw_file, axes, sizes) in enumerate(raw.files()):
        name = raw_file.name.replace("raw", "restored")
        dest = staging / (raw_file.parent.name.replace("raw", "restored")) / name
        dest = dest if len(raw.files()) > 1 else staging / name
        dest.parent.mkdir(exist_ok=True)
        planes = (
            plane(where[(p, c)]) if (p, c) in where else nan for c in np.ndindex(*sizes)
        )
        tifffile.imwrite(
            dest,
            planes,
            shape=(*sizes, *shape),
            dtype=np.float32,
            ome=True,
            photometric="minisblack",
            metadata={"axes": axes.upper() + "YX", **(px if layout.pixel_size_um else {})},
        )
    return _publish(staging, layout)


def _staging(layout: RestoredLayout) -> Path:
    staging = layout.path.parent / ".restored-writing"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    return staging


def _publish(staging: Path, layout: RestoredLayout) -> Path:
    """Move the finished output from ``staging`` to its final place."""
    for entry in staging.iterdir():  # restored.ome.tif or restored/, or restored.ome.zarr
        os.replace(entry, layout.path.parent / entry.name)
    staging.rmdir()
    return layout.path


def _json_value(v: Any) -> Any:
    return None if isinstance(v, float) and not np.isfinite(v) else v


def _flat_tiff(
    path: Path,
    shape: tuple[int, int],
    n: int,
    records: Mapping[int, FrameRecord],
    plane: Callable[[int], np.ndarray],
) -> Path:
    import tifffile

    nan = np.full(shape, np.nan, np.float32)
    planes = (plane(k) if k in records and records[k].mode != "lost" else nan for k in range(n))
    tmp = path.with_name(path.name + ".writing")
    try:
        tifffile.imwrite(
            tmp,
            planes,
            shape=(n, *shape),
            dtype=np.float32,
            photometric="minisblack",
            metadata={"axes": "QYX"},
        )
    except OSError:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)
    return path
