"""M-Deblurgan's generator: joint deblurring and 2× super-resolution, after Zhang et al.

Paper: "M-Deblurgan: ... improve the imaging resolution and depth of field of optical
microscopes" (shared/papers/m-deblurgan.txt, §2.1, Fig. 1(a)). Three modules:

- **Deblurring module** (G1): an encoder-decoder. Encoder: a 5×5 flat convolution and
  four 3×3 residual blocks (no batch normalisation) with three poolings; decoder: three
  ×2 up-sampling 3×3 convolutions and three residual blocks, each skip connection
  passed through a 3×3 flat convolution before the element-wise addition. The feature
  maps of every scale are resampled to 1/4 of the input size and concatenated; two
  up-sampling convolutions bring them back to the input size: the deblurred image.
- **Optimal approximation module**: takes the input image, the encoder-decoder's
  output and the deblurring module's output (N = 3 inputs, eq. 1-2) and passes on
  the one closest to the truth. The paper's equations did not survive in the text we
  have; ours is a per-pixel soft choice, ``a = Σᵢ softmax(w)ᵢ·xᵢ`` with weights ``w``
  computed from the three candidates and the decoder's features, so that where the
  deblurring errs the module can fall back on another candidate (the paper's point:
  the first module's error is not propagated into the second).
- **Super-resolution module** (G2): three 3×3 convolutions on the approximation and
  the decoder's features, a trainable ×2 sub-pixel convolution (the paper: two, for
  its 4× area; ours: one, for 2×) and a 3×3 tail convolution to the image, with a
  global residual ``y = up₂(a) + G2(a)`` (bilinear ``up₂``).

Not the paper's: widths sized for a 2-core CPU, channel growth capped at ``2·width``,
and no discriminator (Fig. 1(b)): the generator is trained with the paper's MSE,
perceptual and SSIM terms alone (see the training module), because an adversarial
term invents texture, as COMI's did here (issue 21). Input and output are per-frame
normalised; the input's height and width must be multiples of
:attr:`MDeblurGenerator.multiple`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

__all__ = ["MDeblurConfig", "MDeblurGenerator"]


class MDeblurConfig(BaseModel):
    """Architecture of an :class:`MDeblurGenerator`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    width: int = Field(20, ge=4, le=64)
    """Channels at the input's resolution; ×2 below it."""
    upscale: int = Field(2, ge=2, le=2)
    """Output pixels per input pixel along each side (the paper's 2×)."""


# ---------------------------------------------------------------- blocks


def _conv(c_in: int, c_out: int, k: int = 3) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, k, padding=k // 2)


