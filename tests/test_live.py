import csv
import json
import threading
import time

import numpy as np
import pytest
import tifffile
import useq
from scope_deblur.live import LiveSession, RunFolder, resume_run

from .conftest import ScaleRestorer, read_run


def _session(core, oracle, restorer, path, fmt="ome-zarr", **kwargs):
    return LiveSession(core, RunFolder(path, fmt), estimator=oracle, restorer=restorer, **kwargs)


def _table(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def _raw_stack(session):
    return read_run(session.folder.raw, session.indices)


def _restored(summary, session):
    return read_run(summary["outputs"]["restored"], session.indices)


@pytest.mark.parametrize("fmt", ["ome-zarr", "ome-tiff"])
def test_every_raw_frame_saved_and_restored(demo_core, oracle, tmp_path, fmt):
    seq = useq.MDASequence(time_plan={"interval": 0, "loops": 3}, z_plan={"range": 4, "step": 2})
    session = _session(demo_core, oracle, ScaleRestorer(), tmp_path, fmt)
    written = []
    session.events.outputProgress.connect(lambda i, total: written.append((i, total)))
    summary = session.run(seq)
    assert summary["state"] == "complete"
    assert summary["frames_acquired"] == summary["frames_saved_raw"] == 9
    assert summary["frames_restored"] == 9
    assert written == [(i, 9) for i in range(1, 10)]  # the restored output, plane by plane
    if fmt == "ome-tiff":
        with tifffile.TiffFile(tmp_path / "raw.ome.tif") as tf:
            assert tf.is_ome and tf.series[0].axes == "TZYX"
            assert 'PhysicalSizeX="0.645"' in tf.ome_metadata
    else:
        attrs = json.loads((tmp_path / "raw.ome.zarr" / "zarr.json").read_text())["attributes"]
        scale = attrs["ome"]["multiscales"][0]["datasets"][0]["coordinateTransformations"][0]
        assert scale["scale"][-2:] == [0.645, 0.645]
    raw = _raw_stack(session)
    out = _restored(summary, session)
    assert out.shape == (9, 512, 512)
    np.testing.assert_allclose(out, raw * 0.5)
    restored = tmp_path / ("restored.ome.zarr" if fmt == "ome-zarr" else "restored.ome.tif")
    if fmt == "ome-tiff":  # the raw data's dimensions and pixel size
        with tifffile.TiffFile(restored) as tf:
            assert tf.series[0].axes == "TZYX" and tf.series[0].dtype == np.float32
            assert 'PhysicalSizeX="0.645"' in tf.ome_metadata
    else:
        attrs = json.loads((restored / "zarr.json").read_text())["attributes"]
        scale = attrs["ome"]["multiscales"][0]["datasets"][0]["coordinateTransformations"][0]
        assert scale["scale"][-2:] == [0.645, 0.645]
        frames = attrs["scope_deblur"]["frames"]  # each plane's estimate travels with it
        assert [f["index"] for f in frames[:2]] == ["t=0 z=0", "t=0 z=1"]
        assert all(f["defocus_um"] >= 0 and f["method"] == "scale" for f in frames)
    rows = _table(tmp_path / "frames.csv")
    assert [r["index"] for r in rows[:4]] == ["t=0 z=0", "t=0 z=1", "t=0 z=2", "t=1 z=0"]
    assert all(r["mode"] in ("live", "catch-up") for r in rows)
    assert json.loads((tmp_path / "summary.json").read_text())["frames_restored"] == 9


@pytest.mark.faults
def test_slow_restorer_does_not_slow_acquisition(demo_core, oracle, tmp_path):
    n, interval, delay = 16, 0.1, 0.5
    seq = useq.MDASequence(time_plan={"interval": interval, "loops": n})
    alone = LiveSession(demo_core, RunFolder(tmp_path / "alone"))
    alone.run(seq)  # the same stream without restoration: the machine's own pace
    session = _session(
        demo_core, oracle, ScaleRestorer(delay_s=delay), tmp_path / "live", queue_size=2
    )
    skipped, progress = [], []
    session.events.frameSkipped.connect(skipped.append)
    session.events.catchUpProgress.connect(lambda i, total: progress.append((i, total)))
    summary = session.run(seq)
    gaps, pace = np.diff(session.frame_times), np.median(np.diff(alone.frame_times))
    assert np.median(gaps) < 1.5 * pace  # restoration does not set the camera's pace
    assert gaps.max() < delay  # the camera never waited for a restoration
    assert skipped  # frames were skipped live...
    modes = [r.mode for r in session.pipeline.records]
    assert modes.count("catch-up") == len(skipped)  # ...and caught up
    assert progress[-1] == (len(skipped), len(skipped))
    out = _restored(summary, session)
    assert out.shape[0] == n and not np.isnan(out).any()


@pytest.mark.faults
def test_worker_failure_is_retried_in_the_catch_up(demo_core, oracle, tmp_path):
    seq = useq.MDASequence(time_plan={"interval": 0, "loops": 6})
    session = _session(demo_core, oracle, ScaleRestorer(fail_on={2}), tmp_path, queue_size=64)
    summary = session.run(seq)
    assert summary["frames_saved_raw"] == 6
    rows = _table(tmp_path / "frames.csv")
    assert len(rows) == 6 and rows[2]["mode"] == "catch-up"
    assert _restored(summary, session).shape == (6, 512, 512)


def test_queued_frames_are_estimated_and_restored_together(demo_core, oracle, tmp_path):
    sizes, estimated = [], []

    class BatchingOracle(type(oracle)):
        def estimate_batch(self, frames):
            estimated.append(len(frames))
            return [self.estimate(f) for f in frames]

    class Batching(ScaleRestorer):
        def restore_batch(self, frames, estimates):
            sizes.append(len(frames))
            time.sleep(0.3)  # frames queue up meanwhile
            return [np.asarray(f, dtype=np.float32) * 0.5 for f in frames]

    seq = useq.MDASequence(time_plan={"interval": 0.05, "loops": 12})
    estimator = BatchingOracle(oracle.camera)
    session = _session(
        demo_core, estimator, Batching(delay_s=0.3), tmp_path, queue_size=16, batch_size=4
    )
    summary = session.run(seq)
    np.testing.assert_allclose(_restored(summary, session), _raw_stack(session) * 0.5)
    assert 1 < max(sizes) <= 4  # queued frames went together, never more than batch_size
    assert estimated == [n for n in sizes if n > 1]  # one estimator call per batch
    assert all(r.mode == "live" for r in session.pipeline.records)


def test_frame_restored_hears_every_frame_and_cannot_stop_the_run(demo_core, oracle, tmp_path):
    heard = []

    def listener(rec, img):
        heard.append((rec.frame, rec.index, rec.mode, float(img.mean())))
        if rec.frame == 1:
            raise RuntimeError("listener bug")

    seq = useq.MDASequence(time_plan={"interval": 0.05, "loops": 8})
    restorer = ScaleRestorer(delay_s=0.2)  # slower than the camera: some frames catch up
    session = _session(demo_core, oracle, restorer, tmp_path, queue_size=1)
    session.events.frameRestored.connect(listener)
    summary = session.run(seq)
    out = _restored(summary, session)
    assert sorted(k for k, *_ in heard) == list(range(8))
    assert {m for _, _, m, _ in heard} == {"live", "catch-up"}
    for k, index, mode, mean in heard:
        rec = session.pipeline.records[k]
        assert index == rec.index == f"t={k}" and mode == rec.mode
        assert mean == pytest.approx(float(out[k].mean()), rel=1e-5)


class Broken(ScaleRestorer):
    def __init__(self, output):
        super().__init__()
        self.output = output

    def restore(self, frame, estimate):
        return self.output(frame)


@pytest.mark.faults
@pytest.mark.parametrize(
    ("output", "error"),
    [
        (lambda f: (_ for _ in ()).throw(RuntimeError("model exploded")), "model exploded"),
        (lambda f: np.full(f.shape, np.nan, np.float32), "NaN/inf"),
        (lambda f: np.zeros((8, 8), np.float32), "shape"),
    ],
    ids=["raises", "nan", "wrong-shape"],
)
def test_a_bad_restoration_is_never_written_as_a_result(demo_core, oracle, tmp_path, output, error):
    seq = useq.MDASequence(time_plan={"interval": 0, "loops": 3})
    summary = _session(demo_core, oracle, Broken(output), tmp_path).run(seq)
    rows = _table(tmp_path / "frames.csv")
    assert all(r["mode"] == "passthrough" and error in r["error"] for r in rows)
    assert summary["frames_restored"] == 0 and summary["errors"]
    indices = [{"t": t} for t in range(3)]
    expected = read_run(tmp_path / "raw.ome.zarr", indices)
    np.testing.assert_array_equal(read_run(summary["outputs"]["restored"], indices), expected)


@pytest.mark.faults
def test_cancel_leaves_a_resumable_run_and_resume_completes_it(demo_core, oracle, tmp_path):
    seq = useq.MDASequence(time_plan={"interval": 0.05, "loops": 200})
    session = _session(demo_core, oracle, ScaleRestorer(delay_s=0.2), tmp_path, queue_size=1)
    session.events.frameAcquired.connect(
        lambda done, _: done == 8 and threading.Thread(target=session.cancel).start()
    )
    summary = session.run(seq)
    n = summary["frames_acquired"]
    assert summary["state"] == "interrupted" and 8 <= n < 200
    assert summary["frames_saved_raw"] == n  # every acquired frame is on disk
    assert summary["frames_restored"] < n
    assert (tmp_path / "restored.partial.tif").is_file()
    assert not (tmp_path / "restored.ome.zarr").exists()
    raw = _raw_stack(session)

    resumed = resume_run(tmp_path, estimator=oracle, restorer=ScaleRestorer(), device="cpu")
    assert resumed["state"] == "complete" and resumed["frames_restored"] == n
    np.testing.assert_allclose(_restored(resumed, session), raw * 0.5)
    assert not (tmp_path / "restored.partial.tif").exists()
    assert json.loads((tmp_path / "run.json").read_text())["state"] == "complete"
    # A second resume has nothing left to do and changes nothing.
    again = resume_run(tmp_path, estimator=oracle, restorer=ScaleRestorer(), device="cpu")
    assert again == resumed


@pytest.mark.faults
def test_a_hung_restorer_is_given_up_and_the_run_left_resumable(demo_core, oracle, tmp_path):
    release = threading.Event()

    class Hangs(ScaleRestorer):
        def restore(self, frame, estimate):
            if self.calls == 2:
                release.wait(30)
            return super().restore(frame, estimate)

    seq = useq.MDASequence(time_plan={"interval": 0.02, "loops": 6})
    session = _session(demo_core, oracle, Hangs(), tmp_path, queue_size=64, timeout_s=0.5)
    try:
        summary = session.run(seq)
    finally:
        release.set()
    assert summary["state"] == "interrupted"
    assert summary["frames_saved_raw"] == 6
    assert any("timed out" in e for e in summary["errors"])
    resumed = resume_run(tmp_path, estimator=oracle, restorer=ScaleRestorer(), device="cpu")
    assert resumed["frames_restored"] == 6


@pytest.mark.faults
def test_pause_does_not_lose_frames(demo_core, oracle, tmp_path):
    seq = useq.MDASequence(time_plan={"interval": 0.05, "loops": 8})
    session = _session(demo_core, oracle, ScaleRestorer(), tmp_path)

    def pause_then_resume():
        demo_core.mda.set_paused(True)
        time.sleep(0.3)
        demo_core.mda.set_paused(False)

    session.events.frameAcquired.connect(
        lambda done, _: done == 3 and threading.Thread(target=pause_then_resume).start()
    )
    summary = session.run(seq)
    assert summary["frames_saved_raw"] == summary["frames_restored"] == 8


def test_an_existing_run_is_never_written_over(demo_core, oracle, tmp_path):
    seq = useq.MDASequence(time_plan={"interval": 0, "loops": 2})
    _session(demo_core, oracle, ScaleRestorer(), tmp_path).run(seq)
    before = (tmp_path / "summary.json").read_bytes()
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="already holds a run"):
        _session(demo_core, oracle, ScaleRestorer(), tmp_path).run(seq)
    assert (tmp_path / "summary.json").read_bytes() == before
    summary = _session(demo_core, oracle, ScaleRestorer(), tmp_path).run(seq, overwrite=True)
    assert summary["frames_restored"] == 2
    assert (tmp_path / "notes.txt").read_text() == "mine"  # --overwrite takes only the run


def test_raw_only_session_counts_frames(demo_core, tmp_path):
    seq = useq.MDASequence(time_plan={"interval": 0, "loops": 4})
    session = LiveSession(demo_core, RunFolder(tmp_path))
    heard = []
    session.events.frameAcquired.connect(lambda done, total: heard.append((done, total)))
    summary = session.run(seq)
    assert summary["state"] == "acquired" and summary["frames_saved_raw"] == 4
    assert heard[-1] == (4, 4) and "restored" not in summary["outputs"]
