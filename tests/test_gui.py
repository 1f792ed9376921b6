"""The Qt acquisition GUI: builds offline, runs a short MDA with stand-in models, closes."""

from __future__ import annotations

import re
import socket
import time

import numpy as np
import pytest

pytest.importorskip("pytestqt")
pytest.importorskip("pymmcore_widgets")

from tests.conftest import ScaleRestorer


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


def _window(qtbot, core, tmp_path, **kw):
    from scope_deblur_gui import MainWindow

    w = MainWindow(mmcore=core, out_dir=tmp_path, **kw)
    qtbot.addWidget(w)
    return w


def test_builds_offline_fast(qtbot, demo_core, tmp_path, no_network):
    t0 = time.perf_counter()
    w = _window(qtbot, demo_core, tmp_path)
    w.show()
    qtbot.waitExposed(w)
    assert time.perf_counter() - t0 < 10
    assert no_network == []  # no icon fetch reached the socket layer
    assert not w.running and w.start_btn.isEnabled() and not w.stop_btn.isEnabled()
    assert sum(1 for _ in w.mda.value()) == 30  # the default time-lapse
    w.close()


def test_compile_is_offered_for_the_fusion_network_only(qtbot, demo_core, tmp_path, monkeypatch):
    from scope_deblur_gui._window import _build_models

    w = _window(qtbot, demo_core, tmp_path)
    assert w.compile.isEnabled() and not w.compile.isChecked()
    w.method.setCurrentText("rl")
    assert not w.compile.isEnabled()
    w.close()
    calls = []

    class Restorer:
        def warm_up(self, shape):
            calls.append(shape)

    monkeypatch.setattr("scope_deblur.methods.build_restorer", lambda *a, **kw: Restorer())
    monkeypatch.setattr("scope_deblur.methods.build_estimator", lambda *a, **kw: None)
    _build_models("fusion", "cpu", True, (512, 512))
    _build_models("fusion", "cpu", False, (512, 512))
    assert calls == [(512, 512)]


def test_offline_icons_never_go_online(no_network):
    import pyconify
    import superqt.iconify

    from scope_deblur_gui._offline import GLYPHS, use_offline_icons

    use_offline_icons()
    for key in ("mdi:arrow-up-thick", "mdi:not-a-real-icon"):
        for fn in (pyconify.svg_path, superqt.iconify.svg_path):
            path = fn(key, color="red", rotate=90)
            text = path.read_text()
            assert text.startswith("<svg") and 'fill="red"' in text and "rotate(90" in text
    assert "arrow-up-thick" in GLYPHS and no_network == []


def test_short_acquisition_completes(qtbot, demo_core, oracle, tmp_path, no_network):
    restorer = ScaleRestorer()
    w = _window(qtbot, demo_core, tmp_path, estimator=oracle, restorer=restorer)
    w.show()
    w.mda.setValue(__import__("useq").MDASequence(time_plan={"interval": 0, "loops": 5}))
    w.start()
    assert w.running and not w.start_btn.isEnabled()
    qtbot.waitUntil(lambda: w.summary is not None, timeout=20_000)
    s = w.summary
    assert not w.running and w.start_btn.isEnabled()
    assert s["frames_acquired"] == s["frames_saved_raw"] == s["frames_restored"] == 5
    recs = w.pipeline.records
    assert [r.frame for r in recs] == list(range(5))
    assert all(r.mode in ("live", "catch-up") and not r.error for r in recs)
    assert all(np.isfinite(r.defocus_um) and r.latency_ms > 0 for r in recs)
    assert restorer.calls == 5
    assert w.raw_view.has_image() and w.restored_view.has_image()
    assert w.restored_view.frames_shown >= 1 and w.raw_view.frames_shown == 5
    caption = w.restored_view.caption.text()  # names the frame shown, and how it was restored
    assert re.match(r"t=\d p=0 \((live|catch-up)\) · defocus \d+\.\d µm", caption), caption
    assert "Run complete" in w.summary_label.text() and "5 acquired" in w.summary_label.text()
    assert "acquired <b>5</b>" in w.status.text()
    assert w.progress.value() == w.progress.maximum() == 5  # the bar ends full
    assert (tmp_path / next(p.name for p in tmp_path.iterdir()) / "restored.ome.zarr").is_dir()
    assert w.last_error == ""
    w.close()
    assert w._mmc is None  # released its core


