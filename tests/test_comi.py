"""Tests of COMI: the generator and discriminator, ComiRestorer, its card, and training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from scope_deblur.nets import ComiConfig, ComiDiscriminator, ComiGenerator  # noqa: E402
from scope_deblur.protocols import DefocusEstimate, Restorer  # noqa: E402
from scope_deblur.restoration import COMI_IN_FOCUS_UM, ComiRestorer  # noqa: E402

from .test_fusion_restorer import _cells  # noqa: E402  (blobs on an offset)

FAR = DefocusEstimate(defocus_um=30.0, confidence=0.9)
TINY = ComiConfig(width=4, n_blocks=1, disc_width=4)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A tiny seeded generator (its last layer randomised, so it is not the identity)."""
    from scope_deblur.optics import BBBC006_OPTICS
    from scope_deblur.weights import ModelCard, save_weights

    torch.manual_seed(0)
    net = ComiGenerator(config=TINY)
    torch.nn.init.normal_(net.tail.weight, std=0.05)
    card = ModelCard(
        architecture="ComiGenerator",
        config=TINY.model_dump(),
        paper="test",
        optics=BBBC006_OPTICS,
        command=None,
    )
    return str(save_weights(net, tmp_path_factory.mktemp("w") / "tinycomi", card))


@pytest.mark.parametrize("shape", [(1, 1, 64, 64), (2, 1, 32, 48)])
def test_generator_keeps_shape_and_starts_as_identity(shape) -> None:
    x = torch.rand(*shape)
    g = ComiGenerator(config=TINY)
    assert torch.equal(g(x), x)  # global residual, zero-initialised last layer
    assert ComiDiscriminator(config=TINY)(x).shape[:2] == (shape[0], 1)


def test_is_a_restorer(tiny: str) -> None:
    r = ComiRestorer(tiny, device="cpu")
    assert isinstance(r, Restorer) and r.name == "tinycomi"


@pytest.mark.parametrize("shape", [(64, 64), (37, 53), (130, 71)])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_float32_same_shape_and_flux(tiny: str, shape, dtype) -> None:
    frame = (_cells(*shape) % 250).astype(dtype)
    out = ComiRestorer(tiny, device="cpu").restore(frame, FAR)
    assert out.dtype == np.float32 and out.shape == shape
    assert not np.array_equal(out, frame.astype(np.float32))  # the network did act
    total = float(frame.astype(np.float64).sum())
    assert abs(float(out.sum(dtype=np.float64)) - total) < 1e-4 * total


def test_tiled_matches_whole_frame(tiny: str) -> None:
    frame = _cells(150, 170)
    whole = ComiRestorer(tiny, device="cpu", dtype="float32", tile=512)
    tiled = ComiRestorer(tiny, device="cpu", dtype="float32", tile=64, overlap=24)
    a, b = whole.restore(frame, FAR), tiled.restore(frame, FAR)
    span = np.percentile(frame, 99.9) - np.percentile(frame, 0.1)
    assert np.abs(a - b).mean() < 1e-3 * span
    assert np.abs(a - b).max() < 2e-2 * span


def test_in_focus_or_empty_frames_come_back_unchanged(tiny: str) -> None:
    frame = _cells(64, 64)
    r = ComiRestorer(tiny, device="cpu")
    near = DefocusEstimate(COMI_IN_FOCUS_UM, 0.9)
    for est in (near, DefocusEstimate(None, 0.0), None):
        np.testing.assert_array_equal(r.restore(frame, est), frame.astype(np.float32))
    assert 0 < r.strength(DefocusEstimate(1.5 * COMI_IN_FOCUS_UM, 0.9)) < 1 == r.strength(FAR)
    assert r.strength(DefocusEstimate(30.0, 0.05)) == 1.0  # the confidence gates nothing


def test_card_loads_and_hash_verifies(tiny: str, tmp_path: Path) -> None:
    import shutil

    from scope_deblur.weights import build_model, load_card, load_state_dict

    card = load_card(tiny)
    assert card.architecture == "ComiGenerator"
    load_state_dict(tiny, build_model(card))
    bad = tmp_path / "bad.safetensors"
    shutil.copy(tiny, bad)
    shutil.copy(Path(tiny).with_suffix(".json"), bad.with_suffix(".json"))
    with bad.open("r+b") as f:
        f.seek(-4, 2)
        f.write(b"\x00\x01\x02\x03")
    with pytest.raises(ValueError, match="sha256"):
        ComiRestorer(str(bad), device="cpu")


def test_method_comi_through_the_factory(tiny: str) -> None:
    from scope_deblur.methods import METHODS, build_restorer

    assert "comi" in METHODS
    r = build_restorer("comi", "cpu", weights=tiny)
    assert isinstance(r, ComiRestorer)
    raw = build_restorer("comi", "cpu", weights=tiny, gates=False)
    frame = _cells(64, 64)
    assert not np.array_equal(raw.restore(frame, DefocusEstimate(0.0, 1.0)), frame)


def test_shipped_comi_loads() -> None:
    from scope_deblur.weights import models_dir

    if not (models_dir() / "comi.safetensors").is_file():
        pytest.skip("models/comi not trained in this checkout")
    r = ComiRestorer("comi", device="cpu")
    out = r.restore(_cells(64, 64), FAR)
    assert out.shape == (64, 64) and np.isfinite(out).all()


def test_a_few_training_steps_write_weights_and_card(tmp_path: Path) -> None:
    import tifffile
    from scope_deblur.lab.training._comi import train_comi
    from scope_deblur.weights import load_card, load_state_dict

    sharp, blurred = tmp_path / "sharp", tmp_path / "blurred"
    sharp.mkdir(), blurred.mkdir()
    for k, well in enumerate(("a02", "a03", "a07")):
        tifffile.imwrite(sharp / f"x__{well}__s1.tif", _cells(136, 140, k).astype(np.uint16))
    for k, well in enumerate(("b14", "d02", "a19", "e10", "i05", "m14")):
        img = _cells(140, 136, 10 + k) * 0.5 + 50
        tifffile.imwrite(blurred / f"00_z_{well}_s2_w1.tif", img.astype(np.uint16))
    card = train_comi(sharp, blurred, tmp_path / "m", steps=2, width=4, n_blocks=1, progress=False)
    assert card["training"]["steps"] == 2
    assert all("a19" not in p and "m14" not in p for p in card["training"]["blurred_real"])
    assert card["training"]["sharp"] == ["x__a02__s1.tif", "x__a03__s1.tif"]
    assert "train comi" in card["command"]
    load_state_dict(
        tmp_path / "m", ComiGenerator(config=ComiConfig(**load_card(tmp_path / "m").config))
    )
