"""Progress bars and hints on stderr, so that ``--json`` output on stdout stays clean."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

__all__ = ["bar", "catch_up_hint", "err", "print_json"]

err = Console(stderr=True)


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
