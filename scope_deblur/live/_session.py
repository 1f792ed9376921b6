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
import logging
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..protocols import DefocusEstimator, Restorer
from ._engine import SafeEngine
from ._events import LiveEvents
from ._focus import FocusLockEngine, write_steps
from ._folder import RunFolder
from ._pipeline import LivePipeline, Scorer
from ._raw import RawData, event_index
from ._restored import RestoredLayout
from ._summary import summarize

if TYPE_CHECKING:
    import numpy as np
    from pymmcore_plus import CMMCorePlus
    from useq import MDAEvent, MDASequence

    from ..focus import FocusLock

__all__ = ["LiveSession"]

log = logging.getLogger(__name__)

_RESERVE = 64 << 20
"""Bytes kept free on the run's disk (the summary, the table, the filesystem's own)."""


_DELIVERY_TIMEOUT_S = 60.0


def _wait_delivered(finished: threading.Event) -> None:
    """Wait until the MDA's last signal has reached its listeners.

    With a Qt application, pymmcore-plus queues MDA signals to the GUI thread: run
    from another thread (the GUI's acquisition thread), ``mda.run`` returns while
    frames may still wait in that queue. ``sequenceFinished`` is queued after them.
    """
    if not finished.wait(_DELIVERY_TIMEOUT_S):
        log.warning(
            "MDA signals not delivered after %g s; late frames may be missed", _DELIVERY_TIMEOUT_S
        )


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
    focus_lock : FocusLock, optional
        Keep each position in focus between frames (needs ``estimator``); its moves
        and probe frames go to ``focus.csv``.
    focus_truth : callable, optional
        A frame's true signed defocus, for ``focus.csv`` (demo microscope).
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
        focus_lock: FocusLock | None = None,
        focus_truth: Callable[[np.ndarray], float | None] | None = None,
        settings: Mapping[str, Any] | None = None,
    ) -> None:
        if restorer is not None and estimator is None:
            raise ValueError("restoring needs an estimator")
        if focus_lock is not None and estimator is None:
            raise ValueError("the focus lock needs an estimator")
        self.core, self.folder, self.device = core, folder, device
        self.estimator, self.focus_lock, self.focus_truth = estimator, focus_lock, focus_truth
        self.pixel_size_um = core.getPixelSizeUm() or None
        """The camera's pixel size in the sample, from the core's pixel-size config."""
        self.events = LiveEvents()
        self.settings = dict(settings or {})
        self.pipeline = (
            None
            if estimator is None or restorer is None
            else LivePipeline(
                estimator,
                restorer,
                RestoredLayout(
                    folder.restored, folder.fmt, folder.raw, pixel_size_um=self.pixel_size_um
                ),
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
        self.acquisition_error = ""
        """Why the MDA stopped early (an exception from the sink or engine), else empty."""
        self._planned = 0
        self._events: list[dict[str, int]] = []
        self._faults_before = 0
        self._frame_bytes = 0
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
        self._events = [event_index(e) for e in sequence]
        self._planned = len(self._events)
        self._frame_bytes = self._check_space()
        self.folder.write_manifest(
            state="acquiring",
            sequence=sequence.model_dump(mode="json", exclude_unset=True),
            restore=self.pipeline is not None,
            device=self.device,
            pixel_size_um=self.pixel_size_um,
            **self.settings,
        )
        if self.focus_lock is not None:
            assert self.estimator is not None
            engine: SafeEngine = FocusLockEngine(
                self.core, self.focus_lock, self.estimator, truth=self.focus_truth
            )
            self.core.register_mda_engine(engine)
        elif type(self.core.mda.engine) is not SafeEngine:
            self.core.register_mda_engine(SafeEngine(self.core))
        self._faults_before = len(self._engine.faults)
        ev = self.core.mda.events
        ev.frameReady.connect(self._on_frame)
        delivered = threading.Event()

        def on_finished(*_: Any) -> None:
            delivered.set()

        ev.sequenceFinished.connect(on_finished)
        try:
            if self.pipeline is None:
                self.core.mda.run(sequence, output=self.folder.raw_output)
                _wait_delivered(delivered)
            else:
                with self.pipeline.connected(self.core):
                    self.core.mda.run(sequence, output=self.folder.raw_output)
                    _wait_delivered(delivered)
        except Exception as e:  # e.g. a full disk under the raw data: keep what is saved
            log.exception("the acquisition stopped")
            self.acquisition_error = f"acquisition stopped: {type(e).__name__}: {e}"
        finally:
            ev.frameReady.disconnect(self._on_frame)
            ev.sequenceFinished.disconnect(on_finished)

    def _check_space(self) -> int:
        """Refuse a run the disk cannot hold; return the bytes one frame needs."""
        core = self.core
        raw = core.getImageWidth() * core.getImageHeight() * core.getBytesPerPixel()
        restored = 4 * raw // core.getBytesPerPixel()  # float32, upscale² times the pixels
        per_frame = raw + (restored * self.pipeline.upscale**2 if self.pipeline else 0)
        free = shutil.disk_usage(self.folder.path).free
        need = self._planned * per_frame + _RESERVE
        if need > free:
            raise ValueError(
                f"{self.folder.path} has {free / 1e9:.2f} GB free, but {self._planned} frames "
                f"need about {need / 1e9:.2f} GB (raw and restored); free space, "
                "choose another --out, or acquire fewer frames"
            )
        return per_frame

    def _on_frame(self, img: Any, event: MDAEvent, *_: Any) -> None:
        self.frame_times.append(time.perf_counter())
        self.indices.append(event_index(event))
        if self.pipeline is None:
            self.events.frameAcquired.emit(len(self.indices), self._planned)
        free = shutil.disk_usage(self.folder.path).free
        if free < _RESERVE + 4 * self._frame_bytes and not self.acquisition_error:
            # Frames that cannot be saved are not worth the light: stop, keep what is saved.
            self.acquisition_error = (
                f"acquisition stopped after {len(self.indices)} frames: the disk under "
                f"{self.folder.path} is full ({free / 1e6:.0f} MB free)"
            )
            log.error(self.acquisition_error)
            self.core.mda.cancel()

    @property
    def _engine(self) -> SafeEngine:
        engine = self.core.mda.engine
        assert isinstance(engine, SafeEngine)
        return engine

    def cancel(self) -> None:
        """Stop the acquisition, or the catch-up; the run stays resumable (any thread)."""
        self._cancelled.set()
        self.core.mda.cancel()
        if self.pipeline is not None:
            self.pipeline.stop_catch_up()

    def finish(self) -> dict[str, Any]:
        """Catch up (unless cancelled), write the outputs and return the summary."""
        raw = RawData(self.folder.raw, self._events) if self.indices else None
        restored, errors = None, [self.acquisition_error] if self.acquisition_error else []
        if self.pipeline is not None:
            try:
                if self._cancelled.is_set():
                    self.pipeline.suspend()
                else:
                    restored = self.pipeline.finish(raw)
            except OSError as e:  # a full disk under the restored file: resumable
                log.exception("finishing the restored file failed")
                errors.append(f"restored output not finished: {e}")
                self.pipeline.suspend()
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
        summary.update(self._focus_report(errors))
        faults = self._engine.faults[self._faults_before :]
        summary["frames_skipped_hardware"] = len(faults)
        summary["errors"] = [*errors, *summary["errors"], *faults]
        summary["acquisition_error"] = self.acquisition_error or None
        if self.interrupted:
            summary["signal"] = self.interrupted
        summary["outputs"] = self._outputs(restored)
        if raw is not None and raw.torn:
            summary["errors"] = [*summary["errors"], *raw.torn]
        return self._close(summary)

    def _focus_report(self, errors: list[str]) -> dict[str, Any]:
        """Return the focus lock's part of the summary (zeros and null without a lock)."""
        engine = self._engine
        if not isinstance(engine, FocusLockEngine):
            return {"focus_lock": False, "stage_moves": 0, "frames_probe": 0, "lock_stopped": None}
        try:
            write_steps(self.folder.focus_log, engine.lock.steps)
        except OSError as e:
            log.exception("writing the focus log failed")
            errors.append(f"cannot write {self.folder.focus_log}: {e}")
        return {
            "focus_lock": True,
            "stage_moves": engine.stage_moves,
            "frames_probe": engine.frames_probe,
            "lock_stopped": engine.lock.stopped or None,
        }

    def _outputs(self, restored: Path | None) -> dict[str, str | None]:
        raw = self.folder.raw
        if not raw.exists() and raw.with_name("raw").is_dir():  # one file per position
            raw = raw.with_name("raw")
        out: dict[str, str | None] = {"raw": str(raw)}
        if self.focus_lock is not None:
            out["focus_log"] = str(self.folder.focus_log)
        if self.pipeline is not None:
            out["restored"] = str(restored) if restored else None
            out["table"] = str(self.folder.table)
        out["summary"] = str(self.folder.summary)
        return out

    def _close(self, summary: dict[str, Any]) -> dict[str, Any]:
        try:
            self.folder.summary.write_text(json.dumps(summary, indent=2, default=str) + "\n")
            self.folder.write_manifest(state=summary["state"])
        except OSError as e:  # the summary is still returned (and printed by the CLI)
            log.exception("writing the summary failed")
            summary["errors"].append(f"cannot write {self.folder.summary}: {e}")
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
