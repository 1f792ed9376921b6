"""Read individual frames back from the raw OME-TIFF that pymmcore-plus wrote."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["count_frames", "read_frames"]


def _series(tf: Any) -> Any:
    if not tf.series:
        raise ValueError(f"{tf.filename} holds no image series")
    return tf.series[0]


def count_frames(path: Path) -> int:
    """Return the number of 2-D frames stored in the raw file."""
    import tifffile

    with tifffile.TiffFile(path) as tf:
        s = _series(tf)
        return int(np.prod(s.shape[:-2], dtype=np.int64))


def read_frames(
    path: Path, indices: Sequence[dict[str, int]], keys: Sequence[int]
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(key, frame)`` for each MDA event index (``{"t": 3, "z": 1}``).

    Frames are read one page at a time, so long runs never load in full.
    """
    import tifffile

    path = Path(path)
    if path.suffix.lower() not in {".tif", ".tiff"}:
        raise ValueError(f"catch-up reads OME-TIFF raw files; got {path.name}")
    with tifffile.TiffFile(path) as tf:
        s = _series(tf)
        axes = s.axes[:-2].lower()
        shape = s.shape[:-2]
        for key, index in zip(keys, indices, strict=True):
            pos = tuple(int(index.get(a, 0)) for a in axes)
            linear = int(np.ravel_multi_index(pos, shape)) if shape else 0
            yield key, s.pages[linear].asarray()
