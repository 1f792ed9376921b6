"""The final restored output: the raw data's dimensions and metadata.

While a run goes on, restored frames land out of order in a flat working file
(``restored.partial.tif``, see :class:`RestoredWriter`). When the run completes they are
written one plane at a time, in the raw data's layout (positions, grid points, time,
channels, z), pixel size and format, so a reader opens raw and restored alike:

- OME-Zarr: the raw hierarchy's metadata as ome-writers wrote it (OME multiscales,
  pymmcore-plus's summary, each plane's time and stage position), with float32 arrays
  whose missing chunks read as NaN, plus each plane's defocus estimate, confidence,
  method, model hash and latency in the root attributes (``scope_deblur``). Planes are
  written by tensorstore one at a time: ome-writers' own stream queues every write
  until it closes (4.4 GB of memory to restore 10,000 512² frames, measured).
- OME-TIFF: tifffile, one file per raw file with the same axes and shape (ome-writers
  0.3.2 writes float32 OME-TIFF metadata that ome-types rejects), each plane's time and
  stage position as OME ``Plane`` attributes, the channel names, and each plane's
  table row as an OME ``MapAnnotation`` (namespace :data:`ANNOTATION_NS`, one entry
  per plane). A frame never acquired is NaN.

``frames.csv`` carries the per-plane table for both formats.

A restorer that super-resolves (``upscale`` s > 1, M-Deblurgan) makes planes of
``(s·H, s·W)`` pixels, each ``s`` times smaller: the output says so (array shapes and
chunks, the OME-Zarr scale, the OME-TIFF physical size), the rest as the raw data.
"""

from __future__ import annotations

import json
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

__all__ = ["ANNOTATION_NS", "RestoredLayout", "write_restored"]

ANNOTATION_NS = "scope-deblur/frames"
"""The namespace of the OME-TIFF ``MapAnnotation`` that holds the per-plane table."""

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
    upscale : int
        Restored pixels per raw pixel along each side (1; 2 for M-Deblurgan).
    """

    path: Path
    fmt: str
    raw: Path
    sequence: MDASequence | None = None
    pixel_size_um: float | None = None
    upscale: int = 1

    @property
    def restored_pixel_um(self) -> float | None:
        """The restored output's pixel size in the sample."""
        return None if self.pixel_size_um is None else self.pixel_size_um / self.upscale


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
        if layout.fmt == "ome-zarr" and layout.sequence is not None:
            return _zarr_like_raw(layout, shape, records, plane)
        return _flat_tiff(layout.path.with_name("restored.ome.tif"), shape, records, plane)
    except (OSError, ValueError) as e:  # tensorstore reports a full disk as ValueError
        shutil.rmtree(layout.path.parent / ".restored-writing", ignore_errors=True)
        if isinstance(e, OSError):
            raise
        raise OSError(f"cannot write {layout.path}: {e}") from e


def _zarr_like_raw(
    layout: RestoredLayout,
    shape: tuple[int, int],
    records: Mapping[int, FrameRecord],
    plane: Callable[[int], np.ndarray],
) -> Path:
    import tensorstore as ts

    raw, where = _locations(layout, records)
    staging = _staging(layout)
    root = staging / layout.path.name
    for meta_file in layout.raw.rglob("zarr.json"):  # the hierarchy and its metadata
        meta = json.loads(meta_file.read_text())
        if meta.get("node_type") == "array":
            meta.update(data_type="float32", fill_value="NaN")
        if layout.upscale > 1:
            _upscaled(meta, layout.upscale)
        if meta_file.parent == layout.raw:
            meta.setdefault("attributes", {})["scope_deblur"] = {"frames": _table(records)}
        dest = root / meta_file.relative_to(layout.raw)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(json.dumps(meta))
    stores: dict[int, Any] = {}
    for (p, coords), k in sorted(where.items(), key=lambda item: item[1]):
        if p not in stores:
            array = root / raw.files()[p][0].relative_to(layout.raw)
            spec = {"driver": "zarr3", "kvstore": {"driver": "file", "path": str(array)}}
            stores[p] = ts.open(spec, write=True).result()
        stores[p][coords].write(np.asarray(plane(k), np.float32)).result()  # one at a time
    return _publish(staging, layout)


def _upscaled(meta: dict[str, Any], s: int) -> None:
    """Make zarr metadata describe planes with ``s`` times the pixels, ``s`` times smaller."""
    if meta.get("node_type") == "array":
        meta["shape"][-2:] = [s * n for n in meta["shape"][-2:]]
        grids = [meta.get("chunk_grid", {}).get("configuration", {})]
        grids += [c.get("configuration", {}) for c in meta.get("codecs", [])]
        for config in grids:  # the chunks, and a sharding codec's inner chunks
            if "chunk_shape" in config:
                config["chunk_shape"][-2:] = [s * n for n in config["chunk_shape"][-2:]]
        return
    ome = meta.get("attributes", {}).get("ome", {})
    for scales in ome.get("multiscales", []):
        for dataset in scales.get("datasets", []):
            for t in dataset.get("coordinateTransformations", []):
                if t.get("type") == "scale":
                    t["scale"][-2:] = [v / s for v in t["scale"][-2:]]


