"""Acquire a bead z-stack through pymmcore-plus: on real hardware, or on the demo microscope."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from scope_deblur.optics import OpticsProfile

__all__ = ["acquire_stack", "demo_bead_core"]


def acquire_stack(core: Any, *, range_um: float, step_um: float) -> np.ndarray:
    """Run a z-stack around the current focus with the MDA runner; return ``(Z, Y, X)``.

    The stack spans ``range_um`` (centred on the current z) in ``step_um`` steps
    (useq's ``ZRangeAround``), and the focus returns to where it was afterwards.
    """
    from useq import MDASequence, ZRangeAround

    if not (range_um > 0 and step_um > 0):
        raise ValueError(f"the z range and step must be positive, got {range_um}, {step_um} µm")
    if range_um / step_um < 4:
        raise ValueError("a calibration stack needs at least 5 planes: widen --range-um")
    seq = MDASequence(z_plan=ZRangeAround(range=range_um, step=step_um))
    planes: dict[int, np.ndarray] = {}

    def keep(img: np.ndarray, event: Any, _meta: Any = None) -> None:
        planes[int(event.index.get("z", 0))] = np.array(img, copy=True)

    core.mda.events.frameReady.connect(keep)
    try:
        core.mda.run(seq)
    finally:
        core.mda.events.frameReady.disconnect(keep)
    if len(planes) != len(list(seq)):
        raise RuntimeError(f"the z-stack stopped after {len(planes)} of {len(list(seq))} planes")
    return np.stack([planes[k] for k in sorted(planes)])


def demo_bead_core(profile: OpticsProfile | None = None) -> Any:
    """Return a demo microscope with a bead slide in focus at z = 0 and no drift.

    ``profile`` is the demo's true optics (default: the textbook PSF the demo uses).
    """
    from scope_deblur.demo import DemoWorld, load_demo_core
    from scope_deblur.demo._drift import DriftConfig
    from scope_deblur.demo._world import bead_field
    from scope_deblur.optics import NOMINAL

    still = DriftConfig(ramp_um_per_frame=0, walk_um_per_frame=0, jump_probability=0)
    return load_demo_core(DemoWorld(still, profile=profile or NOMINAL, sample=bead_field()))
