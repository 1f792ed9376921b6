"""Reading and validating 2-D frames and stacks of them, writing float32 TIFFs.

Stacks are read and written one plane at a time (:class:`ImageStack`,
:func:`write_stack`), so that a stack never has to fit in memory whole. Every file is
written under a temporary name beside its own (``NAME.partial``) and moved into place
when complete, so that a crash never leaves half a file under the final name.
"""

from __future__ import annotations

import logging
import math
import os
import stat
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from .budget import check_memory

__all__ = [
    "ImageStack",
    "atomic_path",
    "check_frame",
    "read_image",
    "read_planes",
    "require_file",
    "tiff_pixel_um",
    "write_stack",
]

_TIFF = {".tif", ".tiff"}
_READABLE = _TIFF | {".png", ".jpg", ".jpeg", ".bmp"}


def require_file(path: str | Path, what: str) -> Path:
    """Return ``path`` if it names a regular file; otherwise say what ``what`` is instead.

    Raises
    ------
    FileNotFoundError
        If there is no such file, or its name cannot be looked up (too long, ...).
    IsADirectoryError
        If ``path`` is a folder.
    ValueError
        If it is something else (a device, a pipe), which cannot be read as a file.
    """
    p = Path(path)
    try:
        mode = p.stat().st_mode
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} not found: {p}") from None
    except (OSError, ValueError) as e:  # name too long, embedded NUL, ...
        raise FileNotFoundError(f"cannot open {what} {p}: {getattr(e, 'strerror', e)}") from e
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(f"{what} {p} is a directory, not a file")
    if not stat.S_ISREG(mode):
        raise ValueError(f"{what} {p} is not a regular file")
    return p


def check_frame(frame: np.ndarray, *, name: str = "frame") -> np.ndarray:
    """Return ``frame`` as a float32 2-D array, or raise ``ValueError`` saying why not.

    Accepts any integer or float dtype. Rejects empty, non-2-D and non-finite frames,
    and values beyond the float32 range.
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
    with np.errstate(over="ignore"):  # float64 beyond float32 becomes inf, reported below
        out = arr.astype(np.float32, copy=False)
    if not np.isfinite(out).all():
        bad = int((~np.isfinite(out)).sum())
        raise ValueError(f"{name} contains {bad} NaN, infinite or out-of-float32-range pixel(s)")
    return out


@contextmanager
def _quiet_tifffile() -> Iterator[None]:
    """Silence tifffile's log: it logs what is wrong with a file, then returns nothing."""
    log = logging.getLogger("tifffile")
    level, log.level = log.level, logging.CRITICAL
    try:
        yield
    finally:
        log.setLevel(level)


