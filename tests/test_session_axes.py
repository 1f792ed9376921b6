"""Every useq axis through one live session, on Micro-Manager's own demo config."""

import json
import threading
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import pytest
import tifffile
import useq
from scope_deblur.live import (
    ANNOTATION_NS,
    LiveSession,
    RawData,
    RunFolder,
    event_index,
    load_config,
    open_core,
)
from scope_deblur.protocols import DefocusEstimate

from .conftest import ScaleRestorer

NS = "{http://www.openmicroscopy.org/Schemas/OME/2016-06}"
MM_DEMO = Path(__import__("mm_test_adapters").__file__).parent / "libs" / "MMConfig_demo.cfg"

SEQ = useq.MDASequence(
    stage_positions=[
        useq.Position(x=0, y=0),
        useq.Position(x=200, y=200, sequence=useq.MDASequence(grid_plan={"rows": 1, "columns": 2})),
    ],
    channels=[{"config": "DAPI", "group": "Channel"}, {"config": "FITC", "group": "Channel"}],
    z_plan={"range": 2, "step": 1},
    time_plan={"interval": 0, "loops": 2},
)


class Constant:
    name = "constant"

    def estimate(self, frame):
        return DefocusEstimate(6.0, 1.0)


class Blocking(ScaleRestorer):
    def __init__(self):
        super().__init__()
        self.done = threading.Event()

    def restore(self, frame, estimate):
        self.done.wait(60)
        return super().restore(frame, estimate)


@pytest.mark.parametrize("fmt", ["ome-zarr", "ome-tiff"])
def test_positions_grid_channels_z_time_in_both_formats(tmp_path, fmt):
    events = [event_index(e) for e in SEQ]
    assert len(events) == 36  # (1 + a 1x2 grid) positions x 2 channels x 3 z x 2 t
    with open_core(lambda: load_config(MM_DEMO)) as core:
        restorer = Blocking()  # holds the worker until the MDA ends: frames must catch up
        core.mda.events.sequenceFinished.connect(lambda *_: restorer.done.set())
        session = LiveSession(
            core, RunFolder(tmp_path, fmt), estimator=Constant(), restorer=restorer, queue_size=1
        )
        summary = session.run(SEQ)
        pixel_um = core.getPixelSizeUm()
        session_records = session.pipeline.records
        del session
    assert summary["frames_acquired"] == summary["frames_saved_raw"] == 36
    assert all(Path(summary["outputs"][k]).exists() for k in ("raw", "restored"))  # as written
    assert summary["frames_restored"] == 36
    assert summary["frames_restored_live"] == 2  # the one restoring and the one queued
    assert [r.mode for r in session_records].count("catch-up") == 34
    raw = RawData(tmp_path / ("raw.ome." + ("zarr" if fmt == "ome-zarr" else "tif")), events)
    restored = RawData(summary["outputs"]["restored"], events)
    assert [f[1:] for f in restored.files()] == [f[1:] for f in raw.files()]  # same dims
    assert len(raw.files()) == 3  # the grid's two fields are positions of their own
    for index in events:
        np.testing.assert_allclose(restored.read(index), raw.read(index) * 0.5)
    if fmt == "ome-zarr":
        for data in (raw, restored):
            attrs = json.loads((data.path / "zarr.json").read_text())["attributes"]
            assert "bioformats2raw.layout" in attrs["ome"]
        image = json.loads((restored.path / "0" / "zarr.json").read_text())["attributes"]
        scale = image["ome"]["multiscales"][0]["datasets"][0]["coordinateTransformations"][0]
        assert scale["scale"][-1] == pytest.approx(pixel_um)
    else:
        by_frame = {r.frame: r for r in session_records}
        rows = []
        for path, *_ in restored.files():
            with tifffile.TiffFile(path) as tf:
                ome = ElementTree.fromstring(tf.ome_metadata)
            pixels = ome.find(f"{NS}Image/{NS}Pixels")
            assert float(pixels.get("PhysicalSizeX")) == pytest.approx(pixel_um)
            assert [c.get("Name") for c in pixels.iter(f"{NS}Channel")] == ["DAPI", "FITC"]
            planes = list(pixels.iter(f"{NS}Plane"))
            table = ome.find(f"{NS}StructuredAnnotations/{NS}MapAnnotation")
            assert table.get("Namespace") == ANNOTATION_NS
            entries = {m.get("K"): json.loads(m.text) for m in table.iter(f"{NS}M")}
            assert len(planes) == len(entries) == 12  # 2 t x 2 c x 3 z, each with its row
            for i, plane in enumerate(planes):
                row = entries[f"plane {i}"]
                rec = by_frame[row["frame"]]
                assert float(plane.get("PositionZ")) == pytest.approx(rec.z_um)
                assert float(plane.get("DeltaT")) == pytest.approx(rec.time_s)
                assert row["defocus_um"] == 6.0 and row["mode"] in ("live", "catch-up")
                rows.append(row["frame"])
        assert sorted(rows) == list(range(36))


class Scaling:
    """Multiplies by its profile's wavelength (so tests can tell which entry restored)."""

    def __init__(self, profile):
        self.factor = profile.optics.wavelength_um
        self.name = "scaling"

    def restore(self, frame, estimate):
        return np.asarray(frame, np.float32) * self.factor


def test_each_channel_is_restored_with_its_profile_entry(tmp_path):
    from scope_deblur.optics import NOMINAL, ChannelOptics
    from scope_deblur.restoration import ChannelRestorers

    profile = NOMINAL.model_copy(update={"channels": {"FITC": ChannelOptics(wavelength_um=0.52)}})
    seq = useq.MDASequence(channels=SEQ.channels, time_plan={"interval": 0, "loops": 2})
    events = [event_index(e) for e in seq]
    with open_core(lambda: load_config(MM_DEMO)) as core:
        session = LiveSession(
            core,
            RunFolder(tmp_path),
            estimator=Constant(),
            restorer=ChannelRestorers(Scaling, profile),
        )
        summary = session.run(seq)
        del session
    raw = RawData(tmp_path / "raw.ome.zarr", events)
    restored = RawData(summary["outputs"]["restored"], events)
    for index, event in zip(events, seq, strict=True):
        factor = {"DAPI": NOMINAL.optics.wavelength_um, "FITC": 0.52}[event.channel.config]
        np.testing.assert_allclose(restored.read(index), raw.read(index) * factor, rtol=1e-6)
