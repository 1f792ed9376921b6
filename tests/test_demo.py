import itertools

import numpy as np
import pytest
from scope_deblur.demo import DEMO_CONFIG, DriftConfig, DriftModel, demo_camera
from scope_deblur.metrics import normalized_variance


def test_demo_config_loads(demo_core):
    assert {"Camera", "Z", "XY", "Shutter"} <= set(demo_core.getLoadedDevices())
    assert demo_core.getCameraDevice() == "Camera"
    assert demo_core.getFocusDevice() == "Z"
    assert demo_core.getShutterDevice() == "Shutter"
    assert demo_core.getPixelSizeUm() == pytest.approx(0.645)
    assert DEMO_CONFIG.is_file()


def test_plain_unimmcore_loads_shipped_config():
    from pymmcore_plus.experimental.unicore import UniMMCore

    core = UniMMCore()
    core.loadSystemConfiguration(str(DEMO_CONFIG))
    core.snapImage()
    assert core.getImage().shape == (512, 512)
    del core


def _snap_at(core, defocus_um):
    cam = demo_camera(core)
    cam.sim.drift.config.ramp_um_per_frame = 0.0
    cam.sim.drift.config.walk_um_per_frame = 0.0
    cam.sim.drift.config.jump_probability = 0.0
    core.setPosition(cam.sim.drift.focal_plane_um + defocus_um)
    core.snapImage()
    img = core.getImage()
    assert abs(cam.truth_for(img).defocus_um - defocus_um) < 1e-6
    return img


def test_sharpness_falls_steadily_with_defocus(demo_core):
    scores = [normalized_variance(_snap_at(demo_core, z)) for z in (0, 4, 10, 20, 40)]
    assert all(a > b for a, b in itertools.pairwise(scores)), scores
    # The PSF is symmetric in z: above and below focus look alike.
    below = normalized_variance(_snap_at(demo_core, -10))
    assert below == pytest.approx(scores[2], rel=0.05)


def test_exposure_scales_photons_and_binning_roi_work(demo_core):
    demo_core.setExposure(10)
    dim = _snap_at(demo_core, 0).astype(float) - 100
    demo_core.setExposure(40)
    bright = _snap_at(demo_core, 0).astype(float) - 100
    assert bright.mean() / dim.mean() == pytest.approx(4, rel=0.05)
    demo_core.setProperty("Camera", "Binning", 2)
    assert _snap_at(demo_core, 0).shape == (256, 256)
    assert demo_core.getPixelSizeUm() == pytest.approx(1.29)
    demo_core.setROI(10, 20, 64, 32)
    assert _snap_at(demo_core, 0).shape == (32, 64)


def test_xy_moves_show_new_cells(demo_core):
    a = _snap_at(demo_core, 0).astype(float)
    demo_core.setXYPosition(300.0, 200.0)
    b = _snap_at(demo_core, 0).astype(float)
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] < 0.5


def test_sharp_frame_matches_noiseless_render(demo_core):
    cam = demo_camera(demo_core)
    img = _snap_at(demo_core, 0).astype(float)
    sharp = cam.sharp_frame(cam.truth_for(_snap_at(demo_core, 0)))
    # In focus, the frame is the sharp frame plus noise (and a 0.5 µm-free PSF).
    assert np.corrcoef(img.ravel(), sharp.ravel())[0, 1] > 0.95


def test_drift_is_reproducible_from_seed():
    cfg = DriftConfig(seed=7, jump_probability=0.2)
    a = DriftModel(cfg).trajectory(200)
    b = DriftModel(cfg).trajectory(200)
    c = DriftModel(DriftConfig(seed=8, jump_probability=0.2)).trajectory(200)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    assert np.abs(a).max() <= cfg.limit_um


def test_drift_ramp_without_noise_is_linear():
    cfg = DriftConfig(ramp_um_per_frame=0.25, walk_um_per_frame=0, jump_probability=0)
    np.testing.assert_allclose(DriftModel(cfg).trajectory(10), 0.25 * np.arange(1, 11))
