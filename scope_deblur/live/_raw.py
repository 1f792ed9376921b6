"""Read frames back from the raw data that pymmcore-plus wrote, and say which exist.

The MDA runner writes raw frames through ome-writers, as OME-Zarr (a folder, one
chunk file per frame, each written to a temporary file and renamed: each frame is
durable on its own) or OME-TIFF (one file per
position; frames are appended as one contiguous block, and the index of pages is
completed only when the file is closed). :class:`RawData` opens either, by MDA event
index (``{"p": 0, "t": 3, "z": 1}``), and never invents a frame: a chunk that was
never written is reported missing, not read as zeros, and a TIFF torn by a kill is
read up to its last complete frame and flagged ``torn``.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ome_writers import AcquisitionSettings
    from useq import MDAEvent

__all__ = ["RAW_NAMES", "RawData", "event_index", "index_key", "raw_output", "raw_path"]

RAW_NAMES = {"ome-zarr": "raw.ome.zarr", "ome-tiff": "raw.ome.tif"}
"""The raw data's name in a run folder, per ``--format``."""

RAW_BACKENDS = {"ome-zarr": "zarr-python", "ome-tiff": "tifffile"}
"""The ome-writers backend that writes each format.

OME-Zarr is written by zarr-python, synchronously: a frame is on disk (written to a
temporary name, then renamed) when the runner moves on, and memory stays flat.
ome-writers' default for OME-Zarr, tensorstore, keeps every frame's write future until
the file closes: through a bare stream of 10,000 frames of 512 x 512, its resident memory
grew 34 KB a frame and zarr-python's 0.4 KB, at 1.8 against 2.4 ms a frame
(``scope-deblur bench --writers 10000 --sizes 512``).
"""

Index = Mapping[str, int]


def event_index(event: MDAEvent) -> dict[str, int]:
    """Return an MDA event's index with plain string keys (``{"t": 3, "z": 1}``)."""
    return {str(getattr(a, "value", a)): int(v) for a, v in event.index.items()}


def index_key(index: Index) -> tuple[tuple[str, int], ...]:
    """Return a hashable key of an MDA index (``(("t", 3), ("z", 1))``)."""
    return tuple(sorted(index.items()))


def raw_output(folder: Path, fmt: str) -> AcquisitionSettings:
    """Return the MDA runner's ``output`` for the raw data of format ``fmt`` in ``folder``."""
    from ome_writers import AcquisitionSettings

    fmt_settings = {"name": fmt, "backend": RAW_BACKENDS[fmt]}
    return AcquisitionSettings(root_path=str(raw_path(folder, fmt)), format=fmt_settings)


def raw_path(folder: Path, fmt: str) -> Path:
    """Return where the raw data of format ``fmt`` lives in a run folder."""
    if fmt not in RAW_NAMES:
        raise ValueError(f"--format must be one of {', '.join(RAW_NAMES)}, got {fmt!r}")
    return Path(folder) / RAW_NAMES[fmt]


