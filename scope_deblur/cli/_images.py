"""``scope-deblur estimate`` and ``scope-deblur restore`` on image files.

Before any model is loaded, both read every plane of every input once, check the
memory that one plane will need against the budget (:mod:`scope_deblur.budget`) and
check where the outputs go (:mod:`._outputs`): bad input fails at once, in one line.
Stacks are read, restored and written one plane at a time. A plane that the restorer
cannot restore (an exception, NaN or infinite pixels, a wrong shape) is written
unrestored and reported; the command then exits 1.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import typer

from ..budget import check_memory, restore_bytes
from ..io import ImageStack, check_frame, write_stack
from ..restoration import restore_checked
from ._outputs import check_folder, output_paths
from .common import PROFILE_OPTION, bar, err, load_profile_option, print_json

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from ..cluster import RestoreSpec
    from ..optics import OpticsProfile
    from ..protocols import DefocusEstimator, Restorer

_FILES = typer.Argument(
    ..., help="Image files (TIFF, PNG): 2-D planes, or stacks whose planes are taken one by one."
)
_OVERWRITE = typer.Option(
    False, "--overwrite", help="Replace existing outputs (never a file that is also an input)."
)


def _name(path: Path, k: int, n: int) -> str:
    """Name plane ``k`` of the ``n`` in ``path`` in messages."""
    return f"{path} plane {k}" if n > 1 else str(path)


def _check_inputs(paths: list[Path]) -> list[tuple[int, ...]]:
    """Read every plane once, one at a time; fail on the first unusable one.

    Returns each file's shape as stored (colour averaged away).
    """
    shapes = []
    for p in paths:
        with ImageStack(p) as stack:
            for k, plane in enumerate(stack):
                check_frame(plane, name=_name(p, k, len(stack)))
            shapes.append(stack.shape)
    return shapes


def _where(path: Path, k: int, n: int) -> dict:
    """Return the ``path`` key of one result, and its ``plane`` index in a stack."""
    return {"path": str(path), "plane": k} if n > 1 else {"path": str(path)}


def _label(result: dict) -> str:
    """Name the plane of one result in messages."""
    return result["path"] + (f" plane {result['plane']}" if "plane" in result else "")


_PIXEL_SIZE = typer.Option(
    None,
    min=0,
    help="Pixel size of the images in the sample (µm; default: what each file states, "
    "else the profile's).",
)


def estimate(
    paths: list[Path] = _FILES,
    pixel_size: float | None = _PIXEL_SIZE,
    profile: Path | None = PROFILE_OPTION,
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    map_dir: Path | None = typer.Option(
        None,
        help="Also write each defocus map here as STEM_defocus.png (STEM_pK_defocus.png for "
        "plane K of a stack; repeated names get -2, -3, ...).",
    ),
    overwrite: bool = _OVERWRITE,
    json_: bool = typer.Option(False, "--json", help="Print a JSON list."),
) -> None:
    """Estimate each image's |defocus| in µm with DelpNet (each plane of a stack).

    Work that would need more memory than $SCOPE_DEBLUR_MEMORY_BUDGET_GB (default:
    half the RAM), such as a large --pixel-size, is refused before it starts.
    """
    from ..estimation import check_estimate_memory
    from ..figures import save_defocus_map
    from ..methods import build_estimator

    optics_profile = load_profile_option(profile)
    shapes = _check_inputs(paths)
    pixel_ums = _pixel_sizes(paths, pixel_size)  # the option's, else each file's own
    for p, shape, px in zip(paths, shapes, pixel_ums, strict=True):
        pixel_um = _frame_pixel(px, optics_profile)
        check_estimate_memory(shape, pixel_um, str(p))
    counts = [math.prod(s[:-2]) for s in shapes]
    maps: Iterator[Path] = iter(())
    if map_dir is not None:
        names = [
            f"{p.stem}_p{k}_defocus.png" if n > 1 else f"{p.stem}_defocus.png"
            for p, n in zip(paths, counts, strict=True)
            for k in range(n)
        ]
        maps = iter(output_paths(map_dir, names, paths, overwrite=overwrite, option="--map-dir"))
        check_folder(map_dir, "--map-dir")
    estimators = {
        px: build_estimator(device, pixel_um=px, profile=optics_profile) for px in set(pixel_ums)
    }
    results: list[dict] = []
    with bar("estimating") as (update,):
        for p, px in zip(paths, pixel_ums, strict=True):
            estimator = estimators[px]
            with ImageStack(p) as stack:
                for k, plane in enumerate(stack):
                    est = estimator.estimate(plane)
                    defocus = None if est.defocus_um is None else round(est.defocus_um, 3)
                    results.append(
                        {
                            **_where(p, k, len(stack)),
                            "defocus_um": defocus,
                            "confidence": round(est.confidence, 4),
                            "foreground_fraction": round(est.foreground_fraction, 4),
                        }
                    )
                    target = next(maps, None)
                    if target is not None and est.defocus_map is not None:
                        save_defocus_map(est.defocus_map, target, title=p.name)
                    update(len(results), sum(counts))
    if json_:
        print_json(results)
    else:
        for r in results:
            d = "background" if r["defocus_um"] is None else f"{r['defocus_um']:.1f} µm"
            err.print(f"{_label(r)}: |defocus| {d} (confidence {r['confidence']:.2f})")


def _restored(
    stack: ImageStack,
    common: dict,
    restorer: Restorer,
    estimator: DefocusEstimator,
    results: list[dict],
    tick: Callable[[], None],
) -> Iterator[np.ndarray]:
    """Yield each plane of ``stack`` restored, adding one result per plane to ``results``."""
    for k, raw in enumerate(stack):
        plane = check_frame(raw, name=_name(stack.path, k, len(stack)))
        out, fields = restore_checked(restorer, plane, estimator)
        results.append({**_where(stack.path, k, len(stack)), **common, **fields})
        tick()
        yield out


def restore(
    paths: list[Path] = _FILES,
    output: Path = typer.Option(..., "-o", "--output", help="Folder for the restored TIFFs."),
    method: str = typer.Option(
        "fusion",
        help="fusion, fusion-fast, fusion-known[-fast] (trust the optics), comi, m-deblurgan "
        "(binned frames to 2x the pixels), awdvd or rl.",
    ),
    pixel_size: float | None = _PIXEL_SIZE,
    profile: Path | None = PROFILE_OPTION,
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    overwrite: bool = _OVERWRITE,
    workers: int | None = typer.Option(
        None, min=1, max=256, help="Restore on a local Dask cluster of N worker processes."
    ),
    scheduler: str | None = typer.Option(
        None, help="Restore on the Dask cluster at this scheduler address (tcp://host:8786)."
    ),
    worker_threads: int | None = typer.Option(
        None,
        min=1,
        max=256,
        help="Torch threads per worker task (default: the CPU's split between --workers; 1 "
        "with --scheduler).",
    ),
    json_: bool = typer.Option(False, "--json", help="Print a JSON list (a summary on a cluster)."),
) -> None:
    """Restore images; writes OUTPUT/<stem>.tif, float32, same shape and units.

    The images' pixel size is --pixel-size, else what each TIFF states (OME, ImageJ,
    or a resolution in pixels per cm), else the profile's. --method m-deblurgan
    (for 2x2-binned frames, 1.29 µm pixels at BBBC006 optics) writes images with
    twice the pixels along each side, the pixel size halved, the same total flux.

    A stack (time-lapse, z-stack, channels) is restored plane by plane, each at its
    own estimated defocus. Inputs with the same stem get <stem>-2.tif, <stem>-3.tif,
    ... in the order given. No output replaces an input, nor an existing file without
    --overwrite. With --profile the restorers use the calibrated PSF (fusion and
    fusion-fast become fusion-known and fusion-known-fast). A network trained at
    another pixel size than --pixel-size restores each plane resampled to its own, and
    the change it makes comes back on the image's grid. Work that would need more
    memory than $SCOPE_DEBLUR_MEMORY_BUDGET_GB (default: half the RAM) is refused
    before it starts. A plane the restorer fails on is written unrestored, and the
    command exits 1.

    With --workers or --scheduler the planes are restored on a Dask cluster (the same
    result), each output with a table OUTPUT/<stem>.csv of every plane's estimate; a
    rerun of the same command after a crash or Ctrl-C restores only the missing planes.
    """
    from ..estimation import check_estimate_memory
    from ..methods import build_estimator, build_restorer, method_upscale
    from ..restoration import RescaledRestorer

    optics_profile = load_profile_option(profile)
    shapes = _check_inputs(paths)
    pixel_ums = _pixel_sizes(paths, pixel_size)  # the option's, else each file's own
    s = method_upscale(method)  # output pixels per input pixel and side
    if s > 1 and (workers is not None or scheduler is not None):
        raise ValueError(
            f"--method {method} makes {s}x larger images; --workers and --scheduler restore "
            "same-size images only: restore without them"
        )
    for p, shape, px in zip(paths, shapes, pixel_ums, strict=True):
        pixel_um = _frame_pixel(px, optics_profile)
        check_estimate_memory(shape, pixel_um, str(p))
        out_shape = (s * shape[-2], s * shape[-1])
        check_memory(restore_bytes(out_shape), f"{p}: restoring a {shape[-2]}×{shape[-1]} plane")
    names = [f"{p.stem}.tif" for p in paths]
    targets = output_paths(output, names, paths, overwrite=overwrite, option="-o")
    check_folder(output, "-o")
    built: dict[float | None, tuple[Restorer, DefocusEstimator | None]] = {}
    for p, shape, px in zip(paths, shapes, pixel_ums, strict=True):
        if px not in built:  # one restorer per pixel size, each network resampling to its own
            built[px] = (build_restorer(method, device, profile=optics_profile, pixel_um=px), None)
        if isinstance(rescaled := built[px][0], RescaledRestorer):
            rescaled.check_memory(shape, str(p))
    restorer = built[pixel_ums[0]][0]
    if workers is not None or scheduler is not None:
        tables = output_paths(
            output,
            [t.with_suffix(".csv").name for t in targets],
            paths,
            overwrite=overwrite,
            option="-o",
        )
        if len(set(pixel_ums)) > 1:
            raise ValueError(
                "the inputs state different pixel sizes; on a cluster give one --pixel-size "
                "or restore them apart"
            )
        spec = _cluster_spec(method, device, optics_profile, pixel_ums[0])
        cluster = {"workers": workers, "scheduler": scheduler, "threads": worker_threads}
        _restore_on_cluster(paths, targets, tables, spec, cluster, json_)
        return
    for px, (each, _) in built.items():
        built[px] = (each, build_estimator(device, pixel_um=px, profile=optics_profile))
    total = sum(math.prod(shape[:-2]) for shape in shapes)
    results: list[dict] = []
    with bar("restoring") as (update,):
        for p, target, px in zip(paths, targets, pixel_ums, strict=True):
            restorer, estimator = built[px]
            assert estimator is not None
            common = {"output": str(target), "method": restorer.name}
            frame_um = _frame_pixel(px, optics_profile)
            with ImageStack(p) as stack:
                planes = _restored(
                    stack, common, restorer, estimator, results, lambda: update(len(results), total)
                )
                h, w = stack.shape[-2:]
                write_stack(
                    target,
                    planes,
                    (*stack.shape[:-2], s * h, s * w),
                    stack.axes,
                    pixel_size_um=frame_um / s if frame_um else None,
                )
    if json_:
        print_json(results)
    else:
        for r in results:
            if r.get("plane", 0) == 0:
                err.print(f"{r['path']} → {r['output']}")
    _report_failures(results, restorer.name)


def _frame_pixel(pixel_um: float | None, profile: OpticsProfile | None) -> float | None:
    """Return a file's pixel size: the one given or stated, else the profile's, else None."""
    if pixel_um is not None:
        return pixel_um
    return profile.optics.pixel_um if profile is not None else None


def _pixel_sizes(paths: list[Path], pixel_size: float | None) -> list[float | None]:
    """Return each file's pixel size: ``--pixel-size`` if given, else what the file states."""
    if pixel_size is not None:
        return [pixel_size] * len(paths)
    sizes = []
    for p in paths:
        with ImageStack(p) as stack:
            sizes.append(stack.pixel_size_um)
    return sizes


