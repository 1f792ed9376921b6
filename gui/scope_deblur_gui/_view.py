"""A plain image view: percentile contrast into a QLabel (no OpenGL, works offscreen)."""

from __future__ import annotations

import numpy as np
from qtpy.QtCore import Qt
from qtpy.QtGui import QImage, QPixmap
from qtpy.QtWidgets import QFrame, QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

__all__ = ["ImageView", "to_uint8"]


def to_uint8(img: np.ndarray, low: float = 0.5, high: float = 99.8) -> np.ndarray:
    """Map the ``low``..``high`` percentiles of ``img`` to 0..255 (C-contiguous uint8)."""
    a = np.asarray(img, dtype=np.float32)
    if a.ndim != 2 or a.size == 0:
        raise ValueError(f"expected a non-empty 2-D image, got shape {a.shape}")
    finite = a[np.isfinite(a)]
    if finite.size == 0:
        return np.zeros(a.shape, np.uint8)
    sub = finite[:: max(1, finite.size // 65536)]  # a subsample is enough for contrast
    lo, hi = np.percentile(sub, [low, high])
    scale = 255.0 / (hi - lo) if hi > lo else 0.0
    out = np.nan_to_num((a - lo) * scale, nan=0.0)
    return np.ascontiguousarray(np.clip(out, 0, 255).astype(np.uint8))


class ImageView(QWidget):
    """A titled image panel that keeps the aspect ratio and its own copy of the pixels.

    Parameters
    ----------
    title : str
        Shown above the image.
    parent : QWidget, optional
        Qt parent.
    """

    def __init__(self, title: str, *, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = QLabel(title)
        font = self.title.font()
        font.setBold(True)
        self.title.setFont(font)
        self.caption = QLabel("")
        self.caption.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.label = QLabel("no image yet")
        self.label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.label.setFrameShape(QFrame.Shape.StyledPanel)
        self.label.setMinimumSize(240, 180)
        self.label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.label.setAutoFillBackground(True)
        pal = self.label.palette()
        pal.setColor(self.label.backgroundRole(), Qt.GlobalColor.black)
        pal.setColor(self.label.foregroundRole(), Qt.GlobalColor.gray)
        self.label.setPalette(pal)
        head = QWidget()
        row = QHBoxLayout(head)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.title)
        row.addWidget(self.caption, 1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(head)
        lay.addWidget(self.label, 1)
        self._pixmap: QPixmap | None = None
        self.frames_shown = 0

    def set_image(self, img: np.ndarray, caption: str = "") -> None:
        """Show ``img`` (any numeric 2-D array), contrast-stretched."""
        u8 = to_uint8(img)
        h, w = u8.shape
        qimg = QImage(u8.data, w, h, w, QImage.Format.Format_Grayscale8).copy()
        self._pixmap = QPixmap.fromImage(qimg)
        self.caption.setText(caption)
        self.frames_shown += 1
        self._rescale()

    def has_image(self) -> bool:
        """Whether an image has been shown."""
        return self._pixmap is not None

    def resizeEvent(self, event) -> None:  # type: ignore[no-untyped-def]
        super().resizeEvent(event)
        self._rescale()

    def _rescale(self) -> None:
        if self._pixmap is None:
            return
        self.label.setPixmap(
            self._pixmap.scaled(
                self.label.size(),
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
        )
