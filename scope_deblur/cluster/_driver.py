"""Restore many files on a Dask cluster, plane by plane, resumably.

    driver                                     workers (one model each)
    job.json + planes.zarr per file  ──────►   restore_plane_task(spec, file, k)
    submit every plane without a record          read plane k ─ estimate ─ restore
    as_completed ─► progress, table rows         write chunk k ─ write done/k.json
    all done: planes.zarr ─► <stem>.tif (one plane at a time), <stem>.csv, work removed

The work of one output lives in ``OUT/.scope-deblur-work/<name>/`` until the output
is complete, so a rerun after a crash, a killed worker or an interrupted driver
submits only the planes without a completion record. A worker that dies loses only
its running tasks, which the scheduler gives to another worker. The driver never
holds more than one plane.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any

from ._work import RestoreSpec, done_record, open_planes, restore_plane_task

__all__ = ["WORK_FOLDER", "ClusterJob", "restore_on_cluster"]

log = logging.getLogger(__name__)

WORK_FOLDER = ".scope-deblur-work"
"""Where, inside the output folder, unfinished outputs keep their planes and records."""


def _warm_rate(rows: Sequence[dict[str, Any]], finished: Sequence[float]) -> float | None:
    """Return planes per second once every worker has finished its first plane.

    Each worker's first plane carries its start (imports, the model); the rest is the
    rate a long run approaches. None when too few planes came after that.
    """
    first: dict[str, int] = {}
    for i, row in enumerate(rows):
        first.setdefault(row["worker"], i)
    warm = max(first.values(), default=0)
    later = len(rows) - 1 - warm
    if later < 2 or finished[-1] <= finished[warm]:
        return None
    return round(later / (finished[-1] - finished[warm]), 3)


class ClusterJob:
    """One input file's planes and where they go (its work folder, its output)."""

    def __init__(self, source: Path, target: Path, spec: RestoreSpec) -> None:
        from ..io import ImageStack

        with ImageStack(source) as stack:
            self.shape, self.axes, self.planes = tuple(stack.shape), stack.axes, len(stack)
        self.source, self.target = source.resolve(), target
        self.work = target.parent / WORK_FOLDER / target.name
        self._claim(spec)

    def _claim(self, spec: RestoreSpec) -> None:
        """Start the work folder, or check that the one there is for the same job."""
        job = {
            "source": str(self.source),
            "shape": list(self.shape),
            "spec": {k: v for k, v in spec.as_dict().items() if k != "threads"},
        }
        manifest = self.work / "job.json"
        if manifest.is_file():
            before = json.loads(manifest.read_text())
            if before != job:
                raise ValueError(
                    f"{self.work} holds unfinished work of another restoration "
                    f"({before['spec']['method']} of {before['source']}); rerun that "
                    f"command to finish it, or remove the folder"
                )
        (self.work / "done").mkdir(parents=True, exist_ok=True)
        h, w = self.shape[-2:]
        open_planes(self.work / "planes.zarr", (self.planes, h, w))
        manifest.write_text(json.dumps(job, indent=2) + "\n")

    def missing(self) -> list[int]:
        """Return the planes without a completion record."""
        return [k for k in range(self.planes) if not done_record(self.work, k).is_file()]

    def rows(self) -> list[dict[str, Any]]:
        """Return every plane's table row, in plane order."""
        return [json.loads(done_record(self.work, k).read_text()) for k in range(self.planes)]

    def finish(self, table: Path) -> None:
        """Write the output (one plane at a time) and its table; remove the work folder."""
        from ..io import atomic_path, write_stack

        planes = open_planes(self.work / "planes.zarr")
        write_stack(
            self.target,
            (planes[k].read().result() for k in range(self.planes)),
            self.shape,
            self.axes,
        )
        rows = self.rows()
        with atomic_path(table) as partial, open(partial, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(dict.fromkeys(k for r in rows for k in r)))
            writer.writeheader()
            writer.writerows(rows)
        shutil.rmtree(self.work)
        parent = self.work.parent
        if parent.is_dir() and not any(parent.iterdir()):
            parent.rmdir()


def restore_on_cluster(
    sources: Sequence[Path],
    targets: Sequence[Path],
    tables: Sequence[Path],
    spec: RestoreSpec,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    threads: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    announce: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Restore ``sources`` into ``targets`` (and their ``tables``) on a Dask cluster.

    ``workers`` local worker processes (one task at a time each, the CPU's torch threads
    split between them), or the cluster at ``scheduler`` (an address such as
    ``tcp://host:8786``; each task then uses one torch thread). ``threads`` sets the
    torch threads per task instead. ``announce`` is told
    the dashboard's address. Returns the summary; raises ``KeyboardInterrupt`` as it
    comes, with every finished plane kept for a rerun.
    """
    from distributed import Client, LocalCluster, as_completed

    if (workers is None) == (scheduler is None):
        raise ValueError("give either --workers N or --scheduler ADDRESS")
    t0 = time.perf_counter()
    if threads is None:
        threads = 1 if workers is None else max(1, (os.cpu_count() or 1) // workers)
    spec = replace(spec, threads=threads)
    jobs = [ClusterJob(s, t, spec) for s, t in zip(sources, targets, strict=True)]
    todo = [(job, k) for job in jobs for k in job.missing()]
    total = sum(job.planes for job in jobs)
    already = total - len(todo)
    rows: list[dict[str, Any]] = []
    with ExitStack() as stack:
        if scheduler is None:
            cluster = stack.enter_context(
                LocalCluster(
                    n_workers=workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=":0",
                    silence_logs=logging.ERROR,
                )
            )
            client = stack.enter_context(Client(cluster))
        else:
            client = stack.enter_context(Client(scheduler, timeout="20s"))
        if announce is not None:
            announce(f"Dask dashboard: {client.dashboard_link}")
        n_workers = len(client.scheduler_info()["workers"])
        futures = [
            client.submit(
                restore_plane_task,
                spec,
                str(job.source),
                k,
                str(job.work),
                key=f"restore-{job.work.name}-{k}-{os.getpid()}",
                pure=False,
                retries=2,
            )
            for job, k in todo
        ]
        if progress is not None:
            progress(already, total)
        finished: list[float] = []
        for future in as_completed(futures):
            rows.append(future.result())
            finished.append(time.perf_counter())
            if progress is not None:
                progress(already + len(rows), total)
    for job, table in zip(jobs, tables, strict=True):
        job.finish(table)
    seconds = time.perf_counter() - t0
    return {
        "planes": total,
        "planes_restored": len(rows),
        "planes_already_done": already,
        "seconds": round(seconds, 2),
        "planes_per_second": round(len(rows) / seconds, 3) if rows else None,
        "planes_per_second_warm": _warm_rate(rows, finished),
        "workers": n_workers,
        "scheduler": scheduler or "local",
        "method": spec.method,
        "errors": [f"{r['path']} plane {r['plane']}: {r['error']}" for r in rows if "error" in r],
        "outputs": [str(t) for t in targets],
        "tables": [str(t) for t in tables],
    }
