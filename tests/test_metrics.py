"""Metrics rule (shared affine normalisation) and focus measures."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scope_deblur import metrics
from scope_deblur.optics import blur, born_wolf_psf
from skimage.metrics import structural_similarity


@pytest.fixture
def pair() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    gt = rng.gamma(2.0, 100.0, size=(64, 64)) + 100
    pred = gt + rng.normal(0, 20, size=gt.shape)
    return gt, pred


def test_affine_change_to_both_leaves_scores_unchanged(pair) -> None:
    gt, pred = pair
    base = (metrics.psnr(gt, pred), metrics.ssim(gt, pred), metrics.pearson(gt, pred))
    for a, b in [(3.0, 50.0), (0.01, -7.0), (65535.0, 0.0)]:
        moved = (a * gt + b, a * pred + b)
        assert metrics.psnr(*moved) == pytest.approx(base[0], abs=1e-9)
        assert metrics.ssim(*moved) == pytest.approx(base[1], abs=1e-9)
        assert metrics.pearson(*moved) == pytest.approx(base[2], abs=1e-12)


def test_affine_change_to_gt_alone_changes_psnr(pair) -> None:
    # The rule uses gt's percentiles for both images, so a mismatch in units shows.
    gt, pred = pair
    assert metrics.psnr(2 * gt, pred) < metrics.psnr(gt, pred) - 3


def test_psnr_matches_definition(pair) -> None:
    gt, pred = pair
    lo, hi = np.percentile(gt, [0.1, 99.9])
    mse = np.mean(((gt - pred) / (hi - lo)) ** 2)
    assert metrics.psnr(gt, pred) == pytest.approx(10 * np.log10(1 / mse))
    assert metrics.psnr(gt, gt) == float("inf")
    g, p = metrics.normalize_pair(gt, pred)
    assert metrics.ssim(gt, pred) == pytest.approx(structural_similarity(g, p, data_range=1.0))
    assert p.min() < 0 or p.max() > 1  # no clipping


def test_metric_errors() -> None:
    with pytest.raises(ValueError, match="shapes differ"):
        metrics.psnr(np.zeros((4, 4)), np.zeros((4, 5)))
    with pytest.raises(ValueError, match="flat"):
        metrics.psnr(np.ones((8, 8)), np.ones((8, 8)))
    with pytest.raises(ValueError, match="NaN"):
        metrics.psnr(np.full((8, 8), np.nan), np.ones((8, 8)))


def test_focus_measures_fall_with_defocus() -> None:
    rng = np.random.default_rng(1)
    sharp = np.zeros((96, 96))
    for y, x in rng.integers(10, 86, size=(25, 2)):
        sharp[y - 3 : y + 3, x - 3 : x + 3] += 1000
    sharp += 100
    for measure in (
        metrics.normalized_variance,
        metrics.brenner,
        metrics.laplacian_variance,
    ):
        values = [
            measure(blur(torch.from_numpy(sharp), born_wolf_psf(z)).numpy())
            for z in (0.0, 6.0, 20.0)
        ]
        assert values[0] > values[1] > values[2] > 0, measure.__name__
    with pytest.raises(ValueError, match="2-D"):
        metrics.brenner(np.zeros(10))
