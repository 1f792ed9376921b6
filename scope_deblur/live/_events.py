"""The signals of a live run, as pymmcore-plus's ``core.mda.events`` are for the MDA."""

from __future__ import annotations

from psygnal import Signal, SignalGroup

__all__ = ["LiveEvents"]


class LiveEvents(SignalGroup):
    """What a live session tells its listeners (CLI progress bars, the GUI).

    ``frameRestored``, ``catchUpProgress`` and ``outputProgress`` are emitted on the
    restoration worker thread, ``frameAcquired`` and ``frameSkipped`` on the acquisition
    thread: connect slots that return at once (a GUI hands the data to its own thread).
    """

    frameAcquired = Signal(int, int)
    """(frames acquired so far, frames planned)."""
    frameSkipped = Signal(int)
    """A frame (acquisition index) left to the catch-up: the worker was busy."""
    frameRestored = Signal(object, object)
    """(FrameRecord, restored frame) once written, live or in the catch-up."""
    catchUpProgress = Signal(int, int)
    """(frames caught up, frames to catch up)."""
    outputProgress = Signal(int, int)
    """(planes written to the restored output, planes in it), once every frame is restored."""
    finished = Signal(object)
    """The run's summary dict."""
