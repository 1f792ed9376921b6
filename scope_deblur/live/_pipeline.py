"""Live restoration hooked into pymmcore-plus's MDA.

    camera ─► runner saves raw (OME-Zarr/TIFF) ─► frameReady ─► bounded queue ─► worker
                                                      │ full: skip             │ estimate, restore
                                                      ▼                        ▼
                                            catch-up after the run ──► RestoredWriter + table

The frameReady handler only copies the frame and enqueues it (never blocks): when
the queue is full the frame is skipped, and :meth:`LivePipeline.finish` restores
every skipped frame from the saved raw data. A restorer that raises, or returns
NaN, infinities or the wrong shape, never stops acquisition and never reaches the
output as a result: the frame is stored unrestored and the error recorded.

A restorer that super-resolves (:class:`~scope_deblur.protocols.Upscaling`, M-Deblurgan)
gives frames with ``upscale`` times the pixels along each side: the restored output
has that shape and a pixel size divided by ``upscale``; a frame stored unrestored is
then each pixel repeated ``upscale``×``upscale`` times, its flux shared among them.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..protocols import (
    BatchEstimator,
    BatchRestorer,
    DefocusEstimate,
    DefocusEstimator,
    HashedWeights,
    PerChannel,
    Restorer,
    WarmsUp,
    upscale_of,
)
from ._events import LiveEvents
from ._raw import RawData, event_index, index_key
from ._restored import RestoredLayout, write_restored
from ._writer import FrameRecord, RestoredWriter

if TYPE_CHECKING:
    from pymmcore_plus import CMMCorePlus
    from useq import MDAEvent, MDASequence

__all__ = ["LivePipeline", "Scorer"]

log = logging.getLogger(__name__)

Scorer = Callable[[np.ndarray, np.ndarray, FrameRecord], None]
"""Fills a record's truth fields from (raw frame, restored frame); demo only."""

_STOP = object()
DONE = ("live", "catch-up")
"""Record modes of a restored frame (``passthrough``: stored unrestored, with an error)."""


