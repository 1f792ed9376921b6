"""Restorers see frames at the pixel size they work at; the frame keeps its own grid."""

import numpy as np
import pytest
from scope_deblur.protocols import DefocusEstimate
from scope_deblur.restoration import RescaledRestorer, needs_resampling


class Recording:
    """Adds 10 and records the shape and the defocus map it was given."""

    name = "recording"

    def __init__(self):
        self.seen = []

    def restore(self, frame, estimate):
        dmap = estimate.defocus_map
        self.seen.append((frame.shape, None if dmap is None else dmap.shape))
        return np.asarray(frame, np.float32) + 10


def test_frame_is_restored_at_the_working_pixel_and_returned_on_its_grid():
    rng = np.random.default_rng(0)
    frame = rng.uniform(100, 200, (120, 160)).astype(np.float32)
    inner = Recording()
    restorer = RescaledRestorer(inner, pixel_um=1.29, working_um=0.645)
    est = DefocusEstimate(8.0, 1.0, defocus_map=np.full(frame.shape, 8.0, np.float32))
    out = restorer.restore(frame, est)
    assert inner.seen == [((240, 320), (240, 320))]  # twice the pixels, map resampled too
    assert out.shape == frame.shape and out.dtype == np.float32
    np.testing.assert_allclose(out, frame + 10, rtol=1e-5)  # the change, on the frame's grid


def test_a_finer_frame_keeps_its_fine_detail():
    frame = np.zeros((128, 128), np.float32)
    frame[::2] = 100  # detail at the Nyquist limit of the frame, lost when downsampled
    out = RescaledRestorer(Recording(), pixel_um=0.3, working_um=0.645).restore(
        frame, DefocusEstimate(8.0, 1.0)
    )
    np.testing.assert_allclose(out, frame + 10, atol=1e-3)


def test_resampling_beyond_the_budget_is_refused_with_one_line(monkeypatch):
    monkeypatch.setenv("SCOPE_DEBLUR_MEMORY_BUDGET_GB", "1")
    restorer = RescaledRestorer(Recording(), pixel_um=20, working_um=0.645)
    with pytest.raises(ValueError, match=r"520×696 plane of 20 µm pixels .*budget") as e:
        restorer.restore(np.ones((520, 696), np.float32), DefocusEstimate(8.0, 1.0))
    assert "\n" not in str(e.value)


def test_close_pixel_sizes_are_used_as_they_are():
    assert not needs_resampling(0.65, 0.645)
    assert needs_resampling(1.0, 0.645) and needs_resampling(0.3, 0.645)


def test_the_factory_resamples_networks_and_samples_psfs_at_the_frame_pixel():
    from scope_deblur.methods import build_restorer
    from scope_deblur.optics import NOMINAL, ChannelOptics
    from scope_deblur.restoration import ChannelRestorers, FusionRestorer, RLRestorer

    assert isinstance(build_restorer("fusion-fast", "cpu", pixel_um=0.65), FusionRestorer)
    far = build_restorer("fusion-fast", "cpu", pixel_um=1.29)
    assert isinstance(far, RescaledRestorer) and far.scale == pytest.approx(2, rel=0.01)
    rl = build_restorer("rl", "cpu", pixel_um=1.29)
    assert isinstance(rl, RLRestorer) and rl.profile.optics.pixel_um == 1.29
    profile = NOMINAL.model_copy(update={"channels": {"GFP": ChannelOptics(wavelength_um=0.52)}})
    per_channel = build_restorer("rl", "cpu", profile=profile)
    assert isinstance(per_channel, ChannelRestorers)
    assert per_channel.for_channel("GFP").profile.optics.wavelength_um == 0.52
    assert per_channel.for_channel("DAPI").profile.optics.wavelength_um == 0.451


def test_estimate_reads_the_pixel_size_each_file_states(capsys, tmp_path):
    import json

    from scope_deblur.io import write_stack

    from .test_cli_safety import run
    from .test_fusion_restorer import _cells

    binned = _cells(128, 160, seed=3).reshape(64, 2, 80, 2).sum(axis=(1, 3)).astype(np.uint16)
    write_stack(tmp_path / "stated.tif", [binned], binned.shape, "YX", pixel_size_um=1.29)
    write_stack(tmp_path / "plain.tif", [binned], binned.shape, "YX")
    found = {}
    for name, extra in (("stated", []), ("plain", ["--pixel-size", "1.29"]), ("none", [])):
        path = tmp_path / f"{'stated' if name == 'stated' else 'plain'}.tif"
        rc, out, err = run(capsys, "estimate", path, "--json", "--device", "cpu", *extra)
        assert rc == 0, err
        found[name] = json.loads(out)[0]["defocus_um"]
    assert found["stated"] == found["plain"]  # the file's statement acts as --pixel-size
    assert found["none"] != found["plain"]  # and the pixel size matters to the estimate
