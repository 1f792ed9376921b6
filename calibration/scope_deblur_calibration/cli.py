"""``scope-deblur calibrate``: fit the microscope's PSF to a bead z-stack, write a profile.

The command is an entry point of the group ``scope_deblur.commands``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import typer
from scope_deblur.cli.common import err, print_json
from scope_deblur.io import read_planes
from scope_deblur.live import RunFolder, load_config, open_core
from scope_deblur.optics import NOMINAL, Optics

from ._acquire import acquire_stack, demo_bead_core
from ._figure import save_figure
from ._fit import fit_stack

__all__ = ["calibrate"]


def _optics(na: float | None, wavelength_nm: float | None, n: float, pixel_um: float | None) -> Any:
    missing = [
        flag
        for flag, v in (
            ("--na", na),
            ("--wavelength-nm", wavelength_nm),
            ("--pixel-size", pixel_um),
        )
        if v is None
    ]
    if missing:
        raise ValueError(f"give the microscope's {', '.join(missing)} (the fit starts from them)")
    return Optics(wavelength_um=wavelength_nm / 1000, na=na, n=n, pixel_um=pixel_um)  # type: ignore[operator]


def _acquired(
    load: Callable[[], Any],
    optics: Callable[[Any], Any],
    folder: Any,
    range_um: float,
    step_um: float,
    overwrite: bool,
) -> tuple[Any, Any]:
    """Return ``(stack, optics(core))`` acquired on the core ``load()`` gives.

    The stack stays on disk in ``folder`` (a raw-only run).
    """
    with open_core(load) as core:
        known = optics(core)  # before the stack, so that a missing pixel size costs no time
        stack = acquire_stack(core, folder, range_um=range_um, step_um=step_um, overwrite=overwrite)
        return stack, known


def calibrate(
    stack: Path | None = typer.Option(None, help="A bead z-stack (TIFF, Z planes of one field)."),
    z_step: float | None = typer.Option(None, help="With --stack: µm between planes."),
    demo: bool = typer.Option(False, "--demo", help="Acquire a bead slide on the demo microscope."),
    config: Path | None = typer.Option(None, help="Acquire on this Micro-Manager config."),
    na: float | None = typer.Option(None, help="Numerical aperture of the objective."),
    wavelength_nm: float | None = typer.Option(None, help="Emission wavelength (nm)."),
    immersion_n: float = typer.Option(1.0, help="Refractive index of the immersion medium."),
    pixel_size: float | None = typer.Option(
        None, help="Pixel size in the sample (µm); with --config, default the core's."
    ),
    range_um: float = typer.Option(20.0, help="With --demo/--config: z range acquired (µm)."),
    step_um: float = typer.Option(0.5, help="With --demo/--config: z step acquired (µm)."),
    out: Path = typer.Option(
        Path("profile.json"),
        help="The optics profile to write (JSON); with --demo/--config the bead stack "
        "is kept beside it (OUT without .json, plus -stack/).",
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace an existing profile and bead stack."
    ),
    json_: bool = typer.Option(False, "--json", help="Print the fit report as JSON."),
) -> None:
    """Fit the PSF through focus to a bead z-stack; write a profile for --profile.

    Writes OUT (the profile) and a figure beside it (OUT with .png): the measured bead
    against each candidate model. Give exactly one of --stack, --demo or --config.
    """
    if sum((stack is not None, demo, config is not None)) != 1:
        raise ValueError("give exactly one of --stack STACK --z-step UM, --demo or --config CFG")
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} already exists; choose another --out or pass --overwrite")
    folder = RunFolder(out.with_name(out.stem + "-stack"))
    if stack is None:
        folder.check(overwrite=overwrite)
    if stack is not None:
        if z_step is None:
            raise ValueError("--stack needs --z-step UM, the stage step between its planes")
        data = read_planes(stack)[0]
        data = data.reshape(-1, *data.shape[-2:])
        optics = _optics(na, wavelength_nm, immersion_n, pixel_size)
        step, source = z_step, f"calibrate --stack {stack} --z-step {z_step:g}"
    elif demo:
        data, optics = _acquired(
            demo_bead_core, lambda _: NOMINAL.optics, folder, range_um, step_um, overwrite
        )
        step, source = step_um, f"calibrate --demo (bead slide, {range_um:g} µm in {step_um:g} µm)"
    else:
        _optics(na, wavelength_nm, immersion_n, pixel_size or 1.0)  # before any hardware
        data, optics = _acquired(
            lambda: load_config(config),  # type: ignore[arg-type]
            lambda core: _optics(
                na, wavelength_nm, immersion_n, pixel_size or core.getPixelSizeUm() or None
            ),
            folder,
            range_um,
            step_um,
            overwrite,
        )
        step, source = step_um, f"calibrate --config {config} ({range_um:g} µm in {step_um:g} µm)"
    err.print(f"fitting {data.shape[0]} planes ({data.shape[1]}×{data.shape[2]} px)…")
    result = fit_stack(np.asarray(data), step, optics, source=source)
    profile_path = result.profile.save(out)
    figure = save_figure(result, out.with_suffix(".png"))
    report = {"profile": str(profile_path), "figure": str(figure), **result.report()}
    if json_:
        print_json(report)
        return
    for name, info in result.candidates.items():
        mark = "  ← kept" if name == result.best else ""
        err.print(f"{name:>20}: relative residual {info['relative_residual']:.4f}{mark}")
    err.print(f"wrote {profile_path} and {figure}")
