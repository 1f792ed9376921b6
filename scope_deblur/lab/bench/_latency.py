"""Per-frame latency of every stage, FLOP/s against a measured matmul peak.

All figures come from one run on one device, so they compare: the frame is a
defocused crop of the shipped sample, each stage is timed after a warm-up, and the
peer baseline (scikit-image's Richardson–Lucy) runs at the same iteration count.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = ["bench_latency", "matmul_peak_tflops", "time_ms"]


def time_ms(fn: Callable[[], Any], repeats: int, *, sync: Callable[[], None] | None = None) -> dict:
    """Return median and p95 wall time of ``fn`` in ms, after one warm-up call."""
    fn()
    if sync:
        sync()
    times = []
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        fn()
        if sync:
            sync()
        times.append(1e3 * (time.perf_counter() - t0))
    return {"median": float(np.median(times)), "p95": float(np.percentile(times, 95))}


def matmul_peak_tflops(device: str, dtype: Any, n: int = 2048, repeats: int = 5) -> float:
    """Measure the dense matmul throughput (TFLOP/s) of ``dtype`` on ``device``."""
    import torch

    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    sync = torch.cuda.synchronize if device == "cuda" else None
    t = time_ms(lambda: a @ b, repeats, sync=sync)["median"]
    return 2 * n**3 / (t * 1e-3) / 1e12


def _frame(shape: tuple[int, int], defocus_um: float = 16.0) -> np.ndarray:
    import torch

    from ...demo._world import sample_field
    from ...optics import defocus

    field = sample_field()
    reps = (-(-shape[0] // field.shape[0]), -(-shape[1] // field.shape[1]))
    sharp = np.tile(field, reps)[: shape[0], : shape[1]] + 100.0
    gen = torch.Generator().manual_seed(0)
    return defocus(torch.from_numpy(sharp), defocus_um, generator=gen).numpy()


def _model_flops(restorer: Any, frame: np.ndarray, defocus_um: float | None) -> float:
    """FLOPs the network spends on one frame, tiles and overlaps included (2 per MAC)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        restorer.restore_full(frame, defocus_um)
    return float(counter.get_total_flops())


def _conv_seconds(restorer: Any, fn: Callable[[], Any]) -> float:
    """Wall time spent inside the network's convolutions during one call of ``fn``.

    Forward hooks bracket every conv module (synchronising CUDA), so the time
    excludes pooling, up-sampling, concatenation and the pre/post-processing.
    """
    import torch
    from torch import nn

    cuda = restorer.device.type == "cuda"
    total, started = 0.0, [0.0]

    def before(*_: Any) -> None:
        if cuda:
            torch.cuda.synchronize()
        started[0] = time.perf_counter()

    def after(*_: Any) -> None:
        nonlocal total
        if cuda:
            torch.cuda.synchronize()
        total += time.perf_counter() - started[0]

    convs = [m for m in restorer.net.modules() if isinstance(m, nn.Conv2d | nn.ConvTranspose2d)]
    handles = [
        h
        for m in convs
        for h in (m.register_forward_pre_hook(before), m.register_forward_hook(after))
    ]
    try:
        fn()
    finally:
        for h in handles:
            h.remove()
    return total