class LivePipeline:
    """Estimate and restore MDA frames on a worker thread while acquisition runs.

    Parameters
    ----------
    estimator : DefocusEstimator
        Gives each frame's defocus.
    restorer : Restorer
        Restores each frame (gets the frame and its estimate).
    layout : RestoredLayout
        Where the restored output goes (the table beside it) and its dimensions.
    queue_size : int
        Frames that may wait for the worker before live frames are skipped.
    batch_size : int
        Queued frames restored together when the restorer is a ``BatchRestorer``.
    scorer : Scorer, optional
        Called per frame after the run, from the saved raw and restored frames, to fill
        the truth and quality fields (demo microscope).
    events : LiveEvents, optional
        Where to emit ``frameAcquired``, ``frameSkipped``, ``frameRestored`` and
        ``catchUpProgress`` (a new group if omitted).
    timeout_s : float
        A restoration that takes longer than this is given up: the restorer is left
        behind, the frames it held are recorded as timed out, and the run stops
        resumable instead of waiting forever.
    """

    def __init__(
        self,
        estimator: DefocusEstimator,
        restorer: Restorer,
        layout: RestoredLayout,
        *,
        queue_size: int = 4,
        batch_size: int = 1,
        scorer: Scorer | None = None,
        events: LiveEvents | None = None,
        timeout_s: float = 120.0,
    ) -> None:
        if queue_size < 1 or batch_size < 1:
            raise ValueError(
                f"queue_size and batch_size must be >= 1, got {queue_size}, {batch_size}"
            )
        self.estimator, self.restorer, self.scorer = estimator, restorer, scorer
        self.events = events or LiveEvents()
        self.layout = layout
        self.upscale = upscale_of(restorer)
        """Restored pixels per raw pixel along each side."""
        layout.upscale = self.upscale
        self.batch_size = batch_size
        self.records: list[FrameRecord] = []
        """One per acquired frame, in acquisition order; ``frame`` is its place in the
        sequence, which is also its plane in the restored file."""
        self.indices: dict[int, dict[str, int]] = {}
        self._by_frame: dict[int, FrameRecord] = {}
        self._places: dict[tuple[tuple[str, int], ...], int] = {}
        self._events: list[dict[str, int]] = []
        self.skipped: list[int] = []
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
        self._writer: RestoredWriter | None = None
        self._planned = 0
        self._resume = False
        self.timeout_s = timeout_s
        self._worker: threading.Thread | None = None
        self._busy: tuple[float, list[int]] | None = None  # (since, frames) while restoring
        self._hung = False
        self._stop_catch_up = threading.Event()
        self._caught_up = [0, 0]  # done, total

    @classmethod
    def resuming(
        cls,
        estimator: DefocusEstimator,
        restorer: Restorer,
        layout: RestoredLayout,
        acquired: Mapping[int, Mapping[str, int]],
        done: Mapping[int, FrameRecord],
        planned: int,
        **kwargs: Any,
    ) -> LivePipeline:
        """Return a pipeline that finishes a run which stopped early.

        ``acquired`` maps the place in the sequence of each frame on disk to its MDA
        index, of the ``planned`` frames; ``done`` holds the table's records of the
        frames already restored (they are kept as they are).
        """
        self = cls(estimator, restorer, layout, **kwargs)
        self._resume, self._planned = True, planned
        for k in sorted(acquired):
            rec = done.get(k)
            if rec is None or rec.mode not in DONE:
                rec = FrameRecord(frame=k, index=_fmt_index(acquired[k]))
                self.skipped.append(k)
            self._add(rec, dict(acquired[k]))
        return self

    def _add(self, rec: FrameRecord, index: dict[str, int]) -> None:
        self.records.append(rec)
        self._by_frame[rec.frame] = rec
        self.indices[rec.frame] = index  # shared with the sequence's: nothing new per frame

    @property
    def queue_depth(self) -> int:
        """Frames waiting for the worker now."""
        return self._queue.qsize()

    # --- MDA hooks (acquisition thread: cheap, never blocking) -----------------
    @contextmanager
    def connected(self, core: CMMCorePlus) -> Iterator[LivePipeline]:
        """Connect to ``core``'s MDA signals for the duration of the block.

        The restorer is warmed up first on a frame of the camera's size (a compiled
        network compiles then), so that the first live frames are not late.
        """
        restorer = self.restorer
        if isinstance(restorer, PerChannel):
            restorer = restorer.for_channel(None)
        if isinstance(restorer, WarmsUp):
            try:
                restorer.warm_up((core.getImageHeight(), core.getImageWidth()))
            except Exception:  # the worker records real failures per frame
                log.exception("warming up the restorer failed")
        ev = core.mda.events
        ev.sequenceStarted.connect(self._on_started)
        ev.frameReady.connect(self._on_frame)
        try:
            yield self
        finally:
            ev.frameReady.disconnect(self._on_frame)
            ev.sequenceStarted.disconnect(self._on_started)

    def _on_started(self, sequence: MDASequence, *_: Any) -> None:
        self._events = [event_index(e) for e in sequence]  # built once: a long run keeps
        self._places = {index_key(ix): i for i, ix in enumerate(self._events)}  # no copies
        self.layout.sequence = sequence
        self._planned = len(self._places)
        self._start_worker()

    def _start_worker(self) -> None:
        self._worker = threading.Thread(target=self._work, name="scope-deblur-worker", daemon=True)
        self._worker.start()

    def _on_frame(self, img: np.ndarray, event: MDAEvent, *meta: Any) -> None:
        index = event_index(event)
        k = self._places.get(index_key(index), -1)
        if k < 0:  # not in the sequence (an engine that adds events): a new place
            k = max(self._by_frame, default=-1) + 1
        else:
            index = self._events[k]
        rec = FrameRecord(frame=k, index=_fmt_index(index))
        if meta:
            _describe(rec, meta[0])
        self._add(rec, index)
        try:
            self._queue.put_nowait((k, img.copy(), time.perf_counter(), "live"))
        except queue.Full:
            self.skipped.append(k)
            self.events.frameSkipped.emit(k)
        n = len(self.records)
        self.events.frameAcquired.emit(n, max(self._planned, n))

    # --- worker -------------------------------------------------------------
    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            batch = [item]
            while len(batch) < self.batch_size:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP:
                    self._process(batch)
                    return
                batch.append(nxt)
            self._process(batch)
            if self._hung:  # given up on while it ran: leave quietly
                return

    def _restore(
        self, frames: list[np.ndarray], restorer: Restorer
    ) -> tuple[list[DefocusEstimate], list[np.ndarray]]:
        # Estimation is batched when restoration is: both see the same queued frames.
        if isinstance(self.estimator, BatchEstimator) and len(frames) > 1:
            estimates = list(self.estimator.estimate_batch(frames))
        else:
            estimates = [self.estimator.estimate(frame) for frame in frames]
        if isinstance(restorer, BatchRestorer) and len(frames) > 1:
            outputs = list(restorer.restore_batch(frames, estimates))
        else:
            outputs = [restorer.restore(f, e) for f, e in zip(frames, estimates, strict=True)]
        for frame, out in zip(frames, outputs, strict=True):
            _check_output(frame, out, self.upscale)
        return estimates, outputs

    def _process(self, batch: list[tuple[int, np.ndarray, float, str]]) -> None:
        """Restore a batch, each channel's frames with the channel's restorer."""
        if not isinstance(self.restorer, PerChannel):
            self._process_group(batch, self.restorer)
            return
        groups: dict[str | None, list[tuple[int, np.ndarray, float, str]]] = {}
        for item in batch:
            groups.setdefault(self._channel(item[0]), []).append(item)
        for channel, items in groups.items():
            self._process_group(items, self.restorer.for_channel(channel))

    def _channel(self, k: int) -> str | None:
        """Return the channel preset of frame ``k`` (None without a channel axis)."""
        sequence, c = self.layout.sequence, self.indices[k].get("c")
        if sequence is None or c is None or c >= len(sequence.channels):
            return None
        return sequence.channels[c].config

    def _process_group(
        self, batch: list[tuple[int, np.ndarray, float, str]], restorer: Restorer
    ) -> None:
        # Only the worker gets here, so the output file is created off the acquisition
        # thread, and the catch-up's frames go through the same restoration.
        if self._writer is None:
            n = max(self._planned, max(self._by_frame) + 1)
            h, w = batch[0][1].shape[-2:]
            shape = (self.upscale * h, self.upscale * w)
            self._writer = RestoredWriter(self.layout.path, n, shape, resume=self._resume)
        frames = [frame for _, frame, _, _ in batch]
        self._busy = (time.monotonic(), [k for k, *_ in batch])
        try:
            estimates, outputs = self._restore(frames, restorer)
            error = ""
        except Exception as e:  # the worker must survive anything a model does
            log.exception("restoration failed on frame(s) %s", [k for k, *_ in batch])
            outputs = [_unrestored(f, self.upscale) for f in frames]
            estimates = [DefocusEstimate(None, 0.0, 0.0)] * len(batch)
            error = f"{type(e).__name__}: {e}"
        self._busy = None
        if self._hung:
            return
        done = time.perf_counter()
        sha = restorer.sha256 if isinstance(restorer, HashedWeights) else ""
        for (k, _, t0, mode), est, out in zip(batch, estimates, outputs, strict=True):
            rec = self._by_frame[k]
            rec.mode = "passthrough" if error else mode
            rec.error = error
            rec.method = restorer.name
            rec.model_sha256 = sha
            rec.defocus_um = np.nan if est.defocus_um is None else float(est.defocus_um)
            rec.confidence = float(est.confidence)
            rec.latency_ms = 1e3 * (done - t0)
            try:
                self._writer.write(rec, out)
            except OSError as e:  # a full disk: the raw frame is safe; resume retries
                log.exception("writing restored frame %d failed", k)
                rec.mode, rec.error = "pending", f"{type(e).__name__}: {e}"
                continue
            try:
                self.events.frameRestored.emit(rec, out)
            except Exception:
                log.exception("a frameRestored listener failed on frame %d", k)
            if mode == "catch-up":
                self._caught_up[0] += 1
                self.events.catchUpProgress.emit(*self._caught_up)

    # --- end of run -----------------------------------------------------------
    def _wait(self, done: Callable[[], bool]) -> bool:
        """Wait until ``done()``; False if the restorer hangs past ``timeout_s`` first."""
        while not done():
            busy = self._busy
            if busy is not None and time.monotonic() - busy[0] > self.timeout_s:
                self._hung = True
                for k in busy[1]:
                    rec = self._by_frame[k]
                    rec.mode = "pending"
                    rec.error = f"restorer timed out after {self.timeout_s:g} s"
                log.error("the restorer hung on frame(s) %s; the run is left resumable", busy[1])
                return False
            time.sleep(0.02)
        return True

    def _feed(self, item: Any) -> bool:
        """Queue ``item`` for the worker, waiting for room; False if it hangs."""
        while True:
            try:
                self._queue.put(item, timeout=0.05)
                return True
            except queue.Full:
                if not self._wait(lambda: not self._queue.full()):
                    return False

    def stop(self) -> bool:
        """Stop the worker after the frames already queued; False if it hung."""
        worker, self._worker = self._worker, None
        if worker is None:
            return not self._hung
        return self._feed(_STOP) and self._wait(lambda: not worker.is_alive())

    def stop_catch_up(self) -> None:
        """Make a running :meth:`finish` stop after its current frame (any thread)."""
        self._stop_catch_up.set()

    def todo(self) -> list[int]:
        """Return the frames not restored yet (skipped live, or failed)."""
        return [r.frame for r in self.records if r.mode not in DONE]

    def finish(self, raw: RawData | None) -> Path | None:
        """Stop the worker, restore the remaining frames from ``raw``, close outputs.

        Returns the restored file; None if no frame was acquired, or if the catch-up
        was stopped (:meth:`stop_catch_up`) or the restorer hung: the run is then left
        resumable, its ``.partial`` file and table on disk.
        """
        if not self.stop():
            return None
        if not self.records:
            return None
        todo = self.todo()
        if todo and raw is None:
            raise ValueError("frames were skipped live, but there is no raw data to catch up from")
        if todo:
            assert raw is not None
            self._caught_up = [0, len(todo)]
            self._start_worker()
            for k in todo:
                if self._stop_catch_up.is_set():
                    break
                if not raw.has(self.indices[k]):
                    self._by_frame[k].mode = "lost"
                    self._by_frame[k].error = "raw frame not on disk"
                    self._caught_up[1] -= 1
                    continue
                if not self._feed((k, raw.read(self.indices[k]), time.perf_counter(), "catch-up")):
                    return None
            if not self.stop():
                return None
            if self._stop_catch_up.is_set() or any(r.mode == "pending" for r in self.records):
                self.suspend()  # cancelled, or a frame could not be written: resumable
                return None
        if self._writer is None:  # a resumed run whose frames were all restored already
            if raw is None:
                raise ValueError(f"no restored frame was written to {self.layout.path}")
            h, w = raw.read(next(iter(self.indices.values()))).shape[-2:]
            shape = (self.upscale * h, self.upscale * w)
            self._writer = RestoredWriter(
                self.layout.path, self._planned, shape, resume=self._resume
            )
        if self.scorer is not None and raw is not None:
            self._score(raw, self._writer)
        writer = self._writer
        total = sum(rec.mode != "lost" for rec in self._by_frame.values())
        written = 0

        def plane(k: int) -> np.ndarray:
            nonlocal written
            out = writer.read(k)
            written += 1
            self.events.outputProgress.emit(written, total)
            return out

        path = write_restored(self.layout, writer.shape[1:], self._by_frame, plane)
        writer.close(self.records)
        return path

    def suspend(self) -> None:
        """Stop without a catch-up, leaving the run resumable (``.partial`` and table)."""
        self.stop()
        if self._writer is not None:
            self._writer.suspend()

    def _score(self, raw: RawData, writer: RestoredWriter) -> None:
        """Score every frame after the run, so scoring never slows live restoration."""
        assert self.scorer is not None
        for rec in self.records:
            if rec.mode == "lost":
                continue
            try:
                self.scorer(raw.read(self.indices[rec.frame]), writer.read(rec.frame), rec)
            except Exception:
                log.exception("scoring failed on frame %d", rec.frame)


