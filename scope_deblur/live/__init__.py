"""Live restoration of MDA frames: bounded queue, worker thread, catch-up."""

from ._pipeline import LivePipeline, Scorer
from ._writer import FrameRecord, RestoredWriter

__all__ = ["FrameRecord", "LivePipeline", "RestoredWriter", "Scorer"]
