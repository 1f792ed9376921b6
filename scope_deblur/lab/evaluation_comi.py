"""COMI on real frames: nucleus statistics, invented objects, and a figure of crops.

COMI learned from the real z00 frames, so it is scored on the z00 frames it never
saw (the wells of :data:`~scope_deblur.lab.training._comi.REAL_VAL_WELLS`) and, for
contrast, on those it trained on. A GAN can invent nuclei, so besides the median
nucleus area it counts objects, and counts the restored objects that lie wholly
outside the input's own (blurred, so wider) foreground: blur spreads a nucleus, it
never removes one, so such an object was invented.

BBBC006 holds no pixel-registered real pair (no z00 frame has an in-focus partner,
``../shared/data/bbbc006/SOURCE.md``), so there is no real PSNR to report.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..figures import save_figure
from ..methods import build_restorer
from .evaluation import realism_stats
from .training._comi import split_real
from .training._data import REAL_Z00_DIR

__all__ = ["evaluate_comi_real", "invented_objects"]


def invented_objects(
    restored: np.ndarray, source: np.ndarray, *, min_area: int = 30, margin: int = 5
) -> tuple[int, int]:
    """Return (objects in ``restored``, those not touching ``source``'s foreground).

    Both images are segmented as :func:`realism_stats` does (Otsu after removing the
    1st percentile; objects of at least ``min_area`` px); the source's foreground is
    grown by ``margin`` px.
    """
    from scipy import ndimage
    from skimage.filters import threshold_otsu

    def mask(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, np.float64) - np.percentile(x, 1)
        return x > threshold_otsu(x)

    labels, n = ndimage.label(mask(restored))
    fg = ndimage.binary_dilation(mask(source), iterations=margin)
    areas = np.bincount(labels.ravel(), minlength=n + 1)
    touching = np.bincount(labels[fg].ravel(), minlength=n + 1)
    kept = np.flatnonzero(areas >= min_area)
    kept = kept[kept > 0]
    return int(kept.size), int((touching[kept] == 0).sum())


def _summary(frames: Sequence[np.ndarray], sources: Sequence[np.ndarray] | None) -> dict:
    stats = [realism_stats(x) for x in frames]
    out: dict[str, Any] = {
        k: float(np.median([s[k] for s in stats]))
        for k in ("median_area_px", "n_objects", "peak", "hf_power")
    }
    out["n_objects_per_frame"] = [s["n_objects"] for s in stats]
    if sources is not None:
        inv = [invented_objects(x, s)[1] for x, s in zip(frames, sources, strict=True)]
        out["invented_objects_per_frame"] = inv
    return out


def evaluate_comi_real(
    figure: str | Path | None = None,
    *,
    weights: str = "comi",
    z00_dir: str | Path = REAL_Z00_DIR,
    in_focus_dir: str | Path | None = None,
    device: str = "auto",
) -> dict[str, Any]:
    """Restore the real z00 frames with COMI, fusion and RL; compare with in-focus frames.

    Every restorer gets DelpNet's estimate of each frame, as in the product.

    Returns
    -------
    dict
        ``unseen`` and ``seen`` (the z00 frames COMI did not and did train on): per
        method (``input``, ``comi``, ``fusion``, ``rl``) the median area, object count,
        peak, high-frequency power, ``area_ratio`` and ``objects_ratio`` (medians over
        the in-focus medians) and the invented objects per frame; ``in_focus``, the
        reference; ``comi_in_focus``, the in-focus frames through COMI (do no harm).
    """
    from ..estimation import DelpNetEstimator
    from ..io import check_frame, read_image
    from .training._data import in_focus_paths

    files = sorted(p for p in Path(z00_dir).iterdir() if p.suffix.lower() in {".tif", ".tiff"})
    seen_p, unseen_p = split_real(files)
    sharp = [check_frame(read_image(p)) for p in in_focus_paths(in_focus_dir)]
    estimator = DelpNetEstimator(device=device)
    restorers = {
        "comi": build_restorer("comi", device, weights=weights),
        "fusion": build_restorer("fusion", device),
        "rl": build_restorer("rl", device),
    }
    ref = _summary(sharp, None)
    out: dict[str, Any] = {"in_focus": ref, "real_pair": None, "weights": weights}
    crops: dict[str, list[np.ndarray]] = {}
    for key, paths in (("unseen", unseen_p), ("seen", seen_p)):
        real = [check_frame(read_image(p)) for p in paths]
        ests = [estimator.estimate(x) for x in real]
        sets = {"input": real}
        for name, r in restorers.items():
            sets[name] = [r.restore(x, e) for x, e in zip(real, ests, strict=True)]
        rows: dict[str, Any] = {
            "frames": [p.name.split("_")[2] for p in paths],
            "estimates_um": [e.defocus_um for e in ests],
        }
        for name, frames in sets.items():
            row = _summary(frames, real)
            row["area_ratio"] = row["median_area_px"] / ref["median_area_px"]
            row["objects_ratio"] = row["n_objects"] / ref["n_objects"]
            rows[name] = row
        out[key] = rows
        if key == "unseen":
            crops = sets
    sharp_ests = [estimator.estimate(x) for x in sharp]
    comi_sharp = [restorers["comi"].restore(x, e) for x, e in zip(sharp, sharp_ests, strict=True)]
    out["comi_in_focus"] = {
        **_summary(comi_sharp, sharp),
        "estimates_um": [e.defocus_um for e in sharp_ests],
        "max_abs_change": float(
            max(np.abs(a - b).max() for a, b in zip(comi_sharp, sharp, strict=True))
        ),
    }
    out["comi_in_focus"]["area_ratio"] = (
        out["comi_in_focus"]["median_area_px"] / ref["median_area_px"]
    )
    if figure is not None:
        _figure(figure, crops, sharp[-1])
        out["figure"] = str(figure)
    return out


def _figure(path: str | Path, sets: dict[str, list[np.ndarray]], reference: np.ndarray) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = ["input", "comi", "fusion", "rl"]
    n = min(len(sets["input"]), 3)
    fig, axes = plt.subplots(n, len(cols) + 1, figsize=(3.2 * (len(cols) + 1), 3.3 * n))
    axes = np.atleast_2d(axes)
    side, (y0, x0) = 256, (132, 220)
    for row in range(n):
        for c, name in enumerate([*cols, "in_focus"]):
            img = reference if name == "in_focus" else sets[name][row]
            crop = img[y0 : y0 + side, x0 : x0 + side]
            lo, hi = np.percentile(crop, [0.5, 99.8])
            ax = axes[row, c]
            ax.imshow(crop, cmap="gray", vmin=lo, vmax=hi)
            title = {"input": "real z00 (unseen well)", "in_focus": "real in focus (a07)"}
            ax.set_title(title.get(name, name), fontsize=10)
            ax.axis("off")
    fig.tight_layout()
    save_figure(fig, path, dpi=80)
