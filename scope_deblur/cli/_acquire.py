"""``scope-deblur acquire``: a useq MDA on real or demo hardware, restored live."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import typer

from ._images import PROFILE_OPTION, load_profile_option
from ._progress import bar, catch_up_hint, err, print_json


def load_core(config: Path) -> Any:
    """Return a UniMMCore with ``config`` loaded (C++ and ``#py`` Python devices)."""
    from pymmcore_plus.experimental.unicore import UniMMCore

    if not config.is_file():
        raise FileNotFoundError(f"no such Micro-Manager config file: {config}")
    from ..demo import define_pixel_size

    core = UniMMCore()
    problem = ""
    try:
        core.loadSystemConfiguration(str(config))
        define_pixel_size(core)
    except Exception as e:  # MMCore raises RuntimeError, the loader many more
        lines = [ln for ln in str(e).splitlines() if ln.strip()]
        problem = lines[-1] if lines else type(e).__name__
    if problem:
        # Release the core before raising: a live core at exit aborts the process.
        core.unloadAllDevices()
        del core
        gc.collect()  # the core sits in reference cycles; free it now, not at exit
        raise ValueError(f"cannot load config {config}: {problem}")
    return core


def load_sequence(path: Path) -> Any:
    """Read a useq ``MDASequence`` from YAML or JSON."""
    import useq

    if not path.is_file():
        raise FileNotFoundError(f"no such sequence file: {path}")
    try:
        return useq.MDASequence.from_file(path)
    except Exception as e:
        first = str(e).splitlines()[0]
        raise ValueError(f"cannot read sequence {path}: {first}") from e


def acquire(
    config: Path = typer.Option(..., help="Micro-Manager .cfg (may declare #py devices)."),
    sequence: Path = typer.Option(..., help="useq MDASequence as YAML or JSON."),
    out: Path = typer.Option(..., help="Output folder."),
    restore: bool = typer.Option(True, "--restore/--no-restore", help="Restore live."),
    method: str = typer.Option(
        "fusion", help="fusion, fusion-fast, fusion-known[-fast], awdvd, rl or none."
    ),
    profile: Path | None = PROFILE_OPTION,
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    compile_: bool = typer.Option(
        False, "--compile", help="Compile the fusion network first (faster; 15-30 s once)."
    ),
    json_: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Run an MDA; raw frames go to OUT/raw.ome.tif, restored ones beside them."""
    from .._rawfile import count_frames
    from ..live import LivePipeline
    from ..methods import build_estimator, build_restorer, resolve_device

    seq = load_sequence(sequence)
    optics_profile = load_profile_option(profile)
    core = load_core(config)
    try:
        restorer = (
            build_restorer(method, device, compile=compile_, profile=optics_profile)
            if restore
            else None
        )
        estimator = build_estimator(device, profile=optics_profile) if restore else None
    except Exception:
        del core
        raise
    if restore and compile_:
        err.print("compiling the fusion network before the first frame (15-30 s the first time)")
    out.mkdir(parents=True, exist_ok=True)
    raw_path = out / "raw.ome.tif"
    total = sum(1 for _ in seq)
    try:
        with bar("acquiring", "catching up") as (on_frame, on_catchup):
            n = [0]

            def count(*_: object) -> None:
                n[0] += 1
                on_frame(n[0], total)

            core.mda.events.frameReady.connect(count)
            if restorer is None or estimator is None:
                core.mda.run(seq, output=raw_path, overwrite=True)
                restored = None
            else:
                pipeline = LivePipeline(estimator, restorer, out / "restored.ome.tif")
                with pipeline.connected(core):
                    core.mda.run(seq, output=raw_path, overwrite=True)
                restored = pipeline.finish(raw_path, on_catchup)
    finally:
        del core  # release MMCore now: alive at exit, it aborts the process
        gc.collect()  # (it sits in reference cycles)
    summary: dict[str, object] = {
        "frames_acquired": n[0],
        "frames_saved_raw": count_frames(raw_path) if raw_path.exists() else 0,
        "outputs": {"raw": str(raw_path), "restored": str(restored) if restored else None},
    }
    if restorer is not None:
        modes = [r.mode for r in pipeline.records]
        done, live = sum(m in ("live", "catch-up") for m in modes), modes.count("live")
        summary.update(frames_restored=done, frames_restored_live=live)
    if json_:
        print_json(summary)
        return
    err.print(f"{n[0]} frames acquired; raw: {raw_path}; restored: {restored}")
    if restorer is not None:
        catch_up_hint(method, resolve_device(device), done, live)


def register(app: typer.Typer) -> None:
    """Add the command to ``app``."""
    app.command()(acquire)
