"""Tests of the randomised forward-model family and of the blind realism statistics."""

from __future__ import annotations

import numpy as np
import pytest
from scope_deblur.lab.evaluation import realism_stats
from scope_deblur.optics import born_wolf_psf
from scope_deblur.optics._family import (
    FAMILY_RANGES,
    PsfParams,
    camera,
    pupil_psf,
    sample_params,
    sample_psf,
)


@pytest.mark.parametrize("z", [0.0, 4.0, 10.0, 34.0])
def test_pupil_model_without_extras_is_born_wolf(z: float) -> None:
    ref = born_wolf_psf(z)
    got = pupil_psf(z, PsfParams(), size=ref.shape[0])
    assert np.abs(got - ref).sum() < 0.01  # L1 distance of two unit-sum kernels
    assert np.abs(got - ref).max() < 0.01 * ref.max()


def test_extras_change_the_psf() -> None:
    ref = born_wolf_psf(20.0)
    for p in (PsfParams(spherical=1.0), PsfParams(apodisation=0.6), PsfParams(sigma_px=3.0)):
        got = pupil_psf(20.0, p, size=ref.shape[0])
        assert np.abs(got - ref).sum() > 0.05


@pytest.mark.parametrize("seed", range(4))
def test_every_member_conserves_flux(seed: int) -> None:
    rng = np.random.default_rng(seed)
    z = rng.uniform(0, 40)
    psf = sample_psf(z, rng)
    assert psf.ndim == 2 and psf.shape[0] % 2 == 1 and (psf >= 0).all()
    assert psf.sum() == pytest.approx(1.0, abs=1e-9)


def test_sampling_is_seeded_and_within_ranges() -> None:
    a = sample_params(30.0, np.random.default_rng(1))
    b = sample_params(30.0, np.random.default_rng(1))
    assert a == b
    lo, hi = FAMILY_RANGES.spherical
    assert lo <= a.spherical <= hi
    assert a.sigma_px <= FAMILY_RANGES.sigma0_px[1] + 30.0 * FAMILY_RANGES.sigma_per_um[1]


def test_camera_adds_offset_and_keeps_mean_signal() -> None:
    rng = np.random.default_rng(0)
    img = np.full((128, 128), 500.0)
    out = camera(img, rng, scale_q=500.0)
    lo_off, hi_off = FAMILY_RANGES.offset
    bg = FAMILY_RANGES.background[1] * 500
    assert 500 + lo_off - 5 < out.mean() < 500 + hi_off + bg + 5
    assert out.dtype == np.float32 and out.std() > 0


@pytest.mark.parametrize("radius", [8, 14, 20])
def test_realism_stats_measure_disc_area(radius: int) -> None:
    img = np.full((256, 256), 100.0)
    yy, xx = np.mgrid[:256, :256]
    for cy, cx in [(60, 60), (60, 190), (190, 60), (190, 190)]:
        img[(yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2] += 900
    stats = realism_stats(img + np.random.default_rng(0).normal(0, 5, img.shape))
    assert stats["n_objects"] == 4
    assert stats["median_area_px"] == pytest.approx(np.pi * radius**2, rel=0.05)
    assert stats["peak"] == pytest.approx(900, rel=0.05)
    assert sum(stats["spectrum"]) == pytest.approx(1.0)
