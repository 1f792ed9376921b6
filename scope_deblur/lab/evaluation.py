"""Evaluation of restorers: synthetic PSNR/SSIM per depth, and blind realism statistics.

- :func:`evaluate_restoration`: held-out in-focus image (a07) degraded with plain
  scalar Born–Wolf (NA 0.5, 451 nm, 0.645 µm, 1000 photons at the 99.9th
  percentile, read noise 2); PSNR and SSIM under the design's metrics rule.
- :func:`realism_stats`: blind statistics that need no ground truth (Otsu nuclei →
  median area, peak brightness, radial power spectrum), to judge restorations of
  real defocused frames against real in-focus frames.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..figures import save_figure
from ..methods import build_restorer
from .training._data import REAL_Z00_DIR

__all__ = [
    "evaluate_do_no_harm",
    "evaluate_real",
    "evaluate_restoration",
    "radial_power_spectrum",
    "realism_stats",
]

DEPTHS = (0, 4, 10, 16, 22, 28, 34, 40)


def radial_power_spectrum(image: np.ndarray, n_bins: int = 32) -> np.ndarray:
    """Return the mean-removed, energy-normalised radially averaged power spectrum.

    Bins are equal-width in spatial frequency from 0 to Nyquist (0.5 cycles/px).
    """
    x = np.asarray(image, dtype=np.float64)
    x = (x - x.mean()) * np.outer(np.hanning(x.shape[0]), np.hanning(x.shape[1]))
    p = np.abs(np.fft.fftshift(np.fft.fft2(x))) ** 2
    fy = np.fft.fftshift(np.fft.fftfreq(x.shape[0]))
    fx = np.fft.fftshift(np.fft.fftfreq(x.shape[1]))
    f = np.hypot(fy[:, None], fx[None, :])
    idx = np.minimum((f / 0.5 * n_bins).astype(int), n_bins)
    sums = np.bincount(idx.ravel(), p.ravel(), n_bins + 1)[:n_bins]
    counts = np.bincount(idx.ravel(), minlength=n_bins + 1)[:n_bins]
    spec = sums / np.maximum(counts, 1)
    return spec / spec.sum()


def realism_stats(image: np.ndarray, *, min_area: int = 30) -> dict[str, Any]:
    """Blind statistics of a nuclei image.

    Otsu threshold on the image (after removing its 1st percentile as background);
    objects smaller than ``min_area`` px are ignored.

    Returns
    -------
    dict
        ``median_area_px``, ``n_objects``, ``peak`` (99.9th pct minus background),
        ``contrast`` (peak / median foreground, background removed),
        ``hf_power`` (fraction of spectral power above 0.1 cycles/px) and ``spectrum``.
    """
    from scipy import ndimage
    from skimage.filters import threshold_otsu

    x = np.asarray(image, dtype=np.float64)
    x = x - np.percentile(x, 1)
    mask = x > threshold_otsu(x)
    labels, n = ndimage.label(mask)
    areas = np.bincount(labels.ravel())[1:] if n else np.zeros(0)
    areas = areas[areas >= min_area]
    spec = radial_power_spectrum(x)
    nyq_bin = len(spec) * 0.1 / 0.5
    return {
        "median_area_px": float(np.median(areas)) if areas.size else 0.0,
        "n_objects": int(areas.size),
        "peak": float(np.percentile(x, 99.9)),
        "contrast": float(np.percentile(x, 99.9) / max(np.median(x[mask]), 1e-9)),
        "hf_power": float(spec[int(nyq_bin) :].sum()),
        "spectrum": spec.tolist(),
    }


def _summary(stats: Sequence[dict[str, Any]]) -> dict[str, float]:
    keys = ("median_area_px", "n_objects", "peak", "contrast", "hf_power")
    return {k: float(np.median([s[k] for s in stats])) for k in keys}


# ---------------------------------------------------------------- restorers


def _restorer(method: Any, device: str) -> Any:
    """Map a method to a Restorer (``None`` for the input row).

    Names: ``input``, a :data:`~scope_deblur.methods.METHODS` name, ``fusion_raw`` or
    ``comi_raw`` (the network alone, without its do-no-harm gates) or ``fusion:PATH``
    (other weights).
    """
    if not isinstance(method, str):
        return method
    if method == "input":
        return None
    if method in ("fusion_raw", "comi_raw"):
        return build_restorer(method.removesuffix("_raw"), device, gates=False)
    name, _, weights = method.partition(":")
    return build_restorer(name, device, weights=weights or None)


def _held_out(data_dir: str | Path | None, crop: int | None) -> np.ndarray:
    from .training._data import in_focus_paths, load_in_focus, split_by_image

    _, val = split_by_image(in_focus_paths(data_dir))
    sharp = load_in_focus(val)[0]
    if crop:
        h, w = sharp.shape
        y0, x0 = (h - min(crop, h)) // 2, (w - min(crop, w)) // 2
        sharp = sharp[y0 : y0 + crop, x0 : x0 + crop]
    return np.ascontiguousarray(sharp)


def evaluate_restoration(
    methods: Sequence[Any] = ("input", "rl", "awdvd", "fusion"),
    depths: Sequence[float] = DEPTHS,
    seed: int = 0,
    *,
    data_dir: str | Path | None = None,
    crop: int | None = None,
    device: str = "auto",
    forward: str = "born_wolf",
    members: int = 4,
    known_optics: bool = False,
) -> dict[str, Any]:
    """PSNR/SSIM per depth on the held-out image (a07).

    Degradation: NA 0.5, 451 nm, 0.645 µm pixels, 1000 photons at the 99.9th
    percentile, read noise 2 (``scope_deblur.optics.defocus``, seeded), blurred by
    plain scalar Born–Wolf (``forward="born_wolf"``) or by ``members`` random
    members of the forward-model family per depth (``forward="family"``: aberrations,
    apodisation, smoothing; seeded), as real optics blur; scores are then means over
    the members. Restorers get the true defocus with confidence 1, never the member:
    RL and AWDVD deconvolve with the nominal Born–Wolf PSF at that defocus, as they
    must on a real microscope. With ``known_optics`` they do get it, as a calibrated
    microscope's profile: every restorer that takes a profile (RL, AWDVD, the
    known-optics fusion networks) deconvolves each frame with the member that blurred it.

    Returns
    -------
    dict
        ``{"depths", "seed", "forward", "members", "shape", "rows": {name: {"psnr": [...],
        "ssim": [...], "gain_db": [...]}}}``; ``gain_db`` is PSNR minus the input's.
    """
    import torch

    from ..metrics import psnr, ssim
    from ..optics import NOMINAL, OpticsProfile, PsfParams, defocus, pupil_psf
    from ..optics._family import sample_params
    from ..protocols import DefocusEstimate

    if forward not in ("born_wolf", "family"):
        raise ValueError(f"forward must be born_wolf or family, got {forward!r}")
    n = members if forward == "family" else 1
    sharp = _held_out(data_dir, crop)
    gen = torch.Generator().manual_seed(int(seed))
    rng = np.random.default_rng(seed)
    degraded, optics = [], []  # frames per depth, and the profile that blurred each
    for z in depths:
        params, frames = [], []
        for _ in range(n):
            member = sample_params(float(z), rng) if forward == "family" else PsfParams()
            params.append(member)
            frames.append(
                defocus(
                    torch.from_numpy(sharp),
                    float(z),
                    photons=1000.0,
                    read_noise=2.0,
                    generator=gen,
                    psf=pupil_psf(float(z), member) if forward == "family" else None,
                ).numpy()
            )
        degraded.append(frames)
        optics.append([OpticsProfile(psf_params=m) if known_optics else NOMINAL for m in params])
    rows: dict[str, dict[str, list[float]]] = {}
    for method in methods:
        r = _restorer(method, device)
        name = method if isinstance(method, str) else r.name
        row: dict[str, list[float]] = {"psnr": [], "ssim": []}
        for z, frames, profiles in zip(depths, degraded, optics, strict=True):
            est = DefocusEstimate(float(z), 1.0)
            outs = []
            for f, profile in zip(frames, profiles, strict=True):
                if getattr(r, "profile", None) is not None:
                    r.profile = profile
                outs.append(f if r is None else r.restore(f, est))
            row["psnr"].append(round(float(np.mean([psnr(sharp, o) for o in outs])), 3))
            row["ssim"].append(round(float(np.mean([ssim(sharp, o) for o in outs])), 4))
        rows[name] = row
    base = rows.get("input") or {
        "psnr": [float(np.mean([psnr(sharp, f) for f in frames])) for frames in degraded]
    }
    for row in rows.values():
        row["gain_db"] = [round(p - b, 3) for p, b in zip(row["psnr"], base["psnr"], strict=True)]
    return {
        "depths": list(depths),
        "seed": int(seed),
        "forward": forward,
        "members": n,
        "known_optics": known_optics,
        "shape": list(sharp.shape),
        "rows": rows,
    }


def evaluate_do_no_harm(
    weights: str = "fusion",
    depths: Sequence[float] = (0, 2, 4),
    photons: Sequence[float] = (300, 1000, 5000, 20000),
    seed: int = 0,
    *,
    data_dir: str | Path | None = None,
    crop: int | None = None,
    device: str = "auto",
) -> dict[str, Any]:
    """PSNR gain near focus by photon count: the raw network against the restorer.

    The held-out image (a07) is blurred to each depth with ``photons`` at its 99.9th
    percentile (read noise 2, one seeded generator per photon count) and restored at the
    true defocus, once by the network alone (``gates=False``) and once by the restorer
    with its do-no-harm gates (here the fidelity blend).

    Returns
    -------
    dict
        ``{"weights", "depths", "photons", "input_psnr", "raw_gain_db", "gain_db"}``;
        the last three are lists over photon counts of lists over depths.
    """
    import torch

    from ..metrics import psnr
    from ..optics import defocus
    from ..protocols import DefocusEstimate

    sharp = _held_out(data_dir, crop)
    network = build_restorer("fusion", device, weights=weights, gates=False)
    restorer = build_restorer("fusion", device, weights=weights)
    out: dict[str, Any] = {"weights": weights, "depths": list(depths), "photons": list(photons)}
    rows: dict[str, list[list[float]]] = {"input_psnr": [], "raw_gain_db": [], "gain_db": []}
    for n in photons:
        gen = torch.Generator().manual_seed(int(seed))
        row: dict[str, list[float]] = {k: [] for k in rows}
        for z in depths:
            frame = defocus(
                torch.from_numpy(sharp), float(z), photons=float(n), read_noise=2.0, generator=gen
            ).numpy()
            base = psnr(sharp, frame)
            est = DefocusEstimate(float(z), 1.0)
            raw, gated = network.restore(frame, est), restorer.restore(frame, est)
            row["input_psnr"].append(round(base, 3))
            row["raw_gain_db"].append(round(psnr(sharp, raw) - base, 3))
            row["gain_db"].append(round(psnr(sharp, gated) - base, 3))
        for k in rows:
            rows[k].append(row[k])
    return {**out, **rows}


def evaluate_real(
    figure: str | Path | None = None,
    *,
    z00_dir: str | Path = REAL_Z00_DIR,
    in_focus_dir: str | Path | None = None,
    defocus_um: float | None = None,
    weights: str = "fusion",
    device: str = "auto",
) -> dict[str, Any]:
    """Restore the real z00 frames and compare blind statistics with real in-focus frames.

    Restorers get what they get in the product: the shipped DelpNet's estimate of each
    frame (defocus, confidence and map), unless ``defocus_um`` fixes one value for all.

    Returns
    -------
    dict
        Median statistics (see :func:`realism_stats`) for ``in_focus``, ``input``,
        ``fusion``, ``rl`` and ``awdvd``, each with ``area_ratio`` (median nucleus area
        over the in-focus median) and ``spectrum_log_error`` (mean |log| ratio of radial
        power spectra to the in-focus median, up to 0.25 cycles/px); ``estimates_um``,
        the defocus the restorers were given. ``fusion_in_focus`` is the do-no-harm
        check: the real in-focus frames restored by the fusion U-Net at DelpNet's
        estimate of each (``in_focus_estimates_um``).
    """
    from ..estimation import DelpNetEstimator
    from ..io import check_frame, read_image
    from ..protocols import DefocusEstimate, Restorer
    from .training._data import in_focus_paths

    files = sorted(p for p in Path(z00_dir).iterdir() if p.suffix.lower() in {".tif", ".tiff"})
    if not files:
        raise FileNotFoundError(f"no .tif images in {z00_dir}")
    real = [check_frame(read_image(p)) for p in files]
    sharp = [check_frame(read_image(p)) for p in in_focus_paths(in_focus_dir)]
    estimator = DelpNetEstimator(device=device)
    if defocus_um is None:
        ests = [estimator.estimate(x) for x in real]
    else:
        ests = [DefocusEstimate(float(defocus_um), 1.0)] * len(real)
    sharp_ests = [estimator.estimate(x) for x in sharp]
    restorers: dict[str, Restorer] = {
        "fusion": build_restorer("fusion", device, weights=weights),
        "rl": build_restorer("rl", device),
        "awdvd": build_restorer("awdvd", device),
    }
    sets = {"in_focus": sharp, "input": real}
    for name, restorer in restorers.items():
        sets[name] = [restorer.restore(x, e) for x, e in zip(real, ests, strict=True)]
    fusion = restorers["fusion"]
    sets["fusion_in_focus"] = [fusion.restore(x, e) for x, e in zip(sharp, sharp_ests, strict=True)]
    stats = {k: [realism_stats(x) for x in v] for k, v in sets.items()}
    ref_spec = np.median([s["spectrum"] for s in stats["in_focus"]], axis=0)
    out: dict[str, Any] = {
        "estimates_um": [e.defocus_um for e in ests],
        "in_focus_estimates_um": [e.defocus_um for e in sharp_ests],
        "n_real": len(real),
    }
    for k, st in stats.items():
        summ = _summary(st)
        spec = np.median([s["spectrum"] for s in st], axis=0)
        n = len(spec) // 2
        summ["spectrum_log_error"] = float(np.abs(np.log(spec[1:n] / ref_spec[1:n])).mean())
        out[k] = summ
    for k in sets:
        out[k]["area_ratio"] = out[k]["median_area_px"] / out["in_focus"]["median_area_px"]
    if figure is not None:
        _figure(figure, sets, stats)
        out["figure"] = str(figure)
    return out


def _figure(path: str | Path, sets: dict[str, list[np.ndarray]], stats: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = ["input", "fusion", "rl", "awdvd", "in_focus"]
    fig, axes = plt.subplots(3, 5, figsize=(20, 11))
    for row, idx in enumerate((0, 5)):
        for c, name in enumerate(cols):
            img = sets[name][idx % len(sets[name])]
            lo, hi = np.percentile(img, [0.5, 99.8])
            ax = axes[row, c]
            ax.imshow(img, cmap="gray", vmin=lo, vmax=hi)
            title = "real z00 (~32 µm)" if name == "input" else name
            if name == "in_focus":
                title = "real in-focus (other field)"
            ax.set_title(title)
            ax.axis("off")
    ax = axes[2, 0]
    for name in cols:
        spec = np.median([s["spectrum"] for s in stats[name]], axis=0)
        ax.semilogy(np.linspace(0, 0.5, len(spec), endpoint=False), spec, label=name)
    ax.set_xlabel("cycles / px")
    ax.set_title("radial power spectrum (median)")
    ax.legend()
    for j, key in enumerate(("median_area_px", "peak", "contrast"), start=1):
        vals = [np.median([s[key] for s in stats[n]]) for n in cols]
        axes[2, j].bar(cols, vals)
        axes[2, j].set_title(key)
        axes[2, j].tick_params(axis="x", labelrotation=30)
    axes[2, 4].axis("off")
    fig.tight_layout()
    save_figure(fig, path, dpi=80)
