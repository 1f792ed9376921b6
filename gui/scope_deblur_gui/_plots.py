"""The defocus trace: estimate over time per position, confidence, the lock's correction.

Markers tell how each frame was restored: filled live, hollow caught up after the
run, a cross where restoration failed (the frame is stored unrestored). With the
focus lock on, each position's correction (µm added to its z) is a step line.
The plot redraws at most a few times a second, whatever the frame rate.
"""

from __future__ import annotations

import numpy as np
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from qtpy.QtWidgets import QVBoxLayout, QWidget

from ._trace import PositionTrace

__all__ = ["DefocusPlot"]

_COLORS = [f"C{i}" for i in range(10)]


class DefocusPlot(QWidget):
    """Plots a :class:`~._trace.DefocusTrace` snapshot.

    Parameters
    ----------
    parent : QWidget, optional
        Qt parent.
    """

    def __init__(self, *, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.figure = Figure(figsize=(7, 3.2), layout="constrained")
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setMinimumHeight(220)
        self.ax, self.ax_conf = self.figure.subplots(
            2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]}
        )
        self.points = 0
        """Frames drawn in the last update (for tests and the status line)."""
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.canvas)
        self.update_from({})

    def update_from(self, series: dict[str, PositionTrace]) -> None:
        """Redraw from a trace snapshot (position → series)."""
        ax, axc = self.ax, self.ax_conf
        ax.clear()
        axc.clear()
        self.points = 0
        handles: list[Line2D] = []
        for i, (pos, s) in enumerate(series.items()):
            color = _COLORS[i % len(_COLORS)]
            self.points += len(s.time_s)
            if len(s.time_s):
                ax.plot(s.time_s, s.defocus_um, "-", color=color, lw=1, alpha=0.6)
                for mode, style in (
                    ("live", {"marker": "o", "mfc": color}),
                    ("catch-up", {"marker": "o", "mfc": "none"}),
                    ("passthrough", {"marker": "x", "mfc": color}),
                ):
                    m = np.array([x == mode for x in s.mode], bool)
                    if m.any():
                        ax.plot(s.time_s[m], s.defocus_um[m], ls="none", ms=4, mec=color, **style)
                if np.isfinite(s.true_defocus_um).any():
                    ax.plot(s.time_s, s.true_defocus_um, ":", color=color, lw=1)
                axc.plot(s.time_s, s.confidence, ".-", color=color, lw=0.8, ms=3)
            if len(s.lock_time_s):
                ax.step(s.lock_time_s, s.lock_offset_um, where="post", color=color, lw=1.5, ls="--")
            handles.append(Line2D([], [], color=color, marker="o", label=pos))
        handles += [
            Line2D([], [], color="gray", marker="o", ls="none", label="restored live"),
            Line2D([], [], color="gray", marker="o", mfc="none", ls="none", label="caught up"),
            Line2D([], [], color="gray", marker="x", ls="none", label="not restored"),
            Line2D([], [], color="gray", ls="--", label="lock correction"),
            Line2D([], [], color="gray", ls=":", label="true |defocus| (demo)"),
        ]
        ax.set_ylabel("|defocus| (µm)")
        ax.axhline(0, color="0.8", lw=0.8)
        ax.legend(
            handles=handles,
            fontsize="x-small",
            loc="lower left",
            bbox_to_anchor=(0, 1.01),
            ncol=len(handles),
            frameon=False,
            handlelength=1.5,
            columnspacing=1.0,
        )
        ax.grid(alpha=0.3)
        axc.set_ylabel("confidence", fontsize="small")
        axc.set_ylim(0, 1.05)
        axc.set_xlabel("time (s)")
        axc.grid(alpha=0.3)
        self.canvas.draw_idle()
