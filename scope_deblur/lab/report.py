"""The lab's figures: confusion matrices of the estimator, and a soak's traces."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..figures import save_figure

__all__ = ["plot_confusion", "plot_soak"]


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
    return save_figure(fig, path, dpi=90, bbox_inches="tight")


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
    return save_figure(fig, path, dpi=110)
