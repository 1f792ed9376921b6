"""``scope-deblur estimate`` and ``scope-deblur restore`` on image files."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import typer

from ._progress import bar, err, print_json

if TYPE_CHECKING:
    from ..optics import OpticsProfile

_FILES = typer.Argument(
    ..., help="Image files (TIFF, PNG): 2-D planes, or stacks whose planes are taken one by one."
)


def _planes(path: Path) -> tuple[np.ndarray, str, list[np.ndarray]]:
    """Read ``path``; return the stored array, its axes and its checked float32 planes."""
    from ..io import check_frame, read_planes

    stored, axes = read_planes(path)
    flat = stored.reshape(-1, *stored.shape[-2:])
    many = len(flat) > 1
    return (
        stored,
        axes,
        [
            check_frame(a, name=f"{path} plane {k}" if many else str(path))
            for k, a in enumerate(flat)
        ],
    )


def _check_paths(paths: list[Path]) -> int:
    """Fail on the first missing or unusable input, before any work is done.

    Returns the number of planes in all the files.
    """
    return sum(len(_planes(p)[2]) for p in paths)


def _where(path: Path, k: int, n: int) -> dict:
    """Return the ``path`` key of one result, and its ``plane`` index in a stack."""
    return {"path": str(path), "plane": k} if n > 1 else {"path": str(path)}


PROFILE_OPTION = typer.Option(
    None,
    help="Optics profile from `scope-deblur calibrate` (JSON): its pixel size and PSF are used.",
)


def load_profile_option(path: Path | None) -> OpticsProfile | None:
    from ..optics import load_profile

    return None if path is None else load_profile(path)


def estimate(
    paths: list[Path] = _FILES,
    pixel_size: float | None = typer.Option(None, help="Pixel size of the images (µm)."),
    profile: Path | None = PROFILE_OPTION,
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    map_dir: Path | None = typer.Option(None, help="Also write each defocus map as a PNG here."),
    json_: bool = typer.Option(False, "--json", help="Print a JSON list."),
) -> None:
    """Estimate each image's |defocus| in µm with DelpNet (each plane of a stack)."""
    from ..methods import build_estimator

    optics_profile = load_profile_option(profile)
    total = _check_paths(paths)
    estimator = build_estimator(device, pixel_um=pixel_size, profile=optics_profile)
    results: list[dict] = []
    with bar("estimating") as (update,):
        for p in paths:
            planes = _planes(p)[2]
            for k, plane in enumerate(planes):
                est = estimator.estimate(plane)
                results.append(
                    {
                        **_where(p, k, len(planes)),
                        "defocus_um": None if est.defocus_um is None else round(est.defocus_um, 3),
                        "confidence": round(est.confidence, 4),
                        "foreground_fraction": round(est.foreground_fraction, 4),
                    }
                )
                if map_dir is not None and est.defocus_map is not None:
                    from ..report import save_defocus_map

                    stem = f"{p.stem}_p{k}" if len(planes) > 1 else p.stem
                    save_defocus_map(
                        est.defocus_map, Path(map_dir) / f"{stem}_defocus.png", title=p.name
                    )
                update(len(results), total)
    if json_:
        print_json(results)
    else:
        for r in results:
            d = "background" if r["defocus_um"] is None else f"{r['defocus_um']:.1f} µm"
            where = r["path"] + (f" plane {r['plane']}" if "plane" in r else "")
            err.print(f"{where}: |defocus| {d} (confidence {r['confidence']:.2f})")


def restore(
    paths: list[Path] = _FILES,
    output: Path = typer.Option(..., "-o", "--output", help="Folder for the restored TIFFs."),
    method: str = typer.Option(
        "fusion",
        help="fusion, fusion-fast, fusion-known[-fast] (trust the optics), awdvd or rl.",
    ),
    profile: Path | None = PROFILE_OPTION,
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    json_: bool = typer.Option(False, "--json", help="Print a JSON list."),
) -> None:
    """Restore images; writes OUTPUT/<stem>.tif, float32, same shape and units.

    A stack (time-lapse, z-stack, channels) is restored plane by plane, each at its
    own estimated defocus. With --profile the restorers use the calibrated PSF
    (fusion and fusion-fast become fusion-known and fusion-known-fast).
    """
    from ..io import write_tiff
    from ..methods import build_estimator, build_restorer

    optics_profile = load_profile_option(profile)
    total = _check_paths(paths)
    if output.exists() and not output.is_dir():
        raise NotADirectoryError(f"-o must be a folder, but {output} is a file")
    restorer = build_restorer(method, device, profile=optics_profile)
    estimator = build_estimator(device, profile=optics_profile)
    results: list[dict] = []
    with bar("restoring") as (update,):
        for p in paths:
            stored, axes, planes = _planes(p)
            restored = np.empty(stored.shape, np.float32)
            flat = restored.reshape(-1, *stored.shape[-2:])
            target = output / f"{p.stem}.tif"
            for k, plane in enumerate(planes):
                est = estimator.estimate(plane)
                flat[k] = restorer.restore(plane, est)
                results.append(
                    {
                        **_where(p, k, len(planes)),
                        "output": str(target),
                        "method": restorer.name,
                        "defocus_um": est.defocus_um,
                        "confidence": round(est.confidence, 4),
                    }
                )
                update(len(results), total)
            write_tiff(target, restored, metadata={"axes": axes} if restored.ndim > 2 else None)
    if json_:
        print_json(results)
    else:
        for r in results:
            if r.get("plane", 0) == 0:
                err.print(f"{r['path']} → {r['output']}")


def register(app: typer.Typer) -> None:
    """Add the commands to ``app``."""
    app.command()(estimate)
    app.command()(restore)
