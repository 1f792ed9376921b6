"""Multi-scale fusion U-Net ("head-to-tail" feature fusion), after Zhang et al.

Paper: "Microscopic image deblurring by a multi-scale U-Net with head-to-tail
feature fusion" (seed paper, shared/papers/fusion-unet-head-to-tail.txt, §2).

- ``N`` U-Net sub-networks, coarsest scale first (eq. 3-4). Sub-network ``k`` sees
  the frame down-sampled by ``2**(N-1-k)``.
- Head-to-tail fusion (eq. 5): the decoder features ``D_k^i`` of the coarser
  sub-network are up-sampled ×2 and fused into the encoder features ``E_{k+1}^i`` of
  the finer one, by summation (eq. 7) or channel concatenation + 1×1 conv (eq. 8).
- No residual is added to the blurry input: each sub-network maps to the sharp image
  end to end (the paper's point against eq. 2 of Nah et al.).
- Multi-scale L1 loss (eq. 6): every scale's output is compared with the
  ground truth down-sampled to that scale (:func:`multiscale_l1`).

``N = 1`` is a plain U-Net. The input height and width must be multiples of
:attr:`FusionUNet.multiple`; the restorer pads frames to it.

With ``conditioned=True`` (our extension, not in the paper) the input has a second
channel, a constant plane holding the estimated defocus (see
:func:`scope_deblur.restoration.input_planes`), so one network can adapt its
deblurring to the depth instead of guessing it blind. With ``wiener=True`` (also ours) a further
channel holds the frame Wiener-deconvolved by the nominal PSF at that defocus. With
``rl_plane=True`` (ours, for known optics) that channel holds instead the frame
Richardson–Lucy-deconvolved (``rl_iterations``) by the known PSF (an optics
profile). Extra channels are down-sampled with the image like any channel.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field, model_validator
from torch import nn

__all__ = ["FusionUNet", "FusionUNetConfig", "multiscale_l1"]


class FusionUNetConfig(BaseModel):
    """Architecture of a :class:`FusionUNet`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    n_scales: int = Field(3, ge=1, le=4)
    fusion: Literal["sum", "concat"] = "sum"
    base_width: int = Field(16, ge=4, le=64)
    depth: int = Field(3, ge=1, le=5)
    conditioned: bool = False
    wiener: bool = False
    rl_plane: bool = False
    rl_iterations: int = Field(30, ge=1, le=200)

    @model_validator(mode="after")
    def _one_deconvolved_plane(self) -> FusionUNetConfig:
        if self.wiener and self.rl_plane:
            raise ValueError("wiener and rl_plane are exclusive: the network takes one of them")
        return self

    @property
    def in_channels(self) -> int:
        """Image, plus the defocus plane when conditioned, plus a deconvolved plane."""
        return 1 + int(self.conditioned) + int(self.wiener or self.rl_plane)

    @property
    def needs_defocus(self) -> bool:
        """Whether inference needs the frame's defocus (conditioned or a deconvolved plane)."""
        return self.conditioned or self.wiener or self.rl_plane


# ---------------------------------------------------------------- helpers


def _down(x: torch.Tensor, factor: int) -> torch.Tensor:
    """Average-pool by ``factor`` (flux per pixel kept: a mean, not a sum)."""
    return x if factor == 1 else F.avg_pool2d(x, factor)


def _up2(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)


# ---------------------------------------------------------------- blocks


