"""The window's controller, driven with a mocked view (no Qt): runs, pause, cancel,
failures, the focus lock and positions; and the Qt-free pieces beside it."""

from __future__ import annotations

import ast
import math
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from unittest.mock import MagicMock

import numpy as np
import pytest
import useq
from scope_deblur.protocols import DefocusEstimate

from tests.conftest import ScaleRestorer

GUI = Path(__file__).resolve().parents[1] / "gui" / "scope_deblur_gui"
QT_FREE = (
    "_controller.py",
    "_types.py",
    "_overlay.py",
    "_trace.py",
    "_summary.py",
    "_models.py",
    "__init__.py",
    "cli.py",
)
QT_PACKAGES = ("qtpy", "PySide6", "PyQt5", "PyQt6", "superqt", "pymmcore_widgets", "ndv", "vispy")


@pytest.fixture(autouse=True)
def _qt_when_pymmcore_uses_it():
    """Importing pymmcore-widgets (another test module does) sets PYMM_SIGNALS_BACKEND=qt:
    cores made after it deliver MDA signals through a Qt event loop, so give them one.
    Without it the controller runs on psygnal alone (as in a script)."""
    if os.environ.get("PYMM_SIGNALS_BACKEND") == "qt":
        from qtpy.QtWidgets import QApplication

        QApplication.instance() or QApplication([])


def _controller(core, tmp_path, **kw):
    from scope_deblur_gui import RunController, RunSettings, View

    view = MagicMock(spec=View)
    settings = kw.pop("settings", None) or RunSettings(out_dir=tmp_path)
    return RunController(view, mmcore=core, settings=settings, **kw), view


def _pump():
    """Let queued Qt signals through if a QApplication exists (an earlier test made one):
    pymmcore-plus then delivers MDA signals on this thread's event loop."""
    qt = sys.modules.get("qtpy.QtWidgets")
    if qt is not None and qt.QApplication.instance() is not None:
        qt.QApplication.processEvents()


def _wait(pred, timeout=30.0):
    t0 = time.monotonic()
    while not pred():
        if time.monotonic() - t0 > timeout:
            raise TimeoutError("condition not met in time")
        _pump()
        time.sleep(0.02)


def _join(ctl, timeout=60.0):
    """Wait for the controller's run thread to end."""
    _wait(lambda: ctl.wait(0), timeout)
    return True


def _settled(count, timeout=10.0):
    """Return ``count()`` once it has stopped changing for 0.4 s."""
    t0, last = time.monotonic(), count()
    while time.monotonic() - t0 < timeout:
        for _ in range(20):
            _pump()
            time.sleep(0.02)
        now = count()
        if now == last:
            return now
        last = now
    raise TimeoutError(f"still changing: {last}")


def _states(view):
    return [c.args[0] for c in view.set_state.call_args_list]


def test_a_run_goes_through_its_states_to_a_summary(demo_core, oracle, tmp_path):
    restorer = ScaleRestorer()
    ctl, view = _controller(demo_core, tmp_path, estimator=oracle, restorer=restorer)
    assert ctl.start(useq.MDASequence(time_plan={"interval": 0, "loops": 5}))
    assert ctl.running and not ctl.start(useq.MDASequence(time_plan={"interval": 0, "loops": 1}))
    assert _join(ctl, 60)
    s = ctl.summary
    assert s["state"] == "complete" and s["frames_acquired"] == s["frames_restored"] == 5
    assert _states(view) == ["loading", "acquiring", "catching-up", "idle"]
    view.show_summary.assert_called_once_with(s)
    view.show_error.assert_not_called()
    assert ctl.run_dir.parent == tmp_path and (ctl.run_dir / "frames.csv").is_file()
    assert restorer.calls == 5
    series = ctl.trace.snapshot()
    assert list(series) == ["p0"] and len(series["p0"].time_s) == 5
    assert np.all(np.diff(series["p0"].time_s) >= 0) and np.isfinite(series["p0"].defocus_um).all()
    assert np.isfinite(series["p0"].true_defocus_um).all()  # the demo's truth, after the run
    frames = ctl.take_frames()
    assert frames.raw is not None and frames.raw_caption.startswith("t=")
    assert frames.restored is not None and frames.record.mode in ("live", "catch-up")
    np.testing.assert_allclose(frames.restored.max(), frames.restored.max())  # finite
    assert ctl.take_frames().raw is None  # taken
    progress = [c.args for c in view.set_progress.call_args_list]
    assert (5, 5, "frames acquired") in progress
    assert progress[-1] == (5, 5, "restored planes written")
    assert ctl.lock_status.state == "off"
    ctl.shutdown()


