"""The focus lock inside pymmcore-plus's MDA: an engine that moves Z between frames.

:class:`FocusLockEngine` is the session's :class:`SafeEngine` with
the lock added where pymmcore-plus keeps hardware autofocus: each event's Z gets its
position's correction (as the stock engine adds its per-position autofocus offset),
and after a data frame has gone to the sink the engine estimates it, asks the lock
(:class:`~scope_deblur.focus.FocusLock`), and moves the focus stage (snapping a probe
frame first if the lock needs the side). Probe frames never reach the sink: they are not data.

Only one frame per visit steers the lock: the first channel, at the z-plan's
reference plane (the one nearest the position's own z), since the other planes of a
z-stack are defocused on purpose.
"""

from __future__ import annotations

import csv
import logging
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import numpy as np
from pymmcore_plus.core import SequencedEvent
from useq import AcquireImage, MDAEvent, MDASequence

from ..focus import FocusLock, LockStep, Probe
from ..io import atomic_path
from ..protocols import DefocusEstimator
from ._engine import SafeEngine

__all__ = ["FocusLockEngine", "write_steps"]

log = logging.getLogger(__name__)


def _position(event: MDAEvent) -> str:
    """Return the lock's key of the event's stage position (a grid point has its own)."""
    p, g = event.index.get("p", 0), event.index.get("g")
    return f"p{p}" if g is None else f"p{p}g{g}"


def _label(event: MDAEvent) -> str:
    return " ".join(f"{k}={v}" for k, v in event.index.items())


def _reference_plane(sequence: MDASequence) -> int | None:
    """Return the z index whose frames steer the lock (None without a z plan)."""
    if sequence.z_plan is None:
        return None
    zs = np.asarray(list(sequence.z_plan), float)
    if zs.size == 0:
        return None
    centre = 0.0 if sequence.z_plan.is_relative else float(zs.mean())
    return int(np.argmin(np.abs(zs - centre)))


class FocusLockEngine(SafeEngine):
    """An MDA engine that keeps each position in focus with ``lock`` (see module).

    Parameters
    ----------
    mmcore : CMMCorePlus
        The microscope.
    lock : FocusLock
        Decides the moves; holds the per-frame log (:attr:`FocusLock.steps`).
    estimator : DefocusEstimator
        Estimates |defocus| of each steering frame.
    truth : callable, optional
        Returns a frame's true signed defocus (µm) or None: the demo microscope's.
    """

    def __init__(
        self,
        mmcore: Any,
        lock: FocusLock,
        estimator: DefocusEstimator,
        *,
        truth: Callable[[np.ndarray], float | None] | None = None,
    ) -> None:
        # The lock acts between frames: a hardware-sequenced burst could not be corrected.
        super().__init__(mmcore, use_hardware_sequencing=False)
        self.lock, self.estimator, self.truth = lock, estimator, truth
        self.stage_moves = 0
        self.frames_probe = 0
        self._z0: float | None = None
        self._reference: int | None = None
        self._stage_failed = False

    def setup_sequence(self, sequence: MDASequence) -> Any:
        """Note where the run starts in z and which plane steers the lock."""
        core = self.mmcore
        self._z0 = core.getZPosition() if core.getFocusDevice() else None
        if self._z0 is None:
            self.lock.stop("the microscope has no focus stage")
        self._reference = _reference_plane(sequence)
        return super().setup_sequence(sequence)

    def setup_event(self, event: MDAEvent) -> None:
        """Set up ``event`` at its z plus its position's correction.

        The engine moves z itself, so that a stage that raises stops the lock, not
        the frame. After the lock stops each position keeps its last correction;
        after the stage failed, events are set up as without the lock.
        """
        if (
            not isinstance(event, SequencedEvent)
            and self._z0 is not None
            and not self._stage_failed
        ):
            base = self._z0 if event.z_pos is None else event.z_pos
            self._go_to(base + self.lock.offset(_position(event)))
            event = event.model_copy(update={"z_pos": None})
        super().setup_event(event)

    def exec_event(self, event: MDAEvent) -> Iterable[Any]:
        """Execute ``event``; after a steering frame, correct the focus."""
        output = super().exec_event(event)
        if not self._steers(event):
            return output
        return self._then_correct(event, output)

    def _steers(self, event: MDAEvent) -> bool:
        if self._z0 is None or self.lock.stopped or isinstance(event, SequencedEvent):
            return False
        if not isinstance(event.action, AcquireImage) or event.index.get("c", 0) != 0:
            return False
        return self._reference is None or event.index.get("z") == self._reference

    def _then_correct(self, event: MDAEvent, output: Iterable[Any]) -> Iterator[Any]:
        frame = None
        for payload in output:
            if frame is None and isinstance(payload, tuple):
                frame = payload[0]
            yield payload  # the sink has the frame before the stage moves
        if frame is not None:
            self._correct(event, frame)

    def _correct(self, event: MDAEvent, frame: np.ndarray) -> None:
        position = _position(event)
        step = self._step("data", position, event, frame)
        decision = self.lock.observe(step, self.estimator.estimate(frame))
        if isinstance(decision, Probe):
            if not self._move(decision.move_um):
                return
            self.frames_probe += 1
            probe = self.mmcore.snap()
            pstep = self._step("probe", position, event, probe)
            move = self.lock.observe_probe(
                step, pstep, decision.move_um, self.estimator.estimate(probe)
            )
        else:
            move = decision
        if not self._move(move):
            self.lock.undo(position, move)

    def _step(self, kind: str, position: str, event: MDAEvent, frame: np.ndarray) -> LockStep:
        true = self.truth(frame) if self.truth is not None else None
        return LockStep(
            kind=kind,
            position=position,
            index=_label(event),
            stage_z_um=self.mmcore.getZPosition(),
            true_defocus_um=math.nan if true is None else float(true),
        )

    def _move(self, delta_um: float) -> bool:
        """Move the focus stage by ``delta_um``; False if the stage failed."""
        if not delta_um:
            return True
        moved = self._go_to(self.mmcore.getZPosition() + delta_um)
        self.stage_moves += moved
        return moved

    def _go_to(self, z_um: float) -> bool:
        """Move the focus stage to ``z_um``; a stage that raises stops the lock."""
        core = self.mmcore
        try:
            core.setZPosition(z_um)
            core.waitForDevice(core.getFocusDevice())
        except Exception as e:
            self._stage_failed = True
            self.lock.stop(f"the focus stage failed: {type(e).__name__}: {e}")
            return False
        return True


def write_steps(path: Path, steps: Sequence[LockStep]) -> None:
    """Write the lock's per-frame log as CSV (data and probe frames, moves, state)."""
    with atomic_path(path) as partial, open(partial, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=[fl.name for fl in fields(LockStep)])
        writer.writeheader()
        for step in steps:
            writer.writerow({k: _cell(v) for k, v in asdict(step).items()})


def _cell(value: Any) -> Any:
    return round(value, 3) if isinstance(value, float) and math.isfinite(value) else value
