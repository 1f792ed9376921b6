"""Tests of M-Deblurgan: the generator, the 2x restorer, its outputs in restore and demo."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tifffile

torch = pytest.importorskip("torch")

from scope_deblur.io import ImageStack, write_stack  # noqa: E402
from scope_deblur.nets import MDeblurConfig, MDeblurGenerator  # noqa: E402
from scope_deblur.protocols import DefocusEstimate, Restorer, Upscaling, upscale_of  # noqa: E402
from scope_deblur.restoration import (  # noqa: E402
    MDeblurganRestorer,
    RescaledRestorer,
    bicubic_up,
    restore_checked,
)

from .conftest import read_run  # noqa: E402
from .test_cli import assert_one_line_error, run_cli  # noqa: E402
from .test_cli_safety import run  # noqa: E402
from .test_fusion_restorer import _cells  # noqa: E402  (blobs on an offset)

FAR = DefocusEstimate(defocus_um=20.0, confidence=0.9)
TINY = MDeblurConfig(width=4)
SHIPPED = Path(__file__).parents[1].joinpath("models", "m-deblurgan.safetensors").is_file()
needs_weights = pytest.mark.skipif(not SHIPPED, reason="models/m-deblurgan not trained yet")


class Fixed:
    """Says 20 µm for every frame (a stand-in for DelpNet)."""

    name = "fixed"

    def estimate(self, frame):
        return FAR


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A tiny seeded generator whose super-resolution tail is not zero (it acts)."""
    from scope_deblur.optics import BBBC006_OPTICS
    from scope_deblur.weights import ModelCard, save_weights

    torch.manual_seed(0)
    net = MDeblurGenerator(config=TINY)
    torch.nn.init.normal_(net.sr_tail.weight, std=0.05)
    card = ModelCard(
        architecture="MDeblurGenerator",
        config=TINY.model_dump(),
        paper="test",
        optics=BBBC006_OPTICS.model_copy(update={"pixel_um": 1.29}),
        command=None,
    )
    return str(save_weights(net, tmp_path_factory.mktemp("w") / "tinysr", card))


@pytest.mark.parametrize("shape", [(1, 1, 32, 32), (2, 1, 16, 40)])
def test_generator_doubles_the_sides_and_starts_as_bilinear_upsampling(shape) -> None:
    x = torch.rand(*shape)
    net = MDeblurGenerator(config=TINY)
    sr, deblurred, approx = net.forward_all(x)
    b, _, h, w = shape
    assert sr.shape == (b, 1, 2 * h, 2 * w) and deblurred.shape == approx.shape == x.shape
    # zero-initialised output convolutions: every candidate is the input
    torch.testing.assert_close(approx, x)
    up = torch.nn.functional.interpolate(x, scale_factor=2.0, mode="bilinear")
    torch.testing.assert_close(sr, up)


def test_is_an_upscaling_restorer(tiny: str) -> None:
    r = MDeblurganRestorer(tiny, device="cpu")
    assert isinstance(r, Restorer) and isinstance(r, Upscaling)
    assert r.name == "tinysr" and upscale_of(r) == 2 and upscale_of(object()) == 1


@pytest.mark.parametrize("shape", [(64, 64), (37, 53)])
@pytest.mark.parametrize("dtype", [np.uint16, np.float32])
def test_twice_the_sides_float32_and_the_same_flux(tiny: str, shape, dtype) -> None:
    frame = _cells(*shape).astype(dtype)
    out = MDeblurganRestorer(tiny, device="cpu").restore(frame, FAR)
    assert out.dtype == np.float32 and out.shape == (2 * shape[0], 2 * shape[1])
    total = float(frame.astype(np.float64).sum())
    assert abs(float(out.sum(dtype=np.float64)) - total) < 1e-4 * total
    # each output pixel holds a quarter of an input pixel's flux, in the same places
    blocks = out.reshape(shape[0], 2, shape[1], 2).sum(axis=(1, 3))
    assert np.corrcoef(blocks.ravel(), frame.astype(float).ravel())[0, 1] > 0.9


