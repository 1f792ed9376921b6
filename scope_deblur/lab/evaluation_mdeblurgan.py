"""M-Deblurgan: binned, defocused frames to sharp 2× frames, against bicubic baselines.

- :func:`evaluate_mdeblurgan_synthetic`: the held-out in-focus image (a07, one well)
  is blurred at full resolution (0.645 µm) at each depth, binned 2×2 (the sum of each
  block: 1.29 µm pixels) and given the noise of a binned camera (1000 photons at the
  full-resolution 99.9th percentile, so about 4000 per binned pixel; read noise 2 once
  per binned pixel). Every output, at 0.645 µm, is scored against the in-focus image
  under the metrics rule: ``bicubic`` (the input up-sampled), ``fusion+bicubic`` (the
  shipped fusion U-Net on the binned frame, resampled to its pixel size as
  ``restore --pixel-size 1.29`` does, then up-sampled), the same without fusion's
  do-no-harm gates, ``m-deblurgan`` and the same without its gates (``_raw``).
  Restorers get the true defocus. One reference row is not a 2× method:
  ``fusion@full-res`` is the shipped fusion on the same field taken by an unbinned
  camera (same photons per full-resolution pixel, read noise 2 per pixel), restored at
  its own pixel size: how well this network deblurs when no resolution is missing.
- :func:`evaluate_mdeblurgan_real`: real frames binned 2×2 and restored: the real z00
  frames (about 32 µm), by blind nucleus statistics against the real in-focus frames,
  and the real in-focus frames themselves, by PSNR against their own full-resolution
  originals (a real pair: the binning is exact, only the restoration is scored).
- :func:`latency_mdeblurgan`: a 256² binned frame to 512².
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..figures import save_figure
from ..methods import build_restorer
from ..protocols import DefocusEstimate
from ..restoration import bicubic_up
from .evaluation import DEPTHS, realism_stats
from .training import (
    BINNING,
    REAL_Z00_DIR,
    bin_sum,
    in_focus_paths,
    load_in_focus,
    split_by_image,
)

__all__ = [
    "binned_frame",
    "evaluate_mdeblurgan_real",
    "evaluate_mdeblurgan_synthetic",
    "latency_mdeblurgan",
    "plot_mdeblurgan",
]

BINNED_UM = 1.29
"""Pixel size of a 2×2-binned BBBC006 frame (µm)."""
METHODS = (
    "bicubic",
    "fusion+bicubic",
    "fusion_raw+bicubic",
    "m-deblurgan",
    "m-deblurgan_raw",
    "fusion@full-res",
)


def binned_frame(
    sharp: np.ndarray,
    z_um: float,
    rng: np.random.Generator,
    *,
    photons: float = 1000.0,
    read_noise: float = 2.0,
    psf: np.ndarray | None = None,
    binned: bool = True,
) -> np.ndarray:
    """Return ``sharp`` defocused by ``z_um`` at full resolution, binned 2×2, with camera noise.

    ``photons`` is the count at the sharp image's 99.9th percentile per full-resolution
    pixel; a binned pixel collects the charge of four (one shot-noise draw of the sum)
    and is read once (``read_noise`` photons). Intensities stay in the input's units.
    ``binned=False`` gives the unbinned camera's frame of the same field.
    """
    import torch

    from ..optics import defocus

    blurred = defocus(torch.from_numpy(sharp), float(z_um), photons=None, psf=psf).numpy()
    field = (bin_sum(blurred) if binned else blurred).astype(np.float64)
    gain = photons / float(np.percentile(sharp, 99.9))
    counts = rng.poisson(np.clip(field, 0, None) * gain) + rng.normal(0, read_noise, field.shape)
    return (counts / gain).astype(np.float32)


def _restorers(device: str, weights: str) -> dict[str, Any]:
    return {
        "fusion": build_restorer("fusion", device, pixel_um=BINNED_UM),
        "fusion_raw": build_restorer("fusion", device, pixel_um=BINNED_UM, gates=False),
        "fusion@full-res": build_restorer("fusion", device),
        **{
            name: build_restorer(
                "m-deblurgan",
                device,
                pixel_um=BINNED_UM,
                weights=None if weights == "m-deblurgan" else weights,
                gates=name == "m-deblurgan",
            )
            for name in ("m-deblurgan", "m-deblurgan_raw")
        },
    }


def _outputs(
    x: np.ndarray, est: DefocusEstimate, restorers: dict[str, Any], full: np.ndarray | None = None
) -> dict[str, Any]:
    """Return every method's 2× output of the binned frame ``x``.

    With ``full``, the unbinned camera's frame of the same field, also fusion's output of
    it (the ``fusion@full-res`` reference).
    """
    outs = {
        "bicubic": bicubic_up(x, BINNING),
        "fusion+bicubic": bicubic_up(restorers["fusion"].restore(x, est), BINNING),
        "fusion_raw+bicubic": bicubic_up(restorers["fusion_raw"].restore(x, est), BINNING),
        "m-deblurgan": restorers["m-deblurgan"].restore(x, est),
        "m-deblurgan_raw": restorers["m-deblurgan_raw"].restore(x, est),
    }
    if full is not None:
        outs["fusion@full-res"] = restorers["fusion@full-res"].restore(full, est)
    return outs


def evaluate_mdeblurgan_synthetic(
    depths: Sequence[float] = DEPTHS,
    seed: int = 0,
    *,
    forward: str = "born_wolf",
    members: int = 4,
    weights: str = "m-deblurgan",
    device: str = "auto",
    data_dir: str | Path | None = None,
    keep: Sequence[float] = (),
) -> dict[str, Any]:
    """PSNR/SSIM per depth of each method's 2× output against the full-resolution truth.

    ``forward="family"`` blurs with ``members`` random members of the forward-model
    family per depth (means over them), as real optics blur. ``keep`` names depths
    whose first frame and outputs are returned under ``"frames"`` (for a figure).

    Returns
    -------
    dict
        ``{"depths", "seed", "forward", "members", "shape", "truth_shape", "rows":
        {method: {"psnr", "ssim", "gain_db", "gain_ssim"}}, "m-deblurgan_over_fusion_db",
        "full_res_over_fusion_db", "frames"}``; gains are over ``bicubic``; the two
        ``_over_fusion_db`` lists are over the better of the two ``fusion`` rows.
    """
    from ..metrics import psnr, ssim
    from ..optics import pupil_psf
    from ..optics._family import sample_params

    if forward not in ("born_wolf", "family"):
        raise ValueError(f"forward must be born_wolf or family, got {forward!r}")
    n = members if forward == "family" else 1
    sharp = load_in_focus(split_by_image(in_focus_paths(data_dir))[1])[0]  # a07
    h, w = (s - s % BINNING for s in sharp.shape)
    sharp = np.ascontiguousarray(sharp[:h, :w])
    rng = np.random.default_rng(seed)
    rng_full = np.random.default_rng(seed + 1)  # the binned frames stay as without the reference
    restorers = _restorers(device, weights)
    rows: dict[str, dict[str, list[float]]] = {m: {"psnr": [], "ssim": []} for m in METHODS}
    frames: dict[str, Any] = {}
    for z in depths:
        scores: dict[str, list[tuple[float, float]]] = {m: [] for m in METHODS}
        for k in range(n):
            psf = pupil_psf(float(z), sample_params(float(z), rng)) if n > 1 else None
            x = binned_frame(sharp, float(z), rng, psf=psf)
            full = binned_frame(sharp, float(z), rng_full, psf=psf, binned=False)
            outs = _outputs(x, DefocusEstimate(float(z), 1.0), restorers, full)
            for m, out in outs.items():
                scores[m].append((psnr(sharp, out), ssim(sharp, out)))
            if z in keep and k == 0:
                frames[f"{z:g}"] = {"input": x, "truth": sharp, **outs}
        for m in METHODS:
            rows[m]["psnr"].append(round(float(np.mean([p for p, _ in scores[m]])), 3))
            rows[m]["ssim"].append(round(float(np.mean([s for _, s in scores[m]])), 4))
    base = rows["bicubic"]
    for row in rows.values():
        row["gain_db"] = [round(a - b, 3) for a, b in zip(row["psnr"], base["psnr"], strict=True)]
        row["gain_ssim"] = [round(a - b, 4) for a, b in zip(row["ssim"], base["ssim"], strict=True)]
    fusions = (rows["fusion+bicubic"]["psnr"], rows["fusion_raw+bicubic"]["psnr"])
    best_fusion = [max(a, b) for a, b in zip(*fusions, strict=True)]
    return {
        "depths": list(depths),
        "seed": int(seed),
        "forward": forward,
        "members": n,
        "held_out": "a07 (one well)",
        "shape": [h // BINNING, w // BINNING],
        "truth_shape": [h, w],
        "binning": f"{BINNING}x{BINNING} sum, 1000 photons (full-res p99.9), read noise 2 once",
        "rows": rows,
        "m-deblurgan_over_fusion_db": [
            round(a - b, 3) for a, b in zip(rows["m-deblurgan"]["psnr"], best_fusion, strict=True)
        ],
        "full_res_over_fusion_db": [
            round(a - b, 3)
            for a, b in zip(rows["fusion@full-res"]["psnr"], best_fusion, strict=True)
        ],
        "frames": frames,
    }


def evaluate_mdeblurgan_real(
    *,
    weights: str = "m-deblurgan",
    device: str = "auto",
    z00_dir: str | Path = REAL_Z00_DIR,
    in_focus_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Real frames binned 2×2 and restored to 2×, against real in-focus frames.

    Every restorer gets DelpNet's estimate of the binned frame (at 1.29 µm pixels),
    as in the product. Returns the median nucleus area, object count and peak of the
    z00 frames (input up-sampled, fusion + bicubic, m-deblurgan) with their ratios to
    the in-focus medians, and the PSNR/SSIM of the binned real in-focus frames restored
    against their originals (a07, the held-out well, listed apart).
    """
    from ..io import check_frame, read_image
    from ..methods import build_estimator
    from ..metrics import psnr, ssim

    files = sorted(p for p in Path(z00_dir).iterdir() if p.suffix.lower() in {".tif", ".tiff"})
    if not files:
        raise FileNotFoundError(f"no .tif images in {z00_dir}")
    estimator = build_estimator(device, pixel_um=BINNED_UM)
    restorers = _restorers(device, weights)
    sharp_paths = in_focus_paths(in_focus_dir)
    sharp = [check_frame(read_image(p)) for p in sharp_paths]
    ref = [realism_stats(x) for x in sharp]
    keys = ("median_area_px", "n_objects", "peak")
    in_focus = {k: float(np.median([s[k] for s in ref])) for k in keys}
    out: dict[str, Any] = {"in_focus": in_focus, "n_z00": len(files)}
    sets: dict[str, list[np.ndarray]] = {}
    ests = []
    for p in files:
        x = bin_sum(check_frame(read_image(p)))
        est = estimator.estimate(x)
        ests.append(est.defocus_um)
        for m, y in _outputs(x, est, restorers).items():
            sets.setdefault(m, []).append(y)
    out["z00_estimates_um"] = ests
    for m, ys in sets.items():
        st = [realism_stats(y) for y in ys]
        row = {k: float(np.median([s[k] for s in st])) for k in keys}
        row["area_ratio"] = row["median_area_px"] / in_focus["median_area_px"]
        row["objects_ratio"] = row["n_objects"] / in_focus["n_objects"]
        out.setdefault("z00", {})[m] = row
    pairs: dict[str, Any] = {}
    for p, truth in zip(sharp_paths, sharp, strict=True):
        h, w = (s - s % BINNING for s in truth.shape)
        truth = truth[:h, :w]
        x = bin_sum(truth)
        est = estimator.estimate(x)
        outs = _outputs(x, est, restorers)
        well = p.name.split("__")[1] if "__" in p.name else p.stem
        pairs[well] = {
            "estimate_um": est.defocus_um,
            **{m: [round(psnr(truth, y), 3), round(ssim(truth, y), 4)] for m, y in outs.items()},
        }
    out["in_focus_binned_psnr_ssim"] = pairs
    return out


