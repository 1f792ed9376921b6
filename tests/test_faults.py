"""Fault injection on the demo microscope: whatever fails, nothing acquired is lost.

After each fault the raw data holds every frame acquired before it (read back by
MDA index, never a shifted or invented frame), and ``resume`` completes the
restored output. Faults of the restorer itself (raises, NaN, hangs, slow), cancel
and pause are in ``test_live.py``; ``pytest -m faults`` runs both.
"""

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import useq
from scope_deblur.demo import demo_camera
from scope_deblur.live import LiveSession, RawData, RunFolder, read_table, resume_run

from .conftest import ScaleRestorer, read_run

pytestmark = pytest.mark.faults

ZT = useq.MDASequence(time_plan={"interval": 0, "loops": 3}, z_plan={"range": 4, "step": 2})
_ZT_INDICES = [{"t": t, "z": z} for t in range(3) for z in range(3)]


def _run(core, oracle, path, seq=ZT, **kwargs):
    session = LiveSession(
        core, RunFolder(path), estimator=oracle, restorer=ScaleRestorer(), **kwargs
    )
    return session, session.run(seq)


def _fail_on_call(obj, name, k, monkeypatch):
    """Make ``obj.name`` raise on its k-th call (0-based)."""
    original, calls = getattr(obj, name), [0]

    def failing(*args):
        calls[0] += 1
        if calls[0] - 1 == k:
            raise RuntimeError(f"injected {name} fault")
        return original(*args)

    monkeypatch.setattr(obj, name, failing)


def _assert_raw_matches_restored(session, summary):
    """Every acquired frame is on disk under its own index (ScaleRestorer halves it)."""
    raw = RawData(session.folder.raw)
    out = read_run(summary["outputs"]["restored"], [dict(i) for i in _ZT_INDICES])
    for rec in session.pipeline.records:
        index = session.pipeline.indices[rec.frame]
        np.testing.assert_allclose(out[rec.frame], raw.read(index) * 0.5)
    return raw, out


@pytest.mark.parametrize(("device", "method"), [("camera", "snap"), ("focus", "set_position_um")])
def test_hardware_fault_skips_one_frame_and_keeps_the_rest_in_place(
    demo_core, oracle, tmp_path, monkeypatch, device, method
):
    target = demo_camera(demo_core) if device == "camera" else demo_core._pydevices["Z"]
    # The 5th snap is t=1 z=1; for the focus, the z moves of t=0 come first.
    _fail_on_call(target, method, 4, monkeypatch)
    session, summary = _run(demo_core, oracle, tmp_path)
    assert summary["frames_acquired"] == summary["frames_saved_raw"] == 8
    assert summary["frames_skipped_hardware"] == 1
    assert any("injected" in e or "no image" in e for e in summary["errors"])
    raw, out = _assert_raw_matches_restored(session, summary)
    missing = [f"t={t} z={z}" for t in range(3) for z in range(3) if not raw.has({"t": t, "z": z})]
    assert len(missing) == 1  # the skipped frame is absent, not filled with another
    k = [f"t={t} z={z}" for t in range(3) for z in range(3)].index(missing[0])
    assert np.isnan(out[k]).all()  # and its restored plane says so


def test_a_full_disk_stops_the_run_and_resume_completes_it(demo_core, oracle, tmp_path):
    mount = tmp_path / "small"
    mount.mkdir()
    size_mb = 200
    if subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", mount]
    ).returncode:
        pytest.skip("cannot mount a tmpfs here (not root)")
    try:
        run = mount / "run"
        ballast = mount / "ballast"
        seq = useq.MDASequence(time_plan={"interval": 0.02, "loops": 40})  # ~60 MB
        session = LiveSession(
            demo_core, RunFolder(run), estimator=oracle, restorer=ScaleRestorer(), queue_size=64
        )

        def fill_disk(done, _total):
            if done == 5:  # another program takes the disk mid-run
                free = os.statvfs(mount).f_bavail * os.statvfs(mount).f_frsize
                with open(ballast, "wb") as f, contextlib.suppress(OSError):
                    f.write(b"\0" * (free - (8 << 20)))

        session.events.frameAcquired.connect(fill_disk)
        summary = session.run(seq)
        assert "disk" in summary["acquisition_error"]
        n = summary["frames_acquired"]
        assert 5 <= n < 40
        raw = RawData(run / "raw.ome.zarr")
        saved = [i for i in session.indices if raw.has(i)]
        assert len(saved) == summary["frames_saved_raw"] >= 5
        ballast.unlink()  # the user frees space, then resumes
        resumed = resume_run(run, estimator=oracle, restorer=ScaleRestorer(), device="cpu")
        assert resumed["state"] == "complete"
        assert resumed["frames_restored"] == len(saved)
        out = read_run(resumed["outputs"]["restored"], saved)
        np.testing.assert_allclose(out, read_run(raw.path, saved) * 0.5)
    finally:
        subprocess.run(["umount", "-l", mount], check=False)


