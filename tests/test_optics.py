"""Born–Wolf PSF against upstream golden data; synthetic defocus conserves flux."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from scope_deblur.io import read_image
from scope_deblur.lab.training import SHARED_DATA_DIR
from scope_deblur.optics import (
    BBBC006_OPTICS,
    Optics,
    blur,
    born_wolf_intensity,
    born_wolf_psf,
    defocus,
)
from scope_deblur.optics._psf import _psf_cached

GOLDEN = SHARED_DATA_DIR / "bbbc006" / "golden"
needs_golden = pytest.mark.skipif(not GOLDEN.is_dir(), reason="golden data not present")
# The upstream reference: 21x21 px spanning 5 µm, sampled at pixel centres.
UPSTREAM = Optics(wavelength_um=0.5, na=0.5, n=1.0, pixel_um=5 / 21)


@pytest.mark.parametrize(
    ("r", "z", "expected"),
    [(0.0, 0.0, 0.25), (0.0, 1.0, 0.20264), (1.0, 0.0, 0.00114255)],
)
def test_intensity_golden_points(r: float, z: float, expected: float) -> None:
    got = float(born_wolf_intensity(r, z, wavelength_um=0.5, na=0.5, n=1.0))
    # 5 significant digits: within half a unit of the 5th digit.
    half_unit = 0.5 * 10 ** (np.floor(np.log10(expected)) - 4)
    assert abs(got - expected) <= half_unit


@needs_golden
def test_psf_matches_golden_png() -> None:
    golden = read_image(GOLDEN / "psf.png").astype(np.float64)
    golden /= golden.max()
    psf = born_wolf_psf(4.0, UPSTREAM, size=21, oversample=1)
    assert psf.shape == (21, 21)
    np.testing.assert_allclose(psf / psf.max(), golden, rtol=0, atol=1e-4)


@needs_golden
def test_golden_blur_reproduced() -> None:
    image = read_image(GOLDEN / "cell_image.tiff").astype(np.float64) / 65535
    ref = read_image(GOLDEN / "cell_image_airy_blurred.png").astype(np.float64)
    psf = born_wolf_psf(4.0, UPSTREAM, size=21, oversample=1)
    ours = blur(torch.from_numpy(image), psf).numpy() * 65535
    # Upstream truncates to uint16 (≤ 1 count) and pads half-sample symmetric where
    # we reflect, which only changes the 10-px border band by a few counts.
    inner = np.s_[10:-10, 10:-10]
    assert np.abs(ours - ref)[inner].max() <= 1.01
    assert np.abs(ours - ref).max() <= 4.0
    assert np.abs(ours - ref).mean() <= 0.6


def test_psf_normalised_symmetric_cached() -> None:
    psf = born_wolf_psf(10.0)
    assert psf.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(psf, psf.T, atol=1e-15)
    np.testing.assert_allclose(psf, psf[::-1, ::-1], atol=1e-15)
    assert born_wolf_psf(-10.0) is psf  # symmetric in z, cached
    with pytest.raises(ValueError, match="odd"):
        born_wolf_psf(4.0, size=20)


def test_oversampled_psf_accurate_and_fast() -> None:
    # The spline table must agree with exact evaluation at every sub-pixel sample.
    psf = born_wolf_psf(7.0, BBBC006_OPTICS, size=25, oversample=3)
    half, os_ = 12, 3
    sub = (np.arange(os_) + 0.5) / os_ - 0.5
    c = (np.arange(-half, half + 1)[:, None] + sub).ravel() * BBBC006_OPTICS.pixel_um
    exact = born_wolf_intensity(np.hypot(c[:, None], c[None, :]), 7.0, wavelength_um=0.451, na=0.5)
    exact = exact.reshape(25, os_, 25, os_).mean(axis=(1, 3))
    np.testing.assert_allclose(psf, exact / exact.sum(), rtol=0, atol=1e-5 * psf.max())

    _psf_cached.cache_clear()
    born_wolf_psf(1.0)  # warm imports
    start = time.perf_counter()
    big = born_wolf_psf(40.0, BBBC006_OPTICS, size=109, oversample=3)
    assert time.perf_counter() - start < 0.3  # ~45 ms here; loose bound for busy CI
    assert big.shape == (109, 109)


def test_defocus_conserves_flux_within_noise() -> None:
    gen = torch.Generator().manual_seed(0)
    sharp = torch.zeros(2, 96, 96)
    sharp[:, 30:66, 30:66] = torch.rand(2, 36, 36, generator=gen) * 1000 + 200
    noiseless = defocus(sharp, [6.0, 14.0], photons=None)
    np.testing.assert_allclose(noiseless.sum((1, 2)), sharp.sum((1, 2)), rtol=5e-3)

    photons = 1000.0
    noisy = defocus(sharp, 10.0, photons=photons, read_noise=2.0, generator=gen)
    assert noisy.shape == sharp.shape
    # Noise std of the total, in counts: Poisson on each pixel's photons + read noise.
    scale = photons / torch.quantile(sharp.flatten(1), 0.999, dim=1)
    var = sharp.sum((1, 2)) * scale + 96 * 96 * 2.0**2
    tol = 5 * var.sqrt() / scale + 5e-3 * sharp.sum((1, 2))
    assert torch.all((noisy.sum((1, 2)) - sharp.sum((1, 2))).abs() < tol)


def test_defocus_seedable() -> None:
    sharp = torch.rand(64, 64, generator=torch.Generator().manual_seed(1)) * 100
    a = defocus(sharp, 4.0, generator=torch.Generator().manual_seed(3))
    b = defocus(sharp, 4.0, generator=torch.Generator().manual_seed(3))
    c = defocus(sharp, 4.0, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_defocus_with_a_given_psf_uses_it_instead_of_born_wolf() -> None:
    sharp = torch.rand(64, 64, generator=torch.Generator().manual_seed(1)) * 100
    delta = np.zeros((5, 5))
    delta[2, 2] = 1.0
    same = defocus(sharp, 30.0, photons=None, psf=delta)  # z is ignored
    torch.testing.assert_close(same, sharp, rtol=1e-5, atol=1e-3)
    assert not torch.allclose(defocus(sharp, 30.0, photons=None), sharp, atol=1.0)
