"""Train M-Deblurgan's generator: defocused, 2×2-binned frames to sharp full-resolution ones.

Pairs are made on the fly from the in-focus training images (by-image split: a02-a06
train, a07 held out), as a low-magnification objective or a binning camera sees
them:

1. a crop of the in-focus image (0.645 µm pixels) is blurred at full resolution by a
   member of the forward-model family at a defocus ``z ~ U(0, 40)`` µm (8 % in focus,
   20 % plain Born–Wolf; the PSF bank of ``train fusion``);
2. it is binned 2×2, the sum of each 2×2 block (1.29 µm pixels), and the camera
   noise of a binned camera is added once per binned pixel (on-chip binning: shot
   noise of the summed charge, one read noise, one offset;
   :func:`scope_deblur.optics.camera` at 300-3000 photons at the full-resolution
   99.9th percentile, so about four times that per binned pixel);
3. the input is the binned frame normalised per frame, ``(x − p1) / (p99.9 − p1)``;
   the target is the in-focus crop at full resolution in the same map, as intensity
   per binned-pixel area (``4 × sharp + offset and background``), so that the mean of
   each 2×2 block of the target is the sharp binned frame (the deblurring module's
   target). The restorer divides by 4: each output pixel holds its share of the flux.

Loss (the paper's MSE, perceptual and SSIM terms, §2.2; no adversarial term)::

    L = rMSE(G(x), y) + ½·rMSE(G1(x), y_lr) + α·L_percep(G(x), y) + β·(1 − SSIM(G(x), y))

``rMSE`` (ours) is each crop's MSE divided by that of the input itself (bilinearly
up-sampled for ``y``), averaged over the batch: a plain MSE is dominated by the
strongly defocused crops, whose errors are a hundred times those near focus, and a
first run so trained lost 5-10 dB to bicubic up-sampling at 0-4 µm while it gained at
20-35 µm. Relative to the input, every depth counts alike (as PSNR gains do).

``L_percep`` compares features of the shipped DelpNet (frozen; :data:`PERCEPTUAL_LAYERS`)
in place of ImageNet VGG-19's, which cannot be had here: a CNN trained on these very
images to tell defocus levels apart, so its features respond to blur. SSIM uses
skimage's default 7×7 uniform window (the metrics rule's).
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ...restoration import normalise
from ._fusion import BANK, P_PLAIN, Z_MAX, _draw_psf, _load

__all__ = [
    "BINNING",
    "bin_sum",
    "per_crop",
    "perceptual_features",
    "ssim_torch",
    "train_mdeblurgan",
]

BINNING = 2
CROP = 96
"""Side of a binned input crop (the target is 2× that)."""
BATCH = 8
PSFS_PER_BATCH = 2
PERCEPTUAL_LAYERS = (2, 4)
"""DelpNet conv blocks whose outputs the perceptual loss compares (after each of its
first two stride-2 blocks, as the paper takes VGG-19's features after its poolings)."""
ALPHA, BETA, LR_WEIGHT = 0.03, 0.25, 0.5
NORMALISATION = (
    "input per frame: (x - p1) / (p99.9 - p1); target in the same map as intensity per binned "
    "pixel; the restorer maps back and divides by 4 (flux per output pixel)"
)


def bin_sum(image: np.ndarray, factor: int = BINNING) -> np.ndarray:
    """Return ``image`` binned ``factor``×``factor``: the sum of each block (flux kept).

    Rows and columns beyond a multiple of ``factor`` are dropped.
    """
    h, w = (s - s % factor for s in image.shape[-2:])
    x = np.asarray(image, dtype=np.float32)[..., :h, :w]
    return x.reshape(*x.shape[:-2], h // factor, factor, w // factor, factor).sum(axis=(-3, -1))


def _sample(
    images: Sequence[tuple[np.ndarray, float, float]], bank: list, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return one batch: binned inputs, full-resolution targets, binned sharp targets.

    The batch is cut in :data:`PSFS_PER_BATCH` groups, each blurred by one bank member
    in one batched FFT; each crop is turned and flipped at random before the blur.
    """
    import torch

    from ...optics import blur, camera

    hr = BINNING * CROP
    xs, ys, ls = [], [], []
    for group in np.array_split(np.arange(BATCH), PSFS_PER_BATCH):
        _, _, psf = bank[int(rng.integers(len(bank)))]
        m = psf.shape[0] // 2
        side = hr + 2 * m
        bigs, picks = [], []
        for _ in group:
            img, off, q = images[int(rng.integers(len(images)))]
            y0 = int(rng.integers(0, img.shape[0] - side + 1))
            x0 = int(rng.integers(0, img.shape[1] - side + 1))
            big = np.rot90(img[y0 : y0 + side, x0 : x0 + side] - off, int(rng.integers(4)))
            bigs.append(np.ascontiguousarray(big[::-1] if rng.random() < 0.5 else big))
            picks.append(q)
        blurred = blur(torch.from_numpy(np.stack(bigs)), psf).numpy()[:, m:-m, m:-m]
        for big, b, q in zip(bigs, blurred, picks, strict=True):
            sharp = big[m:-m, m:-m]
            binned = bin_sum(b)
            noisy = camera(binned, rng, scale_q=q)
            extra = float(np.median(noisy - np.clip(binned, 0, None)))  # offset + background
            lo, s = normalise(noisy)
            xs.append((noisy - lo) / s)
            ys.append((BINNING**2 * sharp + extra - lo) / s)
            ls.append((bin_sum(sharp) + extra - lo) / s)
    return tuple(np.stack(a)[:, None].astype(np.float32) for a in (xs, ys, ls))  # type: ignore[return-value]


def per_crop(a: Any, b: Any) -> Any:
    """Return the mean square difference of each crop of two ``(B, 1, H, W)`` batches."""
    return (a - b).square().mean(dim=(1, 2, 3))


def ssim_torch(x: Any, y: Any, window: int = 7) -> Any:
    """Return the mean SSIM of two ``(B, 1, H, W)`` batches (skimage's defaults, range 1)."""
    import torch.nn.functional as F

    c1, c2 = 0.01**2, 0.03**2
    pool = lambda t: F.avg_pool2d(t, window, stride=1)  # noqa: E731
    mx, my = pool(x), pool(y)
    n = window * window
    cov = n / (n - 1)  # skimage's sample covariance
    vx = cov * (pool(x * x) - mx * mx)
    vy = cov * (pool(y * y) - my * my)
    vxy = cov * (pool(x * y) - mx * my)
    s = ((2 * mx * my + c1) * (2 * vxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return s.mean()


def perceptual_features(device: str = "cpu") -> Any:
    """Return the frozen feature extractor of the perceptual loss: the shipped DelpNet's.

    A function of a ``(B, 1, H, W)`` batch that returns the outputs of its conv blocks
    :data:`PERCEPTUAL_LAYERS`.
    """
    import torch

    from ...nets import DelpNet
    from ...weights import build_model, load_card, load_state_dict

    net = build_model(load_card("delpnet"))
    assert isinstance(net, DelpNet)
    load_state_dict("delpnet", net)
    net = net.eval().to(device)
    for p in net.parameters():
        p.requires_grad_(False)
    blocks = list(net.features)

    def features(x: torch.Tensor) -> list[torch.Tensor]:
        out = []
        for i, block in enumerate(blocks[: max(PERCEPTUAL_LAYERS)], start=1):
            x = block(x)
            if i in PERCEPTUAL_LAYERS:
                out.append(x)
        return out

    return features


def train_mdeblurgan(
    data_dir: str | Path | None,
    out: str | Path,
    *,
    minutes: float | None = 50.0,
    steps: int | None = None,
    seed: int = 0,
    width: int = 20,
    lr: float = 1e-3,
    threads: int | None = None,
    checkpoint_every: int = 500,
    log_every: int = 100,
    progress: bool = True,
) -> dict[str, Any]:
    """Train an :class:`~scope_deblur.nets.MDeblurGenerator`; save it to ``out`` with its card.

    ``steps`` sets the schedule (a 200-step warm-up, then a cosine decay to 0) and
    ``minutes`` caps the wall time; with both, the schedule follows whichever is
    further along, and the run is exactly reproducible when the steps end it first
    (the card's ``training.stopped_by``). Returns the card.
    """
    import torch
    import torch.nn.functional as F

    from ..._device import describe_device
    from ...nets import MDeblurConfig, MDeblurGenerator
    from ...optics import BBBC006_OPTICS
    from ...optics._family import FAMILY_RANGES
    from ...weights import ModelCard, save_weights

    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    train, _ = _load(data_dir)
    config = MDeblurConfig(width=width)
    model = MDeblurGenerator(config=config).to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    features = perceptual_features()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    bank = [_draw_psf(rng) for _ in range(BANK)]
    cl = torch.channels_last
    t0 = time.perf_counter()
    step, stopped_by = 0, ""
    log: list[dict[str, Any]] = []
    window: list[list[float]] = []
    if not (steps or minutes):
        raise ValueError("give a budget: steps, minutes or both")

    def make_card() -> dict[str, Any]:
        budget = (f"--steps {steps} " if steps else "") + (
            f"--minutes {minutes:g}" if minutes else ""
        )
        argv = f"{budget.strip()} --seed {seed}" + (f" --width {width}" if width != 20 else "")
        argv += (f" --lr {lr:g}" if lr != 1e-3 else "") + f" --threads {torch.get_num_threads()}"
        data = shlex.quote(str(data_dir)) if data_dir is not None else "<in_focus>"
        return {
            "architecture": "MDeblurGenerator",
            "config": config.model_dump(),
            "paper": "M-Deblurgan (shared/papers/m-deblurgan.txt), §2.1-2.2, Fig. 1(a)",
            "optics": BBBC006_OPTICS.model_copy(
                update={"pixel_um": BINNING * BBBC006_OPTICS.pixel_um}
            ).model_dump(),
            "output_pixel_um": BBBC006_OPTICS.pixel_um,
            "binning": BINNING,
            "command": f"scope-deblur train m-deblurgan --data {data} --out {out} {argv}",
            "normalisation": NORMALISATION,
            "loss": {
                "formula": "rMSE(G,y) + 0.5 rMSE(G1,y_lr) + alpha L_percep + beta (1 - SSIM(G,y))",
                "relative_mse": "per crop, MSE over the MSE of the input itself (bilinear x2 "
                "for y), averaged over the batch",
                "alpha": ALPHA,
                "beta": BETA,
                "lr_weight": LR_WEIGHT,
                "perceptual": f"MSE of the shipped DelpNet's conv blocks {PERCEPTUAL_LAYERS} "
                "(frozen), in place of VGG-19 (no ImageNet weights here)",
                "ssim": "7x7 uniform window, C1 = 0.01^2, C2 = 0.03^2 (skimage defaults)",
            },
            "forward_model": {
                **FAMILY_RANGES.model_dump(),
                "p_plain_born_wolf": P_PLAIN,
                "z_um": [0.0, Z_MAX],
                "p_z0": 0.08,
                "psf_bank": BANK,
                "psfs_per_batch": PSFS_PER_BATCH,
                "binning": f"{BINNING}x{BINNING} sum of the full-resolution blurred frame, "
                "then the camera (one shot, read noise and offset per binned pixel)",
            },
            "training": {
                "train_images": "a02-a06",
                "val_image": "a07",
                "crop": [CROP, BINNING * CROP],
                "batch": BATCH,
                "steps": step,
                "minutes": round((time.perf_counter() - t0) / 60, 2),
                "budget": {"steps": steps, "minutes": minutes},
                "stopped_by": stopped_by,
                "seed": seed,
                "lr": lr,
                "optimizer": "Adam, warm-up 200 steps + cosine decay",
                "autocast": "bf16, channels_last",
                "hardware": describe_device("cpu"),
                "threads": torch.get_num_threads(),
                "log": log,
            },
            "n_params": sum(p.numel() for p in model.parameters()),
        }

    while True:
        elapsed = time.perf_counter() - t0
        by_steps = step / steps if steps else 0.0
        by_time = elapsed / (60 * minutes) if minutes else 0.0
        frac = max(by_steps, by_time)
        if frac >= 1.0:
            stopped_by = "steps" if by_steps >= by_time else "minutes"
            break
        for g in opt.param_groups:
            g["lr"] = lr * min(1.0, (step + 1) / 200) * 0.5 * (1 + np.cos(np.pi * frac))
        bank[step % BANK] = _draw_psf(rng)
        x, y, y_lr = (torch.from_numpy(a) for a in _sample(train, bank, rng))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            sr, deblurred, _ = model.forward_all(x.contiguous(memory_format=cl))
            fake, real = features(sr), features(y)
        sr = sr.float()
        mse = F.mse_loss(sr, y)
        up = F.interpolate(x, scale_factor=float(BINNING), mode="bilinear", align_corners=False)
        rel = (per_crop(sr, y) / (per_crop(up, y) + 1e-6)).mean()
        rel_lr = (per_crop(deblurred.float(), y_lr) / (per_crop(x, y_lr) + 1e-6)).mean()
        percep = sum(
            (F.mse_loss(a.float(), b.float().detach()) for a, b in zip(fake, real, strict=True)),
            torch.zeros(()),
        )
        ssim_loss = 1.0 - ssim_torch(sr, y)
        loss = rel + LR_WEIGHT * rel_lr + ALPHA * percep + BETA * ssim_loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        window.append([loss.item(), mse.item(), rel.item(), rel_lr.item(), percep.item()])
        window[-1].append(ssim_loss.item())
        if checkpoint_every and step % checkpoint_every == 0:
            save_weights(model, f"{out}-checkpoint", ModelCard.model_validate(make_card()))
        if step % log_every == 0:
            m = np.mean(window, axis=0)
            window = []
            entry = {"step": step, "minutes": round(elapsed / 60, 2)}
            names = ("loss", "mse", "rel_mse", "rel_mse_lr", "percep", "one_minus_ssim")
            entry |= {k: round(float(v), 6) for k, v in zip(names, m, strict=True)}
            log.append(entry)
            if progress:
                print(entry, flush=True)
    model = model.to(memory_format=torch.contiguous_format)
    card = make_card()
    path = save_weights(model, out, ModelCard.model_validate(card))
    for suffix in (".safetensors", ".json"):
        Path(f"{out}-checkpoint").with_suffix(suffix).unlink(missing_ok=True)
    card["file"] = path.name
    return card
