"""What the controller and its view share: settings, states, frames and the View protocol.

No Qt: the window implements :class:`View`; tests use ``MagicMock(spec=View)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NamedTuple, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scope_deblur.live import FrameRecord

__all__ = ["Frames", "LockStatus", "RunSettings", "RunState", "View"]

RunState = Literal["idle", "loading", "acquiring", "paused", "catching-up"]


class RunSettings(BaseModel):
    """What the window's restoration and focus-lock controls set for the next run."""

    model_config = ConfigDict(validate_assignment=True, extra="forbid")

    method: str = "fusion"
    device: str = "auto"  # auto, cpu, cuda or cuda:N (resolve_device checks it)
    compile: bool = False
    profile: Path | None = None
    out_dir: Path = Path("scope-deblur-runs")
    format: Literal["ome-zarr", "ome-tiff"] = "ome-zarr"
    queue_size: int = Field(4, ge=1, le=1024)
    focus_lock: bool = False
    lock_max_step_um: float = Field(15.0, gt=0, le=100)
    lock_max_excursion_um: float = Field(50.0, gt=0, le=1000)


@dataclass(frozen=True)
class LockStatus:
    """The focus lock's state for the view: off, armed, or its last frame's state."""

    state: str  # off | armed | locked | correcting | probing | held | stopped
    reason: str = ""
    position: str = ""
    offset_um: float = math.nan

    def text(self) -> str:
        """Return one line for a label."""
        if self.state in ("off", "armed"):
            return {"off": "off", "armed": "on: starts with the run"}[self.state]
        where = f" at {self.position}" if self.position else ""
        offset = "" if math.isnan(self.offset_um) else f", correction {self.offset_um:+.1f} µm"
        why = f": {self.reason}" if self.reason else ""
        return f"{self.state}{where}{offset}{why}"


class Frames(NamedTuple):
    """The newest frames for the viewers (None: nothing new)."""

    raw: np.ndarray | None
    raw_caption: str
    restored: np.ndarray | None
    record: FrameRecord | None
    defocus_map: np.ndarray | None


class View(Protocol):
    """What the controller tells the window.

    Called from any thread; results are ignored (a Qt view returns the future of
    the call it moved to its own thread).
    """

    def set_state(self, state: RunState, message: str) -> object:
        """Show the run's state (enable and disable the controls)."""

    def frames_ready(self) -> object:
        """Take the new frames from :meth:`RunController.take_frames` (told once until taken)."""

    def trace_changed(self) -> object:
        """Redraw the defocus trace (:attr:`RunController.trace` has new points)."""

    def set_progress(self, done: int, total: int, label: str) -> object:
        """Show progress: frames acquired, or caught up."""

    def set_lock_status(self, status: LockStatus) -> object:
        """Show the focus lock's state."""

    def show_error(self, message: str) -> object:
        """Tell the user what went wrong, and why."""

    def show_summary(self, summary: dict[str, Any]) -> object:
        """Show the run's summary (the run folder is ``summary["outputs"]``)."""