def test_in_focus_or_unjudged_frames_are_only_upsampled(tiny: str) -> None:
    frame = _cells(40, 48).astype(np.float32)
    r = MDeblurganRestorer(tiny, device="cpu")
    up = bicubic_up(frame, 2)
    for est in (DefocusEstimate(1.0, 0.9), DefocusEstimate(None, 0.0), None):
        np.testing.assert_array_equal(r.restore(frame, est), up)
    assert not np.allclose(r.restore(frame, FAR), up)  # far from focus: the network
    r.in_focus_um = -1.0  # gates=False: the network everywhere
    assert not np.allclose(r.restore(frame, None), up)


def test_tiled_matches_whole_frame(tiny: str) -> None:
    frame = _cells(100, 120)
    whole = MDeblurganRestorer(tiny, device="cpu", dtype="float32", tile=512)
    tiled = MDeblurganRestorer(tiny, device="cpu", dtype="float32", tile=48, overlap=16)
    a, b = whole.restore(frame, FAR), tiled.restore(frame, FAR)
    span = (np.percentile(frame, 99.9) - np.percentile(frame, 0.1)) / 4
    assert np.abs(a - b).mean() < 2e-3 * span


def test_frames_of_another_pixel_size_come_out_twice_as_fine(tiny: str) -> None:
    frame = _cells(40, 50)
    inner = MDeblurganRestorer(tiny, device="cpu")
    r = RescaledRestorer(inner, pixel_um=0.645, working_um=1.29)
    out = r.restore(frame, FAR)
    assert isinstance(r, Upscaling) and out.shape == (80, 100)
    assert abs(float(out.sum()) - float(frame.sum())) < 1e-4 * float(frame.sum())


def test_a_failing_upscaler_gives_the_plane_back_on_its_grid() -> None:
    class Broken:
        name, upscale = "broken", 2

        def restore(self, frame, estimate):
            raise RuntimeError("boom")

    plane = _cells(10, 12).astype(np.float32)
    out, fields = restore_checked(Broken(), plane, Fixed())
    assert out.shape == (20, 24) and "boom" in fields["error"]
    np.testing.assert_allclose(out.sum(), plane.sum(), rtol=1e-6)


def test_a_stack_keeps_its_pixel_size_in_the_file(tmp_path) -> None:
    write_stack(tmp_path / "a.tif", [np.zeros((4, 6))] * 2, (2, 4, 6), "TYX", pixel_size_um=0.645)
    with ImageStack(tmp_path / "a.tif") as stack:
        assert stack.pixel_size_um == pytest.approx(0.645) and stack.axes == "TYX"
    tifffile.imwrite(tmp_path / "b.tif", np.zeros((4, 6), np.uint16))  # 72 dpi means nothing
    with ImageStack(tmp_path / "b.tif") as stack:
        assert stack.pixel_size_um is None


@needs_weights
def test_restore_writes_twice_the_sides_at_half_the_pixel_size(capsys, tmp_path) -> None:
    sharp = _cells(128, 160, seed=3)
    binned = sharp.reshape(64, 2, 80, 2).sum(axis=(1, 3)).astype(np.uint16)
    tifffile.imwrite(tmp_path / "given.tif", binned)
    write_stack(tmp_path / "stated.tif", [binned], binned.shape, "YX", pixel_size_um=1.29)
    for name, extra in (("given", ["--pixel-size", "1.29"]), ("stated", [])):
        args = ["restore", tmp_path / f"{name}.tif", "-o", tmp_path / "sr", "--json"]
        rc, out, err = run(capsys, *args, "--method", "m-deblurgan", *extra)
        assert rc == 0, err
        assert json.loads(out)[0]["method"] == "m-deblurgan"
        with ImageStack(tmp_path / "sr" / f"{name}.tif") as stack:
            (plane,) = list(stack)
            assert stack.pixel_size_um == pytest.approx(0.645)
        assert plane.dtype == np.float32 and plane.shape == (128, 160)
        assert abs(float(plane.sum()) - float(binned.sum())) < 1e-4 * float(binned.sum())
    args = ["restore", tmp_path / "given.tif", "-o", tmp_path / "fu", "--pixel-size", "1.29"]
    rc, _, err = run(capsys, *args, "--method", "fusion-fast")
    assert rc == 0, err
    assert tifffile.imread(tmp_path / "fu" / "given.tif").shape == binned.shape
    assert ImageStack(tmp_path / "fu" / "given.tif").pixel_size_um == pytest.approx(1.29)


