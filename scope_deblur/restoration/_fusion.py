"""FusionRestorer: the multi-scale fusion U-Net as a :class:`~scope_deblur.protocols.Restorer`.

Frames are normalised per frame (``(x − p1) / (p99.9 − p1)``, the training map),
padded by reflection to the network's multiple, restored whole or in overlapping
tiles blended with linear ramps, mapped back to the input's intensity units and
rescaled so that the total flux above the background equals the input's.

A conditioned network (``config.conditioned``) also gets the frame's estimated
defocus as a constant input plane, and a ``config.wiener`` network the frame
Wiener-deconvolved at that defocus (:func:`~scope_deblur.restoration.input_planes`);
the planes are built on the whole frame, before tiling.

Do no harm (DESIGN.md, Sim-to-real), without trusting the estimator's confidence: a
frame with no estimate (all background) comes back unchanged, and a blind network is
gated by depth: its weight ramps from 0 at ``defocus_um <= in_focus_um`` (3 µm) to 1
at twice that, because a blind network lost 0.8 dB on in-focus frames. A network given
the defocus is not: it saw in-focus crops in training (8 %) and, told a frame is in
focus, denoises it. The confidence is no gate: a ramp in it used to return sparse
fields unchanged (+0.0 dB at 10 and 16 µm in an unseen sparse well), where the network
helps; the fidelity blend below is the guard that looks at the frame itself.

A network's output is never perfect: on in-focus frames its error has a floor
(PSNR about 43 dB for ``fusion``), so on a bright, nearly noise-free frame
restoring would lose quality. The card's ``error_floor`` is that error (mean square,
in the per-frame normalised units), measured on in-focus training images at 20000
photons (:func:`scope_deblur.lab.training.measure_error_floor`). If ``D`` is the mean
square difference between the output and the input, the input's own error is about
``D − floor`` and the output's about ``floor``, so the output gets the weight
``1 − floor / D`` (the least-squares mix of two estimates). Defocused frames differ
from their restoration by far more than the floor and keep the full output; a
bright in-focus frame comes back nearly unchanged.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..io import check_frame
from ..patches import patch_starts
from ..protocols import DefocusEstimate
from ._fusion_inputs import input_planes, normalise

if TYPE_CHECKING:
    from ..optics import OpticsProfile

__all__ = ["FusionRestorer"]

log = logging.getLogger(__name__)

BLIND_IN_FOCUS_UM = 3.0  # depth gate of a network that does not take the defocus


def _ramp(x: float, lo: float, hi: float) -> float:
    return float(np.clip((x - lo) / max(hi - lo, 1e-9), 0.0, 1.0))


def _window(n: int, overlap: int, left: bool, right: bool) -> np.ndarray:
    w = np.ones(n, np.float32)
    ramp = (np.arange(overlap, dtype=np.float32) + 0.5) / overlap
    if left and overlap:
        w[:overlap] = ramp
    if right and overlap:
        w[n - overlap :] = ramp[::-1]
    return w


def _match_flux(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Shift ``y`` by a constant so that its total equals ``x``'s (flux conservation).

    A shift, not a gain: the network's small flux deficit is a background offset,
    and a gain around the background measured 0.3-0.7 dB worse on held-out data.
    """
    diff = float(x.sum(dtype=np.float64) - y.sum(dtype=np.float64)) / y.size
    return (y + diff).astype(np.float32)


