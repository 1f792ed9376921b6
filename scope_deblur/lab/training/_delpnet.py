"""Training and evaluation of DelpNet on synthetic defocus (paper sections 2.1-2.2).

Data are generated on the fly and seeded: a pool of whole blurred frames, ``per_level``
for every level (random training image, forward model and noise each), is refreshed a
few frames per step, and every batch is cut as random 84-px crops from the pool, the
level drawn uniformly (balanced classes); blurring whole
frames is far cheaper than blurring patches. Splits are by image (``a07`` held out).

Forward models (``forward``):

- ``"born_wolf"`` (the shipped model): Born–Wolf blur, then a randomised camera:
  200-5000 photons at the 99.9th percentile, read noise 1-5, offset 90-130.
- ``"mixture"``: half the frames come from the pupil-function family of
  :mod:`scope_deblur.optics` (aberrations, apodisation, smoothing; DESIGN.md
  Sim-to-real), the other half from Born–Wolf at a slightly jittered NA, a share
  ``p_smooth`` of them followed by an extra Gaussian whose σ grows with |z|; same
  camera. It is the held-out test of robustness. A model trained on it scored lower
  on both tests than one trained on Born–Wolf, and no better on real frames.
- ``"paper"``: the paper's synthetic data (section 2.1): Born–Wolf blur of the
  16-bit image, then Poisson noise on its counts.

Run ``scope-deblur train delpnet --data <in_focus> --out models/delpnet`` (the shipped
model); ``--max-um 20 --forward paper [--no-bg]`` gives the paper's setting.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..._device import resolve_device
from ...patches import BG_MAX_COUNTS as BG_MAX
from ...patches import BG_RANGE_COUNTS as BG_RANGE
from ._data import (
    DEFAULT_VAL_IMAGE,
    REAL_Z00_DIR,
    in_focus_paths,
    load_in_focus,
    split_by_image,
)

__all__ = [
    "FORWARD_MODELS",
    "SyntheticDefocus",
    "evaluate_delpnet",
    "patch_metrics",
    "train_delpnet",
]

FORWARD_MODELS = ("mixture", "born_wolf", "paper")
_CAMERA = "photons 200-5000 log-uniform, read noise 1-5, offset 90-130"


def _check_forward(forward: str) -> None:
    if forward not in FORWARD_MODELS:
        raise ValueError(f"forward must be one of {', '.join(FORWARD_MODELS)}, got {forward!r}")


def normalise(patches: np.ndarray) -> np.ndarray:
    """Scale each patch linearly to [0, 1] (paper section 2.1)."""
    lo = patches.min(axis=(-2, -1), keepdims=True)
    hi = patches.max(axis=(-2, -1), keepdims=True)
    return ((patches - lo) / np.maximum(hi - lo, 1e-6)).astype(np.float32)


class SyntheticDefocus:
    """Seeded generator of labelled defocused patches from sharp images.

    Parameters
    ----------
    sharp : sequence of numpy.ndarray
        In-focus frames in camera counts (offset included).
    levels_um : sequence of float
        Defocus of each class.
    seed : int
        Seed of all randomness.
    per_level : int
        Number of blurred whole frames kept per level to cut crops from.
    forward : {"mixture", "born_wolf", "paper"}
        Forward model and camera (see the module docstring).
    p_family : float
        With ``"mixture"``, the share of frames drawn from the pupil-function family.
    p_smooth : float
        With ``"mixture"``, the share of the other (Born–Wolf) frames that get extra
        Gaussian smoothing.
    """

    def __init__(
        self,
        sharp: Sequence[np.ndarray],
        levels_um: Sequence[float],
        *,
        seed: int = 0,
        per_level: int = 2,
        patch: int = 84,
        forward: str = "born_wolf",
        p_family: float = 0.5,
        p_smooth: float = 0.8,
    ) -> None:
        _check_forward(forward)
        self.rng = np.random.default_rng(seed)
        self.forward, self.p_family, self.p_smooth = forward, p_family, p_smooth
        self.levels = np.asarray(levels_um, dtype=np.float64)
        self.patch = patch
        # Background-free signal: subtract the frame's dark level (camera offset).
        self.dark = [float(np.percentile(s, 0.1)) for s in sharp]
        self.sharp = [np.clip(s - d, 0, None) for s, d in zip(sharp, self.dark, strict=True)]
        self.q = [float(np.percentile(s, 99.9)) for s in self.sharp]
        self.frames = [[self._frame(c) for _ in range(per_level)] for c in range(len(self.levels))]

    def _psf(self, z: float) -> np.ndarray:
        from scipy.ndimage import gaussian_filter

        from ...optics import BBBC006_OPTICS, born_wolf_psf, sample_psf

        if self.forward != "mixture":
            return born_wolf_psf(z, BBBC006_OPTICS)
        if self.rng.random() < self.p_family:
            return sample_psf(z, self.rng)
        na = float(np.round(self.rng.uniform(0.485, 0.515), 3))
        psf = born_wolf_psf(z, BBBC006_OPTICS.model_copy(update={"na": na}))
        if self.rng.random() < self.p_smooth:
            sigma = self.rng.uniform(0, 0.8) + z * self.rng.uniform(0.0, 0.25)  # px
            pad = int(np.ceil(3 * sigma))
            psf = gaussian_filter(np.pad(psf, pad), sigma, mode="constant")
        return psf / psf.sum()

    def _frame(self, c: int) -> tuple[np.ndarray, np.ndarray, int]:
        """Blur one random sharp frame; return (noisy counts, clean counts, class)."""
        import torch

        from ...optics import blur

        i = int(self.rng.integers(len(self.sharp)))
        z = float(self.levels[c])
        clean = (
            self.sharp[i]
            if z == 0
            else blur(torch.from_numpy(self.sharp[i]), self._psf(z)).numpy().clip(0, None)
        )
        if self.forward == "paper":  # Poisson noise on the 16-bit counts (eq. 1)
            counts = self.rng.poisson(clean + self.dark[i]).astype(np.float32)
            return counts, clean.astype(np.float32), c
        photons = float(np.exp(self.rng.uniform(np.log(200), np.log(5000))))
        gain = photons / self.q[i]
        noisy = self.rng.poisson(clean * gain).astype(np.float32)
        noisy += self.rng.normal(0, self.rng.uniform(1, 5), noisy.shape).astype(np.float32)
        offset = self.rng.uniform(90, 130)
        return noisy / gain + offset, clean.astype(np.float32), c

    def refresh(self, n: int = 1) -> None:
        """Replace ``n`` random pool frames by new ones of the same level."""
        for _ in range(n):
            c = int(self.rng.integers(len(self.frames)))
            k = int(self.rng.integers(len(self.frames[c])))
            self.frames[c][k] = self._frame(c)

    def batch(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return ``n`` normalised patches, class labels (bg = len(levels)), z in µm."""
        p = self.patch
        x = np.empty((n, p, p), np.float32)
        y = np.empty(n, np.int64)
        for k in range(n):
            pool = self.frames[int(self.rng.integers(len(self.frames)))]
            noisy, clean, c = pool[int(self.rng.integers(len(pool)))]
            h, w = noisy.shape
            r, s = int(self.rng.integers(h - p + 1)), int(self.rng.integers(w - p + 1))
            patch = noisy[r : r + p, s : s + p]
            cp = clean[r : r + p, s : s + p]
            bg = (patch.max() < BG_MAX and np.ptp(patch) < BG_RANGE) or np.ptp(cp) < BG_RANGE
            x[k], y[k] = patch, len(self.levels) if bg else c
        z = np.where(
            y < len(self.levels),
            self.levels[np.minimum(y, len(self.levels) - 1)],
            np.nan,
        )
        return normalise(x), y, z


