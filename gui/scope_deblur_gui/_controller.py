"""The acquisition window's controller: run state, run folders, live session, focus lock.

    View ──start/pause/cancel──► RunController ──► run thread: models ─► LiveSession.acquire
      ▲                              │  frames, trace, lock state         └► finish (catch-up)
      └──── View protocol calls ─────┘  (from any thread; the view moves them to its own)

No Qt here: the window implements :class:`View` and only connects widgets to this
class; tests drive it with ``MagicMock(spec=View)``, as ndv tests its controller.
Nothing runs a model on the caller's thread: models load, the MDA runs and the
catch-up restores on the run thread; the defocus-map overlay on its own thread.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from scope_deblur.focus import FocusLock, LockConfig
from scope_deblur.live import FrameRecord, LiveSession, RunFolder
from scope_deblur.optics import OpticsProfile, load_profile

from ._models import Models, build_models, demo_truth
from ._overlay import Overlay
from ._summary import summary_problem
from ._trace import DefocusTrace, index_label
from ._types import Frames, LockStatus, RunSettings, RunState, View

if TYPE_CHECKING:
    from pymmcore_plus import CMMCorePlus
    from scope_deblur.protocols import DefocusEstimator, Restorer
    from useq import MDAEvent, MDASequence

__all__ = ["RunController", "new_run_dir"]

log = logging.getLogger(__name__)


def new_run_dir(out_dir: Path, now: float | None = None) -> Path:
    """Return a run folder under ``out_dir`` that does not exist yet (``run-YYYYmmdd-HHMMSS``)."""
    stem = time.strftime("run-%Y%m%d-%H%M%S", time.localtime(now))
    path, k = Path(out_dir).expanduser() / stem, 1
    while path.exists():
        path, k = path.with_name(f"{stem}_{k}"), k + 1
    return path


ModelFactory = Callable[[RunSettings, "OpticsProfile | None", "CMMCorePlus"], Models]


class RunController:
    """Run acquisitions on ``mmcore`` for a :class:`View` (see module).

    Parameters
    ----------
    view : View
        The window (or a mock).
    mmcore : CMMCorePlus
        The microscope.
    settings : RunSettings, optional
        The next run's settings (the window edits :attr:`settings`).
    estimator, restorer : optional
        Use these instead of the models ``settings`` names (tests, plugins).
    models : callable, optional
        Builds the models from the settings (default :func:`build_models`).
    """

    def __init__(
        self,
        view: View,
        *,
        mmcore: CMMCorePlus,
        settings: RunSettings | None = None,
        estimator: DefocusEstimator | None = None,
        restorer: Restorer | None = None,
        models: ModelFactory = build_models,
    ) -> None:
        self.view, self.core = view, mmcore
        self.settings = settings or RunSettings()
        self._injected = (estimator, restorer)
        self._models = models
        self.state: RunState = "idle"
        self.session: LiveSession | None = None
        self.summary: dict[str, Any] | None = None
        self.run_dir: Path | None = None
        self.trace = DefocusTrace()
        self.lock: FocusLock | None = None
        self.last_error = ""
        self._mutex = threading.Lock()
        self._thread: threading.Thread | None = None
        self._cancel = threading.Event()
        self._latest: dict[str, Any] = {}
        self._notified = False
        self._steps_seen = 0
        self._lock_status = LockStatus("off")
        self._failed_once = False
        self._overlay = Overlay(self)
        mmcore.events.imageSnapped.connect(self._on_snap)

    # --- run control (the view's thread) ------------------------------------------
    @property
    def fixed_models(self) -> bool:
        """Whether the models were given (the window cannot choose a method)."""
        return self._injected[1] is not None

    @property
    def running(self) -> bool:
        """Whether a run is loading, acquiring, paused or catching up."""
        return self.state != "idle"

    def start(self, sequence: MDASequence) -> bool:
        """Start ``sequence`` in a new run folder; False (and an error shown) if it cannot."""
        if self.running:
            return False
        try:
            n = sum(1 for _ in sequence)
            if n == 0:
                raise ValueError("the acquisition has no frames: enable an axis with frames")
            profile = load_profile(self.settings.profile) if self.settings.profile else None
            run_dir = new_run_dir(self.settings.out_dir)
            run_dir.mkdir(parents=True)
        except Exception as e:
            self._error(f"Cannot start: {e}")
            return False
        self._cancel.clear()
        self.summary, self.run_dir, self.session, self._failed_once = None, run_dir, None, False
        self.trace.clear()
        self.view.trace_changed()
        self.lock = self._new_lock()
        self._steps_seen = 0
        self._set_lock_status(LockStatus("armed" if self.lock else "off"))
        self._set_state("loading", "Loading models…")
        self.view.set_progress(0, n, "frames acquired")
        self._thread = threading.Thread(
            target=self._run, args=(sequence, run_dir, profile, n), name="scope-deblur-run"
        )
        self._thread.start()
        return True

    def pause(self, paused: bool = True) -> None:
        """Pause the acquisition (or resume it); raw frames so far stay saved."""
        if self.state == "acquiring" and paused:
            self.core.mda.set_paused(True)
            self._set_state("paused", "Paused: press Resume to go on.")
            threading.Thread(
                target=self._hold_pause, name="scope-deblur-pause", daemon=True
            ).start()
        elif self.state == "paused" and not paused:
            self.core.mda.set_paused(False)
            self._set_state("acquiring", f"Acquiring → {self.run_dir}")

    def _hold_pause(self) -> None:
        """Keep the runner paused while the window says so.

        pymmcore-plus 0.18 can lose a pause asked for while it waits for the next
        time point (the wait ends and sets "acquiring" over "paused"); asked again
        while it acquires, the pause takes at the end of that frame.
        """
        mda = self.core.mda
        while self.state == "paused" and not self._cancel.is_set():
            status = mda.status
            if status.phase.value == "acquiring" and not status.pause_requested:
                mda.set_paused(True)
            time.sleep(0.05)

    def cancel(self) -> None:
        """Stop the run: acquisition, or the catch-up (the run stays resumable)."""
        self._cancel.set()
        session = self.session
        if session is not None:
            if self.state == "paused":
                self.core.mda.set_paused(False)
            session.cancel()
        if self.running:
            self.view.set_state(self.state, "Stopping…")

    def wait(self, timeout_s: float | None = None) -> bool:
        """Wait for the run thread to end; True if it did (tests, shutdown)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout_s)
            return not thread.is_alive()
        return True

    def shutdown(self, timeout_s: float = 30.0) -> None:
        """Cancel any run, wait for it and let go of the core (safe to call twice)."""
        self.cancel()
        self.wait(timeout_s)
        self._overlay.stop()
        try:
            self.core.events.imageSnapped.disconnect(self._on_snap)
        except Exception:  # already disconnected
            pass
        self.session = None

    # --- frames for the viewers -----------------------------------------------------
    def preview(self, img: np.ndarray, caption: str = "live") -> None:
        """Show a frame from Snap or Live in the raw viewer (no run needed)."""
        self._overlay.last = (img, caption)
        self._offer(raw=(img, caption))

    def take_frames(self) -> Frames:
        """Return the newest frames since the last call (the view's thread)."""
        with self._mutex:
            latest, self._latest, self._notified = self._latest, {}, False
        raw, caption = latest.get("raw", (None, ""))
        restored, rec = latest.get("restored", (None, None))
        return Frames(raw, caption, restored, rec, latest.get("map"))

    @property
    def overlay(self) -> bool:
        """Whether the raw frames get their DelpNet defocus map."""
        return self._overlay.enabled

    def set_overlay(self, on: bool) -> None:
        """Compute the defocus map of the frames the raw viewer shows (off the view's thread)."""
        self._overlay.enabled = on
        last = self._overlay.last
        if last is not None:
            self._offer(raw=last)

    def overlay_estimator(self) -> DefocusEstimator:
        """Return DelpNet for the overlay when no run has loaded it yet (overlay thread)."""
        from scope_deblur.methods import build_estimator, resolve_device

        pixel_um = self.core.getPixelSizeUm() or None
        return build_estimator(resolve_device(self.settings.device), pixel_um=pixel_um)

    def _offer(self, _estimated: bool = False, **items: Any) -> None:
        """Keep the newest of each item for :meth:`take_frames`; tell the view once."""
        if "raw" in items and self._overlay.enabled and not _estimated:
            self._overlay.offer(*items.pop("raw"))  # comes back with its map
            if not items:
                return
        if "raw" in items and "map" not in items:
            items["map"] = None
        with self._mutex:
            self._latest.update(items)
            notify, self._notified = not self._notified, True
        if notify:
            self.view.frames_ready()

    # --- the run (run thread) ---------------------------------------------------------
    def _run(self, sequence: MDASequence, run_dir: Path, profile: Any, n: int) -> None:
        try:
            models = self._load(profile)
        except Exception as e:
            log.exception("loading the models failed")
            self._error(f"Cannot load the models: {type(e).__name__}: {e}")
            self._set_state("idle", "Ready.")
            return
        if self._cancel.is_set():
            self._set_state("idle", "Cancelled before the acquisition started.")
            return
        try:
            session = self._session(models, run_dir, profile)
        except Exception as e:
            log.exception("the session could not be set up")
            self._error(f"Cannot start the acquisition: {type(e).__name__}: {e}")
            self._set_state("idle", "Ready.")
            return
        self._overlay.estimator = models.estimator
        self.session = session
        self._set_state("acquiring", f"Acquiring {n} frames → {run_dir}")
        ev = self.core.mda.events
        ev.frameReady.connect(self._on_frame)
        try:
            session.acquire(sequence)
        except Exception as e:  # refused before any frame (disk space, folder)
            log.exception("the acquisition did not start")
            self._error(f"Cannot start the acquisition: {e}")
        finally:
            ev.frameReady.disconnect(self._on_frame)
        self._read_lock()
        if self._cancel.is_set():
            self._set_state("catching-up", "Stopped: closing the run (no catch-up)…")
        else:
            self._set_state("catching-up", "Acquisition finished; restoring skipped frames…")
        try:
            summary = session.finish()
        except Exception as e:
            log.exception("finishing the run failed")
            self._error(f"Finishing the run failed: {type(e).__name__}: {e}")
            self._set_state("idle", f"Raw frames are saved in {run_dir}.")
            return
        if session.pipeline is not None:
            self.trace.add_records(session.pipeline.records)  # now with the demo's truth
            self.view.trace_changed()
        self.summary = summary
        self._set_state("idle", _done_message(summary, run_dir))
        self.view.show_summary(summary)
        problem = summary_problem(summary)
        if problem:
            self._error(problem)

    def _load(self, profile: OpticsProfile | None) -> Models:
        estimator, restorer = self._injected
        if estimator is not None:
            return Models(estimator, restorer, "cpu")
        return self._models(self.settings, profile, self.core)

    def _new_lock(self) -> FocusLock | None:
        s = self.settings
        if not s.focus_lock:
            return None
        return FocusLock(
            LockConfig(max_step_um=s.lock_max_step_um, max_excursion_um=s.lock_max_excursion_um)
        )

    def _session(self, models: Models, run_dir: Path, profile: Any) -> LiveSession:
        s = self.settings
        scorer, truth = demo_truth(self.core)
        session = LiveSession(
            self.core,
            RunFolder(run_dir, s.format),
            estimator=models.estimator,
            restorer=models.restorer,
            device=models.device,
            queue_size=s.queue_size,
            scorer=scorer,
            focus_lock=self.lock,
            focus_truth=truth,
            settings={
                "command": "gui",
                "method": models.restorer.name if models.restorer else None,
                "profile": str(s.profile) if s.profile else None,
                "focus_lock": self.lock.config.model_dump() if self.lock else None,
            },
        )
        ev = session.events
        ev.frameRestored.connect(self._on_restored)
        ev.frameAcquired.connect(self._on_acquired)
        ev.catchUpProgress.connect(self._on_catch_up)
        ev.outputProgress.connect(self._on_output)
        return session

    # --- session and MDA callbacks (worker and acquisition threads) -------------------
    def _on_frame(self, img: np.ndarray, event: MDAEvent, *meta: Any) -> None:
        label = index_label(event.index)
        if meta and isinstance(meta[0], dict):
            self.trace.note_time(label, float(meta[0].get("runner_time_ms", math.nan)) / 1e3)
        self._overlay.last = (img, label)
        self._offer(raw=(img, label))
        self._read_lock()
        if self.session is not None and self.session.pipeline is None:
            self.view.set_progress(len(self.session.indices), -1, "frames acquired")

    def _on_acquired(self, done: int, total: int) -> None:
        self.view.set_progress(done, total, "frames acquired")

    def _on_catch_up(self, done: int, total: int) -> None:
        self.view.set_progress(done, total, "caught up")

    def _on_output(self, done: int, total: int) -> None:
        self.view.set_progress(done, total, "restored planes written")

    def _on_restored(self, rec: FrameRecord, frame: np.ndarray) -> None:
        self.trace.add_record(rec)
        self._offer(restored=(frame, rec))
        self.view.trace_changed()
        if rec.mode == "passthrough" and rec.error and not self._failed_once:
            self._failed_once = True
            self._error(
                f"Restoration failed on frame {rec.index}: {rec.error}. The raw frame is "
                "saved and the frame stored unrestored; the run goes on."
            )

    def _on_snap(self, *_: Any) -> None:
        if self.core.mda.is_running():  # MDA frames come through frameReady
            return
        self.preview(self.core.getImage(), "snap")

    def _read_lock(self) -> None:
        """Add the focus lock's new frames to the trace; show its state."""
        lock = self.lock
        if lock is None:
            return
        steps = lock.steps[self._steps_seen :]
        self._steps_seen += len(steps)
        if steps:
            self.trace.add_steps(steps)
            self.view.trace_changed()
        last = next((s for s in reversed(lock.steps) if s.kind == "data"), None)
        if lock.stopped:
            status = LockStatus("stopped", lock.stopped)
        elif last is None:
            return
        else:
            status = LockStatus(last.state or "held", "", last.position, last.offset_um)
        self._set_lock_status(status)

    # --- helpers -------------------------------------------------------------------------
    def _set_state(self, state: RunState, message: str) -> None:
        self.state = state
        self.view.set_state(state, message)

    def _set_lock_status(self, status: LockStatus) -> None:
        if status != self._lock_status:
            self._lock_status = status
            self.view.set_lock_status(status)

    @property
    def lock_status(self) -> LockStatus:
        """The focus lock's state as last shown."""
        return self._lock_status

    def _error(self, message: str) -> None:
        log.error(message)
        self.last_error = message
        self.view.show_error(message)


def _done_message(summary: dict[str, Any], run_dir: Path) -> str:
    if summary["state"] == "interrupted":
        return f"Run stopped; raw frames are saved. Finish with: scope-deblur resume {run_dir}"
    return f"Done: {run_dir}"
