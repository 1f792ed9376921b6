"""pymmcore-plus's MDA engine, made to keep the raw data in step when hardware fails.

pymmcore-plus 0.18.1 writes frames to its sink in the order they arrive. When the
camera fails to snap, its engine logs a warning and yields nothing, so every later
frame lands one place early in the raw data, under another frame's index; when a
stage raises while an event is set up, the exception ends the whole acquisition.
:class:`SafeEngine` turns both into a skipped frame (the runner's own ``SkipEvent``
and skip count), so the sink leaves that frame unwritten, later frames stay where
they belong, and the fault is recorded in :attr:`SafeEngine.faults`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import Any

from pymmcore_plus.core import SequencedEvent
from pymmcore_plus.mda import MDAEngine, SkipEvent
from useq import AcquireImage, MDAEvent

__all__ = ["SafeEngine"]

log = logging.getLogger(__name__)


def _where(event: MDAEvent) -> str:
    return " ".join(f"{getattr(k, 'value', k)}={v}" for k, v in event.index.items())


class SafeEngine(MDAEngine):
    """An :class:`~pymmcore_plus.mda.MDAEngine` that skips, not shifts, failed frames."""

    def __init__(self, mmcore: Any, **kwargs: Any) -> None:
        super().__init__(mmcore, **kwargs)
        self.faults: list[str] = []
        """One line per event whose hardware failed (its frame was skipped)."""

    def setup_event(self, event: MDAEvent) -> None:
        """Set up ``event``; if the hardware raises, skip its frames instead of stopping."""
        try:
            super().setup_event(event)
        except SkipEvent:
            raise
        except Exception as e:
            n = len(event.events) if isinstance(event, SequencedEvent) else 1
            self._fault(event, f"{type(e).__name__}: {e}")
            raise SkipEvent(n, f"hardware failed: {e}") from e

    def exec_event(self, event: MDAEvent) -> Iterable[Any]:
        """Execute ``event``; a single image that never came is reported as skipped."""
        output = super().exec_event(event)
        if isinstance(event, SequencedEvent) or not isinstance(event.action, AcquireImage):
            return output or ()
        return self._aligned(event, output)

    def _aligned(self, event: MDAEvent, output: Iterable[Any] | None) -> Iterator[Any]:
        n = 0
        for payload in output or ():
            n += 1
            yield payload
        if n == 0:
            self._fault(event, "the camera returned no image")
            yield self.mmcore.getNumberOfCameraChannels()  # the runner skips that many

    def _fault(self, event: MDAEvent, what: str) -> None:
        line = f"{_where(event)}: {what}; frame skipped"
        log.warning(line)
        self.faults.append(line)
