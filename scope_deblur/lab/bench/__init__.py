"""Benchmarks: per-stage latency and FLOP/s, live throughput, a soak on the demo, writers."""

from ._latency import bench_latency, matmul_peak_tflops, time_ms
from ._live import bench_live
from ._soak import bench_soak, process_sample
from ._writers import bench_writers

__all__ = [
    "bench_latency",
    "bench_live",
    "bench_soak",
    "bench_writers",
    "matmul_peak_tflops",
    "process_sample",
    "time_ms",
]