def _locations(
    layout: RestoredLayout, records: Mapping[int, FrameRecord]
) -> tuple[RawData, dict[tuple[int, tuple[int, ...]], int]]:
    """Return the raw data, and where (position, coordinates) each kept frame k is stored."""
    assert layout.sequence is not None
    indices = [event_index(e) for e in layout.sequence]
    raw = RawData(layout.raw, indices)
    where = {}
    for k, rec in records.items():
        loc = raw.locate(indices[k]) if rec.mode != "lost" else None
        if loc is not None:
            where[loc] = k
    return raw, where


def _table(records: Mapping[int, FrameRecord]) -> list[dict[str, Any]]:
    return [
        {"frame": k, **{key: _json_value(asdict(rec)[key]) for key in _TABLE_KEYS}}
        for k, rec in sorted(records.items())
    ]


def _tiff_like_raw(
    layout: RestoredLayout,
    shape: tuple[int, int],
    records: Mapping[int, FrameRecord],
    plane: Callable[[int], np.ndarray],
) -> Path:
    import tifffile

    raw, where = _locations(layout, records)
    staging = _staging(layout)
    nan = np.full(shape, np.nan, np.float32)
    px = {"PhysicalSizeX": layout.restored_pixel_um, "PhysicalSizeY": layout.restored_pixel_um}
    channels = [c.config for c in layout.sequence.channels] if layout.sequence else []
    for p, (raw_file, axes, sizes) in enumerate(raw.files()):
        name = raw_file.name.replace("raw", "restored")
        dest = staging / (raw_file.parent.name.replace("raw", "restored")) / name
        dest = dest if len(raw.files()) > 1 else staging / name
        dest.parent.mkdir(exist_ok=True)
        ks = [where.get((p, c)) for c in np.ndindex(*sizes)]
        planes = (nan if k is None else plane(k) for k in ks)
        tifffile.imwrite(
            dest,
            planes,
            shape=(*sizes, *shape),
            dtype=np.float32,
            bigtiff=_big(int(np.prod(sizes)), shape),
            ome=True,
            photometric="minisblack",
            metadata={
                "axes": axes.upper() + "YX",
                **(px if layout.pixel_size_um else {}),
                **_ome_planes(ks, records, channels if "c" in axes else []),
            },
        )
    return _publish(staging, layout)


def _ome_planes(
    ks: list[int | None],
    records: Mapping[int, FrameRecord],
    channels: list[str],
) -> dict[str, Any]:
    """Return tifffile's OME metadata for the planes ``ks`` (places k, None if missing).

    Plane attributes: the time from the run's start and the stage position; the
    annotation: each plane's table row, keyed by its place in the file.
    """
    units = {"DeltaT": ("time_s", "s"), "PositionX": ("x_um", "µm")}
    units |= {"PositionY": ("y_um", "µm"), "PositionZ": ("z_um", "µm")}
    planes = []
    for k in ks:
        rec = records.get(k) if k is not None else None
        attrs: dict[str, Any] = {}
        for name, (field, unit) in units.items():
            value = getattr(rec, field, float("nan"))
            if np.isfinite(value):
                attrs |= {name: float(value), f"{name}Unit": unit}
        planes.append(attrs)
    rows = {row["frame"]: row for row in _table(records)}
    table = {f"plane {i}": json.dumps(rows[k]) for i, k in enumerate(ks) if k is not None}
    meta: dict[str, Any] = {
        "Plane": planes,
        "MapAnnotation": {"Namespace": ANNOTATION_NS, "Value": table},
    }
    if channels:
        meta["Channel"] = {"Name": channels}
    return meta


def _staging(layout: RestoredLayout) -> Path:
    staging = layout.path.parent / ".restored-writing"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    return staging


def _publish(staging: Path, layout: RestoredLayout) -> Path:
    """Move the finished output from ``staging`` to its final place; return where it is."""
    (entry,) = staging.iterdir()  # restored.ome.tif or restored/, or restored.ome.zarr
    final = layout.path.parent / entry.name
    os.replace(entry, final)
    staging.rmdir()
    return final


def _big(planes: int, shape: tuple[int, int]) -> bool:
    """Whether float32 planes need BigTIFF (a classic TIFF ends at 4 GiB)."""
    return planes * shape[0] * shape[1] * 4 > (1 << 32) - (1 << 26)


def _json_value(v: Any) -> Any:
    return None if isinstance(v, float) and not np.isfinite(v) else v


def _flat_tiff(
    path: Path,
    shape: tuple[int, int],
    records: Mapping[int, FrameRecord],
    plane: Callable[[int], np.ndarray],
) -> Path:
    import tifffile

    n = max(records, default=-1) + 1
    nan = np.full(shape, np.nan, np.float32)
    planes = (plane(k) if k in records and records[k].mode != "lost" else nan for k in range(n))
    tmp = path.with_name(path.name + ".writing")
    try:
        tifffile.imwrite(
            tmp,
            planes,
            shape=(n, *shape),
            dtype=np.float32,
            bigtiff=_big(n, shape),
            photometric="minisblack",
            metadata={"axes": "QYX"},
        )
    except OSError:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)
    return path