def test_a_disk_too_small_for_the_run_is_refused_before_it_starts(
    demo_core, oracle, tmp_path, monkeypatch
):
    import scope_deblur.live._session as session_module

    def usage(path):
        return shutil._ntuple_diskusage(1 << 30, (1 << 30) - (100 << 20), 100 << 20)

    monkeypatch.setattr(session_module.shutil, "disk_usage", usage)
    seq = useq.MDASequence(time_plan={"interval": 0, "loops": 200})  # ~300 MB
    with pytest.raises(ValueError, match=r"0\.10 GB free, but 200 frames need about 0\.38 GB"):
        _run(demo_core, oracle, tmp_path, seq)
    assert not (tmp_path / "raw.ome.zarr").exists()


def test_failed_restored_writes_are_retried_then_left_for_resume(
    demo_core, oracle, tmp_path, monkeypatch
):
    import scope_deblur.live._writer as writer

    calls, real, full = [0], os.pwrite, [True]

    def pwrite(fd, data, offset):
        calls[0] += 1
        if full[0] and calls[0] >= 3:  # the disk fills at the third frame and stays full
            raise OSError(28, "No space left on device")
        return real(fd, data, offset)

    monkeypatch.setattr(writer.os, "pwrite", pwrite)
    _, summary = _run(demo_core, oracle, tmp_path)
    assert summary["state"] == "interrupted" and summary["frames_saved_raw"] == 9
    assert summary["frames_restored"] == 2
    assert any("No space left" in e for e in summary["errors"])
    full[0] = False  # space freed
    resumed = resume_run(tmp_path, estimator=oracle, restorer=ScaleRestorer(), device="cpu")
    assert resumed["state"] == "complete" and resumed["frames_restored"] == 9


# --- a real `scope-deblur demo`, killed --------------------------------------------


def _demo(out: Path, fmt: str, frames: int = 200) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "scope_deblur", "demo", "--frames", str(frames)]
    cmd += ["--interval-ms", "20", "--method", "none", "--format", fmt, "--out", str(out)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_frames(out: Path, fmt: str, n: int, proc: subprocess.Popen) -> int:
    """Wait until at least ``n`` whole frames are on disk; return how many there are."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if fmt == "ome-zarr":
            chunks = out / "raw.ome.zarr" / "0" / "c"
            have = sum(1 for _ in chunks.glob("*/0/0")) if chunks.is_dir() else 0
        else:
            raw = out / "raw.ome.tif"
            have = (raw.stat().st_size - 4096) // (512 * 512 * 2) if raw.is_file() else 0
        if have >= n:
            return have
        time.sleep(0.05)
    raise AssertionError(f"the demo did not reach {n} frames: {proc.poll()}")


@pytest.mark.parametrize("fmt", ["ome-zarr", "ome-tiff"])
def test_sigkill_loses_no_saved_frame_and_resume_completes(tmp_path, fmt):
    out = tmp_path / "run"
    proc = _demo(out, fmt)
    on_disk = _wait_for_frames(out, fmt, 20, proc)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    raw = RawData(out / ("raw.ome.zarr" if fmt == "ome-zarr" else "raw.ome.tif"))
    present = [t for t in range(200) if raw.has({"t": t})]
    assert len(present) >= on_disk  # every frame on disk before the kill reads back...
    assert present == list(range(len(present)))  # ...in its place, with no holes
    if fmt == "ome-tiff":
        assert raw.torn  # reported, not padded with zero frames
    done = read_table(out / "frames.csv") if (out / "frames.csv").is_file() else {}
    frames = [raw.read({"t": t}) for t in present]
    resumed = _cli("resume", out)
    assert resumed.returncode == 0, resumed.stderr
    restored = out / ("restored.ome.zarr" if fmt == "ome-zarr" else "restored.ome.tif")
    out_stack = read_run(restored, [{"t": t} for t in present])
    assert out_stack.shape[0] == len(present)
    np.testing.assert_array_equal(out_stack, np.stack(frames).astype(np.float32))  # "none"
    rows = read_table(out / "frames.csv")
    assert sorted(rows) == present and all(rows[k].mode == done[k].mode for k in done)


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_sigint_and_sigterm_stop_cleanly_and_leave_a_resumable_run(tmp_path, sig, code):
    out = tmp_path / "run"
    proc = _demo(out, "ome-zarr")
    _wait_for_frames(out, "ome-zarr", 10, proc)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == code, stderr
    last = [ln for ln in stderr.splitlines() if ln.strip()][-1]
    assert f"interrupted ({sig.name})" in last and f"scope-deblur resume {out}" in last
    resumed = _cli("resume", out, "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert '"state": "complete"' in resumed.stdout


def _cli(*args):
    cmd = [sys.executable, "-m", "scope_deblur", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)