class ResBlock(nn.Module):
    """``x + conv3×3(ReLU(conv3×3(x)))``: ResNet's block without batch normalisation."""

    def __init__(self, *, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            _conv(channels, channels), nn.ReLU(inplace=True), _conv(channels, channels)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block."""
        return x + self.body(x)


class Down(nn.Sequential):
    """``maxpool2 => conv3×3 => ReLU => ResBlock``: one encoder level."""

    def __init__(self, *, c_in: int, c_out: int) -> None:
        super().__init__(
            nn.MaxPool2d(2), _conv(c_in, c_out), nn.ReLU(inplace=True), ResBlock(channels=c_out)
        )


class Up(nn.Module):
    """``ResBlock(conv3×3(up₂(x)) + conv3×3(skip))``: one decoder level (flat skip conv)."""

    def __init__(self, *, c_in: int, c_out: int) -> None:
        super().__init__()
        self.up, self.skip = _conv(c_in, c_out), _conv(c_out, c_out)
        self.block = ResBlock(channels=c_out)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        """Up-sample ``x`` ×2 and add the convolved ``skip``."""
        x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
        return self.block(F.relu(self.up(x)) + self.skip(skip))


# ---------------------------------------------------------------- model


class MDeblurGenerator(nn.Module):
    """Deblurring module → optimal approximation → ×2 super-resolution module.

    ``forward`` takes ``(B, 1, h, w)`` and returns ``(B, 1, 2h, 2w)``;
    :meth:`forward_all` also returns the deblurred image and the approximation
    (both ``(B, 1, h, w)``), which the training loss supervises.
    """

    multiple = 8
    """Height and width of an input must be multiples of this (three poolings)."""

    def __init__(self, *, config: MDeblurConfig | None = None) -> None:
        super().__init__()
        self.config = config or MDeblurConfig()
        w, w2, s = self.config.width, 2 * self.config.width, self.config.upscale
        # Deblurring module: encoder (5×5 flat conv, four ResBlocks, three poolings)
        self.head = nn.Sequential(_conv(1, w, 5), nn.ReLU(inplace=True), ResBlock(channels=w))
        self.enc1 = Down(c_in=w, c_out=w2)
        self.enc2, self.enc3 = Down(c_in=w2, c_out=w2), Down(c_in=w2, c_out=w2)
        # ... decoder (three up-sampling convs and ResBlocks, flat convs on the skips)
        self.dec2, self.dec1 = Up(c_in=w2, c_out=w2), Up(c_in=w2, c_out=w2)
        self.dec0 = Up(c_in=w2, c_out=w)
        self.ed_out = _conv(w, 1)
        # ... every scale at 1/4 size, concatenated, two up-sampling convs to full size
        self.fuse = nn.Sequential(_conv(3 * w2 + w, w2, 1), nn.ReLU(inplace=True))
        self.fuse_up1, self.fuse_up2 = _conv(w2, w), _conv(w, w)
        self.deblur_out = _conv(w, 1)
        # Optimal approximation module: a per-pixel soft choice among three candidates
        self.choose = nn.Sequential(_conv(3 + w, w), nn.ReLU(inplace=True), _conv(w, 3))
        # Super-resolution module: three convs, a ×s sub-pixel conv, a tail conv
        self.sr_body = nn.Sequential(
            _conv(1 + w, w), nn.ReLU(inplace=True),
            _conv(w, w), nn.ReLU(inplace=True),
            _conv(w, w), nn.ReLU(inplace=True),
        )  # fmt: skip
        self.subpixel = nn.Sequential(_conv(w, (w // 2) * s * s), nn.PixelShuffle(s))
        self.sr_tail = _conv(w // 2, 1)
        for conv in (self.ed_out, self.deblur_out, self.sr_tail):  # start at the input
            for p in conv.parameters():
                nn.init.zeros_(p)

    def forward_all(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return ``(sr, deblurred, approximation)`` for normalised frames ``x``."""
        e0 = self.head(x)
        e1 = self.enc1(e0)
        e2 = self.enc2(e1)
        e3 = self.enc3(e2)
        d2 = self.dec2(e3, e2)
        d1 = self.dec1(d2, e1)
        d0 = self.dec0(d1, e0)
        x_ed = x + self.ed_out(d0)  # the encoder-decoder's output
        q = e2.shape[-2:]  # 1/4 of the input size
        scales = [F.interpolate(f, size=q, mode="bilinear", align_corners=False) for f in (e3, d1)]
        scales += [d2, F.avg_pool2d(d0, 4)]
        f = self.fuse(torch.cat(scales, dim=1))
        f = F.relu(self.fuse_up1(F.interpolate(f, scale_factor=2.0, mode="bilinear")))
        f = F.relu(self.fuse_up2(F.interpolate(f, scale_factor=2.0, mode="bilinear")))
        x_db = x_ed + self.deblur_out(f)  # the deblurring module's output
        candidates = torch.cat([x, x_ed, x_db], dim=1)
        weights = torch.softmax(self.choose(torch.cat([candidates, d0], dim=1)).float(), dim=1)
        a = (weights.to(x.dtype) * candidates).sum(dim=1, keepdim=True)  # eq. 1-2 (ours)
        g = self.sr_tail(self.subpixel(self.sr_body(torch.cat([a, d0], dim=1))))
        s = float(self.config.upscale)
        sr = F.interpolate(a, scale_factor=s, mode="bilinear", align_corners=False) + g
        return sr, x_db, a

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the deblurred, ×2 super-resolved frames ``(B, 1, 2h, 2w)``."""
        return self.forward_all(x)[0]
