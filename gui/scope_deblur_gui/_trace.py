"""The defocus trace of a run, per stage position: what the plot draws (no Qt).

Points come from two threads: restored frames from the pipeline's worker
(:meth:`DefocusTrace.add_record`) and the focus lock's moves from the acquisition
thread (:meth:`DefocusTrace.add_steps`); the GUI thread reads a :meth:`snapshot`.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
from scope_deblur.focus import LockStep
from scope_deblur.live import FrameRecord

__all__ = ["DefocusTrace", "PositionTrace", "index_label", "position_key"]


def index_label(index: Mapping[str, int]) -> str:
    """Return an MDA index as the lock and the table write it (``"t=3 p=1"``)."""
    return " ".join(f"{k}={v}" for k, v in index.items())


def position_key(label: str) -> str:
    """Return the stage position of an index label, as the focus lock names it (``p1g0``)."""
    parts = dict(tok.split("=", 1) for tok in label.split() if "=" in tok)
    p, g = parts.get("p", "0"), parts.get("g")
    return f"p{p}" if g is None else f"p{p}g{g}"


@dataclass
class PositionTrace:
    """One position's series, as arrays (a snapshot: safe to draw from).

    ``mode`` is the record's: ``live``, ``catch-up`` or ``passthrough`` (not restored).
    """

    time_s: np.ndarray
    defocus_um: np.ndarray
    confidence: np.ndarray
    true_defocus_um: np.ndarray
    mode: list[str]
    lock_time_s: np.ndarray
    lock_offset_um: np.ndarray


@dataclass
class _Series:
    rows: dict[int, FrameRecord] = field(default_factory=dict)  # by frame: a record is updated
    lock: list[tuple[str, float]] = field(default_factory=list)  # (frame's label, correction)


class DefocusTrace:
    """The estimates of a run's frames and the lock's corrections, per position."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._series: dict[str, _Series] = {}
        self._times: dict[str, float] = {}
        self.version = 0
        """Goes up with every change (the view redraws when it moved)."""

    def clear(self) -> None:
        """Forget the previous run."""
        with self._lock:
            self._series.clear()
            self._times.clear()
            self.version += 1

    def note_time(self, label: str, time_s: float) -> None:
        """Remember when the data frame ``label`` was acquired (for the lock's moves)."""
        with self._lock:
            self._times[label] = time_s

    def add_record(self, rec: FrameRecord) -> None:
        """Add (or update) a frame's estimate, once restored or passed through."""
        with self._lock:
            self._series.setdefault(position_key(rec.index), _Series()).rows[rec.frame] = rec
            self.version += 1

    def add_records(self, records: Iterable[FrameRecord]) -> None:
        """Add the frames that have an estimate (after the run: truth fields filled)."""
        for rec in records:
            if rec.mode in ("live", "catch-up", "passthrough"):
                self.add_record(rec)

    def add_steps(self, steps: Iterable[LockStep]) -> None:
        """Add the focus lock's data frames: the correction after each."""
        with self._lock:
            for step in steps:  # timed when drawn: the lock may run ahead of frameReady
                if step.kind == "data":
                    entry = (step.index, step.offset_um)
                    self._series.setdefault(step.position, _Series()).lock.append(entry)
            self.version += 1

    def positions(self) -> list[str]:
        """Return the positions seen so far, in order of appearance."""
        with self._lock:
            return list(self._series)

    def snapshot(self) -> dict[str, PositionTrace]:
        """Return every position's series, sorted by time."""
        with self._lock:
            series = {
                p: (
                    sorted(s.rows.values(), key=_when),
                    [(self._times.get(label, math.nan), o) for label, o in s.lock],
                )
                for p, s in self._series.items()
            }
        out = {}
        for p, (recs, lock) in series.items():
            lock_t = np.array([t for t, _ in lock], float)
            out[p] = PositionTrace(
                time_s=np.array([_when(r) for r in recs], float),
                defocus_um=np.array([r.defocus_um for r in recs], float),
                confidence=np.array([r.confidence for r in recs], float),
                true_defocus_um=np.array([r.true_defocus_um for r in recs], float),
                mode=[r.mode for r in recs],
                lock_time_s=lock_t,
                lock_offset_um=np.array([o for _, o in lock], float),
            )
        return out


def _when(rec: FrameRecord) -> float:
    """Return the record's acquisition time (s), or its frame number without one."""
    return rec.time_s if math.isfinite(rec.time_s) else float(rec.frame)
