"""Hand restored frames from the pipeline's worker thread to the GUI thread.

The worker never touches a widget: :class:`LatestFrame`, connected to the session's
``frameRestored`` signal, keeps the latest result and its record under a lock, and
emits a payload-free Qt signal (queued across threads) only when the GUI has consumed
the previous one, so a slow GUI coalesces frames instead of building a backlog.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
from qtpy.QtCore import QObject, Signal
from scope_deblur.live import FrameRecord, LiveSession

__all__ = ["Bridge", "LatestFrame", "finish_session"]


class Bridge(QObject):
    """Signals from worker threads; Qt queues them onto the GUI thread."""

    restored = Signal()
    progress = Signal(int, int)


class LatestFrame:
    """A ``frameRestored`` slot that keeps the newest restored frame.

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


def finish_session(acquisition: threading.Thread | None, session: LiveSession) -> dict[str, Any]:
    """Wait for the acquisition thread (raw data closed), then catch up; return the summary.

    :meth:`LiveSession.cancel` stops the catch-up after the current frame and leaves
    the run resumable (``scope-deblur resume``).
    """
    if acquisition is not None:
        acquisition.join()
    return session.finish()
