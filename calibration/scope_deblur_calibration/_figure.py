"""The calibration figure: measured bead PSF against each fitted candidate."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from scope_deblur.figures import save_figure as write_figure

if TYPE_CHECKING:
    from ._fit import CalibrationResult

__all__ = ["save_figure"]


def save_figure(result: CalibrationResult, path: str | Path) -> Path:
    """Draw XZ sections (γ = 0.5) and the axial peak of the bead and of each candidate."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scope_deblur.optics import PsfParams

    from ._fit import _model

    bead, optics = result.bead, result.profile.optics
    c = bead.planes.shape[-1] // 2
    sections = {"measured bead": bead.planes[:, c, :]}
    axial = {"measured bead": bead.planes[:, c, c]}
    for name, info in result.candidates.items():
        params = PsfParams(**info["psf_params"])
        model = _model(bead, optics, info["focus_offset_um"], params)
        label = f"{name}\nresidual {info['relative_residual']:.3f}"
        sections[label] = model[:, c, :]
        axial[name] = model[:, c, c]
    vmax = max(float(s.max()) for s in sections.values())
    fig, axes = plt.subplots(1, len(sections) + 1, figsize=(3.2 * (len(sections) + 1), 3.6))
    extent = (
        -c * optics.pixel_um,
        c * optics.pixel_um,
        float(bead.z_um[-1]),
        float(bead.z_um[0]),
    )
    for ax, (title, sec) in zip(axes, sections.items(), strict=False):
        ax.imshow(np.sqrt(np.clip(sec, 0, None) / vmax), cmap="magma", extent=extent, aspect="auto")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("x (µm)")
    axes[0].set_ylabel("z from focus (µm)")
    ax = axes[-1]
    for name, values in axial.items():
        ax.plot(bead.z_um, values, "k." if name == "measured bead" else "-", label=name)
    ax.set_xlabel("z from focus (µm)")
    ax.set_ylabel("peak (fraction of plane flux)")
    ax.legend(fontsize=7)
    ax.set_title("on axis", fontsize=9)
    fig.suptitle(f"Through-focus calibration: best model {result.best}", fontsize=10)
    fig.tight_layout()
    return write_figure(fig, path, dpi=110)
