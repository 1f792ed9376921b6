"""The acquisition window: MDA definition | raw and restored views, live status."""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from qtpy.QtCore import Qt, QTimer
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
    QToolButton,
    QVBoxLayout,
    QWidget,
)
from superqt.utils import ensure_main_thread, thread_worker

from ._live import Bridge, LatestFrame, finish_session
from ._offline import use_offline_icons
from ._view import ImageView

if TYPE_CHECKING:
    from pymmcore_plus import CMMCorePlus
    from scope_deblur.live import FrameRecord, LivePipeline, LiveSession
    from scope_deblur.optics import OpticsProfile
    from scope_deblur.protocols import DefocusEstimator, Restorer

__all__ = ["MainWindow"]

log = logging.getLogger(__name__)


def _build_models(
    method: str,
    device: str,
    compile: bool = False,
    shape: tuple[int, int] | None = None,
    profile: OpticsProfile | None = None,
) -> tuple[Any, Any, str]:
    """Build the models (off the GUI thread); compile the network for ``shape`` if asked.

    With an optics ``profile`` the restorer uses its PSF (fusion → fusion-known).
    """
    from scope_deblur.methods import build_estimator, build_restorer, resolve_device

    dev = resolve_device(device)
    restorer = build_restorer(method, dev, compile=compile, profile=profile)
    if compile and shape is not None:
        restorer.warm_up(shape)  # type: ignore[attr-defined]
    return build_estimator(dev, profile=profile), restorer, dev


def _path_row(edit: QLineEdit, browse: Any) -> QHBoxLayout:
    """Return a row of a path field and a "…" button that calls ``browse``."""
    button = QToolButton()
    button.setText("…")
    button.clicked.connect(browse)
    row = QHBoxLayout()
    row.addWidget(edit, 1)
    row.addWidget(button)
    return row


