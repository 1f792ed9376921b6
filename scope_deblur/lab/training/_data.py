"""Shared training-data helpers: in-focus images, a by-image split, random crops.

Splits are always by *image*, never by patch, so that no validation patch shares
pixels with a training patch.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = [
    "DEFAULT_IN_FOCUS_DIR",
    "DEFAULT_VAL_IMAGE",
    "REAL_Z00_DIR",
    "SHARED_DATA_DIR",
    "in_focus_paths",
    "load_in_focus",
    "random_crops",
    "split_by_image",
    "well_of",
]

_CHECKOUT_SHARED = Path(__file__).resolve().parents[4] / "shared" / "data"
SHARED_DATA_DIR = Path(os.environ.get("SCOPE_DEBLUR_SHARED_DATA", _CHECKOUT_SHARED))
"""The team's shared data (``../shared/data`` beside a checkout; override by environment)."""

DEFAULT_IN_FOCUS_DIR = Path(__file__).resolve().parents[2] / "data" / "samples"
"""The six BBBC006 in-focus images, shipped with the package (same files as shared/)."""

REAL_Z00_DIR = SHARED_DATA_DIR / "bbbc006" / "defocused_z00"
"""The 12 real, strongly defocused BBBC006 images (plane z00, about 32 µm)."""

DEFAULT_VAL_IMAGE = "a07"
"""Token of the held-out validation image (well a07)."""

_SUFFIXES = {".png", ".tif", ".tiff"}


def in_focus_paths(data_dir: str | Path | None = None) -> list[Path]:
    """Return the sorted in-focus image files of ``data_dir``.

    Parameters
    ----------
    data_dir : str or Path, optional
        Folder of sharp images. Default: the BBBC006 samples shipped with the package.

    Raises
    ------
    FileNotFoundError
        If the folder does not exist or holds no image.
    """
    folder = DEFAULT_IN_FOCUS_DIR if data_dir is None else Path(data_dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"in-focus image folder not found: {folder}")
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in _SUFFIXES)
    if not paths:
        raise FileNotFoundError(f"no .png/.tif images in {folder}")
    return paths


def load_in_focus(paths: Sequence[str | Path] | None = None) -> list[np.ndarray]:
    """Load sharp images as float32 arrays in their stored intensity units (counts).

    Parameters
    ----------
    paths : sequence of path, optional
        Image files; default ``in_focus_paths()``.

    Returns
    -------
    list of numpy.ndarray
        One float32 ``(H, W)`` array per file, in the order given.
    """
    from ...io import check_frame, read_image

    files = in_focus_paths() if paths is None else [Path(p) for p in paths]
    return [check_frame(read_image(p), name=str(p)) for p in files]


def well_of(path: str | Path) -> str:
    """Return an image's well: ``a07`` of ``BBBC006_z_aligned__a07__s1__w1_10.png``.

    A name without a ``__WELL__`` part gives its stem.
    """
    parts = Path(path).name.split("__")
    return parts[1] if len(parts) > 2 else Path(path).stem


def split_by_image(
    paths: Sequence[str | Path], val: Sequence[str] = (DEFAULT_VAL_IMAGE,)
) -> tuple[list[Path], list[Path]]:
    """Split image files into training and validation sets by image.

    Parameters
    ----------
    paths : sequence of path
        All image files.
    val : sequence of str
        Tokens; a file whose name contains ``__TOKEN__`` (BBBC006 well names such as
        ``a07``) or whose stem equals a token goes to validation.

    Returns
    -------
    train, val : list of Path
        Disjoint lists, both non-empty.

    Raises
    ------
    ValueError
        If either side would be empty.
    """
    files = [Path(p) for p in paths]

    def held_out(p: Path) -> bool:
        return any(f"__{t}__" in p.name or p.stem == t for t in val)

    train = [p for p in files if not held_out(p)]
    valid = [p for p in files if held_out(p)]
    if not train or not valid:
        raise ValueError(
            f"split by image with val={list(val)} gives {len(train)} training and "
            f"{len(valid)} validation images out of {len(files)}; "
            "both must be non-empty"
        )
    return train, valid


def random_crops(
    images: Sequence[np.ndarray] | np.ndarray,
    size: int,
    n: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Cut ``n`` random ``size``×``size`` crops from a set of images.

    Parameters
    ----------
    images : sequence of numpy.ndarray or (B, H, W) array
        Source images, each at least ``size`` on both sides.
    size : int
        Crop side in pixels.
    n : int
        Number of crops.
    rng : numpy.random.Generator
        Source of randomness (seeded by the caller).

    Returns
    -------
    crops : numpy.ndarray
        ``(n, size, size)`` float32.
    index : numpy.ndarray
        ``(n,)`` index of the source image of each crop.
    """
    imgs = list(images)
    for i, im in enumerate(imgs):
        if im.ndim != 2 or min(im.shape) < size:
            raise ValueError(f"image {i} of shape {im.shape} is too small for {size}-px crops")
    index = rng.integers(0, len(imgs), size=n)
    out = np.empty((n, size, size), dtype=np.float32)
    for k, i in enumerate(index):
        h, w = imgs[i].shape
        y = int(rng.integers(0, h - size + 1))
        x = int(rng.integers(0, w - size + 1))
        out[k] = imgs[i][y : y + size, x : x + size]
    return out, index