class RawData:
    """The frames of one raw acquisition, OME-Zarr or OME-TIFF, as written so far.

    Parameters
    ----------
    path : Path
        ``raw.ome.zarr`` (folder), ``raw.ome.tif`` (file), or the folder of per-position
        files ``raw/raw_p000.ome.tif`` that pymmcore-plus writes for multi-position runs
        (give ``raw.ome.tif``; the folder is found).
    sequence : iterable of MDA indices, optional
        The run's events in order. Needed when positions have grid plans: the writer
        stores each (position, grid point) as a position of its own, in the order they
        are first acquired.
    """

    def __init__(self, path: Path, sequence: Iterable[Index] | None = None) -> None:
        path = Path(path)
        self.path = path
        self._order: dict[tuple[int, int | None], int] = {}
        for index in sequence or ():
            key = (int(index.get("p", 0)), _grid(index))
            self._order.setdefault(key, len(self._order))
        if path.suffix == ".zarr" or (path / "zarr.json").is_file():
            self._positions: list[_Array] = _zarr_positions(path)
        else:
            self._positions = _tiff_positions(path)
        self.torn = [p.torn for p in self._positions if p.torn]
        """One line per torn file (killed before it was closed), else empty."""

    def has(self, index: Index) -> bool:
        """Return True if the frame at MDA ``index`` is on disk in full."""
        pos = self._position(index)
        return pos is not None and pos.has(index)

    def read(self, index: Index) -> np.ndarray:
        """Return the frame at MDA ``index``; ``LookupError`` if it was never written."""
        pos = self._position(index)
        if pos is None or not pos.has(index):
            raise LookupError(f"{self.path}: frame {dict(index)} was never written")
        return pos.read(index)

    def files(self) -> list[tuple[Path, str, tuple[int, ...]]]:
        """Return each position's file (or Zarr array), axes before y and x, and sizes."""
        return [(p.path, "".join(p.axes), p.shape) for p in self._positions]

    def locate(self, index: Index) -> tuple[int, tuple[int, ...]] | None:
        """Return (position, coordinates) where the frame at MDA ``index`` is stored."""
        pos = self._position(index)
        coords = pos._coords(index) if pos is not None else None
        return None if pos is None or coords is None else (self._positions.index(pos), coords)

    def count(self, indices: Iterable[Index]) -> int:
        """Return how many of ``indices`` (e.g. a sequence's events) are on disk."""
        return sum(self.has(i) for i in indices)

    def _position(self, index: Index) -> _Array | None:
        p = int(index.get("p", 0))
        p = self._order.get((p, _grid(index)), p)
        return self._positions[p] if p < len(self._positions) else None


def _grid(index: Index) -> int | None:
    g = index.get("g")
    return None if g is None else int(g)


class _Array:
    """One position's frames: the axes before y and x, and how to test and read one."""

    torn = ""

    def __init__(self, path: Path, axes: list[str], shape: tuple[int, ...]) -> None:
        self.path, self.axes, self.shape = path, axes, shape

    def _coords(self, index: Index) -> tuple[int, ...] | None:
        coords = tuple(int(index.get(a, 0)) for a in self.axes)
        extra = {k for k, v in index.items() if k not in self.axes and k not in "pg" and v}
        if extra or any(not 0 <= c < n for c, n in zip(coords, self.shape, strict=True)):
            return None
        return coords

    def has(self, index: Index) -> bool:
        raise NotImplementedError

    def read(self, index: Index) -> np.ndarray:
        raise NotImplementedError


# --- OME-Zarr -----------------------------------------------------------------------


def _json(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError) as e:
        raise ValueError(f"cannot read {path}: {e}") from e


def _zarr_positions(root: Path) -> list[_Array]:
    if not (root / "zarr.json").is_file():
        raise FileNotFoundError(f"no OME-Zarr raw data at {root} (no zarr.json)")
    ome = _json(root / "zarr.json").get("attributes", {}).get("ome", {})
    if "bioformats2raw.layout" in ome:  # one image group per position, listed in OME/
        series = root / "OME" / "zarr.json"
        names = _json(series).get("attributes", {}).get("ome", {}).get("series", [])
        groups = [root / str(name) for name in names]
    else:
        groups = [root]
    arrays: list[_Array] = []
    for group in groups:
        meta = _json(group / "zarr.json").get("attributes", {}).get("ome", {})
        try:
            dataset = meta["multiscales"][0]["datasets"][0]["path"]
        except (KeyError, IndexError, TypeError) as e:
            raise ValueError(f"{group} is not an OME-Zarr image (no multiscales)") from e
        arrays.append(_ZarrArray(group / dataset))
    return arrays


