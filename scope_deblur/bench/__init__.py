"""Benchmarks: per-stage latency and FLOP/s, and live throughput on the demo microscope."""

from ._latency import bench_latency, matmul_peak_tflops, time_ms
from ._live import bench_live

__all__ = ["bench_latency", "bench_live", "matmul_peak_tflops", "time_ms"]
