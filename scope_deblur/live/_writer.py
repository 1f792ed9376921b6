"""The second writer: restored frames and their per-frame table.

Restored frames arrive out of order (live frames first, skipped ones after the
catch-up pass), so they go to a memory-mapped float32 TIFF indexed by acquisition
order, which is trimmed to the frames actually acquired when the run ends. The
table is CSV, one row per frame, written in full at the end and also appended to
as rows arrive so that a crash leaves what was done on disk.
"""

from __future__ import annotations

import csv
import threading
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

__all__ = ["FrameRecord", "RestoredWriter"]


@dataclass
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
    error: str = ""


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
    """

    def __init__(self, path: Path, n_frames: int, shape: tuple[int, int]) -> None:
        import tifffile

        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._partial = self.path.with_name(self.path.name + ".partial")
        self._mm = tifffile.memmap(
            self._partial, shape=(n_frames, *shape), dtype=np.float32, photometric="minisblack"
        )
        self._lock = threading.Lock()
        self.table_path = self.path.with_name("frames.csv")
        self._names = [f.name for f in fields(FrameRecord)]
        with open(self.table_path, "w", newline="") as f:
            csv.writer(f).writerow(self._names)

    def write(self, record: FrameRecord, image: np.ndarray) -> None:
        """Store one restored frame and append its table row."""
        with self._lock:
            self._mm[record.frame] = image
            with open(self.table_path, "a", newline="") as f:
                csv.DictWriter(f, self._names).writerow(asdict(record))

    def read(self, frame: int) -> np.ndarray:
        """Return a copy of restored frame ``frame``."""
        with self._lock:
            return np.array(self._mm[frame])

    def close(self, records: list[FrameRecord]) -> Path:
        """Trim to the acquired frames, write the final TIFF and the full table."""
        import tifffile

        with self._lock:
            n = len(records)
            data = np.asarray(self._mm[:n])
            self._mm.flush()
            del self._mm
            tifffile.imwrite(self.path, data, photometric="minisblack", metadata={"axes": "QYX"})
            self._partial.unlink(missing_ok=True)
            with open(self.table_path, "w", newline="") as f:
                w = csv.DictWriter(f, self._names)
                w.writeheader()
                w.writerows(asdict(r) for r in records)
        return self.path
