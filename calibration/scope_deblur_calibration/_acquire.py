"""Acquire a bead z-stack through pymmcore-plus: on real hardware, or on the demo microscope."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from scope_deblur.live import LiveSession, RawData, RunFolder

if TYPE_CHECKING:
    from scope_deblur.optics import OpticsProfile

__all__ = ["acquire_stack", "demo_bead_core"]


def acquire_stack(
    core: Any, folder: RunFolder, *, range_um: float, step_um: float, overwrite: bool = False
) -> np.ndarray:
    """Run a z-stack around the current focus; save it in ``folder``; return ``(Z, Y, X)``.

    The stack spans ``range_um`` (centred on the current z) in ``step_um`` steps
    (useq's ``ZRangeAround``), and the focus returns to where it was afterwards. It is
    acquired through the live session (raw data only), so it stays on disk beside the
    profile, and is read back from there.
    """
    from useq import MDASequence, ZRangeAround

    if not (range_um > 0 and step_um > 0):
        raise ValueError(f"the z range and step must be positive, got {range_um}, {step_um} µm")
    if range_um / step_um < 4:
        raise ValueError("a calibration stack needs at least 5 planes: widen --range-um")
    seq = MDASequence(z_plan=ZRangeAround(range=range_um, step=step_um))
    session = LiveSession(core, folder, settings={"command": "calibrate"})
    summary = session.run(seq, overwrite=overwrite)
    planned = len(list(seq))
    if summary["frames_saved_raw"] != planned:
        raise ValueError(
            f"the z-stack stopped after {summary['frames_saved_raw']} of {planned} planes "
            f"(raw data kept in {folder.raw})"
        )
    raw = RawData(folder.raw)
    return np.stack([raw.read(i) for i in sorted(session.indices, key=lambda i: i.get("z", 0))])


def demo_bead_core(profile: OpticsProfile | None = None) -> Any:
    """Return a demo microscope with a bead slide in focus at z = 0 and no drift.

    ``profile`` is the demo's true optics (default: the textbook PSF the demo uses).
    """
    from scope_deblur.demo import DemoWorld, DriftConfig, bead_field, load_demo_core
    from scope_deblur.optics import NOMINAL

    still = DriftConfig(ramp_um_per_frame=0, walk_um_per_frame=0, jump_probability=0)
    return load_demo_core(DemoWorld(still, profile=profile or NOMINAL, sample=bead_field()))