def test_start_refuses_what_cannot_run_and_says_why(demo_core, oracle, tmp_path):
    from scope_deblur_gui import RunSettings

    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    ctl, view = _controller(
        demo_core, tmp_path, settings=RunSettings(out_dir=blocker), estimator=oracle
    )
    assert not ctl.start(useq.MDASequence(time_plan={"interval": 0, "loops": 2}))
    assert "Cannot start" in view.show_error.call_args.args[0] and not ctl.running
    ctl.settings.out_dir = tmp_path
    assert not ctl.start(useq.MDASequence())  # no frames
    assert "no frames" in view.show_error.call_args.args[0]
    ctl.settings.profile = tmp_path / "missing.json"
    assert not ctl.start(useq.MDASequence(time_plan={"interval": 0, "loops": 2}))
    assert "optics profile not found" in view.show_error.call_args.args[0]
    view.set_state.assert_not_called()
    assert list(tmp_path.iterdir()) == [blocker]  # no run folder left behind


def test_new_run_folders_never_collide(tmp_path):
    from scope_deblur_gui._controller import new_run_dir

    first = new_run_dir(tmp_path, now=0)
    first.mkdir()
    second = new_run_dir(tmp_path, now=0)
    assert second != first and second.name == first.name + "_1" and not second.exists()


def test_pause_holds_the_camera_and_cancel_leaves_a_resumable_run(demo_core, oracle, tmp_path):
    ctl, view = _controller(demo_core, tmp_path, estimator=oracle, restorer=ScaleRestorer())
    ctl.start(useq.MDASequence(time_plan={"interval": 0.05, "loops": 400}))
    _wait(lambda: ctl.session is not None and len(ctl.session.indices) >= 3)
    ctl.pause(True)
    assert ctl.state == "paused"
    _wait(demo_core.mda.is_paused, 5)  # at the next event boundary
    held = _settled(lambda: len(ctl.session.indices))  # frames already taken still arrive
    for _ in range(30):
        _pump()
        time.sleep(0.02)
    assert len(ctl.session.indices) == held
    ctl.pause(False)
    assert ctl.state == "acquiring" and not demo_core.mda.is_paused()
    _wait(lambda: len(ctl.session.indices) > held + 1)
    ctl.cancel()
    assert _join(ctl, 60)
    s = ctl.summary
    assert s["state"] == "interrupted" and held < s["frames_acquired"] < 400
    assert s["frames_saved_raw"] == s["frames_acquired"]
    assert _states(view)[:4] == ["loading", "acquiring", "paused", "acquiring"]
    assert _states(view)[-1] == "idle"
    assert "resume" in view.set_state.call_args.args[1]


def test_cancel_while_the_models_load_starts_nothing(demo_core, oracle, tmp_path):
    from scope_deblur_gui._models import Models

    gate = threading.Event()

    def slow_models(settings, profile, core):
        gate.wait(10)
        return Models(oracle, ScaleRestorer(), "cpu")

    ctl, view = _controller(demo_core, tmp_path, models=slow_models)
    ctl.start(useq.MDASequence(time_plan={"interval": 0, "loops": 3}))
    assert ctl.state == "loading"
    ctl.cancel()
    gate.set()
    assert _join(ctl, 20)
    assert ctl.summary is None and ctl.session is None and not ctl.running
    assert _states(view)[0] == "loading" and set(_states(view)) == {"loading", "idle"}
    assert "Cancelled" in view.set_state.call_args.args[1]
    view.show_error.assert_not_called()


def test_models_that_fail_to_load_are_reported(demo_core, tmp_path):
    def broken(settings, profile, core):
        raise RuntimeError("no weights for fusion-9000")

    ctl, view = _controller(demo_core, tmp_path, models=broken)
    ctl.start(useq.MDASequence(time_plan={"interval": 0, "loops": 2}))
    assert _join(ctl, 20)
    message = view.show_error.call_args.args[0]
    assert message.startswith("Cannot load the models") and "fusion-9000" in message
    assert _states(view) == ["loading", "idle"] and ctl.summary is None


