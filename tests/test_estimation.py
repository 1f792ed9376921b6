"""DelpNet estimator: any frame size and dtype, weights round trip, shipped accuracy."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from scope_deblur.estimation import DelpNetEstimator, background_rule
from scope_deblur.nets import DelpNet, DelpNetConfig
from scope_deblur.optics import BBBC006_OPTICS
from scope_deblur.patches import patch_grid
from scope_deblur.protocols import DefocusEstimator
from scope_deblur.weights import ModelCard, load_state_dict, models_dir, save_weights

SHIPPED = (models_dir() / "delpnet.safetensors").is_file()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small untrained DelpNet saved with its card."""
    torch.manual_seed(0)
    cfg = DelpNetConfig(width=4, levels_um=(0.0, 2.0, 4.0))
    path = tmp_path_factory.mktemp("w") / "tiny"
    card = ModelCard(
        architecture="DelpNet",
        config=cfg.model_dump(mode="json"),
        paper="test",
        optics=BBBC006_OPTICS,
        command=None,
    )
    save_weights(DelpNet(config=cfg), path, card)
    return path.with_suffix(".safetensors")


def cells(shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    """A uint16 frame of blurred spots on a camera offset."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    spots = (rng.random(shape) < 0.003).astype(np.float32) * 3e5
    return (gaussian_filter(spots, 4) + 110 + rng.normal(0, 3, shape)).astype(np.uint16)


@pytest.mark.parametrize("shape", [(10, 10), (40, 300), (84, 84), (85, 131), (261, 347)])
@pytest.mark.parametrize("dtype", [np.uint16, np.uint8, np.float32])
def test_shapes_any_size_and_dtype(tiny: Path, shape: tuple[int, int], dtype) -> None:
    est = DelpNetEstimator(tiny, device="cpu", stride=42)
    frame = cells(shape).astype(dtype)
    out = est.estimate(frame)
    assert isinstance(est, DefocusEstimator) and est.name == "delpnet"
    assert out.defocus_map is not None and out.defocus_map.shape == shape
    assert 0.0 <= out.confidence <= 1.0 and 0.0 <= out.foreground_fraction <= 1.0
    if out.defocus_um is not None:
        assert 0.0 <= out.defocus_um <= 4.0


def test_batch_matches_single(tiny: Path) -> None:
    est = DelpNetEstimator(tiny, device="cpu", bf16=False)
    frames = [cells((120, 200), s) for s in range(3)]
    batch = est.estimate_batch(frames)
    for f, b in zip(frames, batch, strict=True):
        single = est.estimate(f)
        assert single.defocus_um == pytest.approx(b.defocus_um, abs=1e-4)


def test_rescaled_batch_matches_single(tiny: Path) -> None:
    from scope_deblur.estimation import RescaledEstimator

    est = RescaledEstimator(DelpNetEstimator(tiny, device="cpu", bf16=False), pixel_um=0.4)
    frames = [cells((120, 200), s) for s in range(3)]
    for f, b in zip(frames, est.estimate_batch(frames), strict=True):
        single = est.estimate(f)
        assert single.defocus_um == pytest.approx(b.defocus_um, abs=1e-4)
        assert b.defocus_map.shape == f.shape  # back at the frame's resolution


def test_patch_grid_covers_frame() -> None:
    grid = patch_grid((520, 696), 84, 84)
    assert len(grid) == 7 * 9
    assert max(r for r, _ in grid) == 520 - 84 and max(c for _, c in grid) == 696 - 84


def test_background_rule_scales_with_bit_depth() -> None:
    flat = np.full((1, 84, 84), 120.0)
    assert background_rule(flat).all()
    assert not background_rule(flat + 200).all()
    assert not background_rule(np.full((1, 84, 84), 0.5), 1.0).all()  # [0, 1] floats
    assert background_rule(np.full((1, 84, 84), 0.5)).all()  # float counts


def test_reload_is_bit_exact(tiny: Path) -> None:
    model = DelpNet(config=DelpNetConfig(width=4, levels_um=(0.0, 2.0, 4.0)))
    state, card = load_state_dict(tiny, model)
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), k
    assert card.config["width"] == 4


def test_truncated_file_is_a_clear_error(tiny: Path, tmp_path: Path) -> None:
    bad = tmp_path / "cut.safetensors"
    shutil.copy(tiny, bad)
    shutil.copy(tiny.with_suffix(".json"), bad.with_suffix(".json"))
    bad.write_bytes(bad.read_bytes()[:500])
    with pytest.raises(ValueError, match="corrupt"):
        DelpNetEstimator(bad, device="cpu")


def test_nan_frame_is_a_value_error(tiny: Path) -> None:
    frame = cells((100, 100)).astype(np.float32)
    frame[5, 5] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        DelpNetEstimator(tiny, device="cpu").estimate(frame)


def test_bad_stride_is_a_value_error(tiny: Path) -> None:
    with pytest.raises(ValueError, match="stride"):
        DelpNetEstimator(tiny, device="cpu", stride=200)


@pytest.mark.skipif(not SHIPPED, reason="shipped weights not present")
def test_shipped_all_background_gives_none() -> None:
    rng = np.random.default_rng(1)
    frame = (110 + rng.normal(0, 2, (300, 400))).astype(np.uint16)
    out = DelpNetEstimator(device="cpu").estimate(frame)
    assert out.defocus_um is None and out.foreground_fraction == 0.0
    assert np.isnan(out.defocus_map).all()


@pytest.mark.skipif(not SHIPPED, reason="shipped weights not present")
def test_shipped_accuracy_floor_on_held_out_image() -> None:
    from scope_deblur.lab.training._data import in_focus_paths, load_in_focus, split_by_image
    from scope_deblur.lab.training._delpnet import SyntheticDefocus, patch_metrics

    est = DelpNetEstimator(device="cpu", bf16=False)
    _, val = split_by_image(in_focus_paths())
    gen = SyntheticDefocus(
        load_in_focus(val), est.config.levels_um, seed=123, per_level=1, forward="born_wolf"
    )
    m = patch_metrics(est.model, gen, 256)
    # A regression floor, not the 95 % target (unmet): chance is ~14 % (3 of 21 levels),
    # the shipped model scores 0.79 on this seeded set (the one before it 0.43).
    assert m["foreground_within_2um"] >= 0.7, m


@pytest.mark.skipif(not SHIPPED, reason="shipped weights not present")
@pytest.mark.parametrize("photons", [1000.0, 150.0])
def test_shipped_sparse_and_dim_fields(photons: float) -> None:
    """Few nuclei among many halo and noise patches: in focus reads <= 2 µm and a
    defocused field within 2 µm (#24; the unweighted median read 4.6 µm in focus)."""
    from scope_deblur.lab.fields import sparse_field
    from scope_deblur.lab.training._data import in_focus_paths, load_in_focus, split_by_image
    from scope_deblur.optics import defocus

    _, val = split_by_image(in_focus_paths())
    image = load_in_focus(val)[0]
    est = DelpNetEstimator(device="cpu")
    gen = torch.Generator().manual_seed(0)
    for keep, seed in ((3, 0), (8, 1)):
        field = torch.from_numpy(sparse_field(image, keep, seed))
        for z in (0.0, 10.0):
            out = est.estimate(defocus(field, z, photons=photons, generator=gen).numpy())
            assert out.defocus_um is not None and abs(out.defocus_um - z) <= 2.0, (keep, z, out)


def test_weighted_median() -> None:
    from scope_deblur.estimation._delpnet import weighted_median

    v = np.array([30.0, 1.0, 2.0, 28.0, 29.0])
    assert weighted_median(v, np.ones(5)) == 28.0
    assert weighted_median(v, np.array([0.1, 5.0, 5.0, 0.1, 0.1])) in (1.0, 2.0)


def test_paper_forward_model_is_poisson_on_counts() -> None:
    """The paper's synthetic data: Born–Wolf blur, then Poisson noise on the 16-bit counts."""
    from scope_deblur.lab.training._delpnet import SyntheticDefocus

    sharp = np.full((96, 96), 120.0, np.float32)
    sharp[30:60, 30:60] = 1500.0
    gen = SyntheticDefocus([sharp], [0.0, 4.0], seed=0, per_level=1, forward="paper")
    noisy, _, _ = gen.frames[0][0]
    assert np.array_equal(noisy, np.round(noisy))  # integer counts, offset included
    assert abs(noisy[:20, :20].mean() - 120.0) < 3 * np.sqrt(120.0 / 400)
    assert abs(noisy[35:55, 35:55].var() / 1500.0 - 1.0) < 0.2  # Poisson: variance = mean
    with pytest.raises(ValueError, match="forward"):
        SyntheticDefocus([sharp], [0.0], forward="disc")
