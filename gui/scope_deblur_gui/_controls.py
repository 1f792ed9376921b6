"""The microscope controls, from pymmcore-widgets, and a repair for their tables.

Config (and the demo), Snap and Live, exposure, channel, stages, pixel size; and the
MDA editor's table cells, which PySide6 6.12 draws blank (:func:`repair_spinbox_cells`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pymmcore_plus import CMMCorePlus
from pymmcore_widgets import (
    ChannelGroupWidget,
    ChannelWidget,
    ConfigurationWidget,
    ExposureWidget,
    LiveButton,
    PixelConfigurationWidget,
    SnapButton,
    StageWidget,
)
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import (
    QAbstractSpinBox,
    QDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTableWidget,
    QVBoxLayout,
    QWidget,
)
from scope_deblur.demo import define_pixel_size, load_demo_core
from superqt.utils import signals_blocked

__all__ = ["MicroscopeBar", "StagePanel", "repair_spinbox_cells"]


class MicroscopeBar(QGroupBox):
    """Config (and the demo), Snap and Live, exposure, channel, pixel size, stage readout.

    Parameters
    ----------
    parent : QWidget, optional
        Qt parent.
    mmcore : CMMCorePlus, optional
        The microscope (``CMMCorePlus.instance()`` if omitted, as in pymmcore-widgets).
    """

    def __init__(self, *, parent: QWidget | None = None, mmcore: CMMCorePlus | None = None) -> None:
        super().__init__("Microscope", parent)
        self._mmc = mmcore = mmcore or CMMCorePlus.instance()
        self.config = ConfigurationWidget(mmcore=mmcore)
        self.config.cfg_LineEdit.setPlaceholderText("Micro-Manager .cfg (may declare #py devices)")
        self.config.load_cfg_Button.clicked.disconnect()  # ours reports errors in a dialog
        self.config.load_cfg_Button.clicked.connect(self._load_config)
        self.demo = QPushButton("Demo")
        self.demo.setToolTip("Load scope-deblur's demo microscope (simulated, drifting)")
        self.demo.clicked.connect(self.load_demo)
        self.snap = SnapButton(mmcore=mmcore)
        self.live = LiveButton(mmcore=mmcore)
        self.exposure = ExposureWidget(mmcore=mmcore)
        self.channel_group = ChannelGroupWidget(mmcore=mmcore)
        self.channel = ChannelWidget(mmcore=mmcore)
        self.pixel = QLabel()
        self.pixel_edit = QPushButton("Pixel size…")
        self.pixel_edit.clicked.connect(self._edit_pixel_size)
        self.stage = QLabel()
        self.error = ""
        """The last config that failed to load, and why (also shown in a dialog)."""
        grid = QGridLayout(self)
        grid.addWidget(QLabel("Config"), 0, 0)
        cfg = QHBoxLayout()
        cfg.addWidget(self.config, 1)
        cfg.addWidget(self.demo)
        grid.addLayout(cfg, 0, 1, 1, 3)
        grid.addWidget(self.snap, 1, 0)
        grid.addWidget(self.live, 1, 1)
        grid.addWidget(QLabel("Exposure"), 1, 2)
        grid.addWidget(self.exposure, 1, 3)
        grid.addWidget(QLabel("Channel"), 2, 0)
        grid.addWidget(self.channel_group, 2, 1)
        grid.addWidget(self.channel, 2, 2, 1, 2)
        grid.addWidget(self.pixel, 3, 0, 1, 2)
        grid.addWidget(self.pixel_edit, 3, 2)
        grid.addWidget(self.stage, 3, 3)
        grid.setColumnStretch(3, 1)
        ev = mmcore.events
        ev.systemConfigurationLoaded.connect(self._on_config)
        ev.pixelSizeChanged.connect(self._show_pixel)
        ev.stagePositionChanged.connect(self._show_stage)
        ev.XYStagePositionChanged.connect(self._show_stage)
        self.destroyed.connect(self.disconnect_core)
        self._poll = QTimer(self)  # Python stages emit no position events: poll them too
        self._poll.setInterval(500)
        self._poll.timeout.connect(self._show_stage)
        self._poll.start()
        self._show_pixel()
        self._show_stage()

    def load_demo(self) -> None:
        """Load the demo microscope into the core (a new simulated world)."""
        self._try(lambda: load_demo_core(core=self._mmc), "the demo microscope")  # type: ignore[arg-type]

    def _load_config(self) -> None:
        path = self.config.cfg_LineEdit.text().strip()
        if not path:
            self._report("Choose a Micro-Manager config file first (…), or press Demo.")
            return

        def load() -> None:
            if not Path(path).is_file():
                raise FileNotFoundError(f"no such file: {path}")
            self._mmc.unloadAllDevices()
            self._mmc.loadSystemConfiguration(path)

        self._try(load, path)

    def _try(self, load: Any, what: str) -> None:
        try:
            load()
        except Exception as e:
            lines = [ln for ln in str(e).splitlines() if ln.strip()]
            self._report(f"Cannot load {what}: {lines[-1] if lines else type(e).__name__}")

    def _report(self, message: str) -> None:
        from qtpy.QtWidgets import QMessageBox

        self.error = message
        box = QMessageBox(QMessageBox.Icon.Warning, "scope-deblur", message, parent=self)
        box.open()  # not modal-blocking: scripts and tests go on

    def _on_config(self) -> None:
        define_pixel_size(self._mmc)  # type: ignore[arg-type]  # the demo camera's; others untouched
        self._show_pixel()
        self._show_stage()

    def _show_pixel(self, *_: Any) -> None:
        px = self._mmc.getPixelSizeUm()
        self.pixel.setText(f"Pixel size {px:.3f} µm" if px else "Pixel size not defined")

    def _show_stage(self, *_: Any) -> None:
        core, parts = self._mmc, []
        if core.getXYStageDevice():
            parts.append(f"X {core.getXPosition():.1f}  Y {core.getYPosition():.1f}")
        if core.getFocusDevice():
            parts.append(f"Z {core.getZPosition():.2f}")
        self.stage.setText(("  ".join(parts) + " µm") if parts else "no stage")

    def _edit_pixel_size(self) -> None:
        dialog = QDialog(self)
        dialog.setWindowTitle("Pixel size")
        QVBoxLayout(dialog).addWidget(PixelConfigurationWidget(mmcore=self._mmc))
        dialog.open()

    def disconnect_core(self) -> None:
        """Stop listening to the core (the window calls it before it lets go of the core)."""
        self._poll.stop()
        ev = self._mmc.events
        _disconnect(ev.systemConfigurationLoaded, self._on_config)
        _disconnect(ev.pixelSizeChanged, self._show_pixel)
        _disconnect(ev.stagePositionChanged, self._show_stage)
        _disconnect(ev.XYStagePositionChanged, self._show_stage)


def _disconnect(signal: Any, slot: Any) -> None:
    """Disconnect ``slot``; the core may have gone first (at exit), which is fine."""
    try:
        signal.disconnect(slot)
    except Exception:  # RuntimeError, or SystemError from a deleted wrapper
        pass


class StagePanel(QWidget):
    """pymmcore-widgets' XY and Z stage controls, each with its readout (rebuilt on a new config).

    Parameters
    ----------
    parent : QWidget, optional
        Qt parent.
    mmcore : CMMCorePlus, optional
        The microscope (``CMMCorePlus.instance()`` if omitted, as in pymmcore-widgets).
    """

    def __init__(self, *, parent: QWidget | None = None, mmcore: CMMCorePlus | None = None) -> None:
        super().__init__(parent)
        self._mmc = mmcore = mmcore or CMMCorePlus.instance()
        self._row = QHBoxLayout(self)
        self.stages: list[StageWidget] = []
        mmcore.events.systemConfigurationLoaded.connect(self._build)
        self.destroyed.connect(self.disconnect_core)
        self._build()

    def disconnect_core(self) -> None:
        """Stop listening to the core (the window calls it before it lets go of the core)."""
        _disconnect(self._mmc.events.systemConfigurationLoaded, self._build)

    def _build(self) -> None:
        for w in self.stages:
            self._row.removeWidget(w)
            w.deleteLater()
        self.stages = []
        for device, levels in ((self._mmc.getXYStageDevice(), 3), (self._mmc.getFocusDevice(), 2)):
            if device:
                box = StageWidget(device, levels, mmcore=self._mmc)
                self.stages.append(box)
                self._row.addWidget(box)
        self._row.addStretch(1)


def repair_spinbox_cells(root: QWidget) -> None:
    """Make the spin boxes in ``root``'s tables show their values, now and in new rows.

    pymmcore-widgets styles its table spin boxes with ``border: none``; under
    PySide6 6.12 any style sheet on a button-less spin box shrinks its text field
    to 1 px, so the cells look blank while holding their values. The same look,
    without a style sheet: a frameless spin box.
    """
    for table in root.findChildren(QTableWidget):
        _repair(table)
        table.model().rowsInserted.connect(
            lambda *_, t=table: QTimer.singleShot(0, lambda: _repair(t))
        )


def _repair(table: QTableWidget) -> None:
    for spin in table.findChildren(QAbstractSpinBox):
        if spin.styleSheet() and spin.buttonSymbols() == QAbstractSpinBox.ButtonSymbols.NoButtons:
            with signals_blocked(spin):
                spin.setStyleSheet("")
                spin.setFrame(False)
