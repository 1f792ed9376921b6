"""Figures the runtime commands make: a demo run's traces (``run.png``) and defocus maps.

:func:`save_figure` is how every figure of the project (the lab's too) is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .live import FrameRecord

__all__ = ["plot_run", "save_defocus_map", "save_figure"]


def save_figure(fig: Any, path: str | Path, *, dpi: int = 100, **kwargs: Any) -> Path:
    """Write a matplotlib figure to ``path`` (parent folders made), close it, return the path."""
    import matplotlib.pyplot as plt

    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=dpi, **kwargs)
    plt.close(fig)
    return out


def plot_run(records: Sequence[FrameRecord], path: Path) -> Path:
    """Plot true vs estimated defocus and PSNR before/after, per frame, to a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k = np.array([r.frame for r in records])
    col = {
        name: np.array([getattr(r, name) for r in records], dtype=float)
        for name in ("true_defocus_um", "defocus_um", "psnr_input_db", "psnr_restored_db")
    }
    caught = np.array([r.mode == "catch-up" for r in records])
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(8, 5.5), sharex=True, constrained_layout=True)
    ax1.plot(k, col["true_defocus_um"], "k-", lw=1.5, label="true |defocus|")
    ax1.plot(k, col["defocus_um"], "o", ms=3, color="tab:blue", label="estimated")
    ax1.set_ylabel("|defocus| (µm)")
    ax1.legend(loc="upper left", frameon=False)
    ax2.plot(k, col["psnr_input_db"], "-", color="tab:gray", label="acquired")
    ax2.plot(k, col["psnr_restored_db"], "-", color="tab:green", label="restored")
    if caught.any():
        ax2.plot(
            k[caught],
            col["psnr_restored_db"][caught],
            "x",
            color="tab:red",
            label="restored in catch-up",
        )
    ax2.set_ylabel("PSNR vs sharp (dB)")
    ax2.set_xlabel("frame")
    ax2.legend(loc="lower left", frameon=False)
    method = records[0].method if records else ""
    fig.suptitle(f"scope-deblur demo: focus drift and live restoration ({method})")
    return save_figure(fig, path, dpi=110)


def save_defocus_map(defocus_map: np.ndarray, path: Path, *, title: str = "") -> Path:
    """Save a defocus map (µm, NaN = background) as a colour-coded PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.6), constrained_layout=True)
    im = ax.imshow(np.ma.masked_invalid(defocus_map), cmap="viridis", vmin=0)
    ax.set_title(f"{title} |defocus| (µm); blank = background", fontsize=9)
    ax.axis("off")
    fig.colorbar(im, ax=ax, shrink=0.8)
    return save_figure(fig, path, dpi=100)