class MainWindow(QMainWindow):
    """Define an MDA, run it with live defocus estimation and restoration, catch up.

    Parameters
    ----------
    mmcore : CMMCorePlus, optional
        The microscope; the demo microscope if omitted (then the window owns it).
    estimator, restorer : optional
        Use these instead of the models chosen in the window (tests, plugins).
    parent : QWidget, optional
        Qt parent.
    method, device : str
        Initial restoration method and device.
    out_dir : Path, optional
        Folder under which each run gets its own sub-folder.
    profile : Path, optional
        Optics profile from ``scope-deblur calibrate`` to restore with.
    """

    def __init__(
        self,
        *,
        mmcore: CMMCorePlus | None = None,
        estimator: DefocusEstimator | None = None,
        restorer: Restorer | None = None,
        parent: QWidget | None = None,
        method: str = "fusion",
        device: str = "auto",
        out_dir: Path | None = None,
        profile: Path | None = None,
    ) -> None:
        super().__init__(parent)
        use_offline_icons()  # before pymmcore-widgets builds any icon
        import useq
        from pymmcore_widgets import MDAWidget
        from scope_deblur.methods import FUSION_METHODS, METHODS

        if mmcore is None:
            from scope_deblur.demo import load_demo_core

            mmcore = load_demo_core()
        self._mmc: CMMCorePlus | None = mmcore
        self._estimator, self._restorer = estimator, restorer
        self.pipeline: LivePipeline | None = None
        self.summary: dict[str, Any] | None = None
        self.last_error = ""
        self._mda_thread: Any = None
        self._connections = contextlib.ExitStack()
        self.session: LiveSession | None = None
        self._run_dir: Path | None = None
        self._device = device
        self._state = "idle"  # idle | starting | acquiring | catching-up
        self._bridge = Bridge()  # no Qt parent: outlives the window while a thread emits
        self._tap = LatestFrame(self._bridge)
        self._last_record: FrameRecord | None = None
        self._bridge.restored.connect(self._show_restored)
        self._bridge.progress.connect(self._on_progress)
        self.setWindowTitle("scope-deblur — live defocus restoration")

        # --- left: acquisition definition --------------------------------------
        self.mda = MDAWidget(mmcore=mmcore)
        self.mda.save_info.hide()
        self.mda.control_btns.hide()
        self.mda.setValue(useq.MDASequence(time_plan={"interval": 0.2, "loops": 30}))
        self.method = QComboBox()
        self.method.addItems(list(METHODS))
        self.method.setToolTip(
            "fusion: the best restoration. fusion-fast: a quarter of the compute, keeps up "
            "live on a CPU. fusion-known[-fast]: trust the optics profile (or the textbook PSF). "
            "Frames not restored live are caught up after the run."
        )
        self.method.setCurrentText(method if restorer is None else "")
        if restorer is not None:
            self.method.addItem(restorer.name)
            self.method.setCurrentText(restorer.name)
            self.method.setEnabled(False)
        self.device = QComboBox()
        self.device.addItems(["auto", "cpu", "cuda"])
        self.device.setCurrentText(device)
        self.compile = QCheckBox("Compile the network (about 20 % faster; 15-30 s first)")
        self.compile.setToolTip("torch.compile before the first frame; cached for later runs")
        self.compile.setEnabled(self.method.currentText() in FUSION_METHODS)
        self.method.currentTextChanged.connect(
            lambda m: self.compile.setEnabled(m in FUSION_METHODS)
        )
        self.out_dir = QLineEdit(str(out_dir or Path.cwd() / "scope-deblur-runs"))
        self.profile = QLineEdit(str(profile or ""))
        self.profile.setPlaceholderText("none (optional: a JSON from scope-deblur calibrate)")
        self.profile.setToolTip("Optics profile from `scope-deblur calibrate` (JSON)")
        form = QFormLayout()
        form.addRow("Method", self.method)
        form.addRow("Optics profile", _path_row(self.profile, self._pick_profile))
        form.addRow("Device", self.device)
        form.addRow("", self.compile)
        form.addRow("Save to", _path_row(self.out_dir, self._browse))
        restore_box = QGroupBox("Live restoration")
        restore_box.setLayout(form)
        self.start_btn = QPushButton("Start")
        self.start_btn.setDefault(True)
        self.stop_btn = QPushButton("Stop")
        self.stop_btn.setEnabled(False)
        self.start_btn.clicked.connect(self.start)
        self.stop_btn.clicked.connect(self.stop)
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_btn)
        buttons.addWidget(self.stop_btn)
        left = QWidget()
        left_lay = QVBoxLayout(left)
        left_lay.addWidget(self.mda, 1)
        left_lay.addWidget(restore_box)
        left_lay.addLayout(buttons)

        # --- center: views and status --------------------------------------------
        self.raw_view = ImageView("Raw")
        self.restored_view = ImageView("Restored")
        views = QHBoxLayout()
        views.addWidget(self.raw_view)
        views.addWidget(self.restored_view)
        self.status = QLabel()
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.progress = QProgressBar()
        self.progress.setFormat("%v / %m frames")
        self.summary_label = QLabel()
        self.summary_label.setWordWrap(True)
        self.summary_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        center = QWidget()
        center_lay = QVBoxLayout(center)
        center_lay.addLayout(views, 1)
        center_lay.addWidget(self.status)
        center_lay.addWidget(self.progress)
        center_lay.addWidget(self.summary_label)
        split = QSplitter()
        split.addWidget(left)
        split.addWidget(center)
        split.setStretchFactor(1, 1)
        split.setSizes([420, 900])
        self.setCentralWidget(split)
        self.resize(1400, 760)
        self._timer = QTimer(self)
        self._timer.setInterval(200)
        self._timer.timeout.connect(self._update_status)
        self._update_status()
        self.statusBar().showMessage("Ready: define the acquisition and press Start.")

    # --- run control -----------------------------------------------------------
    @property
    def running(self) -> bool:
        """Whether a run is starting, acquiring or catching up."""
        return self._state != "idle"

    def start(self) -> None:
        """Start the acquisition defined on the left (no-op while a run is active)."""
        if self.running or self._mmc is None:
            return
        try:
            seq = self.mda.value()
            n = sum(1 for _ in seq)
            if n == 0:
                raise ValueError("the acquisition has no frames")
            run_dir = Path(self.out_dir.text()).expanduser() / time.strftime("run-%Y%m%d-%H%M%S")
            k = 1
            while run_dir.exists():
                run_dir = run_dir.with_name(f"{run_dir.name.split('_')[0]}_{k}")
                k += 1
            profile = self._load_profile()
            run_dir.mkdir(parents=True)
        except Exception as e:
            self._error(f"Cannot start: {e}")
            return
        self._set_state("starting")
        self.summary = None
        self.summary_label.setText("")
        self.progress.setRange(0, n)
        self.progress.setValue(0)
        self.progress.setFormat("%v / %m frames")
        if self._estimator is not None and self._restorer is not None:
            self._launch((self._estimator, self._restorer, "injected"), seq, run_dir)
            return
        compile_ = self.compile.isEnabled() and self.compile.isChecked()
        shape = (self._mmc.getImageHeight(), self._mmc.getImageWidth())
        self.statusBar().showMessage(
            "Loading models and compiling the network (15-30 s the first time)…"
            if compile_
            else "Loading models…"
        )
        worker = thread_worker(_build_models, start_thread=False)(
            self.method.currentText(), self.device.currentText(), compile_, shape, profile
        )
        worker.returned.connect(lambda models: self._launch(models, seq, run_dir))
        worker.errored.connect(lambda e: self._abort(f"Cannot load the models: {e}"))
        worker.start()

    def stop(self) -> None:
        """Cancel the acquisition; frames already acquired are still restored."""
        if self._mmc is not None and self._state == "acquiring":
            self._mmc.mda.cancel()
            self.statusBar().showMessage("Stopping…")

    def _launch(self, models: tuple[Any, Any, str], seq: Any, run_dir: Path) -> None:
        from scope_deblur.live import LiveSession, RunFolder

        if self._mmc is None:  # closed while the models loaded
            self._set_state("idle")
            return
        estimator, restorer, self._device = models
        self._tap.take()  # nothing from an earlier run
        self._last_record = None
        self._run_dir = run_dir
        try:
            self.session = LiveSession(
                self._mmc,
                RunFolder(run_dir),
                estimator=estimator,
                restorer=restorer,
                device=self._device,
                scorer=self._scorer(),
                settings={"command": "gui", "method": restorer.name},
            )
            self.pipeline = self.session.pipeline
            self.session.events.frameRestored.connect(self._tap)
            self.session.events.catchUpProgress.connect(self._bridge.progress.emit)
            ev = self._mmc.mda.events
            ev.frameReady.connect(self._show_raw)
            ev.sequenceFinished.connect(self._on_finished)
            self._connections.callback(ev.frameReady.disconnect, self._show_raw)
            self._connections.callback(ev.sequenceFinished.disconnect, self._on_finished)
            self._set_state("acquiring")
            self._mda_thread = threading.Thread(
                target=self._acquire, args=(self.session, seq), name="scope-deblur-mda"
            )
            self._mda_thread.start()
        except Exception as e:
            self._connections.close()
            self._abort(f"Cannot start the acquisition: {e}")
            return
        self.statusBar().showMessage(f"Acquiring {self.progress.maximum()} frames → {run_dir}")

    def _acquire(self, session: LiveSession, seq: Any) -> None:
        try:
            session.acquire(seq)
        except Exception as e:  # the raw data written so far stays on disk
            log.exception("acquisition failed")
            self._report(f"Acquisition failed: {e}")

    @ensure_main_thread
    def _report(self, message: str) -> None:
        self._error(message)

    def _scorer(self) -> Any:
        """Return a per-frame scorer on the demo camera (it knows the truth), else None."""
        from scope_deblur.demo import demo_camera, frame_scorer

        try:
            return frame_scorer(demo_camera(self._mmc))  # type: ignore[arg-type]
        except TypeError:  # not the demo camera
            return None

    @ensure_main_thread
    def _on_finished(self, *_: Any) -> None:
        self._connections.close()
        if self.session is None:
            return
        self._set_state("catching-up")
        self.statusBar().showMessage("Acquisition finished; restoring skipped frames…")
        worker = thread_worker(finish_session, start_thread=False)(self._mda_thread, self.session)
        worker.returned.connect(self._on_done)
        worker.errored.connect(lambda e: self._abort(f"Catch-up failed: {e}"))
        worker.start()

    def _on_done(self, summary: dict[str, Any]) -> None:
        self._set_state("idle")
        self.summary = summary
        if summary["state"] == "interrupted":
            self.statusBar().showMessage(
                f"Run interrupted; raw frames are complete. Finish it with: "
                f"scope-deblur resume {self._run_dir}"
            )
            return
        self._update_status()
        # The bar ends on what the run delivered, whatever it showed last (live or catch-up).
        self.progress.setRange(0, max(summary["frames_acquired"], 1))
        self.progress.setValue(summary["frames_restored"])
        self.progress.setFormat("%v / %m frames restored")
        self.summary_label.setText(_format_summary(summary))
        self.statusBar().showMessage(f"Done: {self._run_dir}")

    def _abort(self, message: str) -> None:
        self._set_state("idle")
        self._error(message)

    def _error(self, message: str) -> None:
        """Report without blocking (a modal dialog would stall tests and scripts)."""
        log.error(message)
        self.last_error = message
        self.statusBar().showMessage(message)
        box = QMessageBox(QMessageBox.Icon.Warning, "scope-deblur", message, parent=self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    def _set_state(self, state: str) -> None:
        self._state = state
        self.start_btn.setEnabled(state == "idle")
        self.stop_btn.setEnabled(state == "acquiring")
        for w in (self.mda, self.method, self.device, self.out_dir):
            w.setEnabled(state == "idle" and (w is not self.method or self._restorer is None))
        if state == "idle":
            self._timer.stop()
        else:
            self._timer.start()

    # --- views and status (GUI thread) ----------------------------------------------
    @ensure_main_thread
    def _show_raw(self, img: np.ndarray, event: Any, *_: Any) -> None:
        idx = " ".join(f"{k}={v}" for k, v in event.index.items())
        self.raw_view.set_image(img, idx)

    def _show_restored(self) -> None:
        got = self._tap.take()
        if got is None:
            return
        img, rec = got
        what = "not restored" if rec.mode == "passthrough" else rec.mode
        d = "—" if np.isnan(rec.defocus_um) else f"{rec.defocus_um:.1f} µm"
        self.restored_view.set_image(
            img, f"{rec.index} ({what}) · defocus {d}, confidence {rec.confidence:.2f}"
        )
        self._last_record = rec

    def _on_progress(self, i: int, n: int) -> None:
        self.progress.setRange(0, n)
        self.progress.setValue(i)
        self.progress.setFormat("catch-up %v / %m")

    def _update_status(self) -> None:
        recs = self.pipeline.records if self.pipeline is not None else []
        live = [r for r in recs if r.mode == "live"]
        skipped = len(self.pipeline.skipped) if self.pipeline is not None else 0
        rec = self._last_record
        d = "—" if rec is None or np.isnan(rec.defocus_um) else f"{rec.defocus_um:.1f} µm"
        c = "—" if rec is None else f"{rec.confidence:.2f}"
        lat = f"{live[-1].latency_ms:.0f} ms" if live else "—"
        self.status.setText(
            f"Defocus <b>{d}</b> &nbsp; confidence {c} &nbsp; latency {lat} &nbsp;|&nbsp; "
            f"acquired <b>{len(recs)}</b> &nbsp; restored live {len(live)} "
            f"&nbsp; skipped {skipped}"
        )
        if self._state == "acquiring":
            self.progress.setValue(len(recs))

    def _load_profile(self) -> OpticsProfile | None:
        from scope_deblur.optics import load_profile

        text = self.profile.text().strip()
        return load_profile(Path(text).expanduser()) if text else None

    def _pick_profile(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Optics profile", self.profile.text(), "Optics profile (*.json)"
        )
        if path:
            self.profile.setText(path)

    def _browse(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Save runs to", self.out_dir.text())
        if path:
            self.out_dir.setText(path)

    # --- shutdown ----------------------------------------------------------------------
    def closeEvent(self, event: Any) -> None:
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self, timeout_s: float = 30.0) -> None:
        """Cancel any run and drop the core (safe to call twice).

        Raw frames are saved by the MDA runner and stay complete; a catch-up still
        pending is stopped, leaving ``restored.ome.tif.partial`` and ``frames.csv``.
        """
        if self._mmc is None:
            return
        self._timer.stop()
        if self.session is not None:
            self.session.cancel()  # acquisition and catch-up stop; the run stays resumable
        if self._mda_thread is not None:
            self._mda_thread.join(timeout_s)
        self._connections.close()
        if self._state == "catching-up":
            from superqt.utils import WorkerBase

            WorkerBase.await_workers(int(timeout_s * 1000))
        elif self._state == "acquiring" and self.session is not None:
            self.session.finish()  # cancelled: no catch-up, a resumable run
        self._state = "idle"
        self.session = None
        self._mmc = None


def _format_summary(s: dict[str, Any]) -> str:
    def num(v: Any, fmt: str) -> str:
        return "—" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, fmt)

    lines = [
        f"<b>Run complete</b>: {s['frames_acquired']} acquired, {s['frames_saved_raw']} saved "
        f"raw, {s['frames_restored']} restored ({s['frames_restored_live']} live, "
        f"{s['frames_restored'] - s['frames_restored_live']} catch-up) with "
        f"{s['method']} on {s['device']}; median latency "
        f"{num(s['restore_latency_ms_median'], '.0f')} ms.",
    ]
    if s.get("psnr_input_db") is not None:
        lines.append(
            f"Demo truth: defocus error {num(s['defocus_mae_um'], '.2f')} µm; PSNR "
            f"{num(s['psnr_input_db'], '.2f')} → {num(s['psnr_restored_db'], '.2f')} dB; "
            f"SSIM {num(s['ssim_input'], '.3f')} → {num(s['ssim_restored'], '.3f')}."
        )
    if s.get("errors"):
        lines.append("Errors: " + "; ".join(s["errors"]))
    lines.append(f"Saved: {Path(s['outputs']['raw']).parent}")
    return "<br>".join(lines)
