import threading
import time

import numpy as np
import pytest
import tifffile
import useq
from scope_deblur.live import LivePipeline

from .conftest import ScaleRestorer


def _run(core, pipeline, seq, raw):
    with pipeline.connected(core):
        core.mda.run(seq, output=raw, overwrite=True)
    return pipeline.finish(raw)


def _table(path):
    import csv

    with open(path) as f:
        return list(csv.DictReader(f))


def test_every_raw_frame_saved_and_restored(demo_core, oracle, tmp_path):
    seq = useq.MDASequence(time_plan={"interval": 0, "loops": 3}, z_plan={"range": 4, "step": 2})
    pipe = LivePipeline(oracle, ScaleRestorer(), tmp_path / "restored.ome.tif")
    restored = _run(demo_core, pipe, seq, tmp_path / "raw.ome.tif")
    with tifffile.TiffFile(tmp_path / "raw.ome.tif") as tf:
        assert tf.is_ome
        assert tf.series[0].axes == "TZYX"
        raw = tf.series[0].asarray()
        ome = tf.ome_metadata
    assert raw.shape == (3, 3, 512, 512)
    assert 'PhysicalSizeX="0.645"' in ome
    out = tifffile.imread(restored)
    assert out.shape == (9, 512, 512) and out.dtype == np.float32
    np.testing.assert_allclose(out, raw.reshape(9, 512, 512) * 0.5)
    rows = _table(tmp_path / "frames.csv")
    assert [r["index"] for r in rows[:4]] == ["t=0 z=0", "t=0 z=1", "t=0 z=2", "t=1 z=0"]
    assert all(r["mode"] in ("live", "catch-up") for r in rows)
    assert all(float(r["defocus_um"]) >= 0 for r in rows)


def test_slow_restorer_does_not_slow_acquisition(demo_core, oracle, tmp_path):
    n, interval = 16, 0.1
    seq = useq.MDASequence(time_plan={"interval": interval, "loops": n})
    pipe = LivePipeline(oracle, ScaleRestorer(delay_s=0.5), tmp_path / "r.tif", queue_size=2)
    restored = _run(demo_core, pipe, seq, tmp_path / "raw.ome.tif")
    gaps = np.diff(pipe.frame_times)
    assert np.median(gaps) == pytest.approx(interval, abs=0.03)
    assert gaps.max() < interval + 0.15  # never waits for a 0.5 s restoration
    assert pipe.skipped  # frames were skipped live...
    modes = [r.mode for r in pipe.records]
    assert modes.count("catch-up") == len(pipe.skipped)  # ...and caught up
    assert tifffile.imread(restored).shape[0] == n
    assert not np.isnan(tifffile.imread(restored)).any()


def test_worker_failure_keeps_raw_complete_and_reports(demo_core, oracle, tmp_path):
    seq = useq.MDASequence(time_plan={"interval": 0, "loops": 6})
    restorer = ScaleRestorer(fail_on={2})
    pipe = LivePipeline(oracle, restorer, tmp_path / "r.tif", queue_size=64)
    restored = _run(demo_core, pipe, seq, tmp_path / "raw.ome.tif")
    assert tifffile.imread(tmp_path / "raw.ome.tif").shape == (6, 512, 512)
    rows = _table(tmp_path / "frames.csv")
    assert len(rows) == 6
    # The failed frame was retried in the catch-up pass and then restored.
    assert rows[2]["mode"] == "catch-up"
    assert tifffile.imread(restored).shape == (6, 512, 512)