def latency_mdeblurgan(
    side: int = 256, repeats: int = 20, *, weights: str = "m-deblurgan", device: str = "cpu"
) -> dict[str, Any]:
    """Time the restorer on a ``side``² binned frame (to ``2·side``²), after a warm-up."""
    import torch

    r = build_restorer("m-deblurgan", device, weights=None if weights == "m-deblurgan" else weights)
    frame = np.random.default_rng(0).uniform(400, 4000, (side, side)).astype(np.float32)
    est = DefocusEstimate(10.0, 1.0)
    for _ in range(3):
        out = r.restore(frame, est)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        r.restore(frame, est)
        times.append(1e3 * (time.perf_counter() - t0))
    return {
        "input": [side, side],
        "output": list(out.shape),
        "median_ms": round(float(np.median(times)), 1),
        "p95_ms": round(float(np.percentile(times, 95)), 1),
        "min_ms": round(float(np.min(times)), 1),
        "threads": torch.get_num_threads(),
        "dtype": str(getattr(r, "dtype", "")),
        "load_average": [round(v, 2) for v in os.getloadavg()],
    }


def plot_mdeblurgan(frames: dict[str, Any], path: str | Path, *, side: int = 192) -> Path:
    """Save crops of each kept depth: binned input, bicubic, fusion + bicubic, m-deblurgan, truth.

    Every panel of a row shares the truth crop's contrast (0.5th-99.8th percentiles).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = [
        ("input", "binned input (1.29 µm)"),
        ("bicubic", "bicubic ×2"),
        ("fusion+bicubic", "fusion, then bicubic ×2"),
        ("m-deblurgan", "m-deblurgan"),
        ("truth", "in focus, full resolution"),
    ]
    fig, axes = plt.subplots(len(frames), len(cols), figsize=(3.2 * len(cols), 3.4 * len(frames)))
    axes = np.atleast_2d(axes)
    y0, x0 = 160, 300  # full-resolution pixels: a group of nuclei in a07
    for row, (z, images) in enumerate(frames.items()):
        truth = images["truth"][y0 : y0 + side, x0 : x0 + side]
        lo, hi = np.percentile(truth, [0.5, 99.8])
        for c, (key, title) in enumerate(cols):
            img = images[key]
            if key == "input":  # each binned pixel shown as 2×2, in per-pixel units
                img = np.kron(img, np.ones((BINNING, BINNING), np.float32)) / BINNING**2
            ax = axes[row, c]
            ax.imshow(img[y0 : y0 + side, x0 : x0 + side], cmap="gray", vmin=lo, vmax=hi)
            ax.set_title(f"{title}, {z} µm" if c == 0 else title, fontsize=9)
            ax.axis("off")
    fig.tight_layout()
    return save_figure(fig, path, dpi=80)
