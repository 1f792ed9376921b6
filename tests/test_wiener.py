"""Tests of the Wiener deconvolution (the fusion U-Net's optional input plane)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from scope_deblur.optics import blur  # noqa: E402
from scope_deblur.restoration._wiener import wiener  # noqa: E402


def _gaussian(sigma: float, half: int) -> np.ndarray:
    g = np.exp(-(np.arange(-half, half + 1) ** 2) / (2 * sigma**2))
    k = np.outer(g, g)
    return k / k.sum()


def test_inverts_blur_of_a_band_limited_image() -> None:
    rng = np.random.default_rng(0)
    sharp = blur(torch.from_numpy(rng.random((96, 80))), _gaussian(1.5, 6))  # band-limited
    psf = _gaussian(1.0, 4)
    blurred = blur(sharp, psf)
    out = wiener(blurred, psf, balance=1e-7)
    inner = (slice(12, -12), slice(12, -12))
    err = (out - sharp)[inner].abs().mean() / (blurred - sharp)[inner].abs().mean()
    assert out.shape == sharp.shape and out.dtype == sharp.dtype
    assert err < 0.02
    # One pixel off is far worse: the output is aligned with the input.
    shifted = (torch.roll(out, 1, dims=1) - sharp)[inner].abs().mean()
    assert shifted > 10 * (out - sharp)[inner].abs().mean()


def test_batches_and_tiny_frames() -> None:
    psf = _gaussian(2.0, 7)
    x = torch.rand(3, 10, 12)
    out = wiener(x, psf)
    assert out.shape == x.shape
    torch.testing.assert_close(out[1], wiener(x[1], psf))


@pytest.mark.parametrize(
    ("psf", "balance", "needle"),
    [(np.ones((4, 4)) / 16, 0.02, "odd"), (np.ones((3, 3)) / 9, 0.0, "balance")],
)
def test_bad_arguments_raise(psf: np.ndarray, balance: float, needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        wiener(torch.rand(8, 8), psf, balance)
