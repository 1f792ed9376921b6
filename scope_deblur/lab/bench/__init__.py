"""Benchmarks: per-stage latency and FLOP/s, live throughput and a soak on the demo."""

from ._latency import bench_latency, matmul_peak_tflops, time_ms
from ._live import bench_live
from ._soak import bench_soak, process_sample

__all__ = [
    "bench_latency",
    "bench_live",
    "bench_soak",
    "matmul_peak_tflops",
    "process_sample",
    "time_ms",
]