def _cluster_spec(
    method: str, device: str, profile: OpticsProfile | None, pixel_um: float | None
) -> RestoreSpec:
    from ..cluster import RestoreSpec
    from ..methods import resolve_device

    profile_json = profile.model_dump_json() if profile is not None else None
    return RestoreSpec(method, resolve_device(device), profile_json, pixel_um)


def _restore_on_cluster(
    paths: list[Path],
    targets: list[Path],
    tables: list[Path],
    spec: RestoreSpec,
    cluster: dict[str, Any],
    json_: bool,
) -> None:
    """Restore on Dask; Ctrl-C keeps every finished plane for a rerun (exit 130)."""
    try:
        from ..cluster import WORK_FOLDER, restore_on_cluster
    except ImportError as e:
        raise ValueError(
            f"--workers and --scheduler need Dask ({e.name} is missing): "
            "pip install 'scope-deblur[cluster]'"
        ) from None
    try:
        with bar("restoring") as (update,):
            summary = restore_on_cluster(
                paths,
                targets,
                tables,
                spec,
                **cluster,
                progress=update,
                announce=lambda line: err.print(line, soft_wrap=True),
            )
    except KeyboardInterrupt:
        err.print(
            f"interrupted; the planes restored so far are kept in "
            f"{targets[0].parent / WORK_FOLDER}: rerun the same command to restore the rest",
            soft_wrap=True,
        )
        raise SystemExit(130) from None
    if json_:
        print_json(summary)
    else:
        err.print(
            f"{summary['planes_restored']} planes restored on {summary['workers']} workers in "
            f"{summary['seconds']} s ({summary['planes_already_done']} were already done); "
            f"outputs in {targets[0].parent}"
        )
    _fail_if(summary["errors"], summary["planes"], spec.method)


def _report_failures(results: list[dict], method: str) -> None:
    """Exit 1 with one line if any plane could not be restored."""
    failed = [f"{_label(r)}: {r['error']}" for r in results if "error" in r]
    _fail_if(failed, len(results), method)


def _fail_if(failed: list[str], planes: int, method: str) -> None:
    """Exit 1 with one line if there are ``failed`` planes (each a line, first named)."""
    if failed:
        print(
            f"scope-deblur: internal error: the {method} restorer failed on {len(failed)} of "
            f"{planes} planes, which were written unrestored (first: {failed[0]})",
            file=sys.stderr,
        )
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add the commands to ``app``."""
    app.command()(estimate)
    app.command()(restore)
