"""The acquisition window: it lays out the widgets and connects them to the controller.

    ┌ Microscope: config · Demo · Snap · Live · exposure · channel · pixel size · XY/Z ┐
    │ [Acquisition | Stage | Restoration] │  Raw (ndv, defocus overlay) │ Restored (ndv) │
    │  MDA editor with positions          ├─────────────────────────────┴────────────────┤
    │ Run: focus lock · Start Pause Cancel│  defocus over time (per position) │ run panel │
    └─────────────────────────────────────┴────────────────────────────────────────────┘

The run itself (state machine, run folders, session, focus lock, summary) is
:class:`~._controller.RunController`, which imports no Qt. This class implements its
:class:`~._types.View`: every method below may be called from the run's
threads, so each is moved to the GUI thread (:func:`on_gui_thread`).
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import useq
from pymmcore_widgets import MDAWidget
from qtpy.QtCore import Qt, QTimer, QUrl, Signal
from qtpy.QtGui import QDesktopServices
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)
from scope_deblur.methods import FUSION_METHODS, METHODS

from ._controller import RunController
from ._controls import MicroscopeBar, StagePanel, repair_spinbox_cells
from ._plots import DefocusPlot
from ._summary import summary_lines
from ._types import LockStatus, RunSettings, RunState
from ._viewers import LinkedViewers
from ._widgets import GuiThread, on_gui_thread, path_row, um_box

if TYPE_CHECKING:
    from pymmcore_plus import CMMCorePlus
    from scope_deblur.protocols import DefocusEstimator, Restorer

__all__ = ["MainWindow"]

log = logging.getLogger(__name__)

DEFAULT_SEQUENCE = useq.MDASequence(time_plan={"interval": 0.2, "loops": 30})


class MainWindow(QMainWindow):
    """Define an MDA, run it with live defocus estimation and restoration, see it happen.

    Parameters
    ----------
    parent : QWidget, optional
        Qt parent.
    mmcore : CMMCorePlus, optional
        The microscope; the demo microscope if omitted.
    settings : RunSettings, optional
        Initial restoration, output and focus-lock settings.
    estimator, restorer : optional
        Use these instead of the models chosen in the window (tests, plugins).
    """

    runFinished = Signal(object)
    """The summary of a run that ended (also a stopped one)."""
    stateChanged = Signal(str)
    """The run's state: idle, loading, acquiring, paused, catching-up."""

    def __init__(
        self,
        *,
        parent: QWidget | None = None,
        mmcore: CMMCorePlus | None = None,
        settings: RunSettings | None = None,
        estimator: DefocusEstimator | None = None,
        restorer: Restorer | None = None,
    ) -> None:
        super().__init__(parent)
        if mmcore is None:
            from scope_deblur.demo import load_demo_core

            mmcore = load_demo_core()
        self._mmc: CMMCorePlus | None = mmcore
        self._gui = GuiThread(self)
        self.last_error = ""
        self.setWindowTitle("scope-deblur — live defocus estimation and restoration")
        self.controller = RunController(
            self, mmcore=mmcore, settings=settings, estimator=estimator, restorer=restorer
        )
        s = self.controller.settings

        # --- left: microscope, acquisition, restoration, run ------------------------
        self.microscope = MicroscopeBar(mmcore=mmcore)
        self.mda = MDAWidget(mmcore=mmcore)
        self.mda.save_info.hide()  # the run folder is ours (Restoration tab)
        self.mda.control_btns.hide()  # runs start here, through the controller
        self.mda.setValue(DEFAULT_SEQUENCE)
        repair_spinbox_cells(self.mda)
        self.stages = StagePanel(mmcore=mmcore)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.mda, "Acquisition")
        self.tabs.addTab(self.stages, "Stage")
        self.tabs.addTab(self._restoration_form(s, restorer), "Restoration")
        self.focus_lock = QCheckBox("Focus lock")
        self.focus_lock.setChecked(s.focus_lock)
        self.focus_lock.setToolTip(
            "Between frames, move the focus stage by DelpNet's estimate (a probe move finds "
            "the side when needed; probe frames are not data). Needs a focus stage."
        )
        self.lock_step = um_box(s.lock_max_step_um, 0.1, 100, "largest move per frame")
        self.lock_excursion = um_box(
            s.lock_max_excursion_um, 0.1, 1000, "never farther than this from the run's z"
        )
        self.lock_state = QLabel()
        self.focus_lock.toggled.connect(
            lambda on: self.set_lock_status(LockStatus("armed" if on else "off"))
        )
        self.start_btn = QPushButton("Start")
        self.start_btn.setDefault(True)
        self.pause_btn = QPushButton("Pause")
        self.pause_btn.setCheckable(True)
        self.cancel_btn = QPushButton("Cancel")
        self.start_btn.clicked.connect(self.start)
        self.pause_btn.toggled.connect(self._pause)
        self.cancel_btn.clicked.connect(self.controller.cancel)
        run_box = QGroupBox("Run")
        run_lay = QVBoxLayout(run_box)
        lock_row = QHBoxLayout()
        lock_row.addWidget(self.focus_lock)
        lock_row.addWidget(QLabel("max step"))
        lock_row.addWidget(self.lock_step)
        lock_row.addWidget(QLabel("max excursion"))
        lock_row.addWidget(self.lock_excursion)
        lock_row.addStretch(1)
        run_lay.addLayout(lock_row)
        run_lay.addWidget(self.lock_state)
        buttons = QHBoxLayout()
        for b in (self.start_btn, self.pause_btn, self.cancel_btn):
            buttons.addWidget(b)
        run_lay.addLayout(buttons)
        left = QWidget()
        left_lay = QVBoxLayout(left)
        left_lay.setContentsMargins(4, 4, 4, 4)
        left_lay.addWidget(self.microscope)
        left_lay.addWidget(self.tabs, 1)
        left_lay.addWidget(run_box)

        # --- right: viewers, defocus plot, run panel ----------------------------------
        self.viewers = LinkedViewers()
        self.viewers.overlay.toggled.connect(self.controller.set_overlay)
        self.plot = DefocusPlot()
        self.state_label = QLabel()
        self.progress = QProgressBar()
        self.progress.setFormat("%v / %m frames")
        self.readout = QLabel("Defocus —")
        self.readout.setWordWrap(True)
        self.summary_label = QLabel()
        self.summary_label.setWordWrap(True)
        self.summary_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.open_btn = QPushButton("Open run folder")
        self.open_btn.setEnabled(False)
        self.open_btn.clicked.connect(self.open_run_folder)
        panel = QGroupBox("This run")
        panel_lay = QVBoxLayout(panel)
        for w in (self.state_label, self.progress, self.readout, self.summary_label):
            panel_lay.addWidget(w)
        panel_lay.addStretch(1)
        panel_lay.addWidget(self.open_btn)
        panel.setMinimumWidth(300)
        bottom = QSplitter()
        bottom.addWidget(self.plot)
        bottom.addWidget(panel)
        bottom.setStretchFactor(0, 3)
        bottom.setStretchFactor(1, 1)
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self.viewers)
        right.addWidget(bottom)
        right.setStretchFactor(0, 3)
        right.setStretchFactor(1, 2)
        right.setSizes([620, 360])
        split = QSplitter()
        split.addWidget(left)
        split.addWidget(right)
        split.setStretchFactor(1, 1)
        split.setSizes([560, 1040])
        self.setCentralWidget(split)
        self.resize(1600, 1000)

        self._plot_timer = QTimer(self)
        self._plot_timer.setInterval(300)
        self._plot_timer.timeout.connect(self._redraw)
        self._plot_version = -1
        self._live_timer = QTimer(self)
        self._live_timer.setInterval(50)
        self._live_timer.timeout.connect(self._pull_live)
        ev = mmcore.events
        ev.continuousSequenceAcquisitionStarted.connect(self._live_timer.start)
        ev.sequenceAcquisitionStopped.connect(self._stop_live)
        self.set_lock_status(LockStatus("off"))
        self._apply_state("idle", "Ready: define the acquisition and press Start.")

    def _restoration_form(self, s: RunSettings, restorer: Restorer | None) -> QWidget:
        self.method = QComboBox()
        self.method.addItems(list(METHODS))
        self.method.setToolTip(
            "fusion: the best restoration. fusion-fast: a quarter of the compute, keeps up "
            "live on a CPU. fusion-known[-fast]: trust the optics profile. none: estimate "
            "only. Frames not restored live are caught up after the run."
        )
        self.method.setCurrentText(s.method)
        if restorer is not None:  # injected: the window cannot choose
            self.method.addItem(restorer.name)
            self.method.setCurrentText(restorer.name)
            self.method.setEnabled(False)
        self.device = QComboBox()
        self.device.addItems(["auto", "cpu", "cuda"])
        self.device.setCurrentText(s.device)
        self.compile = QCheckBox("Compile the network (about 20 % faster; 15-30 s first)")
        self.compile.setChecked(s.compile)
        self.method.currentTextChanged.connect(
            lambda m: self.compile.setEnabled(m in FUSION_METHODS)
        )
        self.compile.setEnabled(self.method.currentText() in FUSION_METHODS)
        self.out_dir = QLineEdit(str(s.out_dir))
        self.profile = QLineEdit(str(s.profile or ""))
        self.profile.setPlaceholderText("none (optional: a JSON from scope-deblur calibrate)")
        self.format = QComboBox()
        self.format.addItems(["ome-zarr", "ome-tiff"])
        self.format.setCurrentText(s.format)
        form = QFormLayout()
        form.addRow("Method", self.method)
        form.addRow("Optics profile", path_row(self.profile, self._pick_profile))
        form.addRow("Device", self.device)
        form.addRow("", self.compile)
        form.addRow("Save runs in", path_row(self.out_dir, self._browse))
        form.addRow("Raw format", self.format)
        page = QWidget()
        lay = QVBoxLayout(page)
        lay.addLayout(form)
        lay.addStretch(1)
        return page

    # --- user actions ------------------------------------------------------------
    @property
    def running(self) -> bool:
        """Whether a run is loading, acquiring, paused or catching up."""
        return self.controller.running

    def start(self) -> bool:
        """Start the acquisition defined on the left; False if it cannot start."""
        if self._mmc is None:
            return False
        try:
            self._read_settings()
            sequence = self.mda.value()
        except Exception as e:
            self.show_error(f"Cannot start: {e}")
            return False
        self.summary_label.setText("")
        self.open_btn.setEnabled(False)
        return self.controller.start(sequence)

    def _read_settings(self) -> None:
        s = self.controller.settings
        if self.method.isEnabled():
            s.method = self.method.currentText()
        s.device = self.device.currentText()
        s.compile = self.compile.isEnabled() and self.compile.isChecked()
        text = self.profile.text().strip()
        s.profile = Path(text).expanduser() if text else None
        s.out_dir = Path(self.out_dir.text().strip() or ".").expanduser()
        s.format = self.format.currentText()  # type: ignore[assignment]
        s.focus_lock = self.focus_lock.isChecked()
        s.lock_max_step_um = self.lock_step.value()
        s.lock_max_excursion_um = self.lock_excursion.value()

    def _pause(self, paused: bool) -> None:
        self.controller.pause(paused)
        self.pause_btn.setText("Resume" if paused else "Pause")

    def open_run_folder(self) -> bool:
        """Open the last run's folder in the file manager."""
        run_dir = self.controller.run_dir
        if run_dir is None:
            return False
        return bool(QDesktopServices.openUrl(QUrl.fromLocalFile(str(run_dir))))

    def _pick_profile(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Optics profile", self.profile.text(), "Optics profile (*.json)"
        )
        if path:
            self.profile.setText(path)

    def _browse(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Save runs in", self.out_dir.text())
        if path:
            self.out_dir.setText(path)

    # --- View: called by the controller from any thread ------------------------------------
    @on_gui_thread
    def set_state(self, state: RunState, message: str) -> None:
        """Show the run's state and enable the controls that fit it."""
        self._apply_state(state, message)

    def _apply_state(self, state: str, message: str) -> None:
        idle = state == "idle"
        for widget in (
            self.microscope,
            self.mda,
            self.stages,
            self.focus_lock,
            self.lock_step,
            self.lock_excursion,
            self.device,
            self.out_dir,
            self.profile,
            self.format,
        ):
            widget.setEnabled(idle)
        self.method.setEnabled(idle and not self.controller.fixed_models)
        self.compile.setEnabled(idle and self.method.currentText() in FUSION_METHODS)
        self.start_btn.setEnabled(idle)
        self.pause_btn.setEnabled(state in ("acquiring", "paused"))
        self.cancel_btn.setEnabled(not idle)
        if state not in ("acquiring", "paused") and self.pause_btn.isChecked():
            self.pause_btn.setChecked(False)
        if idle:
            self._redraw()
            self._plot_timer.stop()
        else:
            self._plot_timer.start()
        self.state_label.setText(f"<b>{state}</b>")
        self.statusBar().showMessage(message)
        self.stateChanged.emit(state)

    @on_gui_thread
    def frames_ready(self) -> None:
        """Show the newest raw and restored frames (and the overlay)."""
        f = self.controller.take_frames()
        if f.raw is not None:
            self.viewers.raw.set_frame(f.raw, f.raw_caption, f.defocus_map)
        if f.restored is not None and f.record is not None:
            rec = f.record
            how = "not restored" if rec.mode == "passthrough" else rec.mode
            d = "—" if math.isnan(rec.defocus_um) else f"{rec.defocus_um:.1f} µm"
            raw = self.viewers.raw
            self.viewers.restored.set_frame(
                f.restored,
                f"{rec.index} ({how}) · defocus {d}",
                extent=raw.frame.shape if raw.has_frame() else None,
            )
            lat = "—" if math.isnan(rec.latency_ms) else f"{rec.latency_ms:.0f} ms"
            self.readout.setText(
                f"Defocus <b>{d}</b> · confidence {rec.confidence:.2f} · latency {lat}"
            )

    @on_gui_thread
    def trace_changed(self) -> None:
        """Redraw the plot soon (at most a few times a second)."""
        if not self._plot_timer.isActive():
            self._redraw()

    def _redraw(self) -> None:
        trace = self.controller.trace
        if trace.version != self._plot_version:
            self._plot_version = trace.version
            self.plot.update_from(trace.snapshot())

    @on_gui_thread
    def set_progress(self, done: int, total: int, label: str) -> None:
        """Show frames acquired (total -1: unknown) or caught up."""
        self.progress.setRange(0, max(total, done, 1))
        self.progress.setValue(done)
        self.progress.setFormat(f"%v / %m {label}")

    @on_gui_thread
    def set_lock_status(self, status: LockStatus) -> None:
        """Show the focus lock's state."""
        color = {"stopped": "#c33", "probing": "#b80", "locked": "#080"}.get(status.state, "")
        text = status.text()
        self.lock_state.setText(
            f"Focus lock: <span style='color:{color}'>{text}</span>"
            if color
            else f"Focus lock: {text}"
        )

    @on_gui_thread
    def show_error(self, message: str) -> None:
        """Tell the user what went wrong in a dialog (not modal-blocking: runs go on)."""
        log.error(message)
        self.last_error = message
        self.statusBar().showMessage(message.splitlines()[0])
        box = QMessageBox(QMessageBox.Icon.Warning, "scope-deblur", message, parent=self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    @on_gui_thread
    def show_summary(self, summary: dict[str, Any]) -> None:
        """Show the run's summary and offer its folder."""
        self.summary_label.setText("<br>".join(summary_lines(summary)))
        if summary.get("frames_restored") is not None and summary.get("method"):
            self.set_progress(summary["frames_restored"], summary["frames_acquired"], "restored")
        self.open_btn.setEnabled(True)
        self.runFinished.emit(summary)

    # --- Live (Micro-Manager's continuous acquisition) ---------------------------------
    def _pull_live(self) -> None:
        core = self._mmc
        if core is None or core.mda.is_running():
            return
        if core.getRemainingImageCount() > 0:
            self.controller.preview(core.getLastImage(), "live")

    def _stop_live(self, *_: Any) -> None:
        self._live_timer.stop()

    # --- shutdown ---------------------------------------------------------------------------
    def closeEvent(self, event: Any) -> None:
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self, timeout_s: float = 30.0) -> None:
        """Cancel any run and let go of the core (safe to call twice).

        Raw frames are saved by the MDA runner and stay complete; a run stopped here
        is resumable (``scope-deblur resume``).
        """
        core, self._mmc = self._mmc, None
        if core is None:
            return
        self._plot_timer.stop()
        self._live_timer.stop()
        if core.isSequenceRunning():
            core.stopSequenceAcquisition()
        ev = core.events
        ev.continuousSequenceAcquisitionStarted.disconnect(self._live_timer.start)
        ev.sequenceAcquisitionStopped.disconnect(self._stop_live)
        self.microscope.disconnect_core()
        self.stages.disconnect_core()
        self.controller.shutdown(timeout_s)
