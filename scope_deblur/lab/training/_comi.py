"""Train COMI (a CycleGAN) on unpaired sharp and blurred real images.

Two generators, ``G_s`` (blurred → sharp, the one shipped) and ``G_t`` (sharp →
blurred), and two PatchGAN discriminators, ``D_t`` (real sharp or not) and ``D_s``
(real blurred or not), as in the paper (shared/papers/comi-cyclegan.md, §3). Each
step takes a batch of sharp crops and, unpaired, a batch of blurred crops:

- sharp: the in-focus images of ``--sharp`` minus the held-out well (by-image split,
  :func:`~scope_deblur.lab.training.split_by_image`: a07 held out);
- blurred: the real defocused frames of ``--blurred`` minus the held-out z00 wells
  (:data:`REAL_VAL_WELLS`, the frames that evaluation scores), and a ``sim_fraction``
  of the batch cut from training in-focus images blurred by random members of the
  forward-model family (10-40 µm) with camera noise, drawn once at the start.

Loss of the generators (least-squares GAN, §3.2; Zhu et al.'s cycle weight, a weak
identity term, which the paper does not have)::

    l = l_GAN + 10 · l_cycle + 0.5 · l_identity + λ_spec · l_spec + λ_pair · l_pair

``l_spec`` replaces the paper's VGG-19 perceptual loss, whose ImageNet weights cannot
be had here. Like the paper's content loss, which compares features of *unpaired*
images, it compares statistics, not pixels: the L1 distance between the log radially
averaged power spectra (batch means) of the generated and the real images of each
domain. ``l_pair`` (ours; ``paired_weight``, 0 for the pure unpaired recipe) is the L1
loss of ``G_s`` on the simulated crops, whose sharp images are known: on the real
crops only the adversarial, cycle and spectrum terms act. A pure unpaired trial changed
real frames by 0.2 % of their range after 500 steps; a 2-core CPU allows a few thousand
steps (the paper ran 100 000), so the simulated pairs are there to teach ``G_s`` to
deblur sooner, the GAN terms to pull it toward real in-focus images.

Crops are normalised per crop, ``(x − p1) / (p99.9 − p1)`` (the fusion networks'
map); the restorer maps the output back to the input's units.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ...restoration import normalise

__all__ = ["REAL_VAL_WELLS", "split_real", "train_comi"]

CROP = 128
BATCH = 4
REAL_VAL_WELLS = ("a19", "e10", "i05", "m14")
"""The real z00 frames (by well) held out of training: evaluation scores these."""
SIM_Z_UM = (10.0, 40.0)
SIM_PER_IMAGE = 3
LAMBDA = {"gan": 1.0, "cycle": 10.0, "identity": 0.5, "spec": 1.0}
SPEC_BINS = 16
NORMALISATION = "per frame: (x - p1) / (p99.9 - p1); output mapped back to input units"
SPECTRUM_LOSS = (
    "L1 of log radially averaged power spectra (batch means, 16 bins to Nyquist) of generated "
    "vs real images of each domain, in place of VGG-19 features (no ImageNet weights here)"
)


def split_real(
    paths: Sequence[str | Path], val: Sequence[str] = REAL_VAL_WELLS
) -> tuple[list[Path], list[Path]]:
    """Split real BBBC006 frames (``..._a19_s2_...``) into training and held-out by well.

    Raises
    ------
    ValueError
        If either side would be empty.
    """
    files = sorted(Path(p) for p in paths)
    held = [p for p in files if any(f"_{w}_" in p.name for w in val)]
    train = [p for p in files if p not in held]
    if not train or not held:
        raise ValueError(
            f"split of {len(files)} real frames by wells {list(val)} gives {len(train)} "
            f"training and {len(held)} held-out frames; both must be non-empty"
        )
    return train, held


def _images(folder: str | Path) -> list[Path]:
    d = Path(folder)
    if not d.is_dir():
        raise NotADirectoryError(f"not a folder of images: {d}")
    files = sorted(p for p in d.iterdir() if p.suffix.lower() in {".png", ".tif", ".tiff"})
    if not files:
        raise FileNotFoundError(f"no .png/.tif images in {d}")
    return files


def _simulated(
    sharp: list[np.ndarray], rng: np.random.Generator
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Blur each training sharp image by ``SIM_PER_IMAGE`` family members, with noise.

    Returns (blurred frame, its sharp target) pairs; the target is the sharp image
    without its own background plus the blurred frame's offset and background, so
    that blur, and so restoration, conserves flux (as in ``train fusion``).
    """
    import torch

    from ...optics import blur, camera, sample_psf

    out = []
    for im in sharp:
        off = float(np.percentile(im, 1))
        q = float(np.percentile(im, 99.9)) - off
        for _ in range(SIM_PER_IMAGE):
            psf = sample_psf(float(rng.uniform(*SIM_Z_UM)), rng).astype(np.float32)
            b = blur(torch.from_numpy(np.ascontiguousarray(im - off)), psf).numpy()
            noisy = camera(b, rng, scale_q=q)
            extra = float(np.median(noisy - np.clip(b, 0, None)))  # offset + background
            out.append((noisy, (im - off + extra).astype(np.float32)))
    return out


