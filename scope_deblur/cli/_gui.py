"""``scope-deblur gui``: the Qt acquisition window (Qt is imported only when it runs)."""

from __future__ import annotations

from pathlib import Path

import typer


def gui(
    demo: bool = typer.Option(False, "--demo", help="Use the demo microscope (the default)."),
    config: Path | None = typer.Option(None, help="Micro-Manager .cfg (may declare #py devices)."),
    method: str = typer.Option(
        "fusion",
        help="Initial restoration: fusion, fusion-fast, fusion-known[-fast], awdvd, rl or none.",
    ),
    profile: Path | None = typer.Option(
        None, help="Optics profile from `scope-deblur calibrate` (JSON) to restore with."
    ),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    out: Path | None = typer.Option(
        None, help="Folder for the runs (default ./scope-deblur-runs)."
    ),
    run: bool = typer.Option(False, "--run", help="Start the acquisition at once."),
    screenshot: Path | None = typer.Option(None, help="Save a PNG of the window before quitting."),
    quit_after: float | None = typer.Option(None, min=0, help="Close after this many seconds."),
) -> None:
    """Open the acquisition GUI: define an MDA, watch raw and restored frames live."""
    from ..methods import METHODS

    if demo and config is not None:
        raise ValueError("give either --demo or --config, not both")
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if config is not None and not config.is_file():
        raise FileNotFoundError(f"no such Micro-Manager config file: {config}")
    if profile is not None:
        from ..optics import load_profile

        load_profile(profile)  # a bad profile fails here, in one line
    if screenshot is not None and quit_after is None:
        raise ValueError(
            "--screenshot needs --quit-after SECONDS (it is taken just before quitting)"
        )
    try:
        from scope_deblur_gui import run_app
    except ImportError as e:
        raise ValueError(
            f"the GUI needs the optional Qt dependencies ({e}); pip install 'scope-deblur[gui]'"
        ) from e
    code = run_app(
        config=config,
        method=method,
        device=device,
        out_dir=out,
        profile=profile,
        start=run,
        screenshot=screenshot,
        quit_after=quit_after,
    )
    if code:
        raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    """Add the command to ``app``."""
    app.command()(gui)
