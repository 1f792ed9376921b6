"""``scope-deblur demo``: the main job on the simulated microscope."""

from __future__ import annotations

from pathlib import Path

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


def demo(
    frames: int = typer.Option(60, min=1, help="Frames in the time-lapse."),
    interval_ms: float = typer.Option(100.0, min=0, help="Time between frames (ms)."),
    drift_um_per_frame: float = typer.Option(0.5, help="Steady focus drift per frame (µm)."),
    method: str = typer.Option(
        "fusion",
        help="Restoration: fusion, fusion-fast (lighter, for live CPU), comi, m-deblurgan "
        "(binned frames to 2x sharper ones), awdvd, rl, none.",
    ),
    binning: int = typer.Option(
        1, help="Camera binning, 1, 2 or 4 (2: each pixel the sum of 2x2, pixel size doubled)."
    ),
    profile: Path | None = PROFILE_OPTION,
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    out: Path = typer.Option(Path("scope-deblur-demo"), help="Output folder (a new run)."),
    format_: str = FORMAT_OPTION,
    overwrite: bool = OVERWRITE_OPTION,
    seed: int = typer.Option(0, min=0, help="Seed of the drift and noise."),
    focus_lock: bool = FOCUS_LOCK_OPTION,
    lock_max_excursion_um: float = LOCK_MAX_EXCURSION_OPTION,
    lock_max_step_um: float = LOCK_MAX_STEP_OPTION,
    compile_: bool = typer.Option(
        False, "--compile", help="Compile the fusion network first (faster; 15-30 s once)."
    ),
    json_: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Acquire a drifting time-lapse on the demo microscope and restore it live."""
    from ..demo import DemoRun, demo_pixel_um, run_demo
    from ..live import RunFolder
    from ..methods import build_estimator, build_restorer, resolve_device

    run = DemoRun(
        frames=frames,
        interval_ms=interval_ms,
        drift_um_per_frame=drift_um_per_frame,
        method=method,
        profile=profile,
        device=device,
        out=out,
        format=format_,
        overwrite=overwrite,
        seed=seed,
        binning=binning,
        focus_lock=lock_config(focus_lock, lock_max_excursion_um, lock_max_step_um),
    )
    RunFolder(out, format_).check(overwrite=overwrite)  # refuse before loading any model
    dev = resolve_device(device)
    optics_profile = load_profile_option(profile)
    pixel_um = demo_pixel_um(run.binning, optics_profile)  # binned frames: resampled
    restorer = build_restorer(
        method, dev, compile=compile_, profile=optics_profile, pixel_um=pixel_um
    )
    estimator = build_estimator(dev, pixel_um=pixel_um, profile=optics_profile)
    if compile_:
        err.print("compiling the fusion network before the first frame (15-30 s the first time)")
    with session_progress() as connect:
        summary = run_demo(run, estimator=estimator, restorer=restorer, connect=connect)
    if json_:
        print_json(summary)
    end_of_run(summary, out)
    if json_:
        return
    err.print(
        f"[bold]{summary['frames_acquired']}[/] frames acquired, "
        f"{summary['frames_saved_raw']} saved raw, {summary['frames_restored']} restored "
        f"({summary['frames_restored_live']} live) with {summary['method']} on {summary['device']}"
    )
    err.print(
        f"defocus error {summary['defocus_mae_um']} µm; "
        f"PSNR {summary['psnr_input_db']} → "
        f"{summary['psnr_restored_db']} dB; "
        f"SSIM {summary['ssim_input']} → {summary['ssim_restored']}"
    )
    print_focus_lock(summary)
    for name, path in summary["outputs"].items():
        err.print(f"  {name}: {path}")
    catch_up_hint(method, dev, summary["frames_restored"], summary["frames_restored_live"])


def register(app: typer.Typer) -> None:
    """Add the command to ``app``."""
    app.command()(demo)