class FusionRestorer:
    """Restore defocused frames with a shipped fusion U-Net.

    Parameters
    ----------
    weights : str
        Shipped model name (``"fusion"``; ``"fusion-fast"``, the lighter live model;
        ``"fusion-known"`` and ``"fusion-known-fast"``, for known optics, see
        ``profile``) or a path to
        ``.safetensors`` with its card. The restorer's ``name`` is the file's stem,
        so every output records which network made it.
    device : {"auto", "cpu", "cuda"}
        ``"auto"`` picks CUDA when available.
    tile, overlap : int
        Frames larger than ``tile`` px on a side are restored in tiles that overlap by
        ``overlap`` px (both rounded up to the network's multiple).
    dtype : {"auto", "float32", "bfloat16", "float16"}
        ``"auto"``: bfloat16 weights and activations on CPUs with native bf16, float16 on CUDA,
        else float32.
    in_focus_um : float, optional
        Below this estimated defocus the input is returned unchanged. Default: 3 µm
        for a blind network, 0 (no depth gate) for one that takes the defocus.
    compile : bool
        Compile the network with ``torch.compile`` (inductor, weights frozen into the
        graph). The first frame of each shape then takes 15-30 s (cached on disk for
        later runs); after that a 512×512 frame restores about 20 % faster on the
        CPU. If compiling fails (no C++ compiler, say), one warning is logged and
        the network runs eagerly.
    profile : OpticsProfile, optional
        The known optics, for a known-optics network (``config.rl_plane``, shipped
        as ``"fusion-known"`` and ``"fusion-known-fast"``): its RL plane uses this
        PSF. Default: the nominal optics (textbook Born–Wolf). Other networks take
        no profile.
    """

    _compiled: Any
    """The compiled network (``compile=True``), or None: the eager one runs."""

    def __init__(
        self,
        weights: str = "fusion",
        *,
        device: str = "auto",
        tile: int = 1024,
        overlap: int = 32,
        dtype: str = "auto",
        in_focus_um: float | None = None,
        compile: bool = False,
        profile: OpticsProfile | None = None,
    ) -> None:
        import torch

        from ..nets import FusionUNet

        net = self._load(weights, FusionUNet, "a fusion U-Net", device, dtype, tile, overlap)
        config = net.config
        if profile is not None and not config.rl_plane:
            raise ValueError(
                f"{self.name} does not use an optics profile; the known-optics networks "
                "are 'fusion-known' and 'fusion-known-fast'"
            )
        if config.rl_plane and profile is None:
            from ..optics import NOMINAL

            profile = NOMINAL
        self.profile = profile
        if compile:
            self._compiled = torch.compile(self.net, dynamic=False, options={"freezing": True})
        if in_focus_um is None:
            in_focus_um = 0.0 if config.needs_defocus else BLIND_IN_FOCUS_UM
        self.in_focus_um = float(in_focus_um)
        self.error_floor = float((self.card.model_extra or {}).get("error_floor") or 0.0)

    def _load(
        self,
        weights: str,
        kind: type[Any],
        what: str,
        device: str,
        dtype: str,
        tile: int,
        overlap: int,
    ) -> Any:
        """Load ``weights`` (a ``kind`` network, "``what``" in errors) for inference.

        Sets the name, device, card and hash, the inference dtype (weights cast once:
        cheaper than autocast, which re-casts them on every call), the eager network
        in channels-last layout, and the tiling rounded to the network's multiple.
        Returns the network.
        """
        import torch

        from .._device import resolve_device
        from ..weights import build_model, load_card, load_state_dict

        self.name = Path(weights).stem
        self.device = torch.device(resolve_device(device))
        self.card = load_card(weights)
        self.sha256 = self.card.sha256  # recorded with every frame
        net = build_model(self.card)
        if not isinstance(net, kind):
            raise ValueError(f"{weights!r} is a {self.card.architecture}, not {what}")
        load_state_dict(weights, net)
        self.dtype = self._pick_dtype(dtype)
        self.net = net.eval().to(self.device, self.dtype).to(memory_format=torch.channels_last)
        self._compiled = None
        m = net.multiple
        self.tile = max(m, -(-int(tile) // m) * m)
        self.overlap = min(-(-int(overlap) // m) * m, self.tile // 2)
        return net

    def _pick_dtype(self, dtype: str) -> Any:
        import torch

        table = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
        if dtype == "auto":
            if self.device.type == "cuda":
                return torch.float16
            bf16 = getattr(torch.backends.mkldnn, "is_available", lambda: False)()
            bf16 = bf16 and torch.ops.mkldnn._is_mkldnn_bf16_supported()
            return torch.bfloat16 if bf16 else torch.float32
        if dtype not in table:
            raise ValueError(f"dtype must be auto|float32|bfloat16|float16, got {dtype!r}")
        if dtype == "float16" and self.device.type == "cpu":
            raise ValueError("dtype='float16' is for CUDA; use 'bfloat16' on CPU")
        return table[dtype]

    # ------------------------------------------------------------------ gating

    def strength(self, estimate: DefocusEstimate | None) -> float:
        """Return the blend weight of the network output for an estimate, in [0, 1].

        It depends on the estimated depth only, never on the confidence.
        """
        if estimate is None or estimate.defocus_um is None:
            return 0.0
        z, z0 = float(estimate.defocus_um), self.in_focus_um
        return _ramp(z, z0, 2 * z0) if z0 > 0 else 1.0

    def fidelity(
        self, frame: np.ndarray, restored: np.ndarray, scale: float | None = None
    ) -> float:
        """Return the weight, in [0, 1], that the network's output earns on ``frame``.

        ``1 − error_floor / D``, with ``D`` the mean square difference between
        ``restored`` and ``frame`` in the frame's normalised units (module docstring;
        ``scale`` is the frame's normalisation scale when already known); 1 when the
        card has no ``error_floor``.
        """
        if self.error_floor <= 0:
            return 1.0
        if scale is None:
            scale = normalise(frame)[1]
        d = float(np.mean(np.square((restored - frame) / scale), dtype=np.float64))
        return float(np.clip(1.0 - self.error_floor / d, 0.0, 1.0)) if d > 0 else 0.0

    def _unrestored(self, x: np.ndarray) -> np.ndarray:
        """Return the frame on the output grid, as the gates pass or blend it: itself."""
        return x

    def _blend(self, x: np.ndarray, y: np.ndarray, scale: float, strength: float) -> np.ndarray:
        a = strength * self.fidelity(x, y, scale)
        return y if a == 1.0 else (a * y + (1 - a) * self._unrestored(x)).astype(np.float32)

    # ------------------------------------------------------------------ inference

    def _planes(self, batch: np.ndarray, z_um: np.ndarray) -> np.ndarray:
        return input_planes(batch, z_um, self.net.config, self.profile)

    def _forward(self, planes: np.ndarray) -> np.ndarray:
        """Run the net on input planes (B, C, H, W) whose sides fit its multiple."""
        import torch

        x = torch.from_numpy(np.ascontiguousarray(planes)).to(self.device, self.dtype)
        x = x.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            y = self._run(x)
        return y.float()[:, 0].cpu().numpy()

    def _run(self, x: Any) -> Any:
        if self._compiled is not None:
            try:
                return self._compiled(x)
            except Exception as e:  # a missing compiler must not stop restoration
                log.warning("torch.compile failed (%s); running the network eagerly", e)
                self._compiled = None
        return self.net(x)

    @property
    def compiled(self) -> bool:
        """Whether the network runs compiled (False after a failed compile)."""
        return self._compiled is not None

    def warm_up(self, shape: tuple[int, int]) -> None:
        """Restore one synthetic frame of ``shape``, so that the first real frame is fast.

        With ``compile=True`` this is when the network is compiled for that shape.
        """
        frame = np.random.default_rng(0).uniform(100, 1000, shape).astype(np.float32)
        self.restore_full(frame, 10.0)

    def _tile_side(self, n: int) -> int:
        """Return the tile side for a padded side ``n``: fewest tiles, all equal.

        Equal tiles (multiples of the network's) waste the least work on overlaps:
        2048 px in tiles of at most 1024 becomes three of 704, not three of 1024.
        """
        if n <= self.tile:
            return n
        m, ov = self.net.multiple, self.overlap
        k = -(-(n - ov) // (self.tile - ov))
        side = -(-(n + (k - 1) * ov) // k)
        return min(-(-side // m) * m, self.tile)

    def _restore_normalised(self, xn: np.ndarray, z_um: float) -> np.ndarray:
        m = self.net.multiple
        h, w = xn.shape
        ph, pw = max(-(-h // m) * m, m), max(-(-w // m) * m, m)
        xp = np.pad(xn, ((0, ph - h), (0, pw - w)), mode="symmetric")
        planes = self._planes(xp[None], np.array([z_um]))
        th, tw = self._tile_side(ph), self._tile_side(pw)
        if (th, tw) == (ph, pw):
            return self._forward(planes)[0, :h, :w]
        acc = np.zeros((ph, pw), np.float32)
        wsum = np.zeros((ph, pw), np.float32)
        ys = patch_starts(ph, th, max(th - self.overlap, 1))
        xs = patch_starts(pw, tw, max(tw - self.overlap, 1))
        for y0 in ys:
            for x0 in xs:
                out = self._forward(planes[:, :, y0 : y0 + th, x0 : x0 + tw])[0]
                wy = _window(th, self.overlap, y0 > 0, y0 + th < ph)
                wx = _window(tw, self.overlap, x0 > 0, x0 + tw < pw)
                wt = wy[:, None] * wx[None, :]
                acc[y0 : y0 + th, x0 : x0 + tw] += out * wt
                wsum[y0 : y0 + th, x0 : x0 + tw] += wt
        return (acc / wsum)[:h, :w]

    def restore_full(self, frame: np.ndarray, defocus_um: float | None = None) -> np.ndarray:
        """Restore ``frame`` with the network, whatever the gate says (input units).

        A conditioned or Wiener network needs ``defocus_um``; a blind one ignores it.
        """
        return self._restore_scaled(check_frame(frame), defocus_um)[0]

    def _restore_scaled(self, x: np.ndarray, defocus_um: float | None) -> tuple[np.ndarray, float]:
        """Return ``restore_full``'s output and the frame's normalisation scale."""
        if self.net.config.needs_defocus and (defocus_um is None or not np.isfinite(defocus_um)):
            raise ValueError("this fusion model needs the frame's defocus: give defocus_um")
        lo, s = normalise(x)
        y = self._restore_normalised((x - lo) / s, float(defocus_um or 0.0)) * s + lo
        # Conserve flux exactly (blur conserves it, so must restoration).
        return _match_flux(x, y), s

    def restore(self, frame: np.ndarray, estimate: DefocusEstimate | None) -> np.ndarray:
        """Return the restored frame: float32, same intensity units and flux.

        It lies on the output grid: the input's, or ``upscale`` times finer for a
        super-resolving network.

        Raises
        ------
        ValueError
            If the frame is empty, not 2-D, or holds NaN/inf values.
        """
        x = check_frame(frame)
        a = self.strength(estimate)
        if a == 0.0:
            return self._unrestored(x).copy()
        y, scale = self._restore_scaled(x, estimate.defocus_um if estimate else None)
        return self._blend(x, y, scale, a)

    def restore_batch(
        self, frames: Sequence[np.ndarray], estimates: Sequence[DefocusEstimate | None]
    ) -> list[np.ndarray]:
        """Restore several frames; equal-shaped single-tile frames share one forward pass."""
        if len(frames) != len(estimates):
            raise ValueError(f"got {len(frames)} frames but {len(estimates)} estimates")
        xs = [check_frame(f) for f in frames]
        alphas = [self.strength(e) for e in estimates]
        out: list[np.ndarray] = [x.copy() for x in xs]
        todo = [i for i, a in enumerate(alphas) if a > 0]
        shapes = {xs[i].shape for i in todo}
        m = self.net.multiple
        if len(shapes) == 1 and max(next(iter(shapes))) <= self.tile and len(todo) > 1:
            h, w = next(iter(shapes))
            ph, pw = max(-(-h // m) * m, m), max(-(-w // m) * m, m)
            maps = [normalise(xs[i]) for i in todo]
            batch = np.stack(
                [
                    np.pad((xs[i] - lo) / s, ((0, ph - h), (0, pw - w)), mode="symmetric")
                    for i, (lo, s) in zip(todo, maps, strict=True)
                ]
            ).astype(np.float32)
            zs = np.array([estimates[i].defocus_um for i in todo], np.float32)  # type: ignore[union-attr]
            ys = self._forward(self._planes(batch, zs))[:, :h, :w]
            for i, (lo, s), yn in zip(todo, maps, ys, strict=True):
                out[i] = self._blend(xs[i], _match_flux(xs[i], yn * s + lo), s, alphas[i])
            return out
        for i in todo:
            out[i] = self.restore(xs[i], estimates[i])
        return out