def test_a_failing_restorer_is_reported_once_and_the_run_completes(demo_core, oracle, tmp_path):
    restorer = ScaleRestorer(fail_on=set(range(1, 100)))  # live and in the catch-up
    ctl, view = _controller(demo_core, tmp_path, estimator=oracle, restorer=restorer)
    ctl.start(useq.MDASequence(time_plan={"interval": 0, "loops": 4}))
    assert _join(ctl, 60)
    s = ctl.summary
    assert s["frames_saved_raw"] == s["frames_acquired"] == 4
    errors = [c.args[0] for c in view.show_error.call_args_list]
    assert len(errors) == 2, errors  # the first failure as it happens, then the summary's
    assert "Restoration failed on frame" in errors[0] and "injected failure" in errors[0]
    assert "error" in errors[1] and "raw frame" in errors[1]
    assert ctl.trace.snapshot()["p0"].mode.count("passthrough") == 3
    assert s["state"] == "complete" and len(s["errors"]) >= 1


@pytest.mark.parametrize("lock", [False, True])
def test_focus_lock_on_and_off(demo_core, oracle, tmp_path, lock):
    from scope_deblur_gui import RunSettings

    settings = RunSettings(out_dir=tmp_path, focus_lock=lock, lock_max_step_um=10)
    ctl, view = _controller(
        demo_core, tmp_path, settings=settings, estimator=oracle, restorer=ScaleRestorer()
    )
    demo_core.setZPosition(demo_core.getZPosition() + 12)  # start out of focus
    ctl.start(useq.MDASequence(time_plan={"interval": 0, "loops": 6}))
    assert _join(ctl, 60)
    s = ctl.summary
    statuses = [c.args[0] for c in view.set_lock_status.call_args_list]
    series = ctl.trace.snapshot()["p0"]
    assert s["focus_lock"] is lock and s["frames_acquired"] == 6
    if not lock:
        assert [st.state for st in statuses] == ["off"] or statuses == []
        assert len(series.lock_time_s) == 0 and ctl.lock is None
        return
    assert statuses[0].state == "armed"
    assert {st.state for st in statuses[1:]} & {"probing", "correcting", "locked", "held"}
    assert s["stage_moves"] > 0 and (ctl.run_dir / "focus.csv").is_file()
    assert len(series.lock_time_s) == 6 and np.isfinite(series.lock_time_s).all()
    assert np.abs(series.lock_offset_um).max() > 1  # it corrected
    assert "correction" in statuses[-1].text() or statuses[-1].state == "stopped"


def test_two_positions_complete_and_trace_apart(demo_core, oracle, tmp_path):
    from scope_deblur_gui import RunSettings

    z = demo_core.getZPosition()
    seq = useq.MDASequence(
        time_plan={"interval": 0, "loops": 3},
        stage_positions=[(0, 0, z), (50, 20, z)],
        axis_order="tpcz",
    )
    ctl, view = _controller(
        demo_core,
        tmp_path,
        settings=RunSettings(out_dir=tmp_path, queue_size=1),
        estimator=oracle,
        restorer=ScaleRestorer(delay_s=0.05),  # behind the camera: some frames catch up
    )
    ctl.start(seq)
    assert _join(ctl, 60)
    s = ctl.summary
    assert s["state"] == "complete" and s["frames_restored"] == s["frames_acquired"] == 6
    view.show_error.assert_not_called()
    series = ctl.trace.snapshot()
    assert list(series) == ["p0", "p1"] and all(len(v.time_s) == 3 for v in series.values())
    modes = [m for v in series.values() for m in v.mode]
    assert set(modes) <= {"live", "catch-up"} and "catch-up" in modes


def test_snap_reaches_the_raw_viewer(demo_core, tmp_path):
    ctl, view = _controller(demo_core, tmp_path)
    demo_core.snapImage()
    view.frames_ready.assert_called_once()
    demo_core.snapImage()  # not taken yet: no second notice
    view.frames_ready.assert_called_once()
    f = ctl.take_frames()
    assert f.raw_caption == "snap" and f.raw.shape == (512, 512) and f.restored is None
    np.testing.assert_array_equal(f.raw, demo_core.getImage())
    ctl.shutdown()
    demo_core.snapImage()
    assert view.frames_ready.call_count == 1  # disconnected


class MapEstimator:
    name = "map"

    def estimate(self, frame):
        return DefocusEstimate(5.0, 0.9, 1.0, np.full(frame.shape, 5.0, np.float32))


