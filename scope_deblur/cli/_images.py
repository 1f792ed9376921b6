"""``scope-deblur estimate`` and ``scope-deblur restore`` on image files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import typer

from ._progress import bar, err, print_json

_FILES = typer.Argument(..., help="Image files (TIFF, PNG), one 2-D plane each.")


def _check_paths(paths: list[Path]) -> None:
    """Fail on the first missing or unreadable input, before any work is done."""
    from ..io import check_frame, read_image

    for p in paths:
        check_frame(read_image(p), name=str(p))


def _rescale(image: np.ndarray, pixel_size: float | None, model_pixel: float) -> np.ndarray:
    """Resample to the models' pixel size so that µm mean the same thing."""
    if pixel_size is None or abs(pixel_size / model_pixel - 1) < 1e-3:
        return image
    if pixel_size <= 0:
        raise ValueError(f"--pixel-size must be positive, got {pixel_size}")
    from skimage.transform import rescale

    return rescale(
        image,
        pixel_size / model_pixel,
        order=1,
        preserve_range=True,
        anti_aliasing=pixel_size < model_pixel,
    ).astype(np.float32)


def estimate(
    paths: list[Path] = _FILES,
    pixel_size: float | None = typer.Option(None, help="Pixel size of the images (µm)."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    map_dir: Path | None = typer.Option(None, help="Also write each defocus map as a PNG here."),
    json_: bool = typer.Option(False, "--json", help="Print a JSON list."),
) -> None:
    """Estimate each image's |defocus| in µm with DelpNet."""
    from ..io import check_frame, read_image
    from ..methods import build_estimator
    from ..optics import BBBC006_OPTICS

    _check_paths(paths)
    estimator = build_estimator(device)
    results = []
    with bar("estimating") as (update,):
        for i, p in enumerate(paths):
            image = _rescale(
                check_frame(read_image(p), name=str(p)), pixel_size, BBBC006_OPTICS.pixel_um
            )
            est = estimator.estimate(image)
            results.append(
                {
                    "path": str(p),
                    "defocus_um": None if est.defocus_um is None else round(est.defocus_um, 3),
                    "confidence": round(est.confidence, 4),
                    "foreground_fraction": round(est.foreground_fraction, 4),
                }
            )
            if map_dir is not None and est.defocus_map is not None:
                from ..report import save_defocus_map

                save_defocus_map(
                    est.defocus_map, Path(map_dir) / f"{p.stem}_defocus.png", title=p.name
                )
            update(i + 1, len(paths))
    if json_:
        print_json(results)
    else:
        for r in results:
            d = "background" if r["defocus_um"] is None else f"{r['defocus_um']:.1f} µm"
            err.print(f"{r['path']}: |defocus| {d} (confidence {r['confidence']:.2f})")


def restore(
    paths: list[Path] = _FILES,
    output: Path = typer.Option(..., "-o", "--output", help="Folder for the restored TIFFs."),
    method: str = typer.Option("fusion", help="fusion, fusion-fast, awdvd or rl."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    json_: bool = typer.Option(False, "--json", help="Print a JSON list."),
) -> None:
    """Restore images; writes OUTPUT/<stem>.tif, float32, same shape and units."""
    from ..io import check_frame, read_image, write_tiff
    from ..methods import build_estimator, build_restorer

    _check_paths(paths)
    if output.exists() and not output.is_dir():
        raise NotADirectoryError(f"-o must be a folder, but {output} is a file")
    restorer, estimator = build_restorer(method, device), build_estimator(device)
    results = []
    with bar("restoring") as (update,):
        for i, p in enumerate(paths):
            image = check_frame(read_image(p), name=str(p))
            est = estimator.estimate(image)
            restored = restorer.restore(image, est)
            target = write_tiff(output / f"{p.stem}.tif", restored)
            results.append(
                {
                    "path": str(p),
                    "output": str(target),
                    "method": restorer.name,
                    "defocus_um": est.defocus_um,
                    "confidence": round(est.confidence, 4),
                }
            )
            update(i + 1, len(paths))
    if json_:
        print_json(results)
    else:
        for r in results:
            err.print(f"{r['path']} → {r['output']}")


def register(app: typer.Typer) -> None:
    """Add the commands to ``app``."""
    app.command()(estimate)
    app.command()(restore)
