"""One live session: the MDA, its raw data, live restoration, catch-up and summary.

    LiveSession(core, RunFolder) ── run(sequence)
        │ folder.create()          refuses to write over a run (unless overwrite)
        │ run.json                 the settings ``resume`` needs
        │ core.mda.run(output=raw) raw first, through pymmcore-plus's own sink
        │   └─ LivePipeline        estimate + restore on a worker; skip when behind
        ▼ finish()                 catch-up from the raw data, restored file, summary.json
    SIGINT / SIGTERM: the MDA is cancelled, the raw data closed, the run left resumable.

``demo``, ``acquire``, ``bench --live``, ``calibrate --config`` and the GUI all run
their acquisitions through this class; listeners connect to :attr:`LiveSession.events`.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..protocols import DefocusEstimator, Restorer
from ._events import LiveEvents
from ._folder import RunFolder
from ._pipeline import LivePipeline, Scorer, event_index
from ._raw import RawData
from ._summary import summarize

if TYPE_CHECKING:
    from pymmcore_plus import CMMCorePlus
    from useq import MDAEvent, MDASequence

__all__ = ["LiveSession"]


class LiveSession:
    """Acquire a useq sequence on ``core`` into ``folder``, restoring it live.

    Parameters
    ----------
    core : CMMCorePlus
        The microscope (see :func:`open_core` for its lifetime).
    folder : RunFolder
        Where the run's files go.
    estimator, restorer : optional
        Both, to restore live; neither, to acquire raw data only.
    device : str
        Recorded in the summary.
    queue_size, batch_size : int
        See :class:`LivePipeline`.
    timeout_s : float
        Give up on a restoration that takes longer (see :class:`LivePipeline`).
    scorer : Scorer, optional
        Fills the truth fields of each frame (demo microscope).
    settings : Mapping, optional
        Recorded in ``run.json`` (method, profile, ...): what ``resume`` rebuilds from.
    """

    def __init__(
        self,
        core: CMMCorePlus,
        folder: RunFolder,
        *,
        estimator: DefocusEstimator | None = None,
        restorer: Restorer | None = None,
        device: str = "cpu",
        queue_size: int = 4,
        batch_size: int = 1,
        timeout_s: float = 120.0,
        scorer: Scorer | None = None,
        settings: Mapping[str, Any] | None = None,
    ) -> None:
        if (estimator is None) != (restorer is None):
            raise ValueError("give both an estimator and a restorer, or neither")
        self.core, self.folder, self.device = core, folder, device
        self.events = LiveEvents()
        self.settings = dict(settings or {})
        self.pipeline = (
            None
            if estimator is None or restorer is None
            else LivePipeline(
                estimator,
                restorer,
                folder.restored,
                queue_size=queue_size,
                batch_size=batch_size,
                timeout_s=timeout_s,
                scorer=scorer,
                events=self.events,
            )
        )
        self.indices: list[dict[str, int]] = []
        self.frame_times: list[float] = []
        self.interrupted = ""
        """The signal's name (``SIGINT``) if one stopped the run, else empty."""
        self._planned = 0
        self._cancelled = threading.Event()

    # --- running ------------------------------------------------------------------
    def run(self, sequence: MDASequence, *, overwrite: bool = False) -> dict[str, Any]:
        """Acquire ``sequence``, catch up, and return the summary (blocking).

        SIGINT and SIGTERM (on the main thread) cancel the run cleanly.
        """
        with self._signals_cancel():
            self.acquire(sequence, overwrite=overwrite)
            return self.finish()

    def acquire(self, sequence: MDASequence, *, overwrite: bool = False) -> None:
        """Run the MDA only, raw data to the folder, live restoration beside it."""
        self.folder.create(overwrite=overwrite)
        self._planned = sum(1 for _ in sequence)
        self.folder.write_manifest(
            state="acquiring",
            sequence=sequence.model_dump(mode="json", exclude_unset=True),
            restore=self.pipeline is not None,
            device=self.device,
            **self.settings,
        )
        ev = self.core.mda.events
        ev.frameReady.connect(self._on_frame)
        try:
            if self.pipeline is None:
                self.core.mda.run(sequence, output=self.folder.raw)
            else:
                with self.pipeline.connected(self.core):
                    self.core.mda.run(sequence, output=self.folder.raw)
        finally:
            ev.frameReady.disconnect(self._on_frame)

    def _on_frame(self, img: Any, event: MDAEvent, *_: Any) -> None:
        self.frame_times.append(time.perf_counter())
        self.indices.append(event_index(event))
        if self.pipeline is None:
            self.events.frameAcquired.emit(len(self.indices), self._planned)

    def cancel(self) -> None:
        """Stop the acquisition, or the catch-up; the run stays resumable (any thread)."""
        self._cancelled.set()
        self.core.mda.cancel()
        if self.pipeline is not None:
            self.pipeline.stop_catch_up()

    def finish(self) -> dict[str, Any]:
        """Catch up (unless cancelled), write the outputs and return the summary."""
        raw = RawData(self.folder.raw) if self.indices else None
        restored = None
        if self.pipeline is not None:
            if self._cancelled.is_set():
                self.pipeline.suspend()
            else:
                restored = self.pipeline.finish(raw)
        cancelled = self._cancelled.is_set() or (self.pipeline is not None and restored is None)
        if self.pipeline is None:
            state = "cancelled" if self._cancelled.is_set() else "acquired"
        else:
            state = "interrupted" if cancelled and self.indices else "complete"
        records = self.pipeline.records if self.pipeline is not None else []
        summary = summarize(
            records,
            frames_saved_raw=raw.count(self.indices) if raw is not None else 0,
            frame_times=self.frame_times,
            device=self.device,
            method=self.pipeline.restorer.name if self.pipeline is not None else None,
            state=state,
        )
        summary["frames_acquired"] = len(self.indices)
        if self.interrupted:
            summary["signal"] = self.interrupted
        summary["outputs"] = self._outputs(restored)
        if raw is not None and raw.torn:
            summary["errors"] = [*summary["errors"], *raw.torn]
        return self._close(summary)

    def _outputs(self, restored: Path | None) -> dict[str, str | None]:
        out: dict[str, str | None] = {"raw": str(self.folder.raw)}
        if self.pipeline is not None:
            out["restored"] = str(restored) if restored else None
            out["table"] = str(self.folder.table)
        out["summary"] = str(self.folder.summary)
        return out

    def _close(self, summary: dict[str, Any]) -> dict[str, Any]:
        self.folder.summary.write_text(json.dumps(summary, indent=2, default=str) + "\n")
        self.folder.write_manifest(state=summary["state"])
        self.events.finished.emit(summary)
        return summary

    # --- signals ------------------------------------------------------------------
    @contextmanager
    def _signals_cancel(self) -> Iterator[None]:
        """SIGINT/SIGTERM cancel the run instead of killing the process mid-write."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum: int, _frame: Any) -> None:
            self.interrupted = signal.Signals(signum).name
            self.cancel()

        previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for s, h in previous.items():
                signal.signal(s, h)
