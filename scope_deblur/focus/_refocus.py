"""One-shot autofocus: bring the field under the objective into focus in a few frames.

:func:`refocus` runs the focus lock on one field until it reads in focus: a frame
says how far, a probe says which side, a move goes there, a last frame checks.
:func:`search_focus` is the classical baseline, as Micro-Manager's OughtaFocus does
it: a bounded Brent search of a focus metric (normalised variance) over a z range,
one frame per metric evaluation.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..protocols import DefocusEstimator
from ._lock import FocusLock, LockConfig, LockStep, Probe

__all__ = ["RefocusResult", "normalised_variance", "refocus", "search_focus"]

ONE_SHOT = LockConfig(gain=1.0, probe_above_um=LockConfig().deadband_um, max_step_um=50.0)
"""The lock's settings for a one-shot refocus: the whole way at once, and a probe
whenever the side is unknown (a frame that reads in focus ends it)."""


@dataclass
class RefocusResult:
    """How one method brought the field into focus."""

    method: str
    frames: int
    seconds: float
    start_z_um: float
    final_z_um: float
    converged: bool
    final_defocus_um: float | None = None  # the truth after the move (demo microscope)
    z_visited_um: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Return the result as a JSON-ready dict (µm and seconds to 3 decimals)."""
        out = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in vars(self).items()}
        out["z_visited_um"] = [round(float(z), 3) for z in self.z_visited_um]
        return out


def normalised_variance(frame: np.ndarray) -> float:
    """Return the normalised variance of ``frame`` (a focus metric: highest in focus)."""
    x = np.asarray(frame, dtype=np.float64)
    mean = float(x.mean())
    return float(x.var() / mean) if mean > 0 else 0.0


def refocus(
    core: Any,
    estimator: DefocusEstimator,
    *,
    max_frames: int = 8,
    config: LockConfig = ONE_SHOT,
) -> RefocusResult:
    """Bring the current field into focus with ``estimator``; return what it took.

    Stops when a frame reads inside the deadband (in focus), or after ``max_frames``.
    """
    lock = FocusLock(config)
    t0, z0 = time.perf_counter(), core.getZPosition()
    visited, frames = [], 0
    converged = False
    while frames < max_frames and not lock.stopped:
        frame, frames = core.snap(), frames + 1
        visited.append(core.getZPosition())
        step = LockStep("data", "field", f"frame={frames}", visited[-1])
        decision = lock.observe(step, estimator.estimate(frame))
        if step.state == "locked":
            converged = True
            break
        if isinstance(decision, Probe):
            _move(core, decision.move_um)
            probe, frames = core.snap(), frames + 1
            visited.append(core.getZPosition())
            pstep = LockStep("probe", "field", f"frame={frames}", visited[-1])
            decision = lock.observe_probe(step, pstep, decision.move_um, estimator.estimate(probe))
        _move(core, decision)
    return RefocusResult(
        method="delpnet",
        frames=frames,
        seconds=time.perf_counter() - t0,
        start_z_um=z0,
        final_z_um=core.getZPosition(),
        converged=converged,
        z_visited_um=visited,
    )


def search_focus(
    core: Any,
    *,
    range_um: float = 80.0,
    tolerance_um: float = 0.5,
    metric: Callable[[np.ndarray], float] = normalised_variance,
) -> RefocusResult:
    """Find focus by a bounded Brent search of ``metric`` over ``range_um`` around z.

    Each evaluation moves the stage and snaps one frame; the stage ends at the best z.
    """
    from scipy.optimize import minimize_scalar

    t0, z0 = time.perf_counter(), core.getZPosition()
    visited: list[float] = []

    def cost(z: float) -> float:
        core.setZPosition(z)
        core.waitForDevice(core.getFocusDevice())
        visited.append(z)
        return -metric(core.snap())

    best = minimize_scalar(
        cost,
        bounds=(z0 - range_um / 2, z0 + range_um / 2),
        method="bounded",
        options={"xatol": tolerance_um},
    )
    core.setZPosition(float(best.x))
    core.waitForDevice(core.getFocusDevice())
    return RefocusResult(
        method="search",
        frames=len(visited),
        seconds=time.perf_counter() - t0,
        start_z_um=z0,
        final_z_um=float(best.x),
        converged=bool(best.success),
        z_visited_um=visited,
    )


def _move(core: Any, delta_um: float) -> None:
    if delta_um and math.isfinite(delta_um):
        core.setZPosition(core.getZPosition() + delta_um)
        core.waitForDevice(core.getFocusDevice())
