"""``scope-deblur acquire``: a useq MDA on real or demo hardware, restored live."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from .common import (
    FOCUS_LOCK_OPTION,
    FORMAT_OPTION,
    LOCK_MAX_EXCURSION_OPTION,
    LOCK_MAX_STEP_OPTION,
    OVERWRITE_OPTION,
    PROFILE_OPTION,
    catch_up_hint,
    end_of_run,
    err,
    load_profile_option,
    lock_config,
    print_focus_lock,
    print_json,
    session_progress,
)


def load_sequence(path: Path) -> Any:
    """Read a useq ``MDASequence`` from YAML or JSON."""
    import useq

    from ..errors import one_line
    from ..io import require_file

    require_file(path, "sequence file")
    try:
        sequence = useq.MDASequence.from_file(path)
    except Exception as e:  # YAML, JSON and pydantic errors: name the file and the field
        raise ValueError(f"cannot read sequence {path}: {one_line(e)}") from e
    if sum(1 for _ in sequence) == 0:
        raise ValueError(f"sequence {path} has no frames to acquire")
    return sequence


def acquire(
    config: Path = typer.Option(..., help="Micro-Manager .cfg (may declare #py devices)."),
    sequence: Path = typer.Option(..., help="useq MDASequence as YAML or JSON."),
    out: Path = typer.Option(..., help="Output folder (a new run)."),
    restore: bool = typer.Option(True, "--restore/--no-restore", help="Restore live."),
    method: str = typer.Option(
        "fusion",
        help="fusion, fusion-fast, fusion-known[-fast], comi, m-deblurgan, awdvd, rl or none.",
    ),
    profile: Path | None = PROFILE_OPTION,
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    format_: str = FORMAT_OPTION,
    overwrite: bool = OVERWRITE_OPTION,
    focus_lock: bool = FOCUS_LOCK_OPTION,
    lock_max_excursion_um: float = LOCK_MAX_EXCURSION_OPTION,
    lock_max_step_um: float = LOCK_MAX_STEP_OPTION,
    compile_: bool = typer.Option(
        False, "--compile", help="Compile the fusion network first (faster; 15-30 s once)."
    ),
    json_: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Run an MDA; raw frames go to OUT/raw.ome.zarr (or .ome.tif), restored ones beside.

    Frames are restored at the pixel size the microscope reports (its pixel-size
    configuration), or the profile's; with --focus-lock the focus stage follows the drift.
    """
    from ..focus import FocusLock
    from ..live import LiveSession, RunFolder, load_config, open_core
    from ..methods import build_estimator, build_restorer, resolve_device

    seq = load_sequence(sequence)
    folder = RunFolder(out, format_)
    folder.check(overwrite=overwrite)  # before any hardware moves or model loads
    optics_profile = load_profile_option(profile)
    dev = resolve_device(device)
    settings = {"command": "acquire", "config": config.resolve(), "method": method}
    settings["profile"] = profile.resolve() if profile else None
    lock = lock_config(focus_lock, lock_max_excursion_um, lock_max_step_um)
    settings["focus_lock"] = lock.model_dump() if lock else None
    with open_core(lambda: load_config(config)) as core:  # a bad config fails before models load
        # Without a profile, frames are read at the pixel size the core reports.
        pixel_um = None if optics_profile else (core.getPixelSizeUm() or None)
        restorer = (
            build_restorer(method, dev, compile=compile_, profile=optics_profile, pixel_um=pixel_um)
            if restore
            else None
        )
        estimator = (
            build_estimator(dev, pixel_um=pixel_um, profile=optics_profile)
            if restore or lock
            else None
        )
        if restore and compile_:
            err.print("compiling the fusion network before the first frame (15-30 s once)")
        session = LiveSession(
            core,
            folder,
            estimator=estimator,
            restorer=restorer,
            device=dev,
            focus_lock=FocusLock(lock) if lock else None,
            settings=settings,
        )
        with session_progress() as connect:
            connect(session.events)
            summary = session.run(seq, overwrite=overwrite)
        del session  # it holds the core
    if json_:
        print_json(summary)
    end_of_run(summary, out)
    if json_:
        return
    err.print(
        f"{summary['frames_acquired']} frames acquired; raw: {summary['outputs']['raw']}; "
        f"restored: {summary['outputs'].get('restored')}"
    )
    print_focus_lock(summary)
    if restore:
        catch_up_hint(method, dev, summary["frames_restored"], summary["frames_restored_live"])


def register(app: typer.Typer) -> None:
    """Add the command to ``app``."""
    app.command()(acquire)
