"""The focus lock's controller: from |defocus| estimates to signed stage moves.

DelpNet reads how far a frame is from focus, not on which side. The lock therefore
tracks, per stage position, where the focal plane is, in the lock's own coordinate
(its correction, µm; defocus = correction − focal plane):

- **tracking**: the focal plane is predicted at each visit from the last one found
  and the drift per visit, fitted to the planes found so far. A frame that reads
  clearly out of focus, on the side the prediction expects, places the plane there.
- **probing**: when there is no track yet, or a reading contradicts the prediction
  (a jump), or the prediction sits at focus so that the reading has no side, and the
  frame is out of focus beyond ``probe_above_um``, the lock asks for a probe: a known
  move and a second estimate. The side where |defocus| grew is the side the stage is.
- **moving**: before each visit's next frame the stage goes to the predicted plane
  (``gain`` of the way when a frame has just placed it). Readings inside the deadband
  do not place the plane: near focus the estimate reads a floor (about 1.4 µm for
  DelpNet on the demo), not a distance.

Each move is at most ``max_step_um``. A frame without a confident estimate
(background, low confidence) holds the stage. The lock stops, never the acquisition,
when a move would take the stage more than ``max_excursion_um`` from where the run
put it, or when the stage raises.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Hashable
from dataclasses import dataclass, field

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ..protocols import DefocusEstimate

__all__ = ["FocusLock", "LockConfig", "LockStep", "Probe"]

log = logging.getLogger(__name__)


class LockConfig(BaseModel):
    """The focus lock's parameters (µm; per visit of one position)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    gain: float = Field(0.8, gt=0, le=1, description="fraction of a found error corrected")
    deadband_um: float = Field(1.6, ge=0, le=20, description="readings below: in focus")
    probe_um: float = Field(4.0, gt=0, le=20, description="smallest probe move")
    probe_above_um: float = Field(2.0, ge=0, le=40, description="probe only beyond this")
    max_step_um: float = Field(15.0, gt=0, le=100, description="largest move per frame")
    max_excursion_um: float = Field(50.0, gt=0, le=1000, description="from the run's z")
    min_confidence: float = Field(0.3, ge=0, le=1, description="hold below this")
    surprise_um: float = Field(3.0, gt=0, le=40, description="a disagreement this large is a jump")
    history: int = Field(8, ge=2, le=100, description="planes the drift is fitted to")
    memory_visits: float = Field(10.0, gt=0, le=1000, description="the drift fit's memory")


@dataclass
class LockStep:
    """One frame the lock saw: a row of ``focus.csv``."""

    kind: str  # "data" or "probe"
    position: str
    index: str  # the data frame's MDA index ("t=3 p=0"; a probe: the frame it follows)
    stage_z_um: float
    defocus_um: float = math.nan  # |defocus| estimated
    confidence: float = math.nan
    signed_um: float = math.nan  # the signed defocus the lock found (NaN: none)
    move_um: float = 0.0  # the stage move made after this frame
    offset_um: float = 0.0  # the position's total correction after it
    state: str = ""  # locked, correcting, probing, held, stopped
    true_defocus_um: float = math.nan  # signed, on the demo microscope


@dataclass
class Probe:
    """A request to move the stage by ``move_um``, snap, and report the estimate."""

    move_um: float


@dataclass
class _Track:
    """What the lock knows about one position (in its correction's coordinate)."""

    offset_um: float = 0.0
    visit: int = 0
    planes: list[tuple[int, float]] = field(default_factory=list)  # (visit, focal plane)
    drift_um: float = 0.0  # per visit

    def predicted(self, visit: int) -> float | None:
        """Return where the focal plane should be at ``visit`` (None before any)."""
        if not self.planes:
            return None
        last_visit, last = self.planes[-1]
        return last + self.drift_um * (visit - last_visit)


