"""``scope-deblur focus``: bring the field into focus in a few frames (one-shot autofocus)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from .common import err, print_json


def focus(
    config: Path | None = typer.Option(None, help="Micro-Manager .cfg (may declare #py devices)."),
    demo: bool = typer.Option(False, "--demo", help="Use the demo microscope."),
    start_um: float = typer.Option(
        25.0,
        "--start-um",
        min=-40,
        max=40,
        help="Demo: how far from focus the stage starts (µm; negative: below focus).",
    ),
    baseline: bool = typer.Option(
        True,
        "--baseline/--no-baseline",
        help="Also run the classical search (a Brent search of a focus metric, as "
        "Micro-Manager's OughtaFocus) from the same start, before ours.",
    ),
    range_um: float = typer.Option(80.0, min=1, max=400, help="The search's z range (µm)."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    json_: bool = typer.Option(False, "--json", help="Print one object per method as JSON."),
) -> None:
    """Bring the field under the objective into focus; report frames and seconds.

    DelpNet reads how far the frame is from focus, a probe move tells the side, one
    move goes there and a last frame checks. The stage ends where DelpNet put it.
    """
    import numpy as np

    from ..demo import DemoWorld, DriftConfig, load_demo_core
    from ..focus import refocus, search_focus
    from ..live import load_config, open_core
    from ..methods import build_estimator, resolve_device

    if demo == (config is not None):
        raise ValueError("give either --config CFG or --demo")
    world, cfg = None, config
    if cfg is None:  # a still focal plane start_um below the stage: defocus = +start_um
        still = DriftConfig(
            start_um=-start_um, ramp_um_per_frame=0, walk_um_per_frame=0, jump_probability=0
        )
        world = DemoWorld(still)
    dev = resolve_device(device)
    results: dict[str, Any] = {}
    with open_core(lambda: load_demo_core(world) if cfg is None else load_config(cfg)) as core:
        if not core.getFocusDevice():
            raise ValueError(f"{config} has no focus stage (Core Focus) to move")
        estimator = build_estimator(dev, pixel_um=core.getPixelSizeUm() or None)
        # Load and warm the network before the clock starts (a blank frame: background).
        estimator.estimate(np.zeros((core.getImageHeight(), core.getImageWidth()), np.uint16))
        start = core.getZPosition()
        runs = [("search", lambda: search_focus(core, range_um=range_um))] if baseline else []
        runs.append(("delpnet", lambda: refocus(core, estimator)))
        for name, run in runs:
            core.setZPosition(start)
            core.waitForDevice(core.getFocusDevice())
            result = run()
            if world is not None:
                result.final_defocus_um = world.stage_z_um - world.drift.focal_plane_um
            results[name] = result.as_dict()
    if json_:
        print_json(results)
        return
    for name, r in results.items():
        truth = ""
        if r["final_defocus_um"] is not None:
            truth = f", {r['final_defocus_um']:+.2f} µm from focus"
        err.print(
            f"{name}: {r['frames']} frames, {r['seconds']:.2f} s, z {r['start_z_um']:.2f} → "
            f"{r['final_z_um']:.2f} µm{truth}" + ("" if r["converged"] else " (did not converge)")
        )


def register(app: typer.Typer) -> None:
    """Add the command to ``app``."""
    app.command()(focus)
