"""Raw and restored side by side in two ndv viewers: one contrast, one zoom and pan.

Each viewer has ndv's own controls (LUT, auto-contrast, histogram, reset zoom). The
two share one ``LUTModel``, so a colormap, a contrast policy (auto, percentile) or
limits set in one apply to both, each on its own pixels. The raw viewer holds two
channels: the frame, and DelpNet's defocus map (µm), drawn over it in colour when
the overlay is on. Frames are copied into a fixed buffer and ndv is told the data
changed (``DataWrapper.data_changed``), so a new frame keeps the user's zoom.
"""

from __future__ import annotations

import logging
from typing import Any

import ndv
import numpy as np
from ndv.models import ArrayViewerModel, LUTModel
from qtpy.QtCore import Qt
from qtpy.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

__all__ = ["DEFOCUS_CLIMS_UM", "FramePane", "LinkedViewers", "link_cameras"]

log = logging.getLogger(__name__)

DEFOCUS_CLIMS_UM = (0.0, 30.0)
"""Colour range of the defocus overlay (µm)."""


def _camera(viewer: ndv.ArrayViewer) -> Any:
    # ndv 0.5 exposes no camera: its vispy canvas keeps a view whose camera is vispy's
    # public PanZoomCamera. Other canvases (pygfx) have none here: the link is skipped.
    return getattr(getattr(getattr(viewer, "_canvas", None), "_view", None), "camera", None)


def link_cameras(a: ndv.ArrayViewer, b: ndv.ArrayViewer) -> bool:
    """Keep ``a``'s and ``b``'s zoom and pan in sync (vispy); False if it cannot."""
    ca, cb = _camera(a), _camera(b)
    if ca is None or cb is None or not hasattr(ca, "link"):
        log.warning("the raw and restored viewers are not linked (no vispy camera)")
        return False
    ca.link(cb)
    return True


class FramePane(QWidget):
    """A titled ndv viewer that shows frames of one size in a fixed buffer.

    Parameters
    ----------
    title : str
        Shown above the viewer.
    channels : int
        1: a frame; 2: a frame and its defocus map (composite).
    lut : LUTModel
        The frame's LUT (shared with the other pane).
    parent : QWidget, optional
        Qt parent.
    """

    def __init__(
        self, title: str, *, channels: int, lut: LUTModel, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.title = QLabel(f"<b>{title}</b>")
        self.caption = QLabel("no frame yet")
        self.caption.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.channels = channels
        self.frames_shown = 0
        self.scale = (1.0, 1.0)
        """World units per pixel (y, x): 0.5 for a 2× frame beside the raw one."""
        self._buffer = np.zeros((channels, 64, 64) if channels > 1 else (64, 64), np.float32)
        self.options = ArrayViewerModel()
        if channels > 1:
            overlay = LUTModel(
                name="defocus (µm)", cmap="inferno", clims=DEFOCUS_CLIMS_UM, visible=False
            )
            self.viewer = ndv.ArrayViewer(
                self._buffer,
                channel_axis=0,
                channel_mode="composite",
                luts={0: lut, 1: overlay},
                viewer_options=self.options,
            )
            self.overlay_lut: LUTModel | None = overlay
        else:
            self.viewer = ndv.ArrayViewer(
                self._buffer, default_lut=lut, viewer_options=self.options
            )
            self.overlay_lut = None
        # ndv 0.5 applies these options when they change, not at construction.
        for name in ("show_3d_button", "show_channel_mode_selector", "show_data_info"):
            setattr(self.options, name, False)
        head = QHBoxLayout()
        head.setContentsMargins(0, 0, 0, 0)
        head.addWidget(self.title)
        head.addWidget(self.caption, 1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(head)
        lay.addWidget(self.viewer.widget(), 1)

    @property
    def frame(self) -> np.ndarray:
        """The frame shown (float32; a view of the buffer)."""
        return self._buffer[0] if self.channels > 1 else self._buffer

    def set_frame(
        self,
        img: np.ndarray,
        caption: str,
        defocus_map: np.ndarray | None = None,
        *,
        extent: tuple[int, ...] | None = None,
    ) -> None:
        """Show ``img`` (any 2-D numeric array) and, in a two-channel pane, its map.

        ``extent``: the (height, width) the frame spans in the linked views, the raw
        frame's, so that a frame with more pixels (a 2× restoration) lines up with it.
        """
        img = np.asarray(img)
        if img.ndim != 2:
            raise ValueError(f"expected a 2-D frame, got shape {img.shape}")
        scale = (
            (1.0, 1.0) if extent is None else (extent[-2] / img.shape[0], extent[-1] / img.shape[1])
        )
        if scale != self.scale:  # ndv draws pixels `scale` world units apart
            axes = (1, 2) if self.channels > 1 else (0, 1)
            self.viewer.display_model.scales.update(dict(zip(axes, scale, strict=True)))
            self.scale = scale
        shape = (self.channels, *img.shape) if self.channels > 1 else img.shape
        new = shape != self._buffer.shape
        if new:
            self._buffer = np.zeros(shape, np.float32)
        np.copyto(self.frame, img, casting="unsafe")
        if self.channels > 1:
            layer = self._buffer[1]
            if defocus_map is not None and defocus_map.shape == img.shape:
                np.copyto(layer, np.nan_to_num(defocus_map, nan=0.0), casting="unsafe")
            else:
                layer[...] = 0.0
        self.caption.setText(caption)
        self.frames_shown += 1
        if new:
            self.viewer.data = self._buffer  # a new size: ndv fits it to the canvas
        else:
            self.viewer.data_wrapper.data_changed.emit()  # same size: zoom and pan stay

    def has_frame(self) -> bool:
        """Whether a frame has been shown."""
        return self.frames_shown > 0


class LinkedViewers(QWidget):
    """Raw (with the defocus-map overlay) and restored frames, linked.

    Parameters
    ----------
    parent : QWidget, optional
        Qt parent.
    """

    def __init__(self, *, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.lut = LUTModel(name="frame", cmap="gray")
        self.raw = FramePane("Raw", channels=2, lut=self.lut)
        self.restored = FramePane("Restored", channels=1, lut=self.lut)
        self.linked = link_cameras(self.raw.viewer, self.restored.viewer)
        self.overlay = QCheckBox("Defocus map on raw")
        self.overlay.setToolTip(
            "Draw DelpNet's |defocus| map (µm, 0-30 in the inferno colours) over the raw "
            "frame; estimated on its own thread from the frame shown."
        )
        self.overlay.toggled.connect(self._set_overlay)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.raw, 1)
        row.addWidget(self.restored, 1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(row, 1)
        lay.addWidget(self.overlay)

    def _set_overlay(self, on: bool) -> None:
        if self.raw.overlay_lut is not None:
            self.raw.overlay_lut.visible = on
