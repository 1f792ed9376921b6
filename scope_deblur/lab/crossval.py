"""Leave-one-well-out cross-validation of the fusion recipe, scored as the product runs.

For each in-focus well, the recipe (:func:`~scope_deblur.lab.training.train_fusion`)
is trained on the other wells, and the left-out well is degraded as in
:func:`~scope_deblur.lab.evaluation.evaluate_restoration` (plain Born–Wolf, NA 0.5,
451 nm, 0.645 µm pixels, 1000 photons at the 99.9th percentile, read noise 2, seeded)
at every depth, as three fields: the whole image (``dense``) and two sparse fields
with 3 and 8 of its nuclei (:func:`~scope_deblur.lab.fields.sparse_field`).

Every frame is estimated by the shipped DelpNet and restored as the product runs:

- ``net``: the fold's network at DelpNet's estimate, with its do-no-harm gates;
- ``net_oracle``: the same network told the true defocus (beside, never instead);
- ``rl``: Richardson–Lucy with the textbook PSF at DelpNet's estimate;
- ``care`` (``peer="care"``): CARE (csbdeep) trained in its own environment on pairs
  drawn by the same sampler from the same wells, for the same wall time as the fold's
  network (:mod:`scope_deblur.lab.peers`).

The shipped DelpNet was trained on a02–a06, so on those folds the estimator has seen
the well; the result says so (``delpnet_trained_on``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..figures import save_figure
from .evaluation import DEPTHS

__all__ = ["FIELDS", "cross_validate", "plot_cross_validation"]

FIELDS = {"dense": None, "sparse 8": (8, 1), "sparse 3": (3, 0)}
"""Test fields: the whole image, or (nuclei kept, seed) of a sparse field."""

RECIPE = {"conditioned": True, "wiener": True, "base_width": 8}
"""The recipe under test: ``fusion-fast``'s (the live default)."""


def _fields(image: np.ndarray) -> dict[str, np.ndarray]:
    from .fields import sparse_field

    return {
        name: image if spec is None else sparse_field(image, *spec) for name, spec in FIELDS.items()
    }


def _degrade(field: np.ndarray, depths: Sequence[float], seed: int) -> list[np.ndarray]:
    import torch

    from ..optics import defocus

    gen = torch.Generator().manual_seed(int(seed))
    src = torch.from_numpy(np.ascontiguousarray(field, dtype=np.float32))
    return [
        defocus(src, float(z), photons=1000.0, read_noise=2.0, generator=gen).numpy()
        for z in depths
    ]


def _fold_model(
    data_dir: str | Path | None,
    well: str,
    work: Path,
    steps: int,
    seed: int,
    threads: int | None,
) -> tuple[Path, float]:
    """Train (or reuse) the fold's network; return its weights and training minutes."""
    from ..weights import load_card
    from .training import train_fusion

    stem = work / f"fold-{well}-{steps}"
    weights = stem.with_suffix(".safetensors")
    if weights.is_file():  # a finished fold of an interrupted run
        return weights, float((load_card(str(weights)).model_extra or {})["training"]["minutes"])
    card = train_fusion(
        data_dir,
        stem,
        steps=steps,
        seed=seed,
        val_image=well,
        progress=False,
        threads=threads,
        **RECIPE,  # type: ignore[arg-type]
    )
    return weights, float(card["training"]["minutes"])


def _score(sharp: np.ndarray, frames: Sequence[np.ndarray], outs: Sequence[np.ndarray]) -> dict:
    from ..metrics import psnr, ssim

    return {
        "gain_db": [
            round(psnr(sharp, o) - psnr(sharp, f), 3) for f, o in zip(frames, outs, strict=True)
        ],
        "ssim_gain": [
            round(ssim(sharp, o) - ssim(sharp, f), 4) for f, o in zip(frames, outs, strict=True)
        ],
    }