def test_the_overlay_brings_each_raw_frame_with_its_map(demo_core, tmp_path):
    ctl, view = _controller(demo_core, tmp_path, estimator=MapEstimator())
    frame = np.ones((8, 8), np.uint16)
    ctl.preview(frame, "live")
    assert ctl.take_frames().defocus_map is None  # overlay off: no map
    ctl.set_overlay(True)  # the last frame comes back with its map
    _wait(lambda: view.frames_ready.call_count >= 2)
    f = ctl.take_frames()
    assert f.raw is frame and f.defocus_map.shape == (8, 8) and f.defocus_map[0, 0] == 5.0
    ctl.set_overlay(False)
    ctl.preview(frame * 2, "live")
    assert ctl.take_frames().defocus_map is None
    ctl.shutdown()


def test_the_trace_keys_positions_as_the_lock_does():
    from scope_deblur.focus import LockStep
    from scope_deblur.live import FrameRecord

    from scope_deblur_gui._trace import DefocusTrace, index_label, position_key

    assert position_key("t=3 p=1") == "p1" and position_key("t=0") == "p0"
    assert position_key("t=0 p=2 g=1") == "p2g1"
    assert index_label({"t": 3, "p": 1}) == "t=3 p=1"
    trace = DefocusTrace()
    v0 = trace.version
    trace.add_record(FrameRecord(frame=1, index="t=1 p=0", mode="live", time_s=2.0))
    trace.add_record(FrameRecord(frame=0, index="t=0 p=0", mode="catch-up", time_s=1.0))
    trace.add_record(FrameRecord(frame=2, index="t=0 p=1", mode="live"))  # no time: frame no.
    trace.note_time("t=0 p=0", 1.0)
    trace.add_steps(
        [
            LockStep("data", "p0", "t=0 p=0", 0.0, offset_um=3.0),
            LockStep("probe", "p0", "t=0 p=0", 4.0, offset_um=4.0),
        ]
    )
    trace.add_steps([LockStep("data", "p0", "t=1 p=0", 3.0, offset_um=-2.0)])
    trace.note_time("t=1 p=0", 2.0)  # the lock ran ahead of the frame's signal
    snap = trace.snapshot()
    assert trace.version > v0 and trace.positions() == ["p0", "p1"]
    assert list(snap["p0"].time_s) == [1.0, 2.0] and snap["p0"].mode == ["catch-up", "live"]
    assert list(snap["p1"].time_s) == [2.0]
    assert list(snap["p0"].lock_time_s) == [1.0, 2.0]
    assert list(snap["p0"].lock_offset_um) == [3.0, -2.0]
    trace.clear()
    assert trace.snapshot() == {}


def test_summary_lines_and_problem():
    from scope_deblur_gui._summary import summary_lines, summary_problem

    s = {
        "state": "interrupted",
        "frames_acquired": 7,
        "frames_saved_raw": 7,
        "frames_restored": 5,
        "frames_restored_live": 4,
        "method": "fusion",
        "device": "cpu",
        "restore_latency_ms_median": math.nan,
        "psnr_input_db": 20.0,
        "psnr_restored_db": 25.5,
        "defocus_mae_um": 0.5,
        "ssim_input": 0.5,
        "ssim_restored": 0.7,
        "focus_lock": True,
        "stage_moves": 3,
        "frames_probe": 1,
        "lock_stopped": "the focus stage failed",
        "errors": ["a", "b", "c", "d"],
        "outputs": {"raw": "/runs/r1/raw.ome.zarr"},
    }
    text = "\n".join(summary_lines(s))
    assert "Run stopped early: 7 frames acquired" in text and "4 live, 1 caught up" in text
    assert "latency — ms" in text and "20.00 → 25.50 dB" in text
    assert "stopped: the focus stage failed" in text and "scope-deblur resume /runs/r1" in text
    problem = summary_problem(s)
    assert "4 error(s) (and 1 more)" in problem and "• c" in problem and "• d" not in problem
    assert summary_problem({**s, "errors": []}) is None


@pytest.mark.parametrize("name", QT_FREE)
def test_the_controller_side_imports_no_qt(name):
    tree = ast.parse((GUI / name).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            imported.add(node.module)
    assert not [m for m in imported if m.split(".")[0] in QT_PACKAGES]


def test_the_controller_runs_without_qt_loaded():
    code = (
        "import sys, scope_deblur_gui as g; g.RunController; g.RunSettings(); "
        f"bad = [m for m in sys.modules if m.split('.')[0] in {QT_PACKAGES!r}]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