class FocusLock:
    """Decide the focus moves of a run, position by position (no hardware here).

    The engine (:class:`~scope_deblur.live.FocusLockEngine`) calls :meth:`observe`
    with each steering frame's estimate and gets the move to make, or a
    :class:`Probe`; after a probe it calls :meth:`observe_probe` and gets the move.
    """

    def __init__(self, config: LockConfig | None = None) -> None:
        self.config = config or LockConfig()
        self.tracks: dict[Hashable, _Track] = {}
        self.steps: list[LockStep] = []
        self.stopped = ""
        """Why the lock stopped (one line), or empty while it runs."""

    def offset(self, position: Hashable) -> float:
        """Return the correction (µm) that the lock adds to ``position``'s z."""
        track = self.tracks.get(position)
        return track.offset_um if track else 0.0

    def undo(self, position: Hashable, move_um: float) -> None:
        """Take back a move the stage did not make."""
        track = self.tracks[position]
        track.offset_um -= move_um
        last = self.steps[-1]
        last.move_um, last.offset_um = last.move_um - move_um, track.offset_um

    def stop(self, reason: str) -> None:
        """Stop correcting (the acquisition goes on); ``reason`` goes to the log."""
        if not self.stopped:
            self.stopped = reason
            log.warning("focus lock stopped: %s", reason)

    # --- steering frames --------------------------------------------------------------
    def observe(self, step: LockStep, estimate: DefocusEstimate) -> float | Probe:
        """Record a steering frame's estimate; return the stage move (µm) or a probe."""
        c = self.config
        track = self.tracks.setdefault(step.position, _Track())
        track.visit += 1
        a = self._record(step, estimate)
        if self.stopped:
            step.state = "stopped"
            return 0.0
        if a is None:
            step.state = "held"
            return self._go(step, track, track.predicted(track.visit + 1))
        if a <= c.deadband_um:
            step.state = "locked"
            return self._go(step, track, track.predicted(track.visit + 1))
        signed = self._side(a, track)
        if signed is not None:
            return self._place(step, track, track.offset_um - signed)
        if a > c.probe_above_um:
            probe = min(max(c.probe_um, 0.3 * a), c.max_step_um)
            if abs(track.offset_um + probe) <= c.max_excursion_um:
                step.state, step.offset_um = "probing", track.offset_um
                return Probe(probe)
        step.state = "held"  # slightly out, side unknown: keep to the prediction
        return self._go(step, track, track.predicted(track.visit + 1))

    def observe_probe(
        self, data: LockStep, probe: LockStep, probe_move_um: float, estimate: DefocusEstimate
    ) -> float:
        """Find the side from a probe frame taken ``probe_move_um`` from ``data``.

        Returns the stage move to make from where the probe left the stage.
        """
        track = self.tracks[data.position]
        a1 = self._record(probe, estimate)
        track.offset_um += probe_move_um
        if self.stopped or a1 is None:  # no answer: back to where the data frame was
            probe.state = "stopped" if self.stopped else "held"
            return self._go(probe, track, track.offset_um - probe_move_um, gain=1.0)
        a0 = data.defocus_um
        # The side s that explains both readings: |s·a0 + move| ≈ a1.
        s = 1.0 if abs(abs(a0 + probe_move_um) - a1) <= abs(abs(a0 - probe_move_um) - a1) else -1.0
        at_probe = s * a0 + probe_move_um
        # Place the plane by the reading farther from focus (near focus they read a floor).
        if a1 > a0:
            plane = track.offset_um - math.copysign(a1, at_probe)
        else:
            plane = track.offset_um - probe_move_um - s * a0
        data.signed_um = s * a0
        return self._place(probe, track, plane)

    # --- internals -------------------------------------------------------------------
    def _record(self, step: LockStep, estimate: DefocusEstimate) -> float | None:
        """Log the frame; return its |defocus|, or None if it cannot be trusted."""
        step.defocus_um = math.nan if estimate.defocus_um is None else float(estimate.defocus_um)
        step.confidence = float(estimate.confidence)
        self.steps.append(step)
        if estimate.defocus_um is None or estimate.confidence < self.config.min_confidence:
            return None
        return float(estimate.defocus_um)

    def _side(self, a: float, track: _Track) -> float | None:
        """Return the signed defocus ``±a`` as the track expects it, or None if it cannot say."""
        c = self.config
        plane = track.predicted(track.visit)
        if plane is None:
            return None
        expected = track.offset_um - plane
        if abs(abs(expected) - a) > c.surprise_um + 0.2 * a:
            return None  # a jump, or a drift the track does not know
        if abs(expected) < min(c.surprise_um, a) / 2:
            return None  # the track says focus: the reading has no side
        return math.copysign(a, expected)

    def _place(self, step: LockStep, track: _Track, plane: float) -> float:
        """Put the focal plane at ``plane`` (a frame found it there), refit the drift, move."""
        c = self.config
        step.signed_um = track.offset_um - plane
        expected = track.predicted(track.visit)
        if expected is not None and abs(plane - expected) > c.surprise_um:
            track.planes = []  # a jump: the drift holds, the planes before it do not
        track.planes = [*track.planes, (track.visit, plane)][-c.history :]
        if len(track.planes) >= 2:
            visits, where = np.array(track.planes, dtype=float).T
            if np.ptp(visits) > 0:  # recent planes count more: a drift can turn
                weights = np.exp((visits - visits[-1]) / c.memory_visits)
                track.drift_um = float(np.polyfit(visits, where, 1, w=np.sqrt(weights))[0])
        step.state = "correcting"
        return self._go(step, track, plane + track.drift_um, gain=c.gain)

    def _go(self, step: LockStep, track: _Track, target: float | None, gain: float = 1.0) -> float:
        """Move toward ``target`` (the correction wanted; None: stay); book the move."""
        c = self.config
        move = 0.0 if target is None else gain * (target - track.offset_um)
        move = max(-c.max_step_um, min(move, c.max_step_um))
        if abs(track.offset_um + move) > c.max_excursion_um:
            self.stop(
                f"a move of {move:+.1f} µm at position {step.position} would take the stage "
                f"{track.offset_um + move:+.1f} µm from the run's z, beyond the "
                f"±{c.max_excursion_um:g} µm allowed"
            )
            step.state, move = "stopped", 0.0
        track.offset_um += move
        step.move_um, step.offset_um = move, track.offset_um
        return move
