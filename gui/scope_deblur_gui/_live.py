"""Hand restored frames from the pipeline's worker thread to the GUI thread.

The worker never touches a widget: :class:`LatestFrame`, the pipeline's
``on_restored`` callback, keeps the latest result and its record under a lock, and
emits a payload-free Qt signal (queued across threads) only when the GUI has consumed
the previous one, so a slow GUI coalesces frames instead of building a backlog.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
from qtpy.QtCore import QObject, Signal
from scope_deblur.live import FrameRecord

__all__ = ["Bridge", "CatchupCancelled", "LatestFrame", "finish_run"]


class Bridge(QObject):
    """Signals from worker threads; Qt queues them onto the GUI thread."""

    restored = Signal()
    progress = Signal(int, int)


class LatestFrame:
    """The pipeline's ``on_restored`` callback: keeps the newest restored frame.

    Parameters
    ----------
    bridge : Bridge
        Its ``restored`` signal is emitted when a new result is waiting.
    """

    def __init__(self, bridge: Bridge) -> None:
        self.bridge = bridge
        self._lock = threading.Lock()
        self._latest: tuple[np.ndarray, FrameRecord] | None = None

    def __call__(self, record: FrameRecord, restored: np.ndarray) -> None:
        """Keep ``restored`` and its record (worker thread); never blocks."""
        with self._lock:
            notify = self._latest is None
            self._latest = (restored, record)
        if notify:
            self.bridge.restored.emit()

    def take(self) -> tuple[np.ndarray, FrameRecord] | None:
        """Return and clear the newest (restored frame, record) (GUI thread)."""
        with self._lock:
            latest, self._latest = self._latest, None
        return latest


class CatchupCancelled(Exception):
    """Raised inside the catch-up when the window closes mid-run (raw data is complete)."""


def finish_run(
    mda_thread: Any, pipeline: Any, raw_path: Any, bridge: Bridge, cancel: threading.Event
) -> Any:
    """Wait for the MDA thread (raw file closed), then catch up; returns the restored path.

    Setting ``cancel`` stops the catch-up after the current frame (CatchupCancelled).
    """
    if mda_thread is not None:
        mda_thread.join()

    def progress(i: int, n: int) -> None:
        if cancel.is_set():
            raise CatchupCancelled(f"catch-up stopped at frame {i} of {n}")
        bridge.progress.emit(i, n)

    return pipeline.finish(raw_path, progress)
