"""Benchmark of the classical restorers: speed against scikit-image, and PSNR gains.

Run ``python -m scope_deblur.lab.bench_classical`` (prints JSON). Timings are medians
over ``repeats`` runs on one synthetic frame; the machine's load average is reported
because shared machines make timings noisy.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from .training import DEFAULT_IN_FOCUS_DIR

__all__ = ["bench_classical", "psnr_gains"]


def _sample(index: int = 0) -> np.ndarray:
    from ..io import read_image

    paths = sorted(DEFAULT_IN_FOCUS_DIR.glob("*.png"))
    if not paths:
        raise FileNotFoundError(f"no sample images in {DEFAULT_IN_FOCUS_DIR}")
    return read_image(paths[index]).astype(np.float32)


def _median_ms(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up: caches, allocator, lazy imports
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1e3)


def bench_classical(
    shape: tuple[int, int] = (520, 696),
    iterations: int = 30,
    repeats: int = 5,
    z_um: float = 22.0,
    device: str = "cpu",
) -> dict:
    """Time torch RL, AWDVD and ``skimage.restoration.richardson_lucy`` on one frame.

    All three run ``iterations`` RL iterations on the same float32 frame with the
    same PSF; scikit-image gets the image scaled to [0, 1] as it expects.

    Returns
    -------
    dict
        Median milliseconds per method, the speed-up over scikit-image, the device,
        torch's thread count and the load average.
    """
    import torch
    from skimage.restoration import richardson_lucy as sk_rl

    from ..optics import born_wolf_psf, defocus
    from ..restoration import awdvd, estimate_background, richardson_lucy

    sharp = _sample()
    reps = (-(-shape[0] // sharp.shape[0]), -(-shape[1] // sharp.shape[1]))
    sharp = np.tile(sharp, reps)[: shape[0], : shape[1]]
    gen = torch.Generator().manual_seed(0)
    frame = defocus(torch.from_numpy(sharp), z_um, generator=gen).numpy()
    psf = born_wolf_psf(z_um)
    bg = estimate_background(frame)
    signal = np.clip(frame - bg, 0, None).astype(np.float32)
    x = torch.from_numpy(signal).to(device)
    scaled = signal / signal.max()
    psf32 = psf.astype(np.float32)

    def torch_rl() -> None:
        with torch.inference_mode():
            richardson_lucy(x, psf, iterations=iterations, tv_weight=0.0)
            if device != "cpu":
                torch.cuda.synchronize()

    def torch_tv_rl() -> None:
        with torch.inference_mode():
            richardson_lucy(x, psf, iterations=iterations)
            if device != "cpu":
                torch.cuda.synchronize()

    results: dict[str, Any] = {
        "shape": list(shape),
        "iterations": iterations,
        "psf_size": int(psf.shape[0]),
        "torch_rl_ms": _median_ms(torch_rl, repeats),
        "torch_tv_rl_ms": _median_ms(torch_tv_rl, repeats),
        "awdvd_ms": _median_ms(
            lambda: awdvd(frame, z_um, iterations=iterations, device=device), repeats
        ),
        "skimage_rl_ms": _median_ms(
            lambda: sk_rl(scaled, psf32, num_iter=iterations, clip=False), repeats
        ),
    }
    results["speedup_vs_skimage"] = results["skimage_rl_ms"] / results["torch_rl_ms"]
    results["device"] = device
    results["torch_threads"] = torch.get_num_threads()
    results["cpu_count"] = os.cpu_count()
    results["load_average"] = list(os.getloadavg())
    return results


def psnr_gains(
    z_values: tuple[float, ...] = (10.0, 22.0, 34.0),
    iterations: int = 30,
    image_index: int = 5,
    seed: int = 0,
) -> dict:
    """Return input, RL and AWDVD PSNR (true defocus) on one held-out sample.

    The frame is degraded as for training (Born–Wolf, 1000 photons at the 99.9th
    percentile, read noise 2); the metrics follow the project's normalisation rule.
    """
    import torch

    from ..metrics import psnr, ssim
    from ..optics import defocus
    from ..protocols import DefocusEstimate
    from ..restoration import AWDVDRestorer, RLRestorer

    sharp = _sample(image_index)
    gen = torch.Generator().manual_seed(seed)
    rl = RLRestorer(iterations=iterations, device="cpu")
    aw = AWDVDRestorer(iterations=iterations, device="cpu")
    rows = []
    for z in z_values:
        frame = defocus(torch.from_numpy(sharp), z, generator=gen).numpy()
        est = DefocusEstimate(z, 1.0)
        row: dict[str, float] = {"z_um": z}
        for name, img in (
            ("input", frame),
            ("rl", rl.restore(frame, est)),
            ("awdvd", aw.restore(frame, est)),
        ):
            row[f"psnr_{name}"] = round(psnr(sharp, img), 2)
            row[f"ssim_{name}"] = round(ssim(sharp, img), 4)
        row["gain_rl_db"] = round(row["psnr_rl"] - row["psnr_input"], 2)
        row["gain_awdvd_db"] = round(row["psnr_awdvd"] - row["psnr_input"], 2)
        rows.append(row)
    return {"image": sorted(DEFAULT_IN_FOCUS_DIR.glob("*.png"))[image_index].name, "rows": rows}


if __name__ == "__main__":  # pragma: no cover
    import torch

    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
    print(json.dumps({"speed": bench_classical(), "psnr": psnr_gains()}, indent=1))
