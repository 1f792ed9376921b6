"""Live restoration of MDA frames: bounded queue, worker thread, catch-up."""

from ._pipeline import LivePipeline, OnRestored, Scorer
from ._writer import FrameRecord, RestoredWriter

__all__ = ["FrameRecord", "LivePipeline", "OnRestored", "RestoredWriter", "Scorer"]
