"""The acquisition window offscreen: widgets present and wired, offline icons, the CLI."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import useq

pytest.importorskip("pytestqt")
pytest.importorskip("pymmcore_widgets")
pytest.importorskip("ndv")

from tests.conftest import ScaleRestorer

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a connection fails the test."""
    calls = []

    def refuse(self, address, *args):
        calls.append(address)
        raise OSError(f"network blocked in tests: {address}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    return calls


@pytest.fixture
def window(qtbot, demo_core, oracle, tmp_path):
    from scope_deblur_gui import MainWindow, RunSettings
    from scope_deblur_gui._icons import seed_icon_cache

    seed_icon_cache()
    w = MainWindow(
        mmcore=demo_core,
        settings=RunSettings(out_dir=tmp_path / "runs"),
        estimator=oracle,
        restorer=ScaleRestorer(),
    )
    qtbot.addWidget(w)
    w.show()
    yield w
    w.close()
    assert w._mmc is None  # the window let go of its core


def _run(qtbot, w, seq, timeout=60_000):
    w.mda.setValue(seq)
    with qtbot.waitSignal(w.runFinished, timeout=timeout) as got:
        assert w.start()
    return got.args[0]


def test_the_microscopists_controls_are_there(qtbot, window, demo_core):
    from pymmcore_widgets import (
        ConfigurationWidget,
        ExposureWidget,
        LiveButton,
        MDAWidget,
        SnapButton,
        StageWidget,
    )

    w = window
    bar = w.microscope
    assert isinstance(bar.config, ConfigurationWidget) and bar.demo.text() == "Demo"
    assert isinstance(bar.snap, SnapButton) and isinstance(bar.live, LiveButton)
    assert isinstance(bar.exposure, ExposureWidget) and isinstance(w.mda, MDAWidget)
    assert "0.645 µm" in bar.pixel.text() and "Z " in bar.stage.text()
    kinds = sorted(s._dtype.name for s in w.stages.stages if isinstance(s, StageWidget))
    assert kinds == ["StageDevice", "XYStageDevice"]
    assert [w.tabs.tabText(i) for i in range(w.tabs.count())] == [
        "Acquisition",
        "Stage",
        "Restoration",
    ]
    assert w.start_btn.isEnabled() and not w.pause_btn.isEnabled() and not w.cancel_btn.isEnabled()
    assert sum(1 for _ in w.mda.value()) == 30  # the default time-lapse
    assert "Focus lock: off" in w.lock_state.text()
    demo_core.setZPosition(12.5)
    qtbot.waitUntil(lambda: "Z 12.50" in bar.stage.text(), timeout=3000)  # follows the stage


def test_mda_table_cells_show_their_values(qtbot, window):
    from qtpy.QtWidgets import QAbstractSpinBox, QTableWidget

    def cells():
        return [
            s
            for t in window.mda.findChildren(QTableWidget)
            for s in t.findChildren(QAbstractSpinBox)
            if s.buttonSymbols() == QAbstractSpinBox.ButtonSymbols.NoButtons
        ]

    shown = [s for s in cells() if s.isVisible()]
    assert "30" in [s.text() for s in shown]  # the loops of the default time-lapse
    for s in shown:
        assert s.lineEdit().width() > 10, f"{s.text()!r} is drawn in a 1 px field"
    before = len(cells())
    window.mda.setValue(useq.MDASequence(stage_positions=[(0, 0, 1), (5, 5, 2)]))
    qtbot.waitUntil(lambda: len(cells()) > before and not any(s.styleSheet() for s in cells()))


def test_snap_and_live_reach_the_raw_viewer(qtbot, window, demo_core):
    raw = window.viewers.raw
    window.microscope.snap.click()
    qtbot.waitUntil(lambda: raw.frames_shown == 1, timeout=5000)
    assert raw.caption.text() == "snap"
    np.testing.assert_array_equal(raw.frame, demo_core.getImage().astype(np.float32))
    window.microscope.live.click()
    qtbot.waitUntil(demo_core.isSequenceRunning, timeout=5000)
    qtbot.waitUntil(lambda: raw.frames_shown >= 3, timeout=10_000)
    assert raw.caption.text() == "live"
    window.microscope.live.click()
    qtbot.waitUntil(lambda: not demo_core.isSequenceRunning(), timeout=5000)
    shown = raw.frames_shown
    qtbot.wait(300)
    assert raw.frames_shown == shown  # live stopped


def test_a_run_fills_the_plot_and_both_viewers(qtbot, window, monkeypatch):
    w = window
    s = _run(qtbot, w, useq.MDASequence(time_plan={"interval": 0, "loops": 5}))
    assert s["state"] == "complete" and s["frames_restored"] == 5
    assert w.viewers.raw.has_frame() and w.viewers.restored.has_frame()
    assert w.viewers.raw.frames_shown >= 1 and w.viewers.restored.frames_shown >= 1
    assert "defocus" in w.viewers.restored.caption.text()
    qtbot.waitUntil(lambda: w.plot.points == 5, timeout=5000)
    assert len(w.plot.ax.lines) > 0
    text = w.summary_label.text()
    assert "Run complete: 5 frames acquired" in text and str(w.controller.run_dir) in text
    assert w.progress.value() == w.progress.maximum() == 5
    assert w.start_btn.isEnabled() and w.open_btn.isEnabled() and w.last_error == ""
    opened = []
    monkeypatch.setattr(
        "scope_deblur_gui._window.QDesktopServices.openUrl",
        lambda url: opened.append(url.toLocalFile()) or True,
    )
    w.open_btn.click()
    assert opened == [str(w.controller.run_dir)]


def test_pause_resume_and_cancel_buttons(qtbot, window, demo_core):
    w = window
    w.mda.setValue(useq.MDASequence(time_plan={"interval": 0.05, "loops": 400}))
    with qtbot.waitSignal(w.runFinished, timeout=60_000) as got:
        w.start()
        qtbot.waitUntil(w.pause_btn.isEnabled, timeout=10_000)  # acquiring
        assert w.cancel_btn.isEnabled() and not w.start_btn.isEnabled()
        assert not w.mda.isEnabled() and not w.microscope.isEnabled()
        w.pause_btn.click()
        assert w.controller.state == "paused" and w.pause_btn.text() == "Resume"
        qtbot.waitUntil(demo_core.mda.is_paused, timeout=5000)
        w.pause_btn.click()
        assert w.controller.state == "acquiring" and w.pause_btn.text() == "Pause"
        w.cancel_btn.click()
    assert got.args[0]["state"] == "interrupted"
    assert "resume" in w.summary_label.text()
    assert not w.pause_btn.isChecked() and w.mda.isEnabled()


def test_two_positions_with_the_focus_lock(qtbot, window, demo_core):
    w = window
    w.focus_lock.setChecked(True)
    z = demo_core.getZPosition()
    seq = useq.MDASequence(
        time_plan={"interval": 0, "loops": 3},
        stage_positions=[(0, 0, z + 8), (40, 10, z + 8)],
        axis_order="tpcz",
    )
    s = _run(qtbot, w, seq)
    assert s["state"] == "complete" and s["frames_restored"] == 6 and s["focus_lock"]
    assert w.controller.settings.focus_lock
    assert "Focus lock: off" not in w.lock_state.text()
    qtbot.waitUntil(lambda: w.plot.points == 6, timeout=5000)
    labels = [t.get_text() for t in w.plot.ax.get_legend().get_texts()]
    assert labels[:2] == ["p0", "p1"] and "lock correction" in labels


def test_errors_come_in_a_dialog_with_the_cause(qtbot, window, tmp_path):
    from qtpy.QtWidgets import QMessageBox

    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    window.out_dir.setText(str(blocker))
    assert not window.start()
    boxes = [b for b in window.findChildren(QMessageBox) if b.isVisible()]
    assert boxes and "Cannot start" in boxes[-1].text() and "a-file" in boxes[-1].text()
    assert not window.running
    window.microscope.config.cfg_LineEdit.setText(str(tmp_path / "nope.cfg"))
    window.microscope.config.load_cfg_Button.click()
    assert "no such file" in window.microscope.error


def test_linked_viewers_share_contrast_zoom_and_the_overlay_switch(qtbot, window):
    v = window.viewers
    assert v.raw.viewer.display_model.luts[0] is v.restored.viewer.display_model.default_lut
    v.lut.clims = (100.0, 200.0)  # one contrast for both
    assert v.restored.viewer.display_model.default_lut.clims.clim_type == "manual"
    assert v.linked
    cam_raw = v.raw.viewer._canvas._camera  # ndv keeps its camera private: peek in the test
    cam_restored = v.restored.viewer._canvas._camera
    cam_raw.rect = (10, 20, 100, 100)
    assert tuple(cam_restored.rect.pos) == (10, 20)
    assert not v.raw.overlay_lut.visible and not window.controller.overlay
    v.overlay.setChecked(True)
    assert v.raw.overlay_lut.visible and window.controller.overlay
    v.overlay.setChecked(False)
    assert not v.raw.overlay_lut.visible


def test_a_new_frame_keeps_the_zoom(qtbot, window):
    raw = window.viewers.raw
    raw.set_frame(np.ones((64, 48)), "a")  # a new size: ndv fits it (asynchronously)
    qtbot.wait(300)
    cam = raw.viewer._canvas._camera
    cam.rect = (5, 5, 10, 10)
    raw.set_frame(np.full((64, 48), 2.0), "b", np.full((64, 48), 7.0))
    qtbot.wait(300)
    assert tuple(cam.rect.pos) == (5, 5) and raw.caption.text() == "b"
    assert raw.frame[0, 0] == 2.0 and raw.viewer.data[1, 0, 0] == 7.0
    with pytest.raises(ValueError, match="2-D"):
        raw.set_frame(np.ones(3), "bad")


def test_icon_cache_names_follow_pyconify():
    from scope_deblur_gui._icons import cache_name, icon_svg

    assert cache_name("mdi:flag") == "mdi_flag_000"
    assert cache_name("mdi:camera-outline", color="green") == "mdi_camera-outline_color_green_000"
    assert cache_name("mdi:x", flip="vertical", color="red") == "mdi_x_color_red_flip_vertical_000"
    svg = icon_svg("mdi:border-style", flip="horizontal", color="red")
    assert svg.startswith("<svg") and 'fill="red"' in svg and "scale(-1 1)" in svg
    assert 'viewBox="0 0 16 16"' in icon_svg("bi:chevron-up")


def test_the_gui_command_runs_two_positions_offline_and_saves_a_screenshot(tmp_path):
    """The bar, offscreen: a complete two-position run with the focus lock, exit 0, a
    picture; in a fresh process with an empty icon cache and the network refused, and not
    one icon fetched or missing."""
    seq = tmp_path / "seq.yaml"
    seq.write_text(
        "axis_order: tpcz\n"
        "time_plan: {interval: 0, loops: 2}\n"
        "stage_positions:\n  - {x: 0, y: 0}\n  - {x: 30, y: 10}\n"
    )
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(  # no connection leaves the process
        "import socket\n"
        "def refuse(self, address, *a):\n"
        "    raise OSError(f'offline: {address}')\n"
        "socket.socket.connect = refuse\n"
    )
    shot = tmp_path / "shot.png"
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "PYCONIFY_CACHE": str(tmp_path / "cache"),
        "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.run(
        [
            *(sys.executable, "-m", "scope_deblur", "gui", "--demo", "--run", "--focus-lock"),
            *("--method", "none", "--device", "cpu", "--sequence", str(seq)),
            *("--out", str(tmp_path / "runs"), "--screenshot", str(shot)),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert shot.stat().st_size > 10_000
    (run,) = (tmp_path / "runs").iterdir()
    summary = json.loads((run / "summary.json").read_text())
    assert summary["state"] == "complete" and summary["frames_restored"] == 4
    assert summary["focus_lock"] and (run / "focus.csv").is_file()
    assert "offscreen" in proc.stderr  # says the viewers are blank without OpenGL
    assert "Error fetching icon" not in proc.stderr, proc.stderr[-3000:]
    assert len(list((tmp_path / "cache" / "svg_cache").glob("*.svg"))) > 50  # seeded


def test_the_gui_command_fails_in_one_line_on_a_bad_sequence(tmp_path):
    bad = tmp_path / "seq.yaml"
    bad.write_text("time_plan: [not, a, plan]\n")
    proc = subprocess.run(
        [sys.executable, "-m", "scope_deblur", "gui", "--demo", "--sequence", str(bad)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode == 2 and len(lines) == 1 and "sequence" in lines[0], proc.stderr


def test_the_gui_imports_no_private_module():
    import ast

    found = []
    for path in (ROOT / "gui").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = [node.module]
            for name in names:
                top, *rest = name.split(".")
                if top != "scope_deblur_gui" and any(p.startswith("_") for p in rest):
                    found.append(f"{path.relative_to(ROOT)}: {name}")
    assert found == []


def test_a_2x_restored_frame_spans_the_raw_frame(qtbot):
    from scope_deblur_gui._viewers import LinkedViewers

    v = LinkedViewers()
    qtbot.addWidget(v)
    v.raw.set_frame(np.ones((64, 48)), "raw")
    v.restored.set_frame(np.ones((128, 96)), "2x", extent=v.raw.frame.shape)
    assert v.restored.frame.shape == (128, 96) and v.restored.scale == (0.5, 0.5)
    assert dict(v.restored.viewer.display_model.scales) == {0: 0.5, 1: 0.5}
    v.restored.set_frame(np.ones((64, 48)), "1x", extent=v.raw.frame.shape)
    assert v.restored.scale == (1.0, 1.0)