def _unrestored(frame: np.ndarray, upscale: int) -> np.ndarray:
    """Return ``frame`` as float32 on the restored grid: each pixel repeated, flux kept."""
    x = np.asarray(frame, dtype=np.float32)
    if upscale == 1:
        return x
    return np.repeat(np.repeat(x, upscale, axis=-2), upscale, axis=-1) / upscale**2


def _check_output(frame: np.ndarray, out: np.ndarray, upscale: int = 1) -> None:
    """Raise ValueError unless ``out`` is a finite restoration of ``frame`` (× ``upscale``)."""
    out = np.asarray(out)
    h, w = frame.shape[-2:]
    if out.shape != (upscale * h, upscale * w):
        raise ValueError(f"restorer returned shape {out.shape} for a {frame.shape} frame")
    if not np.isfinite(out).all():
        raise ValueError(f"restorer returned {int((~np.isfinite(out)).sum())} NaN/inf pixels")


def _describe(rec: FrameRecord, meta: Mapping[str, Any]) -> None:
    """Copy a frame's time and stage position from pymmcore-plus's frame metadata."""
    rec.time_s = float(meta.get("runner_time_ms", np.nan)) / 1e3
    position = meta.get("position") or {}
    rec.x_um, rec.y_um, rec.z_um = (float(position.get(a, np.nan)) for a in "xyz")


def _fmt_index(index: Mapping[str, int]) -> str:
    return " ".join(f"{k}={v}" for k, v in index.items())
