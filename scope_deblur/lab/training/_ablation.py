"""Fusion U-Net ablation in the style of the paper's Tables 1-2: N = 1..4, sum or concat.

Every variant trains from the same seed for the same number of steps with
:func:`~scope_deblur.lab.training._fusion.train_fusion`, then is scored with
:func:`~scope_deblur.lab.evaluation.evaluate_restoration` on the held-out image, beside
the input, Richardson–Lucy and AWDVD. Equal budgets make the rows comparable with
each other, not with the shipped model, which trains far longer. The last variants
answer the design question of the fusion issue: one blind model, or one model
conditioned on the defocus estimate, with or without the Wiener input plane. A
variant whose weights are already in the output folder is not trained again
(delete them to retrain); ``variants`` runs a subset and merges its rows into the
folder's existing ``ablation.json``.

Run ``scope-deblur train ablation --data <in_focus> --steps 600 --out DIR``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["VARIANTS", "run_ablation"]

VARIANTS: tuple[tuple[int, str, bool, bool], ...] = (  # (N, mode, conditioned, wiener)
    (1, "sum", False, False),  # N = 1 is a plain U-Net: no fusion at all
    (2, "sum", False, False),
    (2, "concat", False, False),
    (3, "sum", False, False),
    (3, "concat", False, False),
    (4, "sum", False, False),
    (4, "concat", False, False),
    (3, "sum", True, False),
    (3, "sum", True, True),
)


def _name(n: int, mode: str, conditioned: bool, wiener: bool) -> str:
    base = "unet_n1" if n == 1 else f"fusion_n{n}_{mode}"
    return base + ("_conditioned" if conditioned else "") + ("_wiener" if wiener else "")


def run_ablation(
    data_dir: str | Path | None,
    out: str | Path,
    *,
    steps: int = 600,
    seed: int = 0,
    device: str = "auto",
    threads: int | None = None,
    crop: int | None = None,
    variants: Sequence[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Train every variant for ``steps`` steps, evaluate all, write ``out/ablation.json``.

    ``crop`` evaluates on a central square of the held-out image (tests); the
    default is the whole frame. ``variants`` names a subset to run; the rows of other
    variants in an existing ``out/ablation.json`` (same steps and seed) are kept.

    Returns
    -------
    dict
        :func:`evaluate_restoration`'s result (rows ``input``, ``rl``, ``awdvd`` and
        ``unet_n1``, ``fusion_n2_sum``, ...), plus ``steps``, ``seed`` and the
        training minutes of every variant.
    """
    from ...weights import load_card
    from ..evaluation import evaluate_restoration
    from ._fusion import train_fusion

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    todo = [v for v in VARIANTS if variants is None or _name(*v) in variants]
    unknown = set(variants or ()) - {_name(*v) for v in VARIANTS}
    if unknown:
        known = ", ".join(_name(*v) for v in VARIANTS)
        raise ValueError(f"unknown ablation variants {sorted(unknown)}; choose from {known}")
    names, minutes = [], {}
    for k, (n, mode, conditioned, wiener) in enumerate(todo):
        name = _name(n, mode, conditioned, wiener)
        names.append(name)
        if (out / f"{name}.safetensors").is_file():
            trained = (load_card(out / name).model_extra or {})["training"]
            if trained["steps"] != steps or trained["seed"] != seed:
                raise ValueError(f"{out / name} was trained with other steps or seed; delete it")
            minutes[name] = trained["minutes"]
        else:
            t0 = time.perf_counter()
            train_fusion(
                data_dir,
                out / name,
                steps=steps,
                seed=seed,
                n_scales=n,
                fusion=mode,
                conditioned=conditioned,
                wiener=wiener,
                device=device,
                progress=False,
                threads=threads,
            )
            minutes[name] = round((time.perf_counter() - t0) / 60, 2)
        if progress:
            progress(k + 1, len(todo) + 1)
    methods = ["input", "rl", "awdvd", *(f"fusion:{out / name}" for name in names)]
    result = evaluate_restoration(methods, data_dir=data_dir, crop=crop, device=device)
    result["rows"] = {
        (m.rsplit("/", 1)[-1] if m.startswith("fusion:") else m): row
        for m, row in zip(methods, result["rows"].values(), strict=True)
    }
    result.update(steps=steps, seed=seed, train_minutes=minutes)
    saved = out / "ablation.json"
    if variants is not None and saved.is_file():
        result = _merge(json.loads(saved.read_text()), result)
    if progress:
        progress(len(todo) + 1, len(todo) + 1)
    saved.write_text(json.dumps(result, indent=1))
    return result


def _merge(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Add ``new``'s variant rows to an earlier ablation of the same budget."""
    same = ("steps", "seed", "depths", "shape")
    if any(old.get(k) != new[k] for k in same):
        raise ValueError(f"the saved ablation differs in one of {same}; rerun it whole")
    rows = {**old["rows"], **new["rows"]}
    return {**new, "rows": rows, "train_minutes": {**old["train_minutes"], **new["train_minutes"]}}
