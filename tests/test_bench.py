import subprocess
import sys

import pytest
from scope_deblur.lab.bench import bench_latency, bench_live, bench_soak, bench_writers

KEYS = {
    "size",
    "estimate_ms",
    "restore_ms",
    "awdvd_ms",
    "rl_torch_ms",
    "rl_skimage_ms",
    "throughput_fps",
    "achieved_tflops",
    "peak_tflops",
    "peak_memory_mb",
}


def test_bench_latency_reports_the_design_shape():
    result = bench_latency([96], device="cpu", repeats=1, rl_iterations=2)
    assert {"device", "torch", "threads", "results"} <= set(result)
    (row,) = result["results"]
    assert KEYS <= set(row)
    assert row["size"] == 96
    assert row["restore_ms"] > 0 and row["rl_skimage_ms"] > 0
    assert 0 < row["achieved_tflops"] and 0 < row["peak_tflops"]
    assert row["conv_tflops"] > 0  # the conv hooks fired


def test_bench_latency_takes_rectangular_frames():
    calls = []
    result = bench_latency(
        [(40, 72)], device="cpu", repeats=1, rl_iterations=1, progress=lambda *a: calls.append(a)
    )
    assert calls[-1][0] == calls[-1][1]  # the progress bar completes
    (row,) = result["results"]
    assert row["size"] == "40x72" and row["shape"] == [40, 72]
    assert row["rl_speedup"] == pytest.approx(row["rl_skimage_ms"] / row["rl_torch_ms"])


@pytest.mark.parametrize(("text", "sizes"), [("512", [512]), ("512, 520X696", [512, (520, 696)])])
def test_sizes_option_parses_sides_and_pairs(text, sizes):
    from scope_deblur.lab.cli import _sizes

    assert _sizes(text) == sizes


@pytest.mark.parametrize("text", ["", "8", "512,axb", "520x"])
def test_sizes_option_rejects_bad_input(text):
    from scope_deblur.lab.cli import _sizes

    with pytest.raises(ValueError, match="--sizes"):
        _sizes(text)


def test_bench_live_counts_every_frame():
    result = bench_live([20], frames=6, method="none", device="cpu")
    (row,) = result["results"]
    off, on = row["without_restoration"], row["with_restoration"]
    assert off["frames_acquired"] == off["frames_saved_raw"] == 6
    assert on["frames_acquired"] == on["frames_saved_raw"] == 6
    assert on["frames_restored_live"] + on["frames_caught_up"] == 6
    assert on["frames_failed"] == 0
    assert on["achieved_fps"] > 0.5 * off["achieved_fps"]  # restoration does not set the pace


def test_bench_soak_samples_memory_files_and_queue(tmp_path):
    result = bench_soak(40, method="none", device="cpu", out=tmp_path / "soak", every_s=0.2)
    assert result["frames_acquired"] == result["frames_saved_raw"] == 40
    assert result["frames_lost"] == 0 and result["frames_restored"] == 40
    samples = result["samples"]
    assert len(samples) >= 3
    assert [s["frames"] for s in samples] == sorted(s["frames"] for s in samples)
    assert all(s["rss_mb"] >= s["rss_anon_mb"] > 0 and s["fds"] > 0 for s in samples)
    assert 0 <= result["queue_depth_max"] <= 4  # the session's queue bound
    assert (tmp_path / "soak" / "raw.ome.zarr").is_dir()  # kept where asked


def test_process_sample_sees_an_allocation():
    # In a fresh interpreter: in this one, freed memory that earlier tests left mapped
    # can be handed out again without the resident size changing.
    code = (
        "import numpy as np\n"
        "from scope_deblur.lab.bench import process_sample\n"
        "before = process_sample()['rss_anon_mb']\n"
        "block = np.ones(64 << 20, dtype=np.uint8)  # 64 MB, touched\n"
        "print(process_sample()['rss_anon_mb'] - before)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert float(out.stdout) > 50


def test_bench_writers_times_each_backend_in_its_own_process():
    result = bench_writers(20, 32)
    assert set(result["rows"]) == {"tensorstore", "zarr-python"}
    for row in result["rows"].values():
        assert row["ms_per_frame"] > 0
        assert row["rss_mb_at_the_end"] > 0 and row["rss_mb_after_a_tenth"] > 0


def test_the_raw_data_is_written_by_zarr_python(tmp_path):
    from scope_deblur.live import RunFolder

    settings = RunFolder(tmp_path, "ome-zarr").raw_output
    assert settings.format.name == "ome-zarr" and settings.format.backend == "zarr-python"
    assert settings.root_path == str(tmp_path / "raw.ome.zarr")
    assert RunFolder(tmp_path, "ome-tiff").raw_output.format.name == "ome-tiff"