def cross_validate(
    steps: int,
    *,
    wells: Sequence[str] | None = None,
    depths: Sequence[float] = DEPTHS,
    data_dir: str | Path | None = None,
    work: str | Path,
    peer: str | None = None,
    peer_env: str | Path | None = None,
    seed: int = 0,
    threads: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Leave-one-well-out cross-validation (module docstring).

    Parameters
    ----------
    steps : int
        Training steps of each fold's network (the shipped models took 16000).
    wells : sequence of str, optional
        Wells to leave out in turn; default every in-focus image's well.
    work : str or Path
        Folder for the fold models (reused when a run is repeated) and the peer's files.
    peer : {"care"}, optional
        Train and score CARE beside the network (needs its own environment; see
        :func:`scope_deblur.lab.peers.care_environment`).

    Returns
    -------
    dict
        ``folds`` (per well: training minutes, DelpNet's estimates and, per field, the
        rows ``{method: {"gain_db": [...], "ssim_gain": [...]}}`` over ``depths``) and
        ``summary`` (per field and method: mean, min and max over the wells).
    """
    import torch

    from .._device import describe_device
    from ..estimation import DelpNetEstimator
    from ..methods import build_restorer
    from ..protocols import DefocusEstimate
    from ..weights import load_card
    from .training._data import in_focus_paths, load_in_focus, well_of

    if peer not in (None, "care"):
        raise ValueError(f"peer must be care, got {peer!r}")
    paths = in_focus_paths(data_dir)
    by_well = {well_of(p): p for p in paths}
    wells = list(wells or by_well)
    unknown = [w for w in wells if w not in by_well]
    if unknown:
        raise ValueError(f"no in-focus image of well {', '.join(unknown)} in {paths[0].parent}")
    care_python = None
    if peer == "care":
        from .peers import care_environment

        care_python = care_environment(peer_env)
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    if threads:
        torch.set_num_threads(threads)
    estimator = DelpNetEstimator(device="cpu")
    rl = build_restorer("rl", "cpu")
    folds: dict[str, Any] = {}
    t0 = time.perf_counter()
    for k, well in enumerate(wells):
        if progress:
            progress(k, len(wells))
        weights, minutes = _fold_model(data_dir, well, work, steps, seed, threads)
        net = build_restorer("fusion", "cpu", weights=weights)
        sharp = load_in_focus([by_well[well]])[0]
        fold: dict[str, Any] = {"train_minutes": minutes, "estimates_um": {}, "rows": {}}
        tests: dict[str, tuple[np.ndarray, list[np.ndarray]]] = {}
        for f, (name, field) in enumerate(_fields(sharp).items()):
            frames = _degrade(field, depths, seed + f)
            tests[name] = (field, frames)
            ests = [estimator.estimate(x) for x in frames]
            fold["estimates_um"][name] = [
                None if e.defocus_um is None else round(e.defocus_um, 2) for e in ests
            ]
            truth = [DefocusEstimate(float(z), 1.0) for z in depths]

            def scored(restorer: Any, given: list, field=field, frames=frames) -> dict:
                outs = [restorer.restore(x, e) for x, e in zip(frames, given, strict=True)]
                return _score(field, frames, outs)

            fold["rows"][name] = {
                "net": scored(net, ests),
                "net_oracle": scored(net, truth),
                "rl": scored(rl, ests),
            }
        if care_python is not None:
            from .peers import run_care

            inputs = [x for _, frames in tests.values() for x in frames]
            outs, care_minutes = run_care(
                care_python,
                data_dir=data_dir,
                val_image=well,
                minutes=minutes,
                inputs=inputs,
                work=work / f"care-{well}",
                seed=seed,
                threads=threads,
            )
            fold["care_minutes"] = care_minutes
            for i, (name, (field, frames)) in enumerate(tests.items()):
                part = outs[i * len(depths) : (i + 1) * len(depths)]
                fold["rows"][name]["care"] = _score(field, frames, part)
        folds[well] = fold
    if progress:
        progress(len(wells), len(wells))
    delpnet = load_card("delpnet").model_extra or {}
    trained_on = [well_of(p) for p in delpnet.get("training_data", {}).get("train", [])]
    return {
        "steps": steps,
        "recipe": {
            **RECIPE,
            "command": "scope-deblur train fusion --conditioned --wiener "
            f"--width 8 --steps {steps} --val-image WELL",
        },
        "depths": list(depths),
        "fields": {
            k: ("whole image" if v is None else f"{v[0]} nuclei") for k, v in FIELDS.items()
        },
        "degradation": "plain Born-Wolf NA 0.5, 451 nm, 0.645 um; 1000 photons at p99.9, "
        "read noise 2",
        "estimator": "shipped DelpNet (not retrained per fold)",
        "delpnet_trained_on": trained_on,
        "peer": peer,
        "device": describe_device("cpu"),
        "threads": torch.get_num_threads(),
        "minutes": round((time.perf_counter() - t0) / 60, 1),
        "folds": folds,
        "summary": _summary(folds),
    }


def _summary(folds: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    first = next(iter(folds.values()))
    for field, methods in first["rows"].items():
        out[field] = {}
        for method in methods:
            entry = {}
            for key in ("gain_db", "ssim_gain"):
                table = np.array([f["rows"][field][method][key] for f in folds.values()])
                entry[f"{key}_mean"] = np.round(table.mean(0), 3).tolist()
                entry[f"{key}_min"] = np.round(table.min(0), 3).tolist()
                entry[f"{key}_max"] = np.round(table.max(0), 3).tolist()
            out[field][method] = entry
    return out


def plot_cross_validation(result: dict[str, Any], path: str | Path) -> Path:
    """Plot ΔPSNR against depth per field: the mean over wells and its min-max band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary, depths = result["summary"], result["depths"]
    fig, axes = plt.subplots(1, len(summary), figsize=(5 * len(summary), 4), sharey=True)
    for ax, (field, methods) in zip(np.atleast_1d(axes), summary.items(), strict=True):
        for method, entry in methods.items():
            (line,) = ax.plot(depths, entry["gain_db_mean"], marker="o", label=method)
            ax.fill_between(
                depths,
                entry["gain_db_min"],
                entry["gain_db_max"],
                alpha=0.15,
                color=line.get_color(),
            )
        ax.axhline(0, color="k", lw=0.5)
        ax.set_title(f"{field} ({len(result['folds'])} wells left out in turn)")
        ax.set_xlabel("true defocus (µm)")
    np.atleast_1d(axes)[0].set_ylabel("ΔPSNR (dB), mean and min-max over wells")
    np.atleast_1d(axes)[0].legend()
    fig.suptitle(f"leave-one-well-out, {result['steps']} steps per fold, on DelpNet's estimate")
    fig.tight_layout()
    return save_figure(fig, path, dpi=80)
