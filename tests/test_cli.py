import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import tifffile
from scope_deblur.methods import METHODS

MODELS_READY = all(
    Path(__file__).parents[1].joinpath("models", f"{m}.safetensors").is_file()
    for m in ("delpnet", "fusion")
)


def run_cli(*args, timeout=600, path=None):
    # pymmcore-widgets (imported by the GUI tests) sets PYMM_SIGNALS_BACKEND=qt in
    # os.environ; a headless CLI child must not inherit it.
    env = {k: v for k, v in os.environ.items() if k != "PYMM_SIGNALS_BACKEND"}
    if path is not None:  # a folder of more modules and distributions (plugins)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(path), env.get("PYTHONPATH")]))
    # Run outside the checkout, so the installed package is what gets tested.
    return subprocess.run(
        [sys.executable, "-m", "scope_deblur", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=tempfile.gettempdir(),
    )


def assert_one_line_error(proc, *needles):
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in lines[0]


def test_installed_command_runs_outside_the_checkout():
    proc = run_cli("--help")
    assert proc.returncode == 0, proc.stderr
    assert "demo" in proc.stdout and "restore" in proc.stdout


def test_missing_file_exits_2(tmp_path):
    proc = run_cli("restore", tmp_path / "nope.tif", "-o", tmp_path / "out")
    assert_one_line_error(proc, "nope.tif")
    proc = run_cli("estimate", tmp_path / "nope.tif")
    assert_one_line_error(proc, "nope.tif")


def test_corrupt_tiff_exits_2_and_keeps_nothing_broken(tmp_path):
    bad = tmp_path / "corrupt.tif"
    bad.write_bytes(b"II*\x00" + b"\x00garbage" * 10)
    proc = run_cli("restore", bad, "-o", tmp_path / "out")
    assert_one_line_error(proc, "corrupt.tif")


def test_nan_image_exits_2(tmp_path):
    img = np.ones((64, 64), np.float32)
    img[3, 3] = np.nan
    tifffile.imwrite(tmp_path / "nan.tif", img)
    assert_one_line_error(run_cli("estimate", tmp_path / "nan.tif"), "NaN")


@pytest.mark.parametrize(
    ("name", "data", "hint"),
    [
        (
            "stack.tif",
            np.stack([np.ones((32, 32))] * 2 + [np.full((32, 32), np.nan)]),
            "plane 2",
        ),
        ("mask.tif", np.zeros((32, 32), bool), "integers or floats"),
        ("notes.txt", None, "use one of"),
    ],
)
def test_unusable_input_says_what_to_do(tmp_path, name, data, hint):
    path = tmp_path / name
    if data is None:
        path.write_text("not an image")
    else:
        tifffile.imwrite(path, data, photometric="minisblack")
    assert_one_line_error(run_cli("estimate", path), hint)


def test_a_stack_is_restored_plane_by_plane(tmp_path):
    rng = np.random.default_rng(0)
    stack = rng.poisson(200, (3, 40, 48)).astype(np.uint16)
    stack[:, 10:20, 12:30] += 800
    tifffile.imwrite(tmp_path / "timelapse.ome.tif", stack, metadata={"axes": "TYX"})
    tifffile.imwrite(tmp_path / "plane1.tif", stack[1])
    proc = run_cli("estimate", tmp_path / "timelapse.ome.tif", "--json")
    assert proc.returncode == 0, proc.stderr
    assert [r["plane"] for r in json.loads(proc.stdout)] == [0, 1, 2]
    out = tmp_path / "out"
    args = ("-o", out, "--method", "rl", "--json")
    proc = run_cli("restore", tmp_path / "timelapse.ome.tif", tmp_path / "plane1.tif", *args)
    assert proc.returncode == 0, proc.stderr
    assert [r.get("plane") for r in json.loads(proc.stdout)] == [0, 1, 2, None]
    with tifffile.TiffFile(out / "timelapse.ome.tif") as tif:
        restored, axes = tif.series[0].asarray(), tif.series[0].axes
    assert restored.shape == stack.shape and restored.dtype == np.float32 and axes == "TYX"
    np.testing.assert_array_equal(restored[1], tifffile.imread(out / "plane1.tif"))


def test_bad_config_exits_2(tmp_path):
    cfg = tmp_path / "bad.cfg"
    cfg.write_text("Device,Cam,NoSuchAdapter,NoSuchCamera\n")
    seq = tmp_path / "seq.yaml"
    seq.write_text("time_plan:\n  interval: 0\n  loops: 2\n")
    proc = run_cli("acquire", "--config", cfg, "--sequence", seq, "--out", tmp_path / "o")
    assert_one_line_error(proc, "bad.cfg")


def test_unknown_method_exits_2(tmp_path):
    proc = run_cli("demo", "--frames", "2", "--method", "magic", "--out", tmp_path)
    assert_one_line_error(proc, "magic")
    assert set(METHODS) == {
        "fusion",
        "fusion-fast",
        "fusion-known",
        "fusion-known-fast",
        "comi",
        "m-deblurgan",
        "awdvd",
        "rl",
        "none",
    }


def test_compile_with_a_classical_method_exits_2(tmp_path):
    proc = run_cli("demo", "--frames", "2", "--method", "rl", "--compile", "--out", tmp_path)
    assert_one_line_error(proc, "--compile applies to the fusion methods")


def test_acquire_demo_config_without_restoration(tmp_path):
    from scope_deblur.demo import DEMO_CONFIG

    seq = tmp_path / "seq.yaml"
    seq.write_text("time_plan:\n  interval: 0\n  loops: 3\nz_plan:\n  range: 2\n  step: 1\n")
    proc = run_cli(
        "acquire",
        "--config",
        DEMO_CONFIG,
        "--sequence",
        seq,
        "--out",
        tmp_path / "o",
        "--no-restore",
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["frames_acquired"] == summary["frames_saved_raw"] == 9


@pytest.mark.skipif(not MODELS_READY, reason="shipped weights not present")
def test_demo_json_summary(tmp_path):
    proc = run_cli("demo", "--frames", 20, "--interval-ms", 50, "--out", tmp_path, "--json")
    assert proc.returncode == 0, proc.stderr
    s = json.loads(proc.stdout)
    keys = {
        "frames_acquired",
        "frames_saved_raw",
        "frames_restored",
        "frames_restored_live",
        "defocus_mae_um",
        "psnr_input_db",
        "psnr_restored_db",
        "ssim_input",
        "ssim_restored",
        "restore_latency_ms_median",
        "acquisition_fps",
        "device",
        "outputs",
    }
    assert keys <= set(s)
    assert s["frames_acquired"] == s["frames_saved_raw"] == s["frames_restored"] == 20
    assert s["psnr_input_db"] is not None and s["psnr_restored_db"] is not None
    assert s["defocus_mae_um"] is not None
    assert (tmp_path / "run.png").is_file()


def test_import_loads_neither_torch_nor_qt():
    # `--help` loads every command: the gui's, calibrate and the lab's (entry points)
    code = """
import sys, scope_deblur, scope_deblur.demo, scope_deblur.live
from scope_deblur.cli import main
try:
    main(["--help"])
except SystemExit:
    pass
bad = [m for m in ("torch", "PySide6", "qtpy") if m in sys.modules]
print(bad); sys.exit(bool(bad))
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "gui" in proc.stdout and "train" in proc.stdout, proc.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["bench", "--sizes", "512,axb"], "--sizes"),
        (["bench", "--live", "--fps", "10,x"], "--fps"),
        (["bench", "--method", "rl"], "--method"),
        (["train", "delpnet", "--width", "8"], "fusion only"),
        (["train", "ablation", "--minutes", "1"], "--steps"),
        (["train", "fusion", "--max-um", "20"], "delpnet only"),
        (["train", "delpnet", "--forward", "disc", "--steps", "1"], "forward"),
        (["train", "fusion", "--z-range", "12,8"], "--z-range"),
        (["train", "delpnet", "--z-range", "8,12"], "fusion only"),
        (["evaluate", "fusion", "--weights", "nosuchmodel"], "nosuchmodel"),
        (["evaluate", "wells"], "--steps"),
        (["evaluate", "fusion", "--steps", "5"], "applies to wells"),
        (["evaluate", "wells", "--steps", "5", "--peer", "n2v"], "--peer"),
    ],
)
def test_bad_tool_options_exit_2(tmp_path, args, needle):
    extra = ["--data", tmp_path, "--out", tmp_path / "m"] if args[0] == "train" else []
    assert_one_line_error(run_cli(*args, *extra), needle)


def test_train_names_a_well_that_is_not_there(tmp_path):
    from scope_deblur.lab.training import DEFAULT_IN_FOCUS_DIR

    args = ["--data", DEFAULT_IN_FOCUS_DIR, "--out", tmp_path / "m", "--steps", "1"]
    assert_one_line_error(run_cli("train", "fusion", "--val-image", "z99", *args), "z99")


def test_catch_up_hint_points_cpu_users_of_fusion_to_fusion_fast():
    from scope_deblur.cli.common import catch_up_hint, err

    with err.capture() as cap:
        catch_up_hint("fusion", "cpu", restored=10, live=7)
    assert "3 of 10 frames" in cap.get() and "--method fusion-fast" in cap.get()
    with err.capture() as cap:
        catch_up_hint("fusion-fast", "cpu", 10, 7)
        catch_up_hint("fusion", "cuda", 10, 7)
        catch_up_hint("fusion", "cpu", 10, 10)
    assert cap.get() == ""