class DoubleConv(nn.Sequential):
    """(conv 3×3 => ReLU) × 2."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__(
            nn.Conv2d(c_in, c_out, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(c_out, c_out, 3, padding=1),
            nn.ReLU(inplace=True),
        )


class SubUNet(nn.Module):
    """One scale's encoder-decoder U-Net with symmetric skips.

    ``forward`` takes the fused-in decoder features of the coarser sub-network (or
    ``None``) and returns the output image and this sub-network's decoder features,
    one per level, finest first.
    """

    def __init__(self, *, width: int, depth: int, fusion: str | None, in_channels: int = 1) -> None:
        super().__init__()
        widths = [width * 2**i for i in range(depth + 1)]
        self.stem = DoubleConv(in_channels, widths[0])
        self.down = nn.ModuleList(DoubleConv(widths[i], widths[i + 1]) for i in range(depth))
        self.up = nn.ModuleList(
            nn.ConvTranspose2d(widths[i + 1], widths[i], 2, stride=2) for i in range(depth)
        )
        self.dec = nn.ModuleList(DoubleConv(2 * widths[i], widths[i]) for i in range(depth))
        self.head = nn.Conv2d(widths[0], 1, 1)
        # eq. 8: concatenate, then a 1×1 conv back to the encoder width.
        self.fuse = (
            nn.ModuleList(nn.Conv2d(2 * widths[i], widths[i], 1) for i in range(depth))
            if fusion == "concat"
            else None
        )
        self.fusion = fusion

    def _fuse(self, i: int, enc: torch.Tensor, coarse: list[torch.Tensor] | None) -> torch.Tensor:
        if coarse is None:
            return enc
        dec = _up2(coarse[i])
        if self.fuse is None:
            return enc + dec  # eq. 7
        return self.fuse[i](torch.cat([enc, dec], dim=1))  # eq. 8

    def forward(
        self, x: torch.Tensor, coarse: list[torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        depth = len(self.down)
        skips = [self._fuse(0, self.stem(x), coarse)]
        for i in range(depth):
            h = self.down[i](F.max_pool2d(skips[-1], 2))
            skips.append(self._fuse(i + 1, h, coarse) if i + 1 < depth else h)
        h = skips[-1]
        decoded: list[torch.Tensor] = [h] * depth
        for i in reversed(range(depth)):
            h = self.dec[i](torch.cat([self.up[i](h), skips[i]], dim=1))
            decoded[i] = h
        return self.head(h), decoded


# ---------------------------------------------------------------- model


class FusionUNet(nn.Module):
    """Coarse-to-fine U-Nets with directional decoder→encoder feature fusion.

    Parameters
    ----------
    config : FusionUNetConfig
        Number of scales, fusion mode, base width and U-Net depth.
    """

    def __init__(self, *, config: FusionUNetConfig | None = None) -> None:
        super().__init__()
        self.config = config or FusionUNetConfig()
        c = self.config
        self.nets = nn.ModuleList(
            SubUNet(
                width=c.base_width,
                depth=c.depth,
                fusion=None if k == 0 else c.fusion,
                in_channels=c.in_channels,
            )
            for k in range(c.n_scales)
        )

    @property
    def multiple(self) -> int:
        """Input sides must be multiples of this (2^(N-1) scales × 2^depth pooling)."""
        return 2 ** (self.config.n_scales - 1 + self.config.depth)

    def forward_scales(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Return every scale's output, coarsest first (eq. 3-5).

        ``x`` is ``(B, in_channels, H, W)``; every output is ``(B, 1, h, w)``.
        """
        n = self.config.n_scales
        outputs: list[torch.Tensor] = []
        coarse: list[torch.Tensor] | None = None
        for k, net in enumerate(self.nets):
            y, coarse = net(_down(x, 2 ** (n - 1 - k)), coarse)
            outputs.append(y)
        return outputs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the finest-scale restored image, (B, 1, H, W)."""
        return self.forward_scales(x)[-1]


def multiscale_l1(outputs: list[torch.Tensor], target: torch.Tensor) -> torch.Tensor:
    """Multi-scale L1 loss (eq. 6): mean over scales of |ŷ_k − down(y, 2^(N−1−k))|."""
    n = len(outputs)
    losses = [F.l1_loss(y.float(), _down(target, 2 ** (n - 1 - k))) for k, y in enumerate(outputs)]
    return torch.stack(losses).mean()
