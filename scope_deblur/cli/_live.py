"""What the live commands (``demo``, ``acquire``, ``resume``) share: options, progress, exit."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import typer

from ..live import LiveEvents
from ._progress import bar, err

__all__ = ["FORMAT_OPTION", "OVERWRITE_OPTION", "end_of_run", "session_progress"]

FORMAT_OPTION = typer.Option(
    "ome-zarr",
    "--format",
    help="Raw data format: ome-zarr (each frame durable on its own; survives a kill) "
    "or ome-tiff.",
)
OVERWRITE_OPTION = typer.Option(
    False, "--overwrite", help="Replace a run already in --out (by default that is refused)."
)


@contextmanager
def session_progress() -> Iterator[Callable[[LiveEvents], None]]:
    """Yield a function that connects a session's events to two progress bars."""
    with bar("acquiring", "catching up") as (on_frame, on_catchup):

        def connect(events: LiveEvents) -> None:
            events.frameAcquired.connect(on_frame)
            events.catchUpProgress.connect(on_catchup)

        yield connect


def end_of_run(summary: dict[str, Any], folder: Any) -> None:
    """Exit with one line if the run did not complete.

    130 (SIGINT) or 143 (SIGTERM) for a signal; 1 when the acquisition stopped on a
    fault (a full disk, hardware) or the restoration could not be finished. Either
    way the raw data is kept and the line says how to finish the run.
    """
    signal_name, error = summary.get("signal"), summary.get("acquisition_error")
    if summary.get("state") != "interrupted" and not error:
        return
    saved = f"{summary['frames_saved_raw']} raw frames are saved in {summary['outputs']['raw']}"
    if summary.get("state") == "interrupted":
        why = f"interrupted ({signal_name})" if signal_name else "restoration not finished"
        if not signal_name and summary.get("errors"):
            why += f": {summary['errors'][0]}"
        err.print(
            f"{why} after {summary['frames_acquired']} frames; {saved}; "
            f"finish the restoration with: scope-deblur resume {folder}",
            soft_wrap=True,
        )
    else:
        done = "; all of them restored" if summary.get("state") == "complete" else ""
        err.print(f"{error}; {saved}{done}", soft_wrap=True)
    signum = getattr(signal, signal_name, None) if signal_name else None
    raise SystemExit(128 + int(signum) if signum is not None else 1)