def soft_labels(n_levels: int, n_classes: int, sigma: float) -> Any:
    """Row ``c``: target distribution of class ``c`` (Gaussian over levels, bg one-hot)."""
    import torch

    t = torch.eye(n_classes)
    if sigma > 0:
        i = torch.arange(n_levels, dtype=torch.float32)
        g = torch.exp(-((i[None] - i[:, None]) ** 2) / (2 * sigma**2))
        t[:n_levels, :n_levels] = g / g.sum(-1, keepdim=True)
    return t


def patch_metrics(
    model: Any, gen: SyntheticDefocus, n: int, *, device: str = "cpu", batch: int = 256
) -> dict[str, Any]:
    """Exact-level and ±2 µm accuracy, bg accuracy and confusion on ``n`` patches."""
    import torch

    model.eval()
    nl = len(gen.levels)
    ys, preds, zs, zh = [], [], [], []
    with torch.inference_mode():
        for k in range(0, n, batch):
            x, y, z = gen.batch(min(batch, n - k))
            gen.refresh(8)
            logits = model(torch.from_numpy(x)[:, None].to(device)).float()
            zhat, _, _ = model.expected_um(logits)
            ys.append(y)
            preds.append(logits.argmax(-1).cpu().numpy())
            zs.append(z)
            zh.append(zhat.cpu().numpy())
    y, p, z, zhat = map(np.concatenate, (ys, preds, zs, zh))
    if not model.config.background_class:  # no "bg" output: judge foreground only
        keep = y < nl
        y, p, z, zhat = y[keep], p[keep], z[keep], zhat[keep]
        n = int(keep.sum())
    n_cls = model.config.n_classes
    conf = np.zeros((n_cls, n_cls), np.int64)
    np.add.at(conf, (np.minimum(y, n_cls - 1), p), 1)
    fg = y < nl
    fg_pred = fg & (p < nl)
    return {
        "n_patches": int(n),
        "foreground_patches": int(fg.sum()),
        "accuracy_exact": float((p == y).mean()),
        "foreground_accuracy_exact": float((p[fg] == y[fg]).mean()),
        "foreground_within_2um": float((np.abs(zhat[fg] - z[fg]) <= 2.0001).mean()),
        "foreground_called_bg": float((fg & ~fg_pred).sum() / max(fg.sum(), 1)),
        "foreground_mae_um": float(np.abs(zhat[fg] - z[fg]).mean()),
        "bg_accuracy": float((p[~fg] == nl).mean()) if (~fg).any() else None,
        "confusion": conf.tolist(),
    }


