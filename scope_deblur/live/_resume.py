"""Finish a run that stopped early (killed, interrupted, crashed, cancelled).

Everything needed is on disk: ``run.json`` holds the sequence and settings, the raw
data says which frames reached the disk, and ``frames.csv`` which were restored
(a row is appended only after its frame is in ``restored.ome.tif.partial``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..protocols import DefocusEstimator, Restorer
from ._events import LiveEvents
from ._folder import RunFolder
from ._pipeline import LivePipeline
from ._raw import RawData, event_index
from ._restored import RestoredLayout
from ._summary import summarize
from ._writer import partial_path, read_table

__all__ = ["resume_run"]


def resume_run(
    path: Path,
    *,
    estimator: DefocusEstimator,
    restorer: Restorer,
    device: str,
    events: LiveEvents | None = None,
) -> dict[str, Any]:
    """Restore every acquired frame of the run at ``path`` not restored yet.

    Returns the run's summary (also written to ``summary.json``); the summary of a
    run that was already complete is returned as it is.
    """
    import useq

    folder = RunFolder.open(path)
    manifest = folder.read_manifest()
    if manifest.get("state") == "complete" and folder.summary.is_file():
        return dict(json.loads(folder.summary.read_text()))
    try:
        sequence = useq.MDASequence.model_validate(manifest["sequence"])
    except (KeyError, ValueError) as e:
        raise ValueError(f"{folder.manifest} holds no readable sequence: {e}") from e
    indices = [event_index(e) for e in sequence]
    raw = RawData(folder.raw, indices)
    acquired = {k: index for k, index in enumerate(indices) if raw.has(index)}
    if not acquired:
        raise ValueError(f"{folder.raw} holds no frame: nothing to restore")
    done = read_table(folder.table) if folder.table.is_file() else {}
    if folder.restored.exists() and not partial_path(folder.restored).is_file():
        # Killed after the restored file was completed: only the summary is missing.
        restored: Path | None = folder.restored
        records = [done[k] for k in sorted(done)]
    else:
        layout = RestoredLayout(
            folder.restored, folder.fmt, folder.raw, sequence, manifest.get("pixel_size_um")
        )
        pipeline = LivePipeline.resuming(
            estimator,
            restorer,
            layout,
            acquired,
            done,
            planned=len(indices),
            events=events,
        )
        restored = pipeline.finish(raw)
        records = pipeline.records
    summary = summarize(
        records,
        frames_saved_raw=len(acquired),
        device=device,
        method=restorer.name,
        state="complete" if restored else "interrupted",
    )
    summary["resumed"] = True
    summary["errors"] = [*summary["errors"], *raw.torn]
    summary["outputs"] = {
        "raw": str(folder.raw),
        "restored": str(restored) if restored else None,
        "table": str(folder.table),
        "summary": str(folder.summary),
    }
    folder.summary.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    folder.write_manifest(state=summary["state"], resumed_at=summary["finished_at"])
    return summary
