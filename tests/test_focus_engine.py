"""The focus lock in a live session on the demo microscope: positions, probes, a broken stage."""

import csv
import math

import numpy as np
import pytest
import useq
from scope_deblur.demo import DemoWorld, DriftConfig, demo_camera, load_demo_core
from scope_deblur.demo.devices import DemoFocus
from scope_deblur.focus import FocusLock
from scope_deblur.live import LiveSession, RawData, RunFolder, event_index, open_core
from scope_deblur.protocols import DefocusEstimate

FLOOR_UM = 1.4


class Tilted(DemoWorld):
    """A slide tilted along x: the focal plane is 20 µm higher per mm of x."""

    def advance(self):
        focal, defocus = super().advance()
        tilt = 0.02 * self.stage_xy_um[0]
        return focal + tilt, defocus - tilt


class ReadsTruth:
    """|defocus| from the demo camera's truth, with DelpNet's floor near focus."""

    name = "truth"

    def __init__(self, camera):
        self.camera = camera

    def estimate(self, frame):
        truth = self.camera.truth_for(frame)
        return DefocusEstimate(math.hypot(FLOOR_UM, truth.defocus_um), 0.9)


def _lock_session(core, folder, lock):
    camera = demo_camera(core)
    return LiveSession(
        core,
        folder,
        estimator=ReadsTruth(camera),
        focus_lock=lock,
        focus_truth=lambda f: camera.truth_for(f).defocus_um,
    )


def _steps(path):
    with open(path) as f:
        return list(csv.DictReader(f))


STILL = DriftConfig(ramp_um_per_frame=0, walk_um_per_frame=0, jump_probability=0)


def test_each_position_keeps_its_own_correction_and_probes_are_not_data(tmp_path):
    seq = useq.MDASequence(
        stage_positions=[(0, 0, None), (500, 0, None)],  # the second 10 µm higher
        time_plan={"interval": 0, "loops": 12},
    )
    lock = FocusLock()
    with open_core(lambda: load_demo_core(Tilted(STILL))) as core:
        session = _lock_session(core, RunFolder(tmp_path), lock)
        summary = session.run(seq)
        del session
    assert lock.offset("p0") == pytest.approx(0.0, abs=1.5)
    assert lock.offset("p1") == pytest.approx(10.0, abs=1.5)
    steps = _steps(tmp_path / "focus.csv")
    late = [s for s in steps if s["kind"] == "data" and int(s["index"].split("t=")[1][:2]) >= 8]
    assert all(abs(float(s["true_defocus_um"])) < 1.5 for s in late)
    probes = [s for s in steps if s["kind"] == "probe"]
    assert summary["frames_probe"] == len(probes) >= 1
    # probe frames never reach the raw data: exactly the sequence's frames are there
    events = [event_index(e) for e in seq]
    assert summary["frames_acquired"] == summary["frames_saved_raw"] == len(events)
    assert RawData(tmp_path / "raw.ome.zarr", events).count(events) == len(events)
    assert summary["focus_lock"] and summary["lock_stopped"] is None
    assert summary["stage_moves"] > 0


def test_a_stage_that_raises_stops_the_lock_not_the_acquisition(tmp_path, monkeypatch):
    moves = []
    real = DemoFocus.set_position_um

    def breaks_after_three(self, val):
        moves.append(val)
        if len(moves) > 3:
            raise RuntimeError("focus drive not responding")
        real(self, val)

    monkeypatch.setattr(DemoFocus, "set_position_um", breaks_after_three)
    seq = useq.MDASequence(time_plan={"interval": 0, "loops": 20})
    world = DemoWorld(DriftConfig(start_um=-20, ramp_um_per_frame=0.3, seed=1))
    lock = FocusLock()
    with open_core(lambda: load_demo_core(world)) as core:
        session = _lock_session(core, RunFolder(tmp_path), lock)
        summary = session.run(seq)
        del session
    assert "focus stage failed" in summary["lock_stopped"]
    assert "not responding" in lock.stopped
    assert summary["frames_acquired"] == summary["frames_saved_raw"] == 20  # nothing lost
    assert summary["frames_skipped_hardware"] == 0
    events = [event_index(e) for e in seq]
    raw = RawData(tmp_path / "raw.ome.zarr", events)
    assert all(np.isfinite(raw.read(ix)).all() for ix in events)


def test_without_a_lock_the_summary_says_so(tmp_path, demo_core):
    session = LiveSession(demo_core, RunFolder(tmp_path))
    summary = session.run(useq.MDASequence(time_plan={"interval": 0, "loops": 2}))
    assert (summary["focus_lock"], summary["stage_moves"], summary["frames_probe"]) == (
        False,
        0,
        0,
    )
    assert summary["lock_stopped"] is None and not (tmp_path / "focus.csv").exists()
