"""``scope-deblur gui``: the Qt acquisition window (Qt is imported only when it runs).

The command is an entry point of the group ``scope_deblur.commands``: ``scope-deblur``
imports this module to list it, so this module imports no Qt.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
    sequence: Path | None = typer.Option(
        None, help="useq MDA sequence (YAML or JSON) to put in the MDA editor."
    ),
    focus_lock: bool = typer.Option(False, "--focus-lock", help="Switch the focus lock on."),
    run: bool = typer.Option(False, "--run", help="Start the acquisition at once."),
    screenshot: Path | None = typer.Option(
        None,
        help="Save a PNG of the window, then quit: after the run with --run (exit code 1 if "
        "it failed or had errors), else once the window is shown.",
    ),
    quit_after: float | None = typer.Option(None, min=0, help="Close after this many seconds."),
) -> None:
    """Open the acquisition GUI: microscope controls, MDA, raw and restored views, defocus plot."""
    if demo and config is not None:
        raise ValueError("give either --demo or --config, not both")
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if config is not None and not config.is_file():
        raise FileNotFoundError(f"no such Micro-Manager config file: {config}")
    if profile is not None:
        load_profile(profile)  # a bad profile fails here, in one line
    seq = _load_sequence(sequence) if sequence is not None else None
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
        sequence=seq,
        focus_lock=focus_lock,
        start=run,
        screenshot=screenshot,
        quit_after=quit_after,
    )
    if code:
        raise typer.Exit(code)


def _load_sequence(path: Path) -> Any:
    """Return the useq sequence in ``path``; a bad file fails in one line."""
    import useq

    if not path.is_file():
        raise FileNotFoundError(f"no such sequence file: {path}")
    try:
        return useq.MDASequence.from_file(path)
    except Exception as e:
        raise ValueError(f"cannot read the MDA sequence {path}: {e}") from e
