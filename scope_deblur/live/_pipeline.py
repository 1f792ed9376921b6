"""Live restoration hooked into pymmcore-plus's MDA.

    camera ─► runner saves raw (OME-TIFF) ─► frameReady ─► bounded queue ─► worker
                                                   │ full: skip             │ estimate, restore
                                                   ▼                        ▼
                                         catch-up after the run ──► RestoredWriter + table

The frameReady handler only copies the frame and enqueues it (never blocks): when
the queue is full the frame is skipped, and :meth:`LivePipeline.finish` restores
every skipped frame from the saved raw file. A restorer that raises never stops
acquisition; the frame is stored unrestored and the error is recorded.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..protocols import DefocusEstimate, DefocusEstimator, Restorer
from ._writer import FrameRecord, RestoredWriter

if TYPE_CHECKING:
    from pymmcore_plus import CMMCorePlus
    from useq import MDAEvent, MDASequence

__all__ = ["LivePipeline", "OnRestored", "Scorer"]

log = logging.getLogger(__name__)

Scorer = Callable[[np.ndarray, np.ndarray, FrameRecord], None]
"""Fills a record's truth fields from (raw frame, restored frame); demo only."""

OnRestored = Callable[[FrameRecord, np.ndarray], None]
"""Told of each frame written (its record, then the restored frame), on the worker."""

_STOP = object()


