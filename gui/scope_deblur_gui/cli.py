"""``scope-deblur gui``: the Qt acquisition window (Qt is imported only when it runs).

The command is an entry point of the group ``scope_deblur.commands``: ``scope-deblur``
imports this module to list it, so this module imports no Qt.
"""

from __future__ import annotations

from pathlib import Path

import typer
from scope_deblur.methods import METHODS
from scope_deblur.optics import load_profile

from ._app import run_app

__all__ = ["gui"]


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
    if demo and config is not None:
        raise ValueError("give either --demo or --config, not both")
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if config is not None and not config.is_file():
        raise FileNotFoundError(f"no such Micro-Manager config file: {config}")
    if profile is not None:
        load_profile(profile)  # a bad profile fails here, in one line
    if screenshot is not None and quit_after is None:
        raise ValueError(
            "--screenshot needs --quit-after SECONDS (it is taken just before quitting)"
        )
    try:
        from . import _window  # noqa: F401 - Qt, superqt and pymmcore-widgets, checked here
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