def test_queued_frames_are_restored_together_when_the_restorer_batches(demo_core, oracle, tmp_path):
    sizes = []

    class Batching(ScaleRestorer):
        def restore_batch(self, frames, estimates):
            sizes.append(len(frames))
            time.sleep(0.3)  # frames queue up meanwhile
            return [np.asarray(f, dtype=np.float32) * 0.5 for f in frames]

    seq = useq.MDASequence(time_plan={"interval": 0.05, "loops": 12})
    restorer = Batching(delay_s=0.3)  # single frames are slow too
    pipe = LivePipeline(oracle, restorer, tmp_path / "r.tif", queue_size=16, batch_size=4)
    restored = _run(demo_core, pipe, seq, tmp_path / "raw.ome.tif")
    raw = tifffile.imread(tmp_path / "raw.ome.tif")
    np.testing.assert_allclose(tifffile.imread(restored), raw * 0.5)
    assert 1 < max(sizes) <= 4  # queued frames went together, never more than batch_size
    assert all(r.mode == "live" for r in pipe.records)


def test_on_restored_hears_every_frame_and_cannot_stop_the_run(demo_core, oracle, tmp_path):
    heard = []

    def listener(rec, img):
        heard.append((rec.frame, rec.index, rec.mode, float(img.mean())))
        if rec.frame == 1:
            raise RuntimeError("listener bug")

    seq = useq.MDASequence(time_plan={"interval": 0.05, "loops": 8})
    restorer = ScaleRestorer(delay_s=0.2)  # slower than the camera: some frames catch up
    pipe = LivePipeline(oracle, restorer, tmp_path / "r.tif", queue_size=1, on_restored=listener)
    restored = _run(demo_core, pipe, seq, tmp_path / "raw.ome.tif")
    out = tifffile.imread(restored)
    assert sorted(k for k, *_ in heard) == list(range(8))
    assert {m for _, _, m, _ in heard} == {"live", "catch-up"}
    for k, index, mode, mean in heard:
        rec = pipe.records[k]
        assert index == rec.index == f"t={k}" and mode == rec.mode
        assert mean == pytest.approx(float(out[k].mean()), rel=1e-5)


def test_persistent_failure_passes_frames_through(demo_core, oracle, tmp_path):
    class Broken(ScaleRestorer):
        def restore(self, frame, estimate):
            raise RuntimeError("model exploded")

    seq = useq.MDASequence(time_plan={"interval": 0, "loops": 3})
    pipe = LivePipeline(oracle, Broken(), tmp_path / "r.tif")
    restored = _run(demo_core, pipe, seq, tmp_path / "raw.ome.tif")
    raw = tifffile.imread(tmp_path / "raw.ome.tif")
    np.testing.assert_array_equal(tifffile.imread(restored), raw.astype(np.float32))
    assert all(r.mode == "passthrough" and "model exploded" in r.error for r in pipe.records)


def test_cancel_leaves_readable_raw_and_restored(demo_core, oracle, tmp_path):
    seq = useq.MDASequence(time_plan={"interval": 0.05, "loops": 200})
    pipe = LivePipeline(oracle, ScaleRestorer(), tmp_path / "r.tif")
    demo_core.mda.events.frameReady.connect(
        lambda *_: len(pipe.records) == 5 and threading.Thread(target=demo_core.mda.cancel).start()
    )
    restored = _run(demo_core, pipe, seq, tmp_path / "raw.ome.tif")
    n = len(pipe.records)
    assert 5 <= n < 200
    with tifffile.TiffFile(tmp_path / "raw.ome.tif") as tf:
        first = tf.series[0].pages[0].asarray()
    assert first.shape == (512, 512)
    assert tifffile.imread(restored).shape[0] == n


def test_pause_does_not_lose_frames(demo_core, oracle, tmp_path):
    seq = useq.MDASequence(time_plan={"interval": 0.05, "loops": 8})
    pipe = LivePipeline(oracle, ScaleRestorer(), tmp_path / "r.tif")

    def pause_then_resume():
        demo_core.mda.set_paused(True)
        time.sleep(0.3)
        demo_core.mda.set_paused(False)

    demo_core.mda.events.frameReady.connect(
        lambda *_: len(pipe.records) == 3 and threading.Thread(target=pause_then_resume).start()
    )
    restored = _run(demo_core, pipe, seq, tmp_path / "raw.ome.tif")
    assert tifffile.imread(tmp_path / "raw.ome.tif").shape[0] == 8
    assert tifffile.imread(restored).shape[0] == 8