class LivePipeline:
    """Estimate and restore MDA frames on a worker thread while acquisition runs.

    Parameters
    ----------
    estimator : DefocusEstimator
        Gives each frame's defocus.
    restorer : Restorer
        Restores each frame (gets the frame and its estimate).
    out : Path
        Restored frames go to ``out`` (a ``.tif`` path); the table beside it.
    queue_size : int
        Frames that may wait for the worker before live frames are skipped.
    batch_size : int
        Queued frames restored together when the restorer has ``restore_batch``.
    scorer : Scorer, optional
        Called per frame after the run, from the saved raw and restored frames, to fill
        the truth and quality fields (demo microscope).
    on_restored : OnRestored, optional
        Called with each frame's record and restored frame once it is written, live or
        in the catch-up, on the worker thread; it must not block. If it raises, the
        error is logged and the run goes on.
    """

    def __init__(
        self,
        estimator: DefocusEstimator,
        restorer: Restorer,
        out: Path,
        *,
        queue_size: int = 4,
        batch_size: int = 1,
        scorer: Scorer | None = None,
        on_restored: OnRestored | None = None,
    ) -> None:
        if queue_size < 1 or batch_size < 1:
            raise ValueError(
                f"queue_size and batch_size must be >= 1, got {queue_size}, {batch_size}"
            )
        self.estimator, self.restorer, self.scorer = estimator, restorer, scorer
        self.on_restored = on_restored
        self.out = Path(out)
        self.batch_size = batch_size
        self.records: list[FrameRecord] = []
        self.skipped: list[int] = []
        self.frame_times: list[float] = []
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
        self._writer: RestoredWriter | None = None
        self._planned = 0
        self._worker: threading.Thread | None = None
        self._indices: list[dict[str, int]] = []

    # --- MDA hooks (acquisition thread: cheap, never blocking) -----------------
    @contextmanager
    def connected(self, core: CMMCorePlus) -> Iterator[LivePipeline]:
        """Connect to ``core``'s MDA signals for the duration of the block.

        The restorer is warmed up first on a frame of the camera's size (a compiled
        network compiles then), so that the first live frames are not late.
        """
        warm_up = getattr(self.restorer, "warm_up", None)
        if warm_up is not None:
            try:
                warm_up((core.getImageHeight(), core.getImageWidth()))
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
        self._planned = sum(1 for _ in sequence)
        self._worker = threading.Thread(target=self._work, name="scope-deblur-worker", daemon=True)
        self._worker.start()

    def _on_frame(self, img: np.ndarray, event: MDAEvent, *_: Any) -> None:
        self.frame_times.append(time.perf_counter())
        k = len(self.records)
        index = {str(getattr(a, "value", a)): int(v) for a, v in event.index.items()}
        self._indices.append(index)
        self.records.append(FrameRecord(frame=k, index=_fmt_index(index)))
        try:
            self._queue.put_nowait((k, img.copy(), time.perf_counter()))
        except queue.Full:
            self.skipped.append(k)

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
                    self._process(batch, "live")
                    return
                batch.append(nxt)
            self._process(batch, "live")

    def _process(self, batch: list[tuple[int, np.ndarray, float]], mode: str) -> None:
        # Only the worker (and, after it has stopped, the catch-up) gets here, so the
        # output file is created off the acquisition thread.
        if self._writer is None:
            n = max(self._planned, len(self.records))
            self._writer = RestoredWriter(self.out, n, batch[0][1].shape[-2:])
        try:
            estimates = [self.estimator.estimate(frame) for _, frame, _ in batch]
            frames = [frame for _, frame, _ in batch]
            restore_batch = getattr(self.restorer, "restore_batch", None)
            if restore_batch is not None and len(batch) > 1:
                outputs = list(restore_batch(frames, estimates))
            else:
                outputs = [
                    self.restorer.restore(f, e) for f, e in zip(frames, estimates, strict=True)
                ]
            error = ""
        except Exception as e:  # the worker must survive anything a model does
            log.exception("restoration failed on frame(s) %s", [k for k, _, _ in batch])
            outputs = [np.asarray(f, dtype=np.float32) for _, f, _ in batch]
            estimates = [DefocusEstimate(None, 0.0, 0.0)] * len(batch)
            error = f"{type(e).__name__}: {e}"
        done = time.perf_counter()
        for (k, _, t0), est, out in zip(batch, estimates, outputs, strict=True):
            rec = self.records[k]
            rec.mode = "passthrough" if error else mode
            rec.error = error
            rec.method = self.restorer.name
            rec.model_sha256 = getattr(self.restorer, "sha256", "")
            rec.defocus_um = np.nan if est.defocus_um is None else float(est.defocus_um)
            rec.confidence = float(est.confidence)
            rec.latency_ms = 1e3 * (done - t0)
            self._writer.write(rec, out)
            if self.on_restored is not None:
                try:
                    self.on_restored(rec, out)
                except Exception:
                    log.exception("on_restored failed on frame %d", k)

    # --- end of run -----------------------------------------------------------
    def finish(
        self, raw_path: Path | None, progress: Callable[[int, int], None] | None = None
    ) -> Path | None:
        """Stop the worker, restore skipped frames from ``raw_path``, close outputs.

        Returns the restored file, or None if no frame was acquired.
        """
        if self._worker is not None:
            self._queue.put(_STOP)
            self._worker.join()
        if not self.records:
            return None
        todo = sorted(
            set(self.skipped) | {r.frame for r in self.records if r.mode == "passthrough"}
        )
        if todo:
            if raw_path is None:
                raise ValueError(
                    "frames were skipped live, but there is no raw file to catch up from"
                )
            from .._rawfile import read_frames

            for i, (k, frame) in enumerate(
                read_frames(raw_path, [self._indices[k] for k in todo], todo)
            ):
                self._process([(k, frame, time.perf_counter())], "catch-up")
                if progress is not None:
                    progress(i + 1, len(todo))
        if self._writer is None:  # only if the worker died before its first frame
            raise RuntimeError(f"no restored frame was written to {self.out}")
        if self.scorer is not None and raw_path is not None:
            self._score(raw_path, self._writer)
        return self._writer.close(self.records)

    def _score(self, raw_path: Path, writer: RestoredWriter) -> None:
        """Score every frame after the run, so scoring never slows live restoration."""
        from .._rawfile import read_frames

        assert self.scorer is not None
        keys = [r.frame for r in self.records]
        for k, raw in read_frames(raw_path, self._indices, keys):
            try:
                self.scorer(raw, writer.read(k), self.records[k])
            except Exception:
                log.exception("scoring failed on frame %d", k)


def _fmt_index(index: dict[str, int]) -> str:
    return " ".join(f"{k}={v}" for k, v in index.items())
