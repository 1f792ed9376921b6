"""Small Qt helpers of the window: calls moved to the GUI thread, a path row, a µm box."""

from __future__ import annotations

import functools
from typing import Any

from qtpy.QtCore import QObject, Qt, QThread, Signal
from qtpy.QtWidgets import QDoubleSpinBox, QHBoxLayout, QLineEdit, QToolButton

__all__ = ["GuiThread", "on_gui_thread", "path_row", "um_box"]


class GuiThread(QObject):
    """Runs callables on the thread it lives in (the GUI's), queued from any other."""

    run = Signal(object)

    def __init__(self, parent: QObject) -> None:
        super().__init__(parent)
        self.run.connect(self._call, Qt.ConnectionType.QueuedConnection)

    def _call(self, fn: Any) -> None:
        fn()


def on_gui_thread(method: Any) -> Any:
    """Make a view method safe to call from any thread: off the GUI thread it is queued.

    (A Qt signal emitted from a worker thread is the safe way across; superqt's
    ``ensure_main_thread`` crashed here now and then under PySide6 6.12.)
    """

    @functools.wraps(method)
    def call(self: Any, *args: Any) -> None:
        if QThread.currentThread() == self.thread():
            method(self, *args)
        else:
            self._gui.run.emit(functools.partial(method, self, *args))

    return call


def path_row(edit: QLineEdit, browse: Any) -> QHBoxLayout:
    """Return a row of a path field and a "…" button that calls ``browse``."""
    button = QToolButton()
    button.setText("…")
    button.clicked.connect(browse)
    row = QHBoxLayout()
    row.addWidget(edit, 1)
    row.addWidget(button)
    return row


def um_box(value: float, lo: float, hi: float, tip: str) -> QDoubleSpinBox:
    """Return a spin box of µm from ``lo`` to ``hi`` showing ``value``."""
    box = QDoubleSpinBox()
    box.setRange(lo, hi)
    box.setDecimals(1)
    box.setSuffix(" µm")
    box.setValue(value)
    box.setToolTip(tip)
    return box
