"""Reading and validating 2-D frames and stacks of them, writing float32 TIFFs."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

__all__ = ["check_frame", "read_image", "read_planes", "write_tiff"]

_READABLE = {".tif", ".tiff", ".png", ".jpg", ".jpeg", ".bmp"}


def check_frame(frame: np.ndarray, *, name: str = "frame") -> np.ndarray:
    """Return ``frame`` as a float32 2-D array, or raise ``ValueError`` saying why not.

    Accepts any integer or float dtype. Rejects empty, non-2-D and non-finite frames.
    """
    arr = np.asarray(frame)
    if arr.ndim == 3 and 1 in (arr.shape[0], arr.shape[-1]):
        arr = arr.reshape(arr.shape[1:] if arr.shape[0] == 1 else arr.shape[:-1])
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D image, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape})")
    if not (np.issubdtype(arr.dtype, np.number) and not np.iscomplexobj(arr)):
        raise ValueError(
            f"{name} has unsupported dtype {arr.dtype}; "
            "give a grayscale image of integers or floats"
        )
    out = arr.astype(np.float32, copy=False)
    if not np.isfinite(out).all():
        bad = int((~np.isfinite(out)).sum())
        raise ValueError(f"{name} contains {bad} NaN or infinite pixel(s)")
    return out


def read_planes(path: str | Path) -> tuple[np.ndarray, str]:
    """Read an image file as stored: one 2-D plane, or a stack of planes.

    Returns the array and its axes in tifffile's letters (``"YX"``, ``"TYX"``,
    ``"TCZYX"``, ...). The last two axes are y and x; a time-lapse, z-stack or
    channel stack keeps its leading axes. Colour samples (RGB) are averaged to grey.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file cannot be decoded or holds no 2-D image.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no such image file: {p}")
    try:
        if p.suffix.lower() in {".tif", ".tiff"}:
            import tifffile

            log = logging.getLogger("tifffile")  # it logs, then returns nothing
            level, log.level = log.level, logging.CRITICAL
            try:
                with tifffile.TiffFile(p) as tif:
                    series = tif.series[0]
                    arr, axes = series.asarray(), series.axes
            finally:
                log.setLevel(level)
        elif p.suffix.lower() in _READABLE:
            from PIL import Image

            with Image.open(p) as im:
                arr = np.asarray(im)
            axes = "YXS" if arr.ndim == 3 else "YX"
        else:
            raise ValueError(
                f"cannot read {p}: unsupported file type {p.suffix!r}; "
                f"use one of {', '.join(sorted(_READABLE))}"
            )
    except ValueError:
        raise
    except Exception as e:  # decoders raise many types for corrupt files
        raise ValueError(f"cannot read {p}: {type(e).__name__}: {e}") from e
    arr = np.asarray(arr)
    if arr.size == 0:
        raise ValueError(f"cannot read {p}: the file is empty or corrupt")
    if axes.endswith("S"):
        arr, axes = arr[..., :3].mean(axis=-1), axes[:-1]
    if arr.ndim < 2:
        raise ValueError(f"{p} holds an array of shape {arr.shape}, not an image")
    return arr, axes


def read_image(path: str | Path) -> np.ndarray:
    """Read a single-plane image (TIFF, PNG, ...) as it is stored on disk.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file cannot be decoded or is not a single 2-D plane.
    """
    arr = read_planes(path)[0]
    if arr.ndim != 2:
        raise ValueError(
            f"{path} holds an image of shape {arr.shape}; expected one 2-D plane: "
            "save each plane (one channel, z and time point) as its own file"
        )
    return arr


def write_tiff(path: str | Path, image: np.ndarray, *, metadata: dict | None = None) -> Path:
    """Write ``image`` as a float32 TIFF (creating parent folders) and return its path."""
    import tifffile

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(p, np.asarray(image, dtype=np.float32), metadata=metadata)
    return p
