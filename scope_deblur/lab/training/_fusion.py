"""Train the fusion U-Net on on-the-fly synthetic defocus from a randomised forward-model family.

Each step draws crops of the training in-focus images (by-image split: a02-a06 train,
a07 held out), a defocus ``z ~ U(0, 40) µm`` per crop, a PSF from the family of
:mod:`scope_deblur.optics._family` (Born–Wolf with random aberrations, apodisation
and Gaussian smoothing; a fraction stays plain Born–Wolf), and camera noise
(300-3000 photons at the 99.9th percentile, read noise 1-4, offset ~100, background).
A bank of PSFs is drawn at the start and one member is redrawn every step, so the
family is sampled on the fly at a bounded cost.

Inputs are normalised per crop, ``(x − p1) / (p99.9 − p1)``; targets (sharp image in
the same units: offset and background kept, blur removed) use the input's map. A
conditioned model also gets the crop's defocus, jittered by ``Z_JITTER_UM`` so that
it learns to live with the estimator's error; a ``wiener`` model also gets the crop
Wiener-deconvolved by the nominal Born–Wolf PSF at that jittered defocus (the
planes are built by :func:`scope_deblur.restoration.input_planes`, as at
inference).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ...restoration import (
    RL_TV_WEIGHT,
    WIENER_BALANCE,
    Z_STEP_UM,
    FusionRestorer,
    input_planes,
    normalise,
)
from ._data import DEFAULT_VAL_IMAGE, well_of

if TYPE_CHECKING:
    from ...optics import PsfParams

__all__ = ["add_error_floor", "measure_error_floor", "sample_pairs", "train_fusion"]

CROP = 128
BATCH = 8
Z_MAX = 40.0
P_PLAIN = 0.2  # fraction of plain Born–Wolf PSFs in the bank
BANK = 96
Z_JITTER_UM = 2.0  # σ of the defocus fed to a conditioned model (DelpNet's MAE ~2.6 µm)
KNOWN_Z_JITTER_UM = 1.5  # the same for half the crops of a known-optics (RL plane) model
FLOOR_PHOTONS = 20000.0  # nearly noise-free in-focus frames measure the network's error floor


def _draw_psf(
    rng: np.random.Generator, z_range: tuple[float, float] | None = None
) -> tuple[float, PsfParams, np.ndarray]:
    """Return one bank entry: defocus, family member (plain Born–Wolf: defaults), PSF."""
    from ...optics import born_wolf_psf
    from ...optics._family import PsfParams, pupil_psf, sample_params

    if z_range is None:  # the whole range, with some in-focus crops
        z = 0.0 if rng.random() < 0.08 else float(rng.uniform(0, Z_MAX))
    else:  # a per-level specialist
        z = float(rng.uniform(*z_range))
    if rng.random() < P_PLAIN:
        params, psf = PsfParams(), born_wolf_psf(z)
    else:
        params = sample_params(z, rng)
        psf = pupil_psf(z, params)
    return z, params, np.asarray(psf, dtype=np.float32)


def _oriented(psf: np.ndarray, turn: int, flip: bool) -> np.ndarray:
    """Return ``psf`` as a crop saw it: rotated by ``turn`` quarter turns, then flipped."""
    out = np.rot90(psf, turn)
    return np.ascontiguousarray(out[::-1] if flip else out)


def _known_psfs(bank: list, picks: list, z_fed: np.ndarray) -> list[np.ndarray]:
    """Return the PSF an optics profile would give for each crop, at the defocus fed.

    The profile is the crop's own family member (known optics), oriented as the crop;
    where the defocus fed is the true one, that is the very PSF that blurred it.
    """
    from ...optics import OpticsProfile

    out = []
    for (i, turn, flip), z in zip(picks, z_fed, strict=True):
        z_true, params, psf = bank[i]
        if abs(float(z) - z_true) > 1e-4:
            psf = OpticsProfile(psf_params=params).psf(float(z))
        out.append(_oriented(psf, turn, flip))
    return out


def _sample(images, bank, rng) -> tuple[np.ndarray, np.ndarray, np.ndarray, list]:
    """Return one batch: inputs, targets (normalised by the input), defocus µm, picks.

    A pick is a crop's bank index, quarter turns and flip (its PSF's orientation).
    """
    import torch

    from ...optics import blur
    from ...optics._family import camera

    xs, ys, zs, picks = [], [], [], []
    for _ in range(BATCH):
        i = int(rng.integers(len(images)))
        img, off, q = images[i]
        b = int(rng.integers(len(bank)))
        z, _, psf = bank[b]
        zs.append(z)
        turn = int(rng.integers(4))
        psf = _oriented(psf, turn, False)
        m = psf.shape[0] // 2
        h, w = img.shape
        side = CROP + 2 * m
        y0 = int(rng.integers(0, max(h - side, 0) + 1))
        x0 = int(rng.integers(0, max(w - side, 0) + 1))
        big = img[y0 : y0 + side, x0 : x0 + side] - off  # background-free signal
        blurred = blur(torch.from_numpy(np.ascontiguousarray(big)), psf).numpy()
        c = slice(m, m + CROP) if big.shape[0] >= side else slice(0, CROP)
        d = slice(m, m + CROP) if big.shape[1] >= side else slice(0, CROP)
        noisy_big = camera(blurred, rng, scale_q=q)
        extra = float(np.median(noisy_big - np.clip(blurred, 0, None)))  # offset + bg
        noisy, sharp = noisy_big[c, d], big[c, d] + extra
        flip = bool(rng.random() < 0.5)
        if flip:
            noisy, sharp = noisy[::-1], sharp[::-1]
        picks.append((b, turn, flip))
        lo, s = normalise(noisy)
        xs.append((noisy - lo) / s)
        ys.append((sharp - lo) / s)
    x, y = (np.stack(a)[:, None].astype(np.float32) for a in (xs, ys))
    return x, y, np.asarray(zs, np.float32), picks


def sample_pairs(
    data_dir: str | Path | None, n: int, *, val_image: str = DEFAULT_VAL_IMAGE, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Return ``n`` training pairs drawn as :func:`train_fusion` draws them.

    ``(n, 128, 128)`` blurred crops of every image but ``val_image`` and their sharp
    targets, both normalised by the blurred crop's map: data for a peer.
    """
    rng = np.random.default_rng(seed)
    train, _ = _load(data_dir, val_image)
    bank = [_draw_psf(rng) for _ in range(BANK)]
    xs, ys = [], []
    for step in range(-(-n // BATCH)):
        bank[step % BANK] = _draw_psf(rng)
        x, y, _, _ = _sample(train, bank, rng)
        xs.append(x[:, 0])
        ys.append(y[:, 0])
    return np.concatenate(xs)[:n], np.concatenate(ys)[:n]


def measure_error_floor(
    weights: str | Path, images: list[np.ndarray], *, device: str = "cpu", seed: int = 0
) -> float:
    """Return a fusion network's error on in-focus frames: its ``error_floor``.

    Each image gets ``FLOOR_PHOTONS`` photons at its 99.9th percentile and read noise 2
    (seeded), is restored at 0 µm, and scored by the mean square error against the
    image in the frame's normalised units; the median over images is returned.
    """
    import torch

    from ...optics import defocus

    restorer = FusionRestorer(str(weights), device=device)
    gen = torch.Generator().manual_seed(seed)
    errors = []
    for sharp in images:
        frame = defocus(
            torch.from_numpy(sharp), 0.0, photons=FLOOR_PHOTONS, read_noise=2.0, generator=gen
        ).numpy()
        scale = normalise(frame)[1]
        out = restorer.restore_full(frame, 0.0)
        errors.append(float(np.mean(np.square((out - sharp) / scale), dtype=np.float64)))
    return float(np.median(errors))


def add_error_floor(
    weights: str | Path, data_dir: str | Path | None = None, images: list | None = None
) -> float:
    """Measure ``error_floor`` on the training images and write it into the card.

    ``images`` are the training images when already loaded; else they are read from
    ``data_dir``.
    """
    import json

    from ...weights import resolve

    if images is None:
        images = [im for im, _, _ in _load(data_dir)[0]]
    floor = measure_error_floor(weights, images)
    card_path = resolve(weights).with_suffix(".json")
    card = json.loads(card_path.read_text())
    card["error_floor"] = floor
    card["error_floor_measured"] = (
        f"median MSE (normalised units) of the network on the {len(images)} training images "
        f"in focus, {FLOOR_PHOTONS:g} photons, read noise 2, seed 0 "
        "(scope_deblur.lab.training.measure_error_floor); sets the fidelity blend"
    )
    card_path.write_text(json.dumps(card, indent=2, default=str) + "\n")
    return floor


def _paths(data_dir: str | Path | None, val_image: str) -> tuple[list[Path], list[Path]]:
    from ._data import in_focus_paths, split_by_image

    return split_by_image(in_focus_paths(data_dir), (val_image,))


def _load(data_dir: str | Path | None, val_image: str = DEFAULT_VAL_IMAGE) -> tuple[list, list]:
    from ._data import load_in_focus

    train_p, val_p = _paths(data_dir, val_image)
    out = []
    for paths in (train_p, val_p):
        ims = load_in_focus(paths)
        out.append(
            [
                (
                    im,
                    float(np.percentile(im, 1)),
                    float(np.percentile(im, 99.9) - np.percentile(im, 1)),
                )
                for im in ims
            ]
        )
    return out[0], out[1]


def train_fusion(
    data_dir: str | Path | None,
    out: str | Path,
    *,
    minutes: float = 32.0,
    steps: int | None = None,
    seed: int = 0,
    n_scales: int = 3,
    fusion: str = "sum",
    base_width: int = 16,
    depth: int = 3,
    conditioned: bool = False,
    wiener: bool = False,
    rl_plane: bool = False,
    rl_iterations: int = 30,
    z_range: tuple[float, float] | None = None,
    init: str | Path | None = None,
    device: str = "auto",
    progress: bool = True,
    lr: float = 2e-3,
    threads: int | None = None,
    val_image: str = DEFAULT_VAL_IMAGE,
) -> dict[str, Any]:
    """Train a :class:`FusionUNet` and save it to ``out``.

    Every in-focus image of ``data_dir`` but ``val_image`` (a well name such as
    ``a07``) is a training image.

    With ``steps`` the run is exactly reproducible (same seed, same steps); otherwise
    it trains for ``minutes`` of wall time. ``threads`` sets torch's CPU threads.
    ``z_range`` trains a per-level specialist on defocus drawn uniformly from it
    (default: 0-40 µm, 8 % in focus). ``rl_plane`` trains a known-optics model (its
    RL plane uses each crop's own PSF at the defocus fed). ``init`` starts from the
    weights of a model with the same tensor shapes (fine-tuning). Returns the model
    card (also written beside the weights).
    """
    import torch

    from ..._device import describe_device, resolve_device
    from ...nets.fusion_unet import FusionUNet, FusionUNetConfig, multiscale_l1
    from ...optics import BBBC006_OPTICS
    from ...optics._family import FAMILY_RANGES
    from ...weights import ModelCard, load_state_dict, save_weights

    dev = torch.device(resolve_device(device))
    if dev.type == "cpu" and threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    train, _val = _load(data_dir, val_image)
    config = FusionUNetConfig(
        n_scales=n_scales,
        fusion=fusion,
        base_width=base_width,
        depth=depth,
        conditioned=conditioned,
        wiener=wiener,
        rl_plane=rl_plane,
        rl_iterations=rl_iterations,
    )
    model = FusionUNet(config=config)
    init_sha = None
    if init is not None:
        init_sha = load_state_dict(init, model)[1].sha256
    model = model.to(dev).to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    jitter = KNOWN_Z_JITTER_UM if rl_plane else Z_JITTER_UM
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    bank = [_draw_psf(rng, z_range) for _ in range(BANK)]
    budget = minutes * 60.0
    t0 = time.perf_counter()
    step, losses, log = 0, [], []
    amp = dev.type == "cpu" or dev.type == "cuda"

    def progress_fraction(elapsed: float) -> float:
        return step / steps if steps else elapsed / budget

    while (frac := progress_fraction(elapsed := time.perf_counter() - t0)) < 1.0:
        for g in opt.param_groups:  # warm-up then cosine decay over wall time
            g["lr"] = lr * min(1.0, (step + 1) / 200) * 0.5 * (1 + np.cos(np.pi * frac))
        bank[step % BANK] = _draw_psf(rng, z_range)
        x, y, z, picks = _sample(train, bank, rng)
        if config.needs_defocus:
            fed = np.clip(z + rng.normal(0, jitter, z.shape), 0, Z_MAX)
            # known optics: half the crops get the true defocus (as in a calibrated
            # z-stack), half DelpNet-like error; computing their PSFs is the cost.
            z = np.where(rng.random(z.shape) < 0.5, z, fed) if rl_plane else fed
        psfs = _known_psfs(bank, picks, z) if rl_plane else None
        x = input_planes(x[:, 0], z, config, psfs=psfs)
        xt = torch.from_numpy(x).to(dev).to(memory_format=torch.channels_last)
        yt = torch.from_numpy(y).to(dev)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp):
            outs = model.forward_scales(xt)
        loss = multiscale_l1(outs, yt)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        step += 1
        if step % 100 == 0:
            entry = {
                "step": step,
                "minutes": round(elapsed / 60, 2),
                "loss": float(np.mean(losses[-100:])),
                "threads": torch.get_num_threads(),
            }
            log.append(entry)
            if progress:
                print(entry, flush=True)
    flags = " --conditioned" * conditioned + " --wiener" * wiener + " --rl-plane" * rl_plane
    flags += f" --rl-iterations {rl_iterations}" if rl_iterations != 30 else ""
    flags += f" --width {base_width}" if base_width != FusionUNetConfig().base_width else ""
    flags += f" --z-range {z_range[0]:g},{z_range[1]:g}" if z_range else ""
    flags += f" --init {init}" if init is not None else ""
    flags += f" --lr {lr:g}" if lr != 2e-3 else ""
    flags += f" --val-image {val_image}" if val_image != DEFAULT_VAL_IMAGE else ""
    budget_flag = f"--steps {steps}" if steps else f"--minutes {minutes}"
    card = {
        "architecture": "FusionUNet",
        "command": (  # the CLI trains the default architecture only
            f"scope-deblur train fusion --data <in_focus> --out {out} {budget_flag} "
            f"--seed {seed}{flags} --threads {torch.get_num_threads()}"
            if config
            == FusionUNetConfig(
                conditioned=conditioned,
                wiener=wiener,
                rl_plane=rl_plane,
                rl_iterations=rl_iterations,
                base_width=base_width,
            )
            else None
        ),
        "config": config.model_dump(),
        "paper": "Multi-scale U-Net with head-to-tail feature fusion (seed paper), eq. 3-8",
        "optics": BBBC006_OPTICS.model_dump(),
        "forward_model_family": {
            **FAMILY_RANGES.model_dump(),
            "p_plain_born_wolf": P_PLAIN,
            "z_um": list(z_range) if z_range else [0.0, Z_MAX],
            "p_z0": None if z_range else 0.08,
            "psf_bank": BANK,
            "z_jitter_um": jitter if config.needs_defocus else None,
            "wiener_plane": (
                {
                    "psf": "Born-Wolf, nominal optics",
                    "z_step_um": Z_STEP_UM,
                    "balance": WIENER_BALANCE,
                }
                if wiener
                else None
            ),
            "rl_plane": (
                {
                    "psf": "the crop's own family member at the defocus fed (known optics)",
                    "p_true_defocus": 0.5,
                    "iterations": config.rl_iterations,
                    "tv_weight": RL_TV_WEIGHT,
                }
                if rl_plane
                else None
            ),
        },
        "normalisation": "per frame: (x - p1) / (p99.9 - p1); output mapped back to input units",
        "training": {
            "data": [p[0].shape for p in train],
            "val_image": val_image,
            "train_images": [well_of(p) for p in _paths(data_dir, val_image)[0]],
            "crop": CROP,
            "batch": BATCH,
            "steps": step,
            "minutes": round((time.perf_counter() - t0) / 60, 2),
            "budget": f"{steps} steps" if steps else f"{minutes} min wall time",
            "seed": seed,
            "init": None if init is None else {"weights": str(init), "sha256": init_sha},
            "lr": lr,
            "optimizer": "Adam, warm-up 200 steps + cosine decay",
            "autocast": "bf16" if amp else "fp32",
            "device": str(dev),
            "hardware": describe_device(str(dev)),
            "threads": torch.get_num_threads(),
            "final_loss": float(np.mean(losses[-100:])) if losses else None,
            "log": log,
        },
        "n_params": sum(p.numel() for p in model.parameters()),
    }
    model = model.to("cpu").to(memory_format=torch.contiguous_format)
    path = save_weights(model, out, ModelCard.model_validate(card))
    card["error_floor"] = add_error_floor(path, images=[im for im, _, _ in train])
    return card