class ImageStack:
    """The 2-D planes of one image file (TIFF, PNG, JPEG, BMP), decoded one at a time.

    ``shape`` and ``axes`` (tifffile's letters: ``"YX"``, ``"TYX"``, ``"TCZYX"``, ...)
    describe the file as stored, colour samples (RGB) averaged to grey; the last two
    axes are y and x. ``pixel_size_um`` is the pixel size in the sample that a TIFF
    states (:func:`tiff_pixel_um`), else None. Opening reads only the header.
    Iterating decodes one TIFF page (or the one image of the other formats) at a time
    and yields the planes in storage order, in their stored dtype (float64 for averaged
    colour). Use it as a context manager.

    Raises
    ------
    FileNotFoundError, IsADirectoryError
        If ``path`` is not a file.
    ValueError
        If the file cannot be decoded, holds no 2-D image, or one page would need more
        than the memory budget (:mod:`scope_deblur.budget`). Iterating raises it for a
        page that cannot be decoded.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = require_file(path, "image file")
        suffix = self.path.suffix.lower()
        if suffix not in _READABLE:
            raise ValueError(
                f"cannot read {self.path}: unsupported file type {suffix!r}; "
                f"use one of {', '.join(sorted(_READABLE))}"
            )
        self._file: Any = None  # a tifffile.TiffFile or a PIL image
        self._tiff = suffix in _TIFF
        self.pixel_size_um: float | None = None
        try:
            stored, axes, itemsize = self._open_tiff() if self._tiff else self._open_pillow()
        except Exception as e:  # decoders raise many types (ValueError too) for corrupt files
            self.close()
            raise ValueError(f"cannot read {self.path}: {type(e).__name__}: {e}") from e
        try:
            self._check(stored, axes, itemsize)
        except ValueError:
            self.close()
            raise

    def _open_tiff(self) -> tuple[tuple[int, ...], str, int]:
        import tifffile

        with _quiet_tifffile():
            self._file = tifffile.TiffFile(self.path)
            series = self._file.series[0]
            self.pixel_size_um = tiff_pixel_um(self._file)
        stored, page = tuple(series.shape), tuple(series.keyframe.shape)
        yx = 3 if series.axes.endswith("S") else 2  # the trailing axes of one plane
        self._pages = len(series.pages)
        if page[-yx:] != stored[-yx:] or self._pages * math.prod(page) != math.prod(stored):
            self._pages, page = 1, stored  # pages that are not whole planes: read at once
        self._page = page
        return stored, series.axes, np.dtype(series.dtype).itemsize

    def _open_pillow(self) -> tuple[tuple[int, ...], str, int]:
        from PIL import Image

        self._file = Image.open(self.path)
        bands = len(self._file.getbands())
        self._pages, self._page = 1, (self._file.height, self._file.width, bands)[: 2 + (bands > 1)]
        return self._page, "YXS" if bands > 1 else "YX", 4  # at most 4 bytes a sample

    def _check(self, stored: tuple[int, ...], axes: str, itemsize: int) -> None:
        """Set ``shape`` and ``axes``; check them, and the memory one page needs."""
        if math.prod(stored) == 0:
            raise ValueError(f"cannot read {self.path}: the file is empty or corrupt")
        self._colour = axes.endswith("S")
        self.shape, self.axes = (stored[:-1], axes[:-1]) if self._colour else (stored, axes)
        if len(self.shape) < 2:
            raise ValueError(f"{self.path} holds an array of shape {stored}, not an image")
        need = math.prod(self._page) * (itemsize + 8 * self._colour)  # + grey, for colour
        check_memory(need, f"{self.path}: decoding a page of shape {self._page}")

    def __len__(self) -> int:
        """Return the number of 2-D planes."""
        return math.prod(self.shape[:-2])

    def __iter__(self) -> Iterator[np.ndarray]:
        """Yield each 2-D plane, decoding one page at a time."""
        for k in range(self._pages):
            data = self._read(k)
            if self._colour:
                data = data[..., :3].mean(axis=-1)
            yield from data.reshape(-1, *self.shape[-2:])

    def plane(self, k: int) -> np.ndarray:
        """Return plane ``k`` (in storage order), decoding only the page that holds it."""
        if not 0 <= k < len(self):
            raise IndexError(f"{self.path} has {len(self)} planes, not {k + 1}")
        page, i = divmod(k, len(self) // self._pages)
        data = self._read(page)
        if self._colour:
            data = data[..., :3].mean(axis=-1)
        return data.reshape(-1, *self.shape[-2:])[i]

    def _read(self, k: int) -> np.ndarray:
        """Decode page ``k`` (of the first series of a TIFF)."""
        try:
            if not self._tiff:
                return np.asarray(self._file).reshape(self._page)
            series = self._file.series[0]
            with _quiet_tifffile():
                data = series.asarray(key=k) if self._pages > 1 else series.asarray()
            return np.asarray(data).reshape(self._page)
        except Exception as e:  # a corrupt page, found only when it is decoded
            raise ValueError(f"cannot read {self.path} page {k}: {type(e).__name__}: {e}") from e

    def close(self) -> None:
        """Close the file."""
        if self._file is not None:
            self._file.close()

    def __enter__(self) -> ImageStack:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def tiff_pixel_um(tif: Any) -> float | None:
    """Return the pixel size (µm in the sample) a ``tifffile.TiffFile`` states, else None.

    Read from, in order: OME-XML ``PhysicalSizeX`` (with its unit), an ImageJ
    ``unit`` of microns with the resolution tag, or a resolution in pixels per
    centimetre (what :func:`write_stack` writes). Pixels per inch are ignored: most
    files carry a meaningless 72 dpi.
    """
    try:
        if tif.is_ome and tif.ome_metadata:
            return _ome_pixel_um(tif.ome_metadata)
        page = tif.pages[0]
        xres = page.tags.get("XResolution")
        if xres is None:
            return None
        num, den = xres.value
        if not (num > 0 and den > 0):
            return None
        per_unit = num / den
        unit = (tif.imagej_metadata or {}).get("unit", "") if tif.is_imagej else ""
        if str(unit).lower() in ("micron", "um", "µm", "\u00b5m"):
            return _positive(1.0 / per_unit)
        res_unit = page.tags.get("ResolutionUnit")
        if res_unit is not None and int(res_unit.value) == 3:  # pixels per centimetre
            return _positive(1e4 / per_unit)
    except (AttributeError, KeyError, TypeError, ValueError, ZeroDivisionError):
        return None
    return None


_UNITS_UM = {"µm": 1.0, "um": 1.0, "nm": 1e-3, "mm": 1e3, "cm": 1e4, "m": 1e6, "Å": 1e-4}


def _ome_pixel_um(xml: str) -> float | None:
    import xml.etree.ElementTree as ET

    for el in ET.fromstring(xml).iter():
        if el.tag.endswith("}Pixels") or el.tag == "Pixels":
            size = el.get("PhysicalSizeX")
            factor = _UNITS_UM.get(el.get("PhysicalSizeXUnit", "µm"))
            if size is None or factor is None:
                return None
            return _positive(float(size) * factor)
    return None


def _positive(v: float) -> float | None:
    return v if math.isfinite(v) and 0 < v < 1e4 else None


def read_planes(path: str | Path) -> tuple[np.ndarray, str]:
    """Read an image file as stored: one 2-D plane, or a stack of planes.

    Returns the array and its axes (see :class:`ImageStack`, which raises the same
    errors). A time-lapse, z-stack or channel stack keeps its leading axes; colour
    samples (RGB) are averaged to grey.
    """
    with ImageStack(path) as stack:
        planes = iter(stack)
        first = next(planes)
        out = np.empty((len(stack), *first.shape), first.dtype)
        out[0] = first
        for k, plane in enumerate(planes, 1):
            out[k] = plane
        return out.reshape(stack.shape), stack.axes


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


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield ``NAME.partial`` beside ``path``; when the block ends, move it onto ``path``.

    The file is synced before the move, so ``path`` is either absent (or as it was) or
    complete. If the block raises, the partial file is removed.
    """
    p = Path(path)
    partial = p.with_name(p.name + ".partial")
    try:
        yield partial
        with open(partial, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(partial, p)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def write_stack(
    path: str | Path,
    planes: Iterable[np.ndarray],
    shape: tuple[int, ...],
    axes: str,
    *,
    pixel_size_um: float | None = None,
) -> Path:
    """Write ``planes`` (2-D, in storage order) as one float32 TIFF of ``shape``.

    The planes are written as they come, so ``planes`` can be a generator that makes
    them one at a time; the axes (``"TYX"``, ...) are stored as tifffile metadata for
    stacks, and ``pixel_size_um`` as the resolution in pixels per centimetre (read
    back by :func:`tiff_pixel_um`). The file appears under ``path`` only when complete
    (:func:`atomic_path`). Returns ``path``.
    """
    import tifffile

    p = Path(path)
    big = math.prod(shape) * 4 > 2**32 - 2**25  # tifffile's own threshold for BigTIFF
    metadata = {"axes": axes} if len(shape) > 2 else None
    as_float = (np.asarray(a, dtype=np.float32) for a in planes)
    with atomic_path(p) as partial, tifffile.TiffWriter(partial, bigtiff=big) as tif:
        per_cm = 1e4 / pixel_size_um if pixel_size_um else None
        tif.write(
            as_float,
            shape=shape,
            dtype=np.float32,
            photometric="minisblack",
            metadata=metadata,
            resolution=(per_cm, per_cm) if per_cm else None,
            resolutionunit="CENTIMETER" if per_cm else None,
        )
    return p