def test_stop_cancels_and_still_restores(qtbot, demo_core, oracle, tmp_path):
    w = _window(qtbot, demo_core, tmp_path, estimator=oracle, restorer=ScaleRestorer())
    w.mda.setValue(__import__("useq").MDASequence(time_plan={"interval": 0.1, "loops": 200}))
    w.start()
    qtbot.waitUntil(lambda: w.raw_view.frames_shown >= 2, timeout=10_000)
    w.stop()
    qtbot.waitUntil(lambda: w.summary is not None, timeout=20_000)
    n = w.summary["frames_acquired"]
    assert 2 <= n < 200
    assert w.summary["frames_restored"] == n == w.summary["frames_saved_raw"]
    w.close()


def test_bad_output_folder_reports_error(qtbot, demo_core, oracle, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    w = _window(qtbot, demo_core, tmp_path, estimator=oracle, restorer=ScaleRestorer())
    w.out_dir.setText(str(blocker))
    w.start()
    assert not w.running and "Cannot start" in w.last_error
    w.close()


def test_to_uint8_contrast():
    from scope_deblur_gui._view import to_uint8

    img = np.linspace(0, 1000, 100 * 80, dtype=np.float32).reshape(100, 80)
    img[0, 0] = np.nan
    u8 = to_uint8(img)
    assert u8.dtype == np.uint8 and u8.shape == (100, 80) and u8.flags.c_contiguous
    assert u8[0, 0] == 0 and u8.max() == 255 and u8[50, 40] in range(120, 136)
    assert (to_uint8(np.ones((4, 4))) == 0).all()
    with pytest.raises(ValueError, match="2-D"):
        to_uint8(np.ones(3))


def test_latest_frame_signals_once_and_keeps_the_newest(qtbot):
    from scope_deblur.live import FrameRecord

    from scope_deblur_gui._live import Bridge, LatestFrame

    bridge = Bridge()
    tap = LatestFrame(bridge)
    recs = [FrameRecord(frame=k, index=f"t={k}") for k in range(3)]
    with qtbot.waitSignal(bridge.restored):
        tap(recs[0], np.zeros((4, 4)))
    with qtbot.assertNotEmitted(bridge.restored):  # the GUI has not taken the first yet
        tap(recs[1], np.ones((4, 4)))
        tap(recs[2], np.full((4, 4), 2.0))
    img, rec = tap.take()
    assert rec is recs[2] and (img == 2).all()
    assert tap.take() is None


def test_optics_profile_is_loaded_before_a_run_starts(qtbot, demo_core, tmp_path, monkeypatch):
    from scope_deblur.optics import NOMINAL

    w = _window(qtbot, demo_core, tmp_path)
    w.profile.setText(str(tmp_path / "missing.json"))
    w.start()
    assert not w.running and "optics profile not found" in w.last_error
    good = NOMINAL.save(tmp_path / "scope.json")
    w.profile.setText(str(good))
    assert w._load_profile() == NOMINAL
    w.close()
    seen = []
    monkeypatch.setattr(
        "scope_deblur.methods.build_restorer", lambda *a, **kw: seen.append(kw["profile"])
    )
    monkeypatch.setattr("scope_deblur.methods.build_estimator", lambda *a, **kw: None)
    from scope_deblur_gui._window import _build_models

    _build_models("fusion", "cpu", False, None, NOMINAL)
    assert seen == [NOMINAL]
