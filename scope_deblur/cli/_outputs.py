"""Where ``restore`` and ``estimate --map-dir`` write, checked before any work is done.

Nothing is written over an input, ever, nor over an existing file unless ``--overwrite``
is given. Outputs whose names would repeat (inputs with the same stem from different
folders) get ``-2``, ``-3``, ... before the extension, in the order the inputs are
given; the comparison ignores case, as some file systems do.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["check_folder", "output_paths", "unique_names"]


def unique_names(names: list[str]) -> list[str]:
    """Return ``names`` with repeats renamed ``NAME-2.EXT``, ``NAME-3.EXT``, ... in order."""
    taken: set[str] = set()
    out = []
    for name in names:
        stem, ext = os.path.splitext(name)
        new, n = name, 1
        while new.casefold() in taken:
            n += 1
            new = f"{stem}-{n}{ext}"
        taken.add(new.casefold())
        out.append(new)
    return out


def check_folder(folder: Path, option: str) -> None:
    """Create ``folder`` if needed and check that a file can be created in it.

    Raises
    ------
    NotADirectoryError
        If ``folder`` is a file.
    PermissionError
        If it cannot be created, or a file cannot be created in it (read-only, ...).
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".scope-deblur-", suffix=".probe"):
            pass
    except FileExistsError as e:
        raise NotADirectoryError(f"{option} must be a folder, but {folder} is a file") from e
    except OSError as e:
        raise PermissionError(f"cannot write to {option} folder {folder}: {e.strerror}") from e


def _is_input(target: Path, inputs: list[Path]) -> bool:
    """Return whether ``target`` is one of ``inputs`` (same path, link or hard link)."""
    if any(target.resolve() == p.resolve() for p in inputs):
        return True
    return os.path.exists(target) and any(os.path.samefile(target, p) for p in inputs)


def output_paths(
    folder: Path, names: list[str], inputs: list[Path], *, overwrite: bool, option: str
) -> list[Path]:
    """Return ``folder / name`` for each of ``names`` (made unique), checked.

    Call :func:`check_folder` after this, so that a refused run creates nothing.

    Raises
    ------
    NotADirectoryError
        If ``folder`` is a file.
    ValueError
        If an output would be one of the ``inputs``.
    IsADirectoryError
        If a folder stands where an output goes.
    FileExistsError
        If an output exists and ``overwrite`` is false.
    """
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise NotADirectoryError(f"{option} must be a folder, but {folder} is a file")
    targets = [folder / name for name in unique_names(names)]
    for target in targets:
        if _is_input(target, inputs):
            raise ValueError(
                f"{target} is one of the inputs and would be overwritten; "
                f"choose another {option} folder"
            )
        if os.path.isdir(target):
            raise IsADirectoryError(f"{target} is a directory, where an output should go")
        if os.path.exists(target) and not overwrite:
            raise FileExistsError(f"{target} exists; pass --overwrite to replace it")
    return targets
