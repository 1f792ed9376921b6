"""AWDVD: no seams at patch borders, deterministic, background passes through."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from scope_deblur.io import read_image
from scope_deblur.metrics import psnr
from scope_deblur.optics import defocus
from scope_deblur.patches import (
    is_background,
    patch_grid,
    patch_starts,
    triangular_weights,
)
from scope_deblur.protocols import DefocusEstimate, Restorer
from scope_deblur.restoration import (
    AWDVDRestorer,
    awdvd,
    estimate_background,
    richardson_lucy,
)

SAMPLES = Path(__file__).parents[1] / "scope_deblur" / "data" / "samples"
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def cells() -> np.ndarray:
    path = sorted(SAMPLES.glob("*.png"))[0]
    return read_image(path).astype(np.float32)[128:320, 0:192]  # 192x192, dense


def _two_level_map(shape: tuple[int, int]) -> np.ndarray:
    m = np.full(shape, 6.0)
    m[:, shape[1] // 2 :] = 10.0
    m[: shape[0] // 3, :] = 8.0
    return m


def test_patch_helpers() -> None:
    assert patch_starts(200, 64, 32) == [0, 32, 64, 96, 128, 136]
    assert patch_starts(50, 64, 32) == [0]
    assert len(patch_grid((200, 100), 64, 32)) == 6 * 3
    # Interior weights of a regular grid sum to 1 (stride divides half the patch).
    acc = np.zeros((300, 300))
    for y, x in patch_grid((300, 300), 60, 30):
        acc[y : y + 60, x : x + 60] += triangular_weights(60, 30)
    np.testing.assert_allclose(acc[60:-60, 60:-60], 1.0)
    assert is_background(np.full((8, 8), 120.0)) and not is_background(np.full((8, 8), 300.0))
    assert is_background(np.full((8, 8), 0.0015), full_scale=1.0)
    assert not is_background(np.r_[100.0, 140.0])


def test_flat_field_has_no_seams() -> None:
    yy, xx = np.mgrid[:160, :200]
    flat = (1000 + 0.5 * xx + 0.3 * yy).astype(np.float32)  # gentle ramp, no structure
    out = awdvd(flat, _two_level_map(flat.shape), patch=64, stride=32, iterations=15, device="cpu")
    assert np.abs(out - flat).max() < 0.01 * flat.mean()
    assert out.sum() == pytest.approx(float(flat.sum()), rel=1e-3)


def test_cell_image_no_seams_deterministic(cells) -> None:
    blurred = defocus(torch.from_numpy(cells), 8.0, photons=None).numpy()
    kwargs = {"patch": 64, "stride": 32, "iterations": 15, "device": "cpu"}
    uniform = awdvd(blurred, np.full(blurred.shape, 8.0), skip_background=False, **kwargs)
    bg = estimate_background(blurred)
    whole = richardson_lucy(torch.from_numpy(blurred - bg), _psf(8.0), iterations=15) + bg
    # Patching with one PSF reproduces whole-frame RL exactly: nothing at patch borders.
    np.testing.assert_allclose(uniform, whole.numpy(), rtol=0, atol=1e-3 * cells.max())
    assert psnr(cells, uniform) > psnr(cells, blurred) + 2.0

    depth_map = _two_level_map(blurred.shape)
    first = awdvd(blurred, depth_map, **kwargs)
    second = awdvd(blurred, depth_map, **kwargs)
    np.testing.assert_array_equal(first, second)
    # Blending two PSFs' restorations stays inside their envelope (no overshoot seams).
    runs = [awdvd(blurred, z, **kwargs) for z in (6.0, 8.0, 10.0)]
    lo, hi = np.minimum.reduce(runs), np.maximum.reduce(runs)
    tol = 0.01 * cells.max()
    assert np.all(first >= lo - tol) and np.all(first <= hi + tol)
    # Row-to-row steps across the patch borders are no larger than elsewhere.
    steps = np.abs(np.diff(first - runs[1], axis=1)).mean(axis=0)
    borders = [x - 1 for x in range(32, 192, 32)]
    assert steps[borders].max() < 3 * np.median(steps) + 1e-3


def _psf(z: float) -> np.ndarray:
    from scope_deblur.optics import born_wolf_psf

    return born_wolf_psf(z)


def test_background_and_restorer(cells) -> None:
    frame = np.full((128, 128), 110, dtype=np.uint16)  # camera offset only: all "bg"
    frame[::7, ::5] += 5
    restorer = AWDVDRestorer(patch=64, stride=32, iterations=5, device="cpu")
    assert isinstance(restorer, Restorer) and restorer.name == "awdvd"
    out = restorer.restore(frame, DefocusEstimate(12.0, 1.0))
    np.testing.assert_allclose(out, frame.astype(np.float32), atol=1e-3)
    nan_map = np.full(frame.shape, np.nan)
    out = restorer.restore(frame * 3, DefocusEstimate(12.0, 1.0, 0.0, nan_map))
    np.testing.assert_allclose(out, frame.astype(np.float32) * 3, atol=1e-3)
    with pytest.raises(ValueError, match="shape"):
        awdvd(cells, np.zeros((4, 4)))