def _crops(
    pool: Sequence[np.ndarray | tuple[np.ndarray, np.ndarray]], n: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Return ``n`` random, randomly turned and flipped crops, each normalised.

    A pool entry is an image, or an (image, target) pair whose target is cut at the
    same place and normalised with the image's map; returns (crops, targets), the
    targets NaN for plain images.
    """
    out = np.empty((n, 1, CROP, CROP), np.float32)
    tgt = np.full((n, 1, CROP, CROP), np.nan, np.float32)
    for k in range(n):
        entry = pool[int(rng.integers(len(pool)))]
        im, target = entry if isinstance(entry, tuple) else (entry, None)
        y = int(rng.integers(0, im.shape[0] - CROP + 1))
        x = int(rng.integers(0, im.shape[1] - CROP + 1))
        turn, flip = int(rng.integers(4)), bool(rng.random() < 0.5)
        c = _cut(im, y, x, turn, flip)
        lo, s = normalise(c)
        out[k, 0] = (c - lo) / s
        if target is not None:
            tgt[k, 0] = (_cut(target, y, x, turn, flip) - lo) / s
    return out, tgt


def _cut(a: np.ndarray, y: int, x: int, turn: int, flip: bool) -> np.ndarray:
    c = np.rot90(a[y : y + CROP, x : x + CROP], turn)
    return c[::-1] if flip else c


def _spectrum_index(n: int) -> Any:
    import torch

    f = np.hypot(*np.meshgrid(np.fft.fftfreq(n), np.fft.rfftfreq(n), indexing="ij"))
    return torch.from_numpy(np.minimum((f / 0.5 * SPEC_BINS).astype(np.int64), SPEC_BINS - 1))


def log_spectrum(x: Any, index: Any) -> Any:
    """Return the log radially averaged power spectrum ``(SPEC_BINS,)`` of a batch, in fp32."""
    import torch

    x = x.float()[:, 0]
    p = torch.fft.rfft2(x - x.mean(dim=(-2, -1), keepdim=True)).abs().square().mean(0)
    sums = torch.zeros(SPEC_BINS, dtype=p.dtype).index_add_(0, index.flatten(), p.flatten())
    counts = torch.bincount(index.flatten(), minlength=SPEC_BINS).to(p.dtype)
    spec = sums / counts
    return torch.log(spec / spec.sum() + 1e-10)


def train_comi(
    sharp_dir: str | Path,
    blurred_dir: str | Path,
    out: str | Path,
    *,
    steps: int = 3000,
    minutes: float | None = None,
    seed: int = 0,
    width: int = 12,
    n_blocks: int = 9,
    sim_fraction: float = 0.5,
    paired_weight: float = 10.0,
    lr: float = 5e-4,
    checkpoint_every: int = 500,
    threads: int | None = 1,
    progress: bool = True,
) -> dict[str, Any]:
    """Train COMI's generators and discriminators; save ``G_s`` to ``out`` with its card.

    ``steps`` sets the learning-rate schedule (constant, then linear decay to 0 over
    the second half); ``minutes`` caps the wall time (the schedule then follows the
    larger of the two fractions). Returns the card.
    """
    import torch
    import torch.nn.functional as F

    from ..._device import describe_device
    from ...io import check_frame, read_image
    from ...nets.comi import ComiConfig, ComiDiscriminator, ComiGenerator
    from ...optics import BBBC006_OPTICS
    from ...weights import ModelCard, save_weights
    from ._data import in_focus_paths, load_in_focus, split_by_image

    if not 0.0 <= sim_fraction <= 1.0:
        raise ValueError(f"sim_fraction must be in [0, 1], got {sim_fraction}")
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    sharp_train, sharp_val = split_by_image(in_focus_paths(sharp_dir))
    real_train, real_val = split_real(_images(blurred_dir))
    sharp = load_in_focus(sharp_train)
    real = [check_frame(read_image(p), name=str(p)) for p in real_train]
    sim = _simulated(sharp, rng) if sim_fraction > 0 else []
    config = ComiConfig(width=width, n_blocks=n_blocks)
    cl = torch.channels_last
    g_s, g_t = ComiGenerator(config=config), ComiGenerator(config=config)
    d_s, d_t = ComiDiscriminator(config=config), ComiDiscriminator(config=config)
    for m in (g_s, g_t, d_s, d_t):
        m.to(memory_format=cl)  # type: ignore[call-overload]
    betas = (0.5, 0.999)
    opt_g = torch.optim.Adam([*g_s.parameters(), *g_t.parameters()], lr=lr, betas=betas)
    opt_d = torch.optim.Adam([*d_s.parameters(), *d_t.parameters()], lr=lr, betas=betas)
    index = _spectrum_index(CROP)
    lam = LAMBDA

    def lsgan(pred: torch.Tensor, target: float) -> torch.Tensor:
        return F.mse_loss(pred.float(), torch.full_like(pred.float(), target))

    def make_card() -> dict[str, Any]:
        """Return the card of ``G_s`` as it is now."""
        argv = f"--steps {steps}" + (f" --minutes {minutes:g}" if minutes else "")
        argv += f" --seed {seed}" + (f" --width {width}" if width != 12 else "")
        argv += f" --blocks {n_blocks}" if n_blocks != 9 else ""
        argv += f" --sim-fraction {sim_fraction:g}" + f" --threads {torch.get_num_threads()}"
        argv += f" --lr {lr:g}" if lr != 5e-4 else ""
        argv += f" --paired-weight {paired_weight:g}" if paired_weight != 10.0 else ""
        return {
            "architecture": "ComiGenerator",
            "config": config.model_dump(),
            "paper": "COMI: CycleGAN for out-of-focus correction (Zhang et al. 2022), §3.1-3.3",
            "optics": BBBC006_OPTICS.model_dump(),
            "command": (
                f"scope-deblur train comi --sharp {shlex.quote(str(sharp_dir))} --blurred "
                f"{shlex.quote(str(blurred_dir))} --out {out} {argv}"
            ),
            "normalisation": NORMALISATION,
            "loss": {
                "weights": {**lam, "paired_simulated": paired_weight},
                "adversarial": "least squares (LSGAN), PatchGAN discriminators",
                "perceptual_substitute": SPECTRUM_LOSS,
            },
            "training": {
                "sharp": [p.name for p in sharp_train],
                "sharp_held_out": [p.name for p in sharp_val],
                "blurred_real": [p.name for p in real_train],
                "blurred_held_out": [p.name for p in real_val],
                "simulated": {
                    "fraction": sim_fraction,
                    "frames": len(sim),
                    "paired_l1_weight": paired_weight,
                    "z_um": list(SIM_Z_UM),
                    "psf": "forward-model family (scope_deblur.optics._family), camera noise",
                },
                "crop": CROP,
                "batch": BATCH,
                "steps": step,
                "minutes": round((time.perf_counter() - t0) / 60, 2),
                "seed": seed,
                "optimizer": f"Adam lr {lr:g} betas {betas}, constant then linear decay to 0",
                "autocast": "bf16, channels_last",
                "hardware": describe_device("cpu"),
                "threads": torch.get_num_threads(),
                "log": log,
            },
            "n_params": sum(p.numel() for p in g_s.parameters()),
        }

    t0 = time.perf_counter()
    step, log, window = 0, [], []
    while True:
        elapsed = time.perf_counter() - t0
        frac = max(step / steps, elapsed / (60 * minutes) if minutes else 0.0)
        if frac >= 1.0:
            break
        for opt in (opt_g, opt_d):
            for g in opt.param_groups:
                g["lr"] = lr * min(1.0, 2.0 * (1.0 - frac))
        s = torch.from_numpy(_crops(sharp, BATCH, rng)[0]).contiguous(memory_format=cl)
        n_sim = round(BATCH * sim_fraction) if sim else 0
        (br, _), (bs, ts) = _crops(real, BATCH - n_sim, rng), _crops(sim, n_sim, rng)
        b = torch.from_numpy(np.concatenate([br, bs])).contiguous(memory_format=cl)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            fake_s, fake_b = g_s(b), g_t(s)
            rec_b, rec_s = g_t(fake_s), g_s(fake_b)
            idt_s, idt_b = g_s(s), g_t(b)
            adv = lsgan(d_t(fake_s), 1.0) + lsgan(d_s(fake_b), 1.0)
        cyc = F.l1_loss(rec_b.float(), b) + F.l1_loss(rec_s.float(), s)
        idt = F.l1_loss(idt_s.float(), s) + F.l1_loss(idt_b.float(), b)
        spec = F.l1_loss(log_spectrum(fake_s, index), log_spectrum(s, index)) + F.l1_loss(
            log_spectrum(fake_b, index), log_spectrum(b, index)
        )
        loss_g = lam["gan"] * adv + lam["cycle"] * cyc + lam["identity"] * idt + lam["spec"] * spec
        sup = F.l1_loss(fake_s[BATCH - n_sim :].float(), torch.from_numpy(ts)) if n_sim else adv * 0
        loss_g = loss_g + paired_weight * sup
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss_d = 0.5 * (
                lsgan(d_t(s), 1.0)
                + lsgan(d_t(fake_s.detach()), 0.0)
                + lsgan(d_s(b), 1.0)
                + lsgan(d_s(fake_b.detach()), 0.0)
            )
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        step += 1
        window.append([adv.item(), cyc.item(), idt.item(), spec.item(), sup.item(), loss_d.item()])
        if checkpoint_every and step % checkpoint_every == 0:
            save_weights(g_s, f"{out}-checkpoint", ModelCard.model_validate(make_card()))
        if step % 100 == 0:
            m = np.mean(window, axis=0)
            window = []
            entry = {"step": step, "minutes": round(elapsed / 60, 2)}
            entry |= dict(
                zip(
                    ("gan", "cycle", "identity", "spec", "paired", "disc"),
                    [round(float(v), 4) for v in m],
                    strict=True,
                )
            )
            log.append(entry)
            if progress:
                print(entry, flush=True)
    card = make_card()
    path = save_weights(g_s, out, ModelCard.model_validate(card))
    for suffix in (".safetensors", ".json"):
        Path(f"{out}-checkpoint").with_suffix(suffix).unlink(missing_ok=True)
    card["file"] = path.name
    return card
