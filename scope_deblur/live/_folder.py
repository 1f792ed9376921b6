"""A run folder: raw data, restored frames, table, summary and the run's manifest.

    OUT/raw.ome.zarr (or raw.ome.tif)   written by pymmcore-plus, never by us
    OUT/restored.ome.zarr (.ome.tif)    same dimensions; complete only when the run is
    OUT/restored.partial.tif            the working file until then
    OUT/frames.csv  OUT/summary.json
    OUT/run.json                        what ``scope-deblur resume`` needs to finish the run

A folder that already holds a run is never written over unless the user says so.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ome_writers import AcquisitionSettings

from ._raw import RAW_NAMES, raw_output, raw_path
from ._writer import partial_path

__all__ = ["RunFolder", "check_writable"]

_MANIFEST = "run.json"


def check_writable(folder: Path) -> None:
    """Create ``folder`` if needed and prove it is writable, before any work starts."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"output folder {folder} is a file")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-"):
            pass
    except OSError as e:
        raise PermissionError(f"cannot write to output folder {folder}: {e.strerror}") from e


@dataclass(frozen=True)
class RunFolder:
    """Where one live run keeps its files.

    Parameters
    ----------
    path : Path
        The folder (``--out``).
    fmt : str
        Raw data format: ``ome-zarr`` (default: every frame durable on its own) or
        ``ome-tiff``.
    """

    path: Path
    fmt: str = "ome-zarr"

    def __post_init__(self) -> None:
        raw_path(self.path, self.fmt)  # validates the format

    @property
    def raw(self) -> Path:
        """The raw data, as pymmcore-plus writes it."""
        return raw_path(self.path, self.fmt)

    @property
    def raw_output(self) -> AcquisitionSettings:
        """The raw data's path, format and writer, as the MDA runner's ``output``."""
        return raw_output(self.path, self.fmt)

    @property
    def restored(self) -> Path:
        """The restored frames (float32, the raw data's dimensions and format)."""
        return self.path / RAW_NAMES[self.fmt].replace("raw", "restored")

    @property
    def table(self) -> Path:
        """The per-frame table."""
        return self.path / "frames.csv"

    @property
    def focus_log(self) -> Path:
        """The focus lock's log: every data and probe frame it saw, and its moves."""
        return self.path / "focus.csv"

    @property
    def summary(self) -> Path:
        """The run's summary (the ``--json`` object)."""
        return self.path / "summary.json"

    @property
    def manifest(self) -> Path:
        """The run's settings, for ``resume``."""
        return self.path / _MANIFEST

    def existing(self) -> list[str]:
        """Return the names of the run files already in the folder."""
        names = [*RAW_NAMES.values(), "raw", _MANIFEST, "frames.csv", "summary.json", "focus.csv"]
        names += [n.replace("raw", "restored") for n in (*RAW_NAMES.values(), "raw")]
        names += [partial_path(self.restored).name, ".restored-writing"]
        return [n for n in names if (self.path / n).exists()]

    def check(self, *, overwrite: bool = False) -> list[str]:
        """Check, before any work, that a new run may go here; return what it replaces.

        Raises
        ------
        FileExistsError
            If the folder already holds a run and ``overwrite`` is False.
        PermissionError, NotADirectoryError
            If it cannot be written.
        """
        check_writable(self.path)
        found = self.existing()
        if found and not overwrite:
            raise FileExistsError(
                f"{self.path} already holds a run ({', '.join(found)}); "
                "choose another --out, or pass --overwrite to replace it"
            )
        return found

    def create(self, *, overwrite: bool = False) -> None:
        """Make the folder ready for a new run (see :meth:`check`)."""
        for name in self.check(overwrite=overwrite):  # --overwrite: only the run's own files
            p = self.path / name
            if p.is_dir():
                shutil.rmtree(p)
            else:
                p.unlink()

    def write_manifest(self, **settings: Any) -> None:
        """Record the run's settings (merged into what is already recorded)."""
        data = self.read_manifest() if self.manifest.is_file() else {}
        data.update(settings, format=self.fmt, updated=time.strftime("%Y-%m-%dT%H:%M:%S"))
        tmp = self.manifest.with_name(self.manifest.name + ".tmp")
        tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
        os.replace(tmp, self.manifest)

    def read_manifest(self) -> dict[str, Any]:
        """Return the recorded settings."""
        try:
            return dict(json.loads(self.manifest.read_text()))
        except FileNotFoundError:
            raise FileNotFoundError(
                f"{self.path} is not a scope-deblur run folder (no {_MANIFEST})"
            ) from None
        except ValueError as e:
            raise ValueError(f"cannot read {self.manifest}: {e}") from e

    @classmethod
    def open(cls, path: Path) -> RunFolder:
        """Return the run folder at ``path``, with the format its manifest records."""
        path = Path(path)
        if not path.is_dir():
            raise NotADirectoryError(f"no run folder at {path}")
        fmt = cls(path).read_manifest().get("format", "ome-zarr")
        return cls(path, fmt)
