"""``scope-deblur resume``: finish the restoration of a run that stopped early."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import bar, err, load_profile_option, print_json


def resume(
    run_dir: Path = typer.Argument(..., help="The run folder (--out of demo or acquire)."),
    device: str = typer.Option(
        None, help="auto, cpu or cuda (default: the device the run recorded)."
    ),
    json_: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Restore every acquired frame of RUN_DIR not restored yet; write the summary.

    Works after a kill, Ctrl-C, a crash or a cancelled run: the raw data says which
    frames reached the disk, frames.csv which were restored. The restorer is the one
    the run recorded (method and optics profile).
    """
    from ..live import LiveEvents, RunFolder, resume_run
    from ..methods import build_estimator, build_restorer, resolve_device

    folder = RunFolder.open(run_dir)
    manifest = folder.read_manifest()
    profile = load_profile_option(Path(manifest["profile"]) if manifest.get("profile") else None)
    dev = resolve_device(device or manifest.get("device", "auto"))
    method = manifest.get("method") or "fusion"
    pixel_um = None if profile else manifest.get("pixel_size_um")  # as the run read frames
    restorer = build_restorer(method, dev, profile=profile, pixel_um=pixel_um)
    estimator = build_estimator(dev, pixel_um=pixel_um, profile=profile)
    with bar("catching up", "writing restored") as (on_catchup, on_out):
        events = LiveEvents()
        events.catchUpProgress.connect(on_catchup)
        events.outputProgress.connect(on_out)
        summary = resume_run(
            run_dir, estimator=estimator, restorer=restorer, device=dev, events=events
        )
    if json_:
        print_json(summary)
        return
    err.print(
        f"{run_dir}: {summary['frames_restored']} of {summary['frames_acquired']} frames "
        f"restored ({summary['state']}); restored: {summary['outputs']['restored']}"
    )


def register(app: typer.Typer) -> None:
    """Add the command to ``app``."""
    app.command()(resume)