class _ZarrArray(_Array):
    def __init__(self, path: Path) -> None:
        meta = _json(path / "zarr.json")
        names = meta.get("dimension_names") or []
        if any(c.get("name") == "sharding_indexed" for c in meta.get("codecs", [])):
            raise ValueError(f"{path}: sharded raw data cannot tell which frames exist")
        enc = meta.get("chunk_key_encoding", {})
        self._sep = enc.get("configuration", {}).get("separator", "/")
        self._prefix = ["c"] if enc.get("name", "default") == "default" else []
        self._chunk = meta["chunk_grid"]["configuration"]["chunk_shape"]
        full = tuple(meta["shape"])
        super().__init__(path, [str(n) for n in names[:-2]], full[:-2])
        self._frame_chunks = [
            (y, x)
            for y in range(-(-full[-2] // self._chunk[-2]))
            for x in range(-(-full[-1] // self._chunk[-1]))
        ]
        self._store: Any = None

    def has(self, index: Index) -> bool:
        coords = self._coords(index)
        if coords is None:
            return False
        lead = [str(c // n) for c, n in zip(coords, self._chunk, strict=False)]
        return all(
            (self.path / self._sep.join([*self._prefix, *lead, str(y), str(x)])).is_file()
            for y, x in self._frame_chunks
        )

    def read(self, index: Index) -> np.ndarray:
        import tensorstore as ts

        if self._store is None:
            spec = {"driver": "zarr3", "kvstore": {"driver": "file", "path": str(self.path)}}
            self._store = ts.open(spec, read=True).result()
        coords = self._coords(index)
        assert coords is not None
        return np.asarray(self._store[coords].read().result())


# --- OME-TIFF -----------------------------------------------------------------------


def _tiff_positions(path: Path) -> list[_Array]:
    if path.is_file():
        return [_TiffArray(path)]
    # Multi-position: pymmcore-plus writes raw/raw_p000.ome.tif, raw/raw_p001.ome.tif, ...
    stem = path.name.split(".")[0]
    folder = path.with_name(stem)
    files = sorted(folder.glob(f"{stem}_p*.ome.tif*")) if folder.is_dir() else []
    pattern = re.compile(rf"{re.escape(stem)}_p(\d+)\.ome\.tiff?$")
    numbered = sorted((int(m[1]), f) for f in files if (m := pattern.match(f.name)))
    if not numbered:
        raise FileNotFoundError(f"no raw data at {path} (nor per-position files in {folder})")
    return [_TiffArray(f) for _, f in numbered]


class _TiffArray(_Array):
    def __init__(self, path: Path) -> None:
        import tifffile

        log = logging.getLogger("tifffile")  # a torn file makes it log, not raise
        level, log.level = log.level, logging.CRITICAL
        try:
            with tifffile.TiffFile(path) as tf:
                if not tf.series:
                    raise ValueError(f"{path} holds no image series")
                series = tf.series[0]
                pages = len(tf.pages)
                first = tf.pages.first
                contiguous = first.is_contiguous and first.compression == 1
                offset = first.dataoffsets[0] if contiguous else None
                nbytes = first.databytecounts[0] if contiguous else 0
                dtype = series.dtype
        except tifffile.TiffFileError as e:
            raise ValueError(f"cannot read raw file {path}: {e}") from e
        finally:
            log.setLevel(level)
        super().__init__(path, list(series.axes[:-2].lower()), tuple(series.shape[:-2]))
        self._frame, self._dtype = tuple(series.shape[-2:]), dtype
        expected = int(np.prod(self.shape, dtype=np.int64))
        self._offset = offset
        self.present = pages
        if pages < expected:
            # Torn: the runner was killed before it wrote the page index. Frames were
            # appended back to back after the first one, so whole frames can be counted.
            if offset is not None and nbytes:
                self.present = min(expected, (path.stat().st_size - offset) // nbytes)
            self.torn = (
                f"{path} was not closed (index of {pages} of {expected} frames); "
                f"{self.present} whole frames are readable"
            )

    def _linear(self, index: Index) -> int | None:
        coords = self._coords(index)
        if coords is None:
            return None
        k = int(np.ravel_multi_index(coords, self.shape)) if self.shape else 0
        return k if k < self.present else None

    def has(self, index: Index) -> bool:
        return self._linear(index) is not None

    def read(self, index: Index) -> np.ndarray:
        import tifffile

        k = self._linear(index)
        assert k is not None
        if self.torn and self._offset is not None:
            size = int(np.prod(self._frame)) * self._dtype.itemsize
            mm = np.memmap(self.path, self._dtype, "r", self._offset + k * size, self._frame)
            return np.array(mm)
        with tifffile.TiffFile(self.path) as tf:
            return np.asarray(tf.pages[k].asarray())  # this file's pages, in order
