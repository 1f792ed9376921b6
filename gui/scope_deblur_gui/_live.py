"""Hand restored frames from the pipeline's worker thread to the GUI thread.

The worker never touches a widget: :class:`RestorerTap` wraps the restorer, keeps
the latest result under a lock, and emits a payload-free Qt signal (queued across
threads) only when the GUI has consumed the previous one, so a slow GUI coalesces
frames instead of building a backlog.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
from qtpy.QtCore import QObject, Signal
from scope_deblur.protocols import DefocusEstimate, Restorer

__all__ = ["Bridge", "CatchupCancelled", "RestorerTap", "finish_run"]


class Bridge(QObject):
    """Signals from worker threads; Qt queues them onto the GUI thread."""

    restored = Signal()
    progress = Signal(int, int)


class RestorerTap:
    """A :class:`Restorer` that publishes each result to the GUI thread.

    Parameters
    ----------
    inner : Restorer
        The restorer that does the work.
    bridge : Bridge
        Its ``restored`` signal is emitted when a new result is waiting.
    """

    def __init__(self, inner: Restorer, bridge: Bridge) -> None:
        self.inner, self.bridge = inner, bridge
        self._lock = threading.Lock()
        self._latest: tuple[np.ndarray, DefocusEstimate] | None = None

    @property
    def name(self) -> str:
        """The wrapped restorer's name."""
        return self.inner.name

    @property
    def sha256(self) -> str:
        """The wrapped restorer's model hash (empty for classical methods)."""
        return str(getattr(self.inner, "sha256", ""))

    def restore(self, frame: np.ndarray, estimate: DefocusEstimate) -> np.ndarray:
        """Restore with the wrapped restorer, then publish the result."""
        out = self.inner.restore(frame, estimate)
        self._publish(out, estimate)
        return out

    def restore_batch(
        self, frames: Sequence[np.ndarray], estimates: Sequence[DefocusEstimate]
    ) -> list[np.ndarray]:
        """Restore queued frames together if the wrapped restorer can; publish the newest.

        A restorer with ``restore_batch`` runs them in one forward pass (on a GPU);
        any other restores them one by one.
        """
        batch = getattr(self.inner, "restore_batch", None)
        if batch is not None:
            outs = list(batch(frames, estimates))
        else:
            outs = [self.inner.restore(f, e) for f, e in zip(frames, estimates, strict=True)]
        if outs:
            self._publish(outs[-1], estimates[-1])
        return outs

    def _publish(self, out: np.ndarray, estimate: DefocusEstimate) -> None:
        with self._lock:
            notify = self._latest is None
            self._latest = (out, estimate)
        if notify:
            self.bridge.restored.emit()

    def take(self) -> tuple[np.ndarray, DefocusEstimate] | None:
        """Return and clear the newest result (GUI thread)."""
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