def train_delpnet(
    data_dir: str | Path | None = None,
    out: str | Path = "models/delpnet",
    *,
    steps: int = 12000,
    minutes: float | None = None,
    seed: int = 0,
    levels_um: list[float] | None = None,
    device: str = "auto",
    progress: bool = True,
    background_class: bool = True,
    width: int = 16,
    batch: int = 64,
    lr: float = 2e-3,
    bf16: bool = True,
    label_sigma: float = 0.5,
    forward: str = "born_wolf",
    p_smooth: float = 0.8,
) -> dict[str, Any]:
    """Train DelpNet for ``steps`` steps, save weights + card, return metrics.

    On one CPU thread with a fixed seed the run is reproducible step for step.

    Parameters
    ----------
    data_dir : path, optional
        Folder of in-focus images; ``a07`` is held out for validation.
    out : path
        Output stem: writes ``out.safetensors`` and ``out.json``.
    steps : int
        Optimisation steps (the learning rate decays over them).
    minutes : float, optional
        Stop earlier once this wall time is spent (then not reproducible).
    seed : int
        Seed of the initialisation and of the data stream.
    levels_um : list of float, optional
        Class levels; default 0, 2, ..., 40 µm.
    device : {"auto", "cpu", "cuda"}
        Where to train; on CPU one thread is used.
    background_class : bool
        Add the "bg" class (paper section 3.2).
    bf16 : bool
        bfloat16 autocast (CPU and CUDA).
    label_sigma : float
        Width, in level steps, of the Gaussian soft labels over neighbouring levels
        (ordinal classes; 0 gives one-hot cross-entropy as in the paper).
    forward : {"mixture", "born_wolf", "paper"}
        Training forward model (:class:`SyntheticDefocus`); validation uses the same.
    p_smooth : float
        With ``"mixture"``: share of Born–Wolf frames given extra Gaussian smoothing.
    """
    import torch
    import torch.nn.functional as F

    from ...nets import DelpNet, DelpNetConfig
    from ...optics import BBBC006_OPTICS, FAMILY_RANGES
    from ...weights import ModelCard, save_weights

    _check_forward(forward)
    dev = resolve_device(device)
    if dev == "cpu":
        torch.set_num_threads(1)
    torch.manual_seed(seed)
    train_p, val_p = split_by_image(in_focus_paths(data_dir), (DEFAULT_VAL_IMAGE,))
    levels = [float(z) for z in (levels_um or range(0, 41, 2))]
    cfg = DelpNetConfig(levels_um=tuple(levels), background_class=background_class, width=width)
    gen = SyntheticDefocus(
        load_in_focus(train_p), levels, seed=seed, forward=forward, p_smooth=p_smooth
    )
    model = DelpNet(config=cfg).to(dev).to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    nl, t0, step = len(levels), time.perf_counter(), 0
    budget = np.inf if minutes is None else minutes * 60.0
    soft = soft_labels(nl, cfg.n_classes, label_sigma)
    losses: list[float] = []
    while step < steps and (elapsed := time.perf_counter() - t0) < budget:
        for g in opt.param_groups:  # cosine decay over the steps
            g["lr"] = lr * (0.02 + 0.98 * 0.5 * (1 + np.cos(np.pi * step / steps)))
        x, y, _ = gen.batch(batch)
        gen.refresh(2)
        if not background_class:  # paper's ablation: bg patches are dropped
            x, y = x[y < nl], y[y < nl]
        xt = torch.from_numpy(x)[:, None].to(dev).contiguous(memory_format=torch.channels_last)
        model.train()
        with torch.autocast(dev, dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(model(xt).float(), soft[torch.from_numpy(y)].to(dev))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        step += 1
        if progress and step % 100 == 0:
            print(
                f"step {step} {elapsed / 60:.1f} min loss {np.mean(losses[-100:]):.3f}",
                flush=True,
            )
    train_s = time.perf_counter() - t0
    model = model.to(memory_format=torch.contiguous_format)
    val_gen = SyntheticDefocus(
        load_in_focus(val_p), levels, seed=seed + 1000, forward=forward, p_smooth=p_smooth
    )
    metrics = patch_metrics(model, val_gen, 3000, device=dev)
    metrics.update(
        steps=step,
        train_seconds=round(train_s, 1),
        final_loss=float(np.mean(losses[-100:])),
    )
    card = {
        "architecture": "DelpNet",
        "config": cfg.model_dump(mode="json"),
        "paper": "DelpNet/AWDVD, sections 2.1-2.2 (7 conv + BN(0.6) + dropout + GMP)",
        "optics": BBBC006_OPTICS.model_dump(mode="json"),
        "levels_um": levels,
        "classes": cfg.class_names,
        "bg_rule_16bit": {"max_below": BG_MAX, "range_below": BG_RANGE},
        "training_data": {
            "train": [p.name for p in train_p],
            "val": [p.name for p in val_p],
            "forward_model": forward,
            "forward_model_detail": {
                "mixture": "p=0.5 pupil-function family (FAMILY_RANGES: "
                f"{FAMILY_RANGES.model_dump(mode='json')}); else Born-Wolf, NA "
                f"0.485-0.515, p={p_smooth} extra Gaussian sigma U(0,0.8)+z*U(0,0.25) px; "
                + _CAMERA,
                "born_wolf": "Born-Wolf; " + _CAMERA,
                "paper": "Born-Wolf; Poisson noise on the 16-bit counts (paper section 2.1)",
            }[forward],
        },
        "seed": seed,
        "label_sigma_levels": label_sigma,
        "command": f"scope-deblur train delpnet --data <in_focus> --steps {steps} "
        f"--seed {seed} --max-um {levels[-1]:g} --forward {forward}"
        f"{'' if background_class else ' --no-bg'} --out {out}",
        "batch": batch,
        "lr": lr,
        "bf16_autocast": bf16,
        "training_time_s": round(train_s, 1),
        "device": dev,
        "torch": torch.__version__,
        "validation": metrics,
    }
    if progress:
        print({k: v for k, v in metrics.items() if k != "confusion"}, flush=True)
    save_weights(model, out, ModelCard.model_validate(card))
    return metrics


"""Twelve real BBBC006 frames about 32 µm from focus (plane z00)."""


def _summary(values: list[float | None]) -> dict[str, Any]:
    v = np.array([np.nan if x is None else x for x in values], dtype=float)
    ok = v[np.isfinite(v)]
    stats = (
        {"min": float(ok.min()), "median": float(np.median(ok)), "max": float(ok.max())}
        if ok.size
        else {}
    )
    return {
        "values": [None if not np.isfinite(x) else round(float(x), 2) for x in v],
        "n_none": int((~np.isfinite(v)).sum()),
        **stats,
    }


def evaluate_delpnet(
    weights: str | Path = "delpnet",
    *,
    seed: int = 0,
    n_patches: int = 3000,
    data_dir: str | Path | None = None,
    real_dir: str | Path | None = REAL_Z00_DIR,
    device: str = "auto",
) -> dict[str, Any]:
    """Evaluate DelpNet weights on held-out synthetic patches and on real frames.

    Returns
    -------
    dict
        ``synthetic_randomised`` and ``synthetic_born_wolf``: :func:`patch_metrics` on
        the held-out image (a07) under the randomised optics (``"mixture"``) and under
        plain Born–Wolf; ``frames_held_out``: :func:`frame_accuracy` of whole frames
        of a07, dense and sparse; ``real_z00``: frame estimates (µm) of the real defocused
        images; ``real_in_focus``: estimates of the six in-focus images (a07 is held
        out, the others were used for training).
    """
    from ...estimation import DelpNetEstimator
    from ...io import read_image

    est = DelpNetEstimator(weights, device=resolve_device(device))
    paths = in_focus_paths(data_dir)
    _, val = split_by_image(paths, (DEFAULT_VAL_IMAGE,))
    sharp = load_in_focus(val)
    out: dict[str, Any] = {"weights": str(weights), "seed": seed, "classes": est.config.class_names}
    for key, forward in (("synthetic_randomised", "mixture"), ("synthetic_born_wolf", "born_wolf")):
        gen = SyntheticDefocus(sharp, est.config.levels_um, seed=seed, forward=forward)
        out[key] = patch_metrics(est.model, gen, n_patches, device=est.device)
    out["frames_held_out"] = frame_accuracy(est, sharp[0], seed=seed)
    real = sorted(Path(real_dir).glob("*.tif")) if real_dir else []
    out["real_z00"] = _summary([est.estimate(read_image(p)).defocus_um for p in real])
    out["real_in_focus"] = _summary([est.estimate(read_image(p)).defocus_um for p in paths])
    out["real_in_focus"]["files"] = [p.name for p in paths]
    return out


def frame_accuracy(
    estimator: Any, image: np.ndarray, *, seed: int = 0, step_um: float = 1.0
) -> dict[str, Any]:
    """Whole-frame estimates of ``image`` as dense and sparse fields, as the product sees them.

    Fields: the image, and sparse fields of 8 and 3 of its nuclei
    (:func:`~scope_deblur.lab.fields.sparse_field`); each blurred by plain Born–Wolf at
    0-40 µm every ``step_um``, with a camera of 200-3000 photons at the 99.9th
    percentile (log-uniform, seeded) and read noise 2.

    Returns
    -------
    dict
        Per field and overall: ``within_2um`` (share of frames estimated within ±2 µm),
        ``mae_um`` and ``in_focus_max_um`` (the largest estimate at 0 µm).
    """
    import torch

    from ...optics import defocus
    from ..fields import sparse_field

    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(int(seed))
    fields = {
        "dense": image,
        "sparse 8": sparse_field(image, 8, seed + 1),
        "sparse 3": sparse_field(image, 3, seed),
    }
    depths = np.arange(0.0, 40.0 + 1e-9, step_um)
    errors: dict[str, list[float]] = {}
    in_focus: dict[str, float] = {}
    for name, field in fields.items():
        src = torch.from_numpy(np.ascontiguousarray(field, dtype=np.float32))
        errors[name] = []
        for z in depths:
            photons = float(np.exp(rng.uniform(np.log(200.0), np.log(3000.0))))
            frame = defocus(src, float(z), photons=photons, read_noise=2.0, generator=gen)
            got = estimator.estimate(frame.numpy()).defocus_um
            err = float("inf") if got is None else got - float(z)
            errors[name].append(err)
            if z == 0:
                in_focus[name] = float("inf") if got is None else got

    def stats(errs: list[float], focus: list[float]) -> dict[str, float]:
        e = np.abs(np.asarray(errs))
        return {
            "within_2um": round(float(np.mean(e <= 2.0)), 4),
            "mae_um": round(float(np.mean(e)), 3),
            "in_focus_max_um": round(max(focus), 2),
        }

    out: dict[str, Any] = {k: stats(v, [in_focus[k]]) for k, v in errors.items()}
    out["all"] = stats([e for v in errors.values() for e in v], list(in_focus.values()))
    out["frames"] = sum(len(v) for v in errors.values())
    return out