def bench_latency(
    sizes: Sequence[int | tuple[int, int]] = (512, (520, 696), 1024, 2048),
    *,
    device: str = "auto",
    repeats: int = 5,
    rl_iterations: int = 30,
    skimage_max_size: int = 1024,
    method: str = "fusion",
    compile: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Measure every stage per frame size; see ``scope-deblur bench``.

    ``method`` names the network to time (``fusion``, ``fusion-fast``, ``comi`` or
    ``m-deblurgan``, whose sizes are those of its binned input; its output has 2× the sides).

    A size is a side (square frames) or an ``(height, width)`` pair; scikit-image
    runs only on frames of at most ``skimage_max_size``² pixels. With ``compile``
    the restore and throughput times are those of the compiled network, and each
    row also gives the eager time and the compile time; FLOPs and the convolutions'
    share are always measured on the eager network (hooks do not see a compiled one).
    """
    import torch

    from ..._device import describe_device, resolve_device
    from ...estimation import DelpNetEstimator
    from ...restoration import (
        AWDVDRestorer,
        ComiRestorer,
        FusionRestorer,
        MDeblurganRestorer,
        RLRestorer,
    )

    if method in ("comi", "m-deblurgan") and compile:
        raise ValueError(f"--compile applies to the fusion networks, not {method}")
    dev = resolve_device(device)
    sync = torch.cuda.synchronize if dev == "cuda" else None
    estimator = DelpNetEstimator(device=dev)
    networks = {"comi": ComiRestorer, "m-deblurgan": MDeblurganRestorer}
    fusion = (
        networks[method](device=dev) if method in networks else FusionRestorer(method, device=dev)
    )
    compiled = FusionRestorer(method, device=dev, compile=True) if compile else fusion
    awdvd = AWDVDRestorer(device=dev)
    rl = RLRestorer(device=dev, iterations=rl_iterations)
    stages = (estimator, fusion, compiled, awdvd, rl)
    peak = matmul_peak_tflops(dev, fusion.dtype)
    results = []
    steps = len(sizes) * 5  # estimate, restore, batch, AWDVD, RL (torch + scikit-image)
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress:
            progress(done, steps)

    for size in sizes:
        results.append(
            _bench_size(size, stages, sync, repeats, rl_iterations, skimage_max_size, tick)
        )
        results[-1]["peak_tflops"] = peak
        row = results[-1]
        row["roofline_fraction"] = row["achieved_tflops"] / peak
        row["conv_roofline_fraction"] = row["conv_tflops"] / peak if row["conv_tflops"] else None
    return {
        "device": describe_device(dev),
        "torch": torch.__version__,
        "method": method,
        "dtype": str(fusion.dtype).replace("torch.", ""),
        "compiled": compiled.compiled,
        "threads": torch.get_num_threads(),
        "rl_iterations": rl_iterations,
        "date": time.strftime("%Y-%m-%d"),
        "results": results,
    }


def _bench_size(
    size: int | tuple[int, int],
    stages: tuple[Any, Any, Any, Any, Any],
    sync: Callable[[], None] | None,
    repeats: int,
    rl_iterations: int,
    skimage_max_size: int,
    tick: Callable[[], None],
) -> dict[str, Any]:
    """Time every stage on one defocused frame of ``size`` (a side or ``(h, w)``)."""
    import resource

    import torch
    from skimage.restoration import richardson_lucy as sk_rl

    from ...optics import born_wolf_psf
    from ...protocols import DefocusEstimate

    estimator, fusion, compiled, awdvd, rl = stages
    dev = fusion.device.type
    shape = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    frame = _frame(shape)
    est = estimator.estimate(frame)
    sure = DefocusEstimate(est.defocus_um, 1.0)  # the full restore path, never a pass-through
    if dev == "cuda":
        torch.cuda.reset_peak_memory_stats()
    row: dict[str, Any] = {
        "size": size if isinstance(size, int) else f"{shape[0]}x{shape[1]}",
        "shape": list(shape),
        "defocus_estimate_um": est.defocus_um,
    }
    t = time_ms(lambda: estimator.estimate(frame), repeats, sync=sync)
    row.update(estimate_ms=t["median"], estimate_p95_ms=t["p95"])
    tick()
    if compiled is not fusion:
        t0 = time.perf_counter()
        compiled.warm_up(shape)
        row["compile_s"] = time.perf_counter() - t0
        t = time_ms(lambda: fusion.restore(frame, sure), repeats, sync=sync)
        row["restore_eager_ms"] = t["median"]
    t = time_ms(lambda: compiled.restore(frame, sure), repeats, sync=sync)
    row.update(restore_ms=t["median"], restore_p95_ms=t["p95"])
    tick()
    batch, ests = [frame] * 4, [sure] * 4
    t = time_ms(lambda: compiled.restore_batch(batch, ests), max(1, repeats // 2), sync=sync)
    row["throughput_fps"] = 4 / (t["median"] * 1e-3)
    tick()
    flops = _model_flops(fusion, frame, est.defocus_um)
    row["gflops_per_frame"] = flops / 1e9
    row["achieved_tflops"] = flops / (row["restore_ms"] * 1e-3) / 1e12
    # The roofline target concerns the convolutions: time them alone as well.
    conv_s = _conv_seconds(fusion, lambda: fusion.restore_full(frame, est.defocus_um))
    row["conv_tflops"] = flops / conv_s / 1e12 if conv_s > 0 else None
    t = time_ms(lambda: awdvd.restore(frame, est), max(1, repeats // 2), sync=sync)
    row.update(awdvd_ms=t["median"], awdvd_p95_ms=t["p95"])
    tick()
    t = time_ms(lambda: rl.restore(frame, est), repeats, sync=sync)
    row.update(rl_torch_ms=t["median"], rl_torch_p95_ms=t["p95"])
    row["rl_skimage_ms"] = None  # minutes per frame at large sizes: skipped there
    if frame.size <= skimage_max_size**2:
        # The peer at the same dtype (float32) and iteration count, timed like the
        # torch RL: a block of calls after a warm-up, as a stream of frames runs.
        psf = born_wolf_psf(est.defocus_um or 16.0).astype(np.float32)
        scaled = frame / frame.max()
        t = time_ms(lambda: sk_rl(scaled, psf, num_iter=rl_iterations, clip=False), repeats)
        row["rl_skimage_ms"] = t["median"]
        row["rl_speedup"] = t["median"] / row["rl_torch_ms"]
    tick()
    row["peak_memory_mb"] = (
        torch.cuda.max_memory_allocated() / 2**20
        if dev == "cuda"
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    )
    return row
