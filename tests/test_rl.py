"""Richardson–Lucy: restores known blur, conserves flux, plain RL amplifies noise."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from scope_deblur.io import read_image
from scope_deblur.metrics import psnr
from scope_deblur.optics import born_wolf_psf, defocus
from scope_deblur.protocols import DefocusEstimate, Restorer
from scope_deblur.restoration import RLRestorer, estimate_background, richardson_lucy

SAMPLES = Path(__file__).parents[1] / "scope_deblur" / "data" / "samples"
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def sharp() -> np.ndarray:
    """A 128x128 crop of a real in-focus BBBC006 image (uint16 counts)."""
    path = sorted(SAMPLES.glob("*.png"))[0]
    return read_image(path).astype(np.float32)[200:328, 300:428]


def test_rl_with_true_psf_raises_psnr_noiseless(sharp) -> None:
    blurred = defocus(torch.from_numpy(sharp), 8.0, photons=None)
    bg = estimate_background(blurred.numpy())
    out = richardson_lucy(blurred - bg, born_wolf_psf(8.0), iterations=30) + bg
    assert psnr(sharp, out.numpy()) > psnr(sharp, blurred.numpy()) + 3.0


def test_rl_batches_and_conserves_flux(sharp) -> None:
    batch = torch.from_numpy(np.stack([sharp, sharp[::-1].copy()])) - 100
    blurred = defocus(batch, [6.0, 12.0], photons=None).clamp_min(0)
    psfs = np.stack([born_wolf_psf(z, size=41) for z in (6.0, 12.0)])
    out = richardson_lucy(blurred, psfs, iterations=10)
    assert out.shape == blurred.shape and out.dtype == torch.float32
    torch.testing.assert_close(out.sum((1, 2)), blurred.sum((1, 2)), rtol=1e-4, atol=0)
    single = richardson_lucy(blurred[1], psfs[1], iterations=10)
    torch.testing.assert_close(single, out[1], rtol=1e-4, atol=1e-2)
    # Without the explicit rescaling, RL still keeps flux up to boundary effects.
    raw = richardson_lucy(blurred, psfs, iterations=10, preserve_flux=False)
    torch.testing.assert_close(raw.sum((1, 2)), blurred.sum((1, 2)), rtol=2e-2, atol=0)


def test_plain_rl_amplifies_noise_tv_tames_it(sharp) -> None:
    gen = torch.Generator().manual_seed(0)
    noisy = defocus(torch.from_numpy(sharp), 8.0, photons=300, generator=gen)
    bg = estimate_background(noisy.numpy())
    psf = born_wolf_psf(8.0)

    def score(iterations: int, tv: float) -> float:
        out = richardson_lucy(noisy - bg, psf, iterations=iterations, tv_weight=tv)
        return psnr(sharp, out.numpy() + bg)

    early, late = score(15, 0.0), score(150, 0.0)
    assert late < early - 1.0  # more iterations of plain RL fit the noise
    assert score(150, 0.01) > late + 1.0


def test_rl_early_stopping_and_validation(sharp) -> None:
    x = torch.from_numpy(sharp)
    psf = born_wolf_psf(4.0)
    stopped = richardson_lucy(x, psf, iterations=500, tol=1e-2)
    assert torch.isfinite(stopped).all()
    assert torch.equal(richardson_lucy(x, psf, iterations=0), x)
    with pytest.raises(ValueError, match="odd"):
        richardson_lucy(x, np.ones((4, 4)))
    with pytest.raises(ValueError, match="iterations"):
        richardson_lucy(x, psf, iterations=-1)


def test_rl_restorer_protocol_offset_and_passthrough(sharp) -> None:
    restorer = RLRestorer(iterations=20, device="cpu")
    assert isinstance(restorer, Restorer) and restorer.name == "rl"
    blurred = defocus(torch.from_numpy(sharp), 8.0, photons=None).numpy()
    out = restorer.restore(blurred.astype(np.uint16), DefocusEstimate(8.0, 1.0))
    assert out.dtype == np.float32 and out.shape == sharp.shape
    assert psnr(sharp, out) > psnr(sharp, blurred) + 2.0
    assert out.sum() == pytest.approx(float(blurred.astype(np.uint16).sum()), rel=5e-3)
    # A camera offset of 1000 counts only shifts the result.
    shifted = restorer.restore(blurred + 1000, DefocusEstimate(8.0, 1.0))
    np.testing.assert_allclose(
        shifted - 1000, restorer.restore(blurred, DefocusEstimate(8.0, 1.0)), atol=0.5
    )
    for est in (DefocusEstimate(None, 0.0), DefocusEstimate(0.5, 1.0)):
        same = restorer.restore(blurred, est)
        np.testing.assert_array_equal(same, blurred.astype(np.float32))
    with pytest.raises(ValueError, match="NaN"):
        restorer.restore(np.full((8, 8), np.nan), DefocusEstimate(8.0, 1.0))
    with pytest.raises(ValueError, match="device"):
        RLRestorer(device="tpu")
