"""Tests of FusionRestorer: any size and dtype, tiling, flux, do-no-harm, shipped model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from scope_deblur.protocols import DefocusEstimate, Restorer  # noqa: E402
from scope_deblur.restoration._fusion import FusionRestorer  # noqa: E402

FAR = DefocusEstimate(defocus_um=20.0, confidence=0.9)


def _save(cfg, path) -> str:
    """Save a seeded random fusion U-Net of ``cfg`` as weights + card; return the weights."""
    from scope_deblur.nets import FusionUNet
    from scope_deblur.optics import BBBC006_OPTICS
    from scope_deblur.weights import ModelCard, save_weights

    torch.manual_seed(0)
    card = ModelCard(
        architecture="FusionUNet",
        config=cfg.model_dump(),
        paper="test",
        optics=BBBC006_OPTICS,
        command=None,
    )
    return str(save_weights(FusionUNet(config=cfg), path, card))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A tiny seeded random fusion U-Net saved as weights + card."""
    from scope_deblur.nets import FusionUNetConfig

    cfg = FusionUNetConfig(n_scales=2, fusion="concat", base_width=4, depth=1)
    return _save(cfg, tmp_path_factory.mktemp("w") / "tiny")


@pytest.fixture(scope="module", params=["conditioned", "wiener", "rl_plane"])
def conditioned(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A tiny seeded random fusion U-Net that needs the defocus: as a plane, or also
    for its Wiener plane, or for its RL plane (known optics)."""
    from scope_deblur.nets import FusionUNetConfig

    cfg = FusionUNetConfig(
        n_scales=2,
        base_width=4,
        depth=1,
        conditioned=True,
        wiener=request.param == "wiener",
        rl_plane=request.param == "rl_plane",
    )
    return _save(cfg, tmp_path_factory.mktemp("w") / request.param)


def _cells(h: int, w: int, seed: int = 0) -> np.ndarray:
    """Blobs on an offset, in uint16-like counts."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w]
    img = np.full((h, w), 100.0)
    for _ in range(max(3, h * w // 2000)):
        cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(4, 10)
        img += 800 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r**2))
    return img


def test_is_a_restorer(tiny: str) -> None:
    assert isinstance(FusionRestorer(tiny, device="cpu"), Restorer)
    assert FusionRestorer(tiny, device="cpu").name == "tiny"  # the weights' stem, recorded


@pytest.mark.parametrize("shape", [(64, 64), (37, 53), (1, 9), (130, 71)])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_any_size_and_dtype_gives_float32_same_shape(tiny: str, shape, dtype) -> None:
    frame = (_cells(*shape) % 250).astype(dtype)
    out = FusionRestorer(tiny, device="cpu", dtype="float32").restore(frame, FAR)
    assert out.shape == shape and out.dtype == np.float32 and np.isfinite(out).all()


def test_flux_is_preserved(tiny: str) -> None:
    frame = _cells(96, 80).astype(np.float32)
    out = FusionRestorer(tiny, device="cpu", dtype="float32").restore(frame, FAR)
    assert out.sum(dtype=np.float64) == pytest.approx(frame.sum(dtype=np.float64), rel=1e-4)


def _assert_tiling_matches_whole_frame(weights: str) -> None:
    frame = _cells(150, 170).astype(np.float32)
    whole = FusionRestorer(weights, device="cpu", dtype="float32", tile=512)
    tiled = FusionRestorer(weights, device="cpu", dtype="float32", tile=64, overlap=24)
    a, b = whole.restore(frame, FAR), tiled.restore(frame, FAR)
    span = np.percentile(frame, 99.9) - np.percentile(frame, 0.1)
    assert np.abs(a - b).mean() < 1e-3 * span
    assert np.abs(a - b).max() < 2e-2 * span


def test_tiled_matches_whole_frame(tiny: str) -> None:
    _assert_tiling_matches_whole_frame(tiny)


def test_tiled_matches_whole_frame_with_defocus_planes(conditioned: str) -> None:
    """The defocus and Wiener planes are built on the whole frame, then tiled."""
    _assert_tiling_matches_whole_frame(conditioned)


def test_in_focus_or_empty_frames_come_back_unchanged(tiny: str) -> None:
    frame = _cells(64, 64)
    r = FusionRestorer(tiny, device="cpu")
    for est in (DefocusEstimate(1.0, 0.9), DefocusEstimate(None, 0.0)):
        np.testing.assert_array_equal(r.restore(frame, est), frame.astype(np.float32))
    assert 0 < r.strength(DefocusEstimate(4.5, 0.9)) < 1 == r.strength(FAR)


def test_confidence_gates_nothing(tiny: str, conditioned: str) -> None:
    """An unsure estimate is restored like a sure one (#24: no silent switch-off)."""
    frame = _cells(64, 64)
    for weights in (tiny, conditioned):
        r = FusionRestorer(weights, device="cpu")
        unsure, sure = DefocusEstimate(20.0, 0.02), DefocusEstimate(20.0, 1.0)
        assert r.strength(unsure) == r.strength(sure) == 1.0
        np.testing.assert_array_equal(r.restore(frame, unsure), r.restore(frame, sure))
        assert not np.allclose(r.restore(frame, unsure), frame)


def test_network_given_the_defocus_restores_in_focus_frames_too(conditioned: str) -> None:
    """No depth gate when the network knows the defocus; empty frames still pass."""
    frame = _cells(64, 64)
    r = FusionRestorer(conditioned, device="cpu")
    assert r.strength(DefocusEstimate(0.5, 0.9)) == 1.0
    assert not np.allclose(r.restore(frame, DefocusEstimate(0.5, 0.9)), frame)
    empty = r.restore(frame, DefocusEstimate(None, 0.0))
    np.testing.assert_array_equal(empty, frame.astype(np.float32))


def test_batch_equals_one_by_one(tiny: str) -> None:
    r = FusionRestorer(tiny, device="cpu", dtype="float32")
    frames = [_cells(48, 40, s) for s in range(3)]
    ests = [FAR, DefocusEstimate(0.0, 1.0), FAR]
    batch = r.restore_batch(frames, ests)
    for f, e, b in zip(frames, ests, batch, strict=True):
        np.testing.assert_allclose(b, r.restore(f, e), rtol=1e-5, atol=1e-3)


def test_conditioned_model_uses_the_estimate(conditioned: str) -> None:
    r = FusionRestorer(conditioned, device="cpu", dtype="float32")
    frame = _cells(48, 40)
    near, far = r.restore(frame, DefocusEstimate(8.0, 1.0)), r.restore(frame, FAR)
    assert not np.allclose(near, far)
    batch = r.restore_batch([frame, frame], [DefocusEstimate(8.0, 1.0), FAR])
    np.testing.assert_allclose(batch[0], near, rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(batch[1], far, rtol=1e-5, atol=1e-3)
    with pytest.raises(ValueError, match="defocus"):
        r.restore_full(frame)


@pytest.mark.parametrize("bad", [np.full((8, 8), np.nan), np.zeros((0, 5)), np.zeros((2, 3, 4))])
def test_bad_frames_raise_value_error(tiny: str, bad: np.ndarray) -> None:
    with pytest.raises(ValueError, match="frame"):
        FusionRestorer(tiny, device="cpu").restore(bad, FAR)


def test_reload_is_exact(tiny: str) -> None:
    frame = _cells(64, 64)
    a = FusionRestorer(tiny, device="cpu", dtype="float32").restore(frame, FAR)
    b = FusionRestorer(tiny, device="cpu", dtype="float32").restore(frame, FAR)
    np.testing.assert_array_equal(a, b)


def test_bad_options_raise(tiny: str) -> None:
    with pytest.raises(ValueError, match="mul"):
        FusionRestorer(tiny, device="cpu", dtype="mul")
    with pytest.raises(ValueError, match="tpu"):
        FusionRestorer(tiny, device="tpu")


@pytest.mark.parametrize("method", ["fusion", "fusion-fast", "fusion-known", "fusion-known-fast"])
def test_shipped_models_beat_the_input_on_held_out_synthetic_defocus(method: str) -> None:
    from scope_deblur.lab.training._data import in_focus_paths, load_in_focus, split_by_image
    from scope_deblur.methods import build_restorer
    from scope_deblur.metrics import psnr
    from scope_deblur.optics import defocus

    r = build_restorer(method, "cpu")
    assert r.name == method
    from scope_deblur.weights import resolve, sha256_file

    assert r.sha256 == sha256_file(resolve(method))  # what frames.csv records
    _, val = split_by_image(in_focus_paths())
    sharp = load_in_focus(val)[0][100:292, 200:392]
    gen = torch.Generator().manual_seed(0)
    for z in (10.0, 30.0):
        blurred = defocus(torch.from_numpy(sharp), z, generator=gen).numpy()
        out = r.restore(blurred, DefocusEstimate(z, 1.0))
        assert psnr(sharp, out) > psnr(sharp, blurred) + 1.0


def test_shipped_model_restores_a_sparse_field_as_estimated() -> None:
    """A field with three nuclei, defocused, estimated by DelpNet and restored as the
    product runs: the network must help, whatever the estimator's confidence (#24)."""
    from scope_deblur.estimation import DelpNetEstimator
    from scope_deblur.lab.fields import sparse_field
    from scope_deblur.lab.training._data import in_focus_paths, load_in_focus, split_by_image
    from scope_deblur.methods import build_restorer
    from scope_deblur.metrics import psnr
    from scope_deblur.optics import defocus

    _, val = split_by_image(in_focus_paths())
    sharp = sparse_field(load_in_focus(val)[0][:256, :256], keep=3)
    r, est = build_restorer("fusion-fast", "cpu"), DelpNetEstimator(device="cpu")
    gen = torch.Generator().manual_seed(0)
    for z in (10.0, 16.0):
        blurred = defocus(torch.from_numpy(sharp), z, generator=gen).numpy()
        e = est.estimate(blurred)
        out = r.restore(blurred, DefocusEstimate(e.defocus_um, 0.01))
        assert psnr(sharp, out) > psnr(sharp, blurred) + 1.0, (z, e)


@pytest.mark.parametrize("method", ["fusion-known", "fusion-known-fast"])
def test_known_optics_models_beat_rl_given_the_same_psf(method: str) -> None:
    """Both deconvolve with the true (textbook) PSF; the network must do better than RL."""
    from scope_deblur.lab.training._data import in_focus_paths, load_in_focus, split_by_image
    from scope_deblur.methods import build_restorer
    from scope_deblur.metrics import psnr
    from scope_deblur.optics import OpticsProfile, PsfParams, defocus

    _, val = split_by_image(in_focus_paths())
    sharp = load_in_focus(val)[0][100:292, 200:392]
    gen = torch.Generator().manual_seed(0)
    smooth = OpticsProfile(psf_params=PsfParams(apodisation=0.7, sigma_px=2.0))
    for profile, z in ((None, 16.0), (smooth, 24.0)):
        psf = None if profile is None else profile.psf(z)
        blurred = defocus(torch.from_numpy(sharp), z, generator=gen, psf=psf).numpy()
        est = DefocusEstimate(z, 1.0)
        net = build_restorer(method, "cpu", profile=profile).restore(blurred, est)
        rl = build_restorer("rl", "cpu", profile=profile).restore(blurred, est)
        assert psnr(sharp, net) > psnr(sharp, rl) + 0.5


@pytest.mark.parametrize("method", ["fusion", "fusion-fast", "fusion-known", "fusion-known-fast"])
def test_shipped_models_do_no_harm_to_bright_in_focus_frames(method: str) -> None:
    """At 20000 photons the raw network loses 5-7 dB on an in-focus frame (its error
    floor); the fidelity blend must give the frame back at least as good as it was."""
    from scope_deblur.lab.training._data import in_focus_paths, load_in_focus, split_by_image
    from scope_deblur.methods import build_restorer
    from scope_deblur.metrics import psnr
    from scope_deblur.optics import defocus

    r = build_restorer(method, "cpu")
    _, val = split_by_image(in_focus_paths())
    sharp = load_in_focus(val)[0][100:292, 200:392]
    gen = torch.Generator().manual_seed(0)
    frame = defocus(torch.from_numpy(sharp), 0.0, photons=20000.0, generator=gen).numpy()
    raw = r.restore_full(frame, 0.0)
    out = r.restore(frame, DefocusEstimate(0.0, 1.0))
    assert psnr(sharp, raw) < psnr(sharp, frame) - 1.0  # the harm the blend must undo
    assert psnr(sharp, out) >= psnr(sharp, frame) - 0.05


def _with_floor(weights: str, floor: float, tmp_path) -> str:
    import json
    import shutil

    dst = tmp_path / f"floor{floor:g}.safetensors"
    shutil.copy(weights, dst)
    card = json.loads(Path(weights).with_suffix(".json").read_text())
    dst.with_suffix(".json").write_text(json.dumps({**card, "error_floor": floor}))
    return str(dst)


def test_fidelity_blend_follows_the_error_floor(tiny: str, tmp_path) -> None:
    frame = _cells(64, 80).astype(np.float32)
    plain = FusionRestorer(tiny, device="cpu", dtype="float32")
    raw = plain.restore(frame, FAR)
    assert plain.error_floor == 0.0 and np.array_equal(raw, plain.restore_full(frame, 20.0))
    # a floor far above the output's difference from the input: the input comes back
    huge = FusionRestorer(_with_floor(tiny, 1e9, tmp_path), device="cpu", dtype="float32")
    np.testing.assert_array_equal(huge.restore(frame, FAR), frame)
    # in between: weight 1 - floor / D, D the mean square difference in normalised units
    from scope_deblur.restoration import normalise

    d = float(np.mean(((raw - frame) / normalise(frame)[1]) ** 2))
    half = FusionRestorer(_with_floor(tiny, d / 4, tmp_path), device="cpu", dtype="float32")
    assert half.fidelity(frame, raw) == pytest.approx(0.75, rel=1e-4)
    np.testing.assert_allclose(half.restore(frame, FAR), 0.75 * raw + 0.25 * frame, rtol=1e-5)
    batch = half.restore_batch([frame, frame], [FAR, FAR])
    np.testing.assert_allclose(batch[0], 0.75 * raw + 0.25 * frame, rtol=1e-4, atol=1e-2)


def test_tiles_are_few_and_equal(tiny: str) -> None:
    from scope_deblur.patches import patch_starts

    r = FusionRestorer(tiny, device="cpu", tile=64, overlap=8)
    m = r.net.multiple
    assert r._tile_side(40) == 40  # fits: one tile, the whole side
    for n in range(68, 400, m):
        side = r._tile_side(n)
        assert side <= 64 and side % m == 0
        assert len(patch_starts(n, side, side - 8)) == -(-(n - 8) // (64 - 8)), n


def test_thin_frame_wider_than_a_tile(tiny: str) -> None:
    r = FusionRestorer(tiny, device="cpu", dtype="float32", tile=64, overlap=8)
    out = r.restore(_cells(5, 150), FAR)
    assert out.shape == (5, 150) and np.isfinite(out).all()


def test_compiled_network_matches_eager(tiny: str) -> None:
    eager = FusionRestorer(tiny, device="cpu", dtype="float32")
    fast = FusionRestorer(tiny, device="cpu", dtype="float32", compile=True)
    frame = _cells(48, 40)
    fast.warm_up(frame.shape)
    if not fast.compiled:  # no C++ compiler here: the fallback is tested below
        pytest.skip("torch.compile is not available on this machine")
    np.testing.assert_allclose(fast.restore(frame, FAR), eager.restore(frame, FAR), atol=1e-2)


def test_failed_compile_falls_back_to_eager(
    tiny: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*_: object, **__: object) -> object:
        def fail(*_: object) -> None:
            raise RuntimeError("no C++ compiler")

        return fail

    monkeypatch.setattr(torch, "compile", broken)
    r = FusionRestorer(tiny, device="cpu", dtype="float32", compile=True)
    frame = _cells(48, 40)
    out = r.restore(frame, FAR)
    assert not r.compiled and "no C++ compiler" in caplog.text
    np.testing.assert_array_equal(
        out, FusionRestorer(tiny, device="cpu", dtype="float32").restore(frame, FAR)
    )
