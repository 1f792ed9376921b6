"""What the commands share, core and plugins alike: options, progress on stderr, exits.

Progress bars and messages go to stderr (:data:`err`), so that ``--json`` output on
stdout stays clean. A plugin's commands (entry-point group ``scope_deblur.commands``)
use this module; the rest of :mod:`scope_deblur.cli` is private.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ..live import LiveEvents

if TYPE_CHECKING:
    from ..focus import LockConfig
    from ..optics import OpticsProfile

__all__ = [
    "FOCUS_LOCK_OPTION",
    "FORMAT_OPTION",
    "LOCK_MAX_EXCURSION_OPTION",
    "LOCK_MAX_STEP_OPTION",
    "OVERWRITE_OPTION",
    "PROFILE_OPTION",
    "bar",
    "catch_up_hint",
    "end_of_run",
    "err",
    "load_profile_option",
    "lock_config",
    "print_focus_lock",
    "print_json",
    "session_progress",
]

err = Console(stderr=True)

FORMAT_OPTION = typer.Option(
    "ome-zarr",
    "--format",
    help="Raw data format: ome-zarr (each frame durable on its own; survives a kill) or ome-tiff.",
)
OVERWRITE_OPTION = typer.Option(
    False, "--overwrite", help="Replace a run already in --out (by default that is refused)."
)
PROFILE_OPTION = typer.Option(
    None,
    help="Optics profile from `scope-deblur calibrate` (JSON): its pixel size and PSF are used.",
)


FOCUS_LOCK_OPTION = typer.Option(
    False,
    "--focus-lock",
    help="Keep the sample in focus: between frames, move the focus stage by DelpNet's "
    "estimate (a probe move finds the side when needed; probe frames are not data).",
)
LOCK_MAX_EXCURSION_OPTION = typer.Option(
    50.0,
    "--lock-max-excursion-um",
    min=0.1,
    max=1000,
    help="The focus lock never takes the stage farther than this from the run's own z; "
    "reaching it stops the lock, not the acquisition.",
)
LOCK_MAX_STEP_OPTION = typer.Option(
    15.0, "--lock-max-step-um", min=0.1, max=100, help="The focus lock's largest move per frame."
)


def lock_config(enabled: bool, max_excursion_um: float, max_step_um: float) -> LockConfig | None:
    """Return the focus lock's settings from the options, or None when it is off."""
    from ..focus import LockConfig

    if not enabled:
        return None
    return LockConfig(max_excursion_um=max_excursion_um, max_step_um=max_step_um)


def print_focus_lock(summary: dict[str, Any]) -> None:
    """Say what the focus lock did, if it ran."""
    if not summary.get("focus_lock"):
        return
    truth = ""
    if summary.get("defocus_abs_median_um") is not None:
        truth = (
            f"true |defocus| median {summary['defocus_abs_median_um']} µm, "
            f"95th percentile {summary['defocus_abs_p95_um']} µm; "
        )
    stopped = summary.get("lock_stopped")
    err.print(
        f"focus lock: {truth}{summary['stage_moves']} stage moves, "
        f"{summary['frames_probe']} probe frames" + (f"; stopped: {stopped}" if stopped else ""),
        soft_wrap=True,
    )


def load_profile_option(path: Path | None) -> OpticsProfile | None:
    """Return the optics profile at ``path``, or None when no path is given."""
    from ..optics import load_profile

    return None if path is None else load_profile(path)


@contextmanager
def bar(*tasks: str) -> Iterator[list[Callable[[int, int], None]]]:
    """Yield one ``update(done, total)`` callback per named task."""
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=False,
    ) as progress:
        ids = [progress.add_task(name, total=None) for name in tasks]

        def updater(task_id: Any) -> Callable[[int, int], None]:
            return lambda done, total: progress.update(task_id, completed=done, total=total)

        yield [updater(i) for i in ids]


def print_json(obj: Any) -> None:
    """Print one JSON object on stdout."""
    print(json.dumps(obj, indent=2, default=str))


def catch_up_hint(method: str, device: str, restored: int, live: int) -> None:
    """Tell a CPU user of ``fusion`` how to restore every frame live, if some were not."""
    if method == "fusion" and device == "cpu" and live < restored:
        err.print(
            f"{restored - live} of {restored} frames were restored after the run, not live; "
            "on a CPU, --method fusion-fast keeps up live (README: Performance)",
            soft_wrap=True,
        )


@contextmanager
def session_progress() -> Iterator[Callable[[LiveEvents], None]]:
    """Yield a function that connects a session's events to three progress bars."""
    with bar("acquiring", "catching up", "writing restored") as (on_frame, on_catchup, on_out):

        def connect(events: LiveEvents) -> None:
            events.frameAcquired.connect(on_frame)
            events.catchUpProgress.connect(on_catchup)
            events.outputProgress.connect(on_out)

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
