"""The second writer: restored frames and their per-frame table, while the run goes on.

Restored frames arrive out of order (live frames first, skipped ones after the
catch-up pass), so they go to a flat float32 TIFF working file with one plane per
frame of the sequence (``restored.partial.tif``). When the run completes, the final
output is written from it (``write_restored``) and the working file removed. The
table is CSV, one row per frame, written in full at the end and also appended to
as rows arrive, after the frame itself, so that a crash leaves what was done on
disk: a row in the table means its frame is in the working file, and
``scope-deblur resume`` reopens both (``resume=True``) to finish the rest.
"""

from __future__ import annotations

import csv
import logging
import os
import threading
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

__all__ = ["FrameRecord", "RestoredWriter", "partial_path", "read_table"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class FrameRecord:
    """What happened to one acquired frame."""

    frame: int
    index: str
    mode: str = "pending"  # live | catch-up | passthrough
    method: str = ""
    model_sha256: str = ""
    defocus_um: float = float("nan")
    confidence: float = float("nan")
    true_defocus_um: float = float("nan")
    latency_ms: float = float("nan")
    psnr_input_db: float = float("nan")
    psnr_restored_db: float = float("nan")
    ssim_input: float = float("nan")
    ssim_restored: float = float("nan")
    time_s: float = float("nan")
    x_um: float = float("nan")
    y_um: float = float("nan")
    z_um: float = float("nan")
    error: str = ""


def partial_path(path: Path) -> Path:
    """Return the working file of the restored output ``path`` until the run completes."""
    return path.with_name(path.name.split(".")[0] + ".partial.tif")


def read_table(path: Path) -> dict[int, FrameRecord]:
    """Read a ``frames.csv``; the last row of each frame wins (a resumed run appends)."""
    types = {f.name: f.type for f in fields(FrameRecord)}
    records: dict[int, FrameRecord] = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            try:
                values = {
                    k: (v if types[k] == "str" else int(v) if types[k] == "int" else float(v))
                    for k, v in row.items()
                }
                rec = FrameRecord(**values)  # type: ignore[arg-type]
            except (KeyError, TypeError, ValueError) as e:  # a row torn by a kill
                log.warning("%s: skipping unreadable row %r (%s)", path, row, e)
                continue
            records[rec.frame] = rec
    return records


class RestoredWriter:
    """Write restored frames by acquisition index into ``path`` (float32 TIFF).

    Parameters
    ----------
    path : Path
        Output TIFF, e.g. ``restored.ome.tif``.
    n_frames : int
        Frames planned in the sequence.
    shape : tuple of int
        ``(height, width)`` of a frame.
    resume : bool
        Reopen the ``.partial`` file and the table of a run that stopped early, keeping
        what they hold, instead of starting new ones.
    """

    def __init__(
        self, path: Path, n_frames: int, shape: tuple[int, int], *, resume: bool = False
    ) -> None:
        import tifffile

        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._partial = partial_path(self.path)
        self._names = [f.name for f in fields(FrameRecord)]
        self.table_path = self.path.with_name("frames.csv")
        self.shape = (n_frames, *shape)
        if resume and self._partial.is_file():
            mm = tifffile.memmap(self._partial, mode="r")
            if mm.shape != self.shape or mm.dtype != np.float32:
                raise ValueError(
                    f"{self._partial} holds frames of shape {mm.shape}, expected {self.shape}"
                )
        else:
            mm = tifffile.memmap(
                self._partial, shape=self.shape, dtype=np.float32, photometric="minisblack"
            )
        # Frames are written with pwrite at their offset, not through the mapping: a
        # long run's restored file is never mapped into the process (RSS stays flat).
        self._offset, self._nbytes = int(mm.offset), int(np.prod(shape)) * 4
        del mm
        self._fd: int | None = os.open(self._partial, os.O_RDWR)
        self._lock = threading.Lock()
        if not (resume and self.table_path.is_file()):
            with open(self.table_path, "w", newline="") as f:
                csv.writer(f).writerow(self._names)

    def _at(self, frame: int) -> int:
        return self._offset + frame * self._nbytes

    def write(self, record: FrameRecord, image: np.ndarray) -> None:
        """Store one restored frame and append its table row."""
        data = np.ascontiguousarray(image, dtype="<f4").tobytes()
        with self._lock:
            assert self._fd is not None, "the writer is closed"
            os.pwrite(self._fd, data, self._at(record.frame))  # before its row: a kill keeps both
            with open(self.table_path, "a", newline="") as f:
                csv.DictWriter(f, self._names).writerow(asdict(record))

    def read(self, frame: int) -> np.ndarray:
        """Return a copy of restored frame ``frame``."""
        with self._lock:
            assert self._fd is not None, "the writer is closed"
            data = os.pread(self._fd, self._nbytes, self._at(frame))
        return np.frombuffer(data, "<f4").reshape(self.shape[1:]).copy()

    def suspend(self) -> None:
        """Let go of the ``.partial`` file, for a later resume."""
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def close(self, records: list[FrameRecord]) -> None:
        """Write the full table, then remove the working file (the output is written)."""
        with self._lock:
            with open(self.table_path, "w", newline="") as f:
                w = csv.DictWriter(f, self._names)
                w.writeheader()
                w.writerows(asdict(r) for r in records)
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
            self._partial.unlink(missing_ok=True)
