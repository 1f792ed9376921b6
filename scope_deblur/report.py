"""Figures that say more than the numbers: a run's traces, defocus maps, confusion matrices."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .live import FrameRecord

__all__ = ["plot_confusion", "plot_run", "plot_soak", "save_defocus_map"]


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
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def save_defocus_map(defocus_map: np.ndarray, path: Path, *, title: str = "") -> Path:
    """Save a defocus map (µm, NaN = background) as a colour-coded PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6, 4.6), constrained_layout=True)
    im = ax.imshow(np.ma.masked_invalid(defocus_map), cmap="viridis", vmin=0)
    ax.set_title(f"{title} |defocus| (µm); blank = background", fontsize=9)
    ax.axis("off")
    fig.colorbar(im, ax=ax, shrink=0.8)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_confusion(panels: dict[str, np.ndarray], classes: Sequence[str], path: Path) -> Path:
    """Save row-normalised confusion matrices (true rows, predicted columns) side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(
        1, len(panels), figsize=(6.2 * len(panels), 5.6), squeeze=False, constrained_layout=True
    )
    ticks = np.arange(len(classes))
    for ax, (title, conf) in zip(axes[0], panels.items(), strict=True):
        c = np.asarray(conf, dtype=float)
        rows = c / np.maximum(c.sum(axis=1, keepdims=True), 1)
        im = ax.imshow(rows, cmap="magma", vmin=0, vmax=1)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_xticks(ticks, classes, rotation=90, fontsize=7)
        ax.set_yticks(ticks, classes, fontsize=7)
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8, label="fraction of the true class")
    fig.savefig(path, dpi=90, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_soak(result: dict, path: Path) -> Path:
    """Plot a soak's memory, open files and queue depth against frames acquired."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    samples = result["samples"]
    frames = [s["frames"] for s in samples]
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(8, 5), sharex=True, constrained_layout=True)
    ax1.plot(frames, [s["rss_mb"] for s in samples], color="tab:blue", label="resident")
    ax1.plot(frames, [s["rss_anon_mb"] for s in samples], color="tab:orange", label="anonymous")
    ax1.axvline(result["warm_up_frames"], color="gray", lw=0.8, ls=":", label="end of warm-up")
    ax1.set_ylabel("memory (MB)")
    ax1.set_ylim(bottom=0)
    ax1.legend(loc="lower right", frameon=False)
    ax2.plot(frames, [s["fds"] for s in samples], color="tab:gray", label="open files")
    ax2.plot(frames, [s["queue_depth"] for s in samples], color="tab:green", label="queue depth")
    ax2.set_xlabel("frames acquired")
    ax2.legend(loc="upper right", frameon=False)
    fig.suptitle(
        f"soak: {result['frames']} frames, {result['method']} on {result['device']}, "
        f"{result['frames_lost']} lost"
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
