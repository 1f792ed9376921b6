"""COMI: a CycleGAN's ResNet generator and PatchGAN discriminator, after Zhang et al.

Paper: "Correction of out-of-focus microscopic images by deep learning" (Zhang, Jiang,
Liu et al., Comput. Struct. Biotechnol. J. 2022; shared/papers/comi-cyclegan.md, §3.1).

- Generator (the style-transfer generator of Johnson et al., §3.1): a 7×7 convolution,
  two stride-2 convolutions, ``n_blocks`` residual blocks (the paper: 9), two stride-2
  transposed convolutions and a 7×7 convolution, with a global residual:
  ``y = x + G(x)`` (ours: the network starts as the identity, so near-sharp input
  stays as it is).
- Discriminator: Markovian (PatchGAN), purely convolutional; its output is a map of
  patch scores, averaged by the loss (§3.1).

Ours, not the paper's: no normalisation layers in the generator (instance
normalisation would make a tile's output depend on the tile, so tiled and whole-frame
restorations would differ), and widths scaled down so that training fits a 2-core CPU.
The input height and width must be multiples of :attr:`ComiGenerator.multiple`.
"""

from __future__ import annotations

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

__all__ = ["ComiConfig", "ComiDiscriminator", "ComiGenerator"]


class ComiConfig(BaseModel):
    """Architecture of a :class:`ComiGenerator` (and of its training discriminator)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    width: int = Field(12, ge=4, le=64)
    """Channels of the first convolution; ×2 after each stride-2 convolution."""
    n_blocks: int = Field(9, ge=1, le=12)
    """Residual blocks at 1/4 resolution (the paper: 9)."""
    disc_width: int = Field(12, ge=4, le=64)
    """Channels of the discriminator's first convolution."""


# ---------------------------------------------------------------- blocks


class ResBlock(nn.Module):
    """``x + conv3×3(ReLU(conv3×3(x)))``, reflection-padded (He et al.)."""

    def __init__(self, *, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, padding_mode="reflect"),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1, padding_mode="reflect"),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block."""
        return x + self.body(x)


# ---------------------------------------------------------------- models


class ComiGenerator(nn.Module):
    """``x + [7×7 conv → 2 × stride-2 conv → n × ResBlock → 2 × transposed conv → 7×7 conv](x)``.

    Input and output are ``(B, 1, H, W)`` frames, normalised per frame.
    """

    multiple = 4
    """Height and width of an input must be multiples of this."""

    def __init__(self, *, config: ComiConfig | None = None) -> None:
        super().__init__()
        self.config = config or ComiConfig()
        w, act = self.config.width, nn.ReLU
        self.head = nn.Sequential(
            nn.Conv2d(1, w, 7, padding=3, padding_mode="reflect"), act(inplace=True)
        )
        self.down = nn.Sequential(
            nn.Conv2d(w, 2 * w, 3, stride=2, padding=1), act(inplace=True),
            nn.Conv2d(2 * w, 4 * w, 3, stride=2, padding=1), act(inplace=True),
        )  # fmt: skip
        self.blocks = nn.Sequential(
            *(ResBlock(channels=4 * w) for _ in range(self.config.n_blocks))
        )
        self.up = nn.Sequential(
            nn.ConvTranspose2d(4 * w, 2 * w, 3, stride=2, padding=1, output_padding=1),
            act(inplace=True),
            nn.ConvTranspose2d(2 * w, w, 3, stride=2, padding=1, output_padding=1),
            act(inplace=True),
        )
        self.tail = nn.Conv2d(w, 1, 7, padding=3, padding_mode="reflect")
        for p in self.tail.parameters():  # G starts as the identity: y = x
            nn.init.zeros_(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return ``x + G(x)`` (the global residual)."""
        return x + self.tail(self.up(self.blocks(self.down(self.head(x)))))


class ComiDiscriminator(nn.Module):
    """PatchGAN: ``4×4 conv/2 → LReLU → (4×4 conv/2 → LReLU) × 2 → 4×4 conv → 4×4 conv → 1``.

    The output is a map of patch scores (receptive field 70 px, as pix2pix's).
    """

    def __init__(self, *, config: ComiConfig | None = None) -> None:
        super().__init__()
        self.config = config or ComiConfig()
        w = self.config.disc_width
        layers: list[nn.Module] = [nn.Conv2d(1, w, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
        for i, o, s in ((w, 2 * w, 2), (2 * w, 4 * w, 2), (4 * w, 8 * w, 1)):
            layers += [nn.Conv2d(i, o, 4, stride=s, padding=1), nn.LeakyReLU(0.2)]
        layers.append(nn.Conv2d(8 * w, 1, 4, padding=1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the patch scores ``(B, 1, h, w)``."""
        return self.net(x)