@needs_weights
def test_restore_refuses_a_cluster_for_a_2x_method(capsys, tmp_path) -> None:
    tifffile.imwrite(tmp_path / "x.tif", _cells(32, 32).astype(np.uint16))
    args = ["restore", tmp_path / "x.tif", "-o", tmp_path / "o", "--method", "m-deblurgan"]
    rc, _, err = run(capsys, *args, "--workers", "2")
    assert rc == 2 and len(err) == 1 and "--workers" in err[0]
    assert not (tmp_path / "o" / "x.tif").exists()


@needs_weights
def test_demo_with_binning_writes_raw_frames_and_2x_restored_ones(tmp_path) -> None:
    out = tmp_path / "run"
    proc = run_cli(
        "demo", "--frames", "2", "--interval-ms", "0", "--binning", "2",
        "--method", "m-deblurgan", "--out", out, "--json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["frames_restored"] == 2 and summary["method"] == "m-deblurgan"
    assert np.isfinite(summary["psnr_restored_db"]) and np.isfinite(summary["psnr_input_db"])
    indices = [{"t": 0}, {"t": 1}]
    raw, restored = (
        read_run(out / "raw.ome.zarr", indices),
        read_run(out / "restored.ome.zarr", indices),
    )
    assert raw.shape == (2, 256, 256) and restored.shape == (2, 512, 512)
    assert np.isfinite(restored).all()
    np.testing.assert_allclose(restored.sum(axis=(1, 2)), raw.sum(axis=(1, 2)), rtol=1e-4)
    scales = [
        json.loads((out / f"{kind}.ome.zarr" / "zarr.json").read_text())["attributes"]["ome"][
            "multiscales"
        ][0]["datasets"][0]["coordinateTransformations"][0]["scale"][-1]
        for kind in ("raw", "restored")
    ]
    assert scales == pytest.approx([1.29, 0.645])


def test_demo_refuses_a_binning_the_camera_has_not(tmp_path) -> None:
    proc = run_cli("demo", "--frames", "2", "--binning", "3", "--out", tmp_path / "run")
    assert_one_line_error(proc)
    assert "binning" in proc.stderr and not (tmp_path / "run").exists()


def test_live_ome_tiff_of_a_2x_restorer(tiny: str, tmp_path) -> None:
    from scope_deblur.demo import DemoRun, run_demo

    run_ = DemoRun(frames=2, interval_ms=0, binning=2, format="ome-tiff", out=tmp_path / "r")
    restorer = MDeblurganRestorer(tiny, device="cpu")
    summary = run_demo(run_, estimator=Fixed(), restorer=restorer)
    assert summary["state"] == "complete" and summary["frames_restored"] == 2
    with tifffile.TiffFile(summary["outputs"]["restored"]) as tif:
        assert tif.series[0].shape == (2, 512, 512)
        assert 'PhysicalSizeX="0.645"' in tif.ome_metadata
    assert tifffile.imread(summary["outputs"]["raw"]).shape[-2:] == (256, 256)


def test_the_evaluation_frames_of_a_binned_and_an_unbinned_camera() -> None:
    from scope_deblur.lab.evaluation_mdeblurgan import binned_frame

    sharp = _cells(64, 80, seed=1).astype(np.float32)
    binned = binned_frame(sharp, 10.0, np.random.default_rng(0))
    full = binned_frame(sharp, 10.0, np.random.default_rng(0), binned=False)
    assert binned.shape == (32, 40) and full.shape == (64, 80)
    # the same field and photons: a binned pixel holds the four it covers (within noise)
    assert float(binned.sum()) == pytest.approx(float(full.sum()), rel=0.02)
