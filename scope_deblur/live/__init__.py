"""Live restoration of MDA frames: one session API, bounded queue, catch-up, resume."""

from ._core import MicroscopeCore, load_config, open_core
from ._engine import SafeEngine
from ._events import LiveEvents
from ._focus import FocusLockEngine
from ._folder import RunFolder, check_writable
from ._pipeline import LivePipeline, Scorer
from ._raw import RAW_NAMES, RawData, event_index, raw_path
from ._restored import ANNOTATION_NS
from ._resume import resume_run
from ._session import LiveSession
from ._summary import summarize
from ._writer import FrameRecord, RestoredWriter, read_table

__all__ = [
    "ANNOTATION_NS",
    "RAW_NAMES",
    "FocusLockEngine",
    "FrameRecord",
    "LiveEvents",
    "LivePipeline",
    "LiveSession",
    "MicroscopeCore",
    "RawData",
    "RestoredWriter",
    "RunFolder",
    "SafeEngine",
    "Scorer",
    "check_writable",
    "event_index",
    "load_config",
    "open_core",
    "raw_path",
    "read_table",
    "resume_run",
    "summarize",
]
