"""DelpNet: patch-wise defocus-level classifier.

Wang, Li et al., "Adaptive weighting depth-variant deconvolution of fluorescence
microscopy images with convolutional neural network" (DelpNet/AWDVD), sections 2.2
and 3.2, Fig. 2(b): a plain CNN of 7 convolutional layers, each
``conv => BatchNorm (Keras momentum 0.60) => ReLU => Dropout``, then global max
pooling and a dense classification layer over the defocus levels plus "bg". It is
trained with cross-entropy on the synthetic images of eq. (1)-(2).

Keras' BN momentum ``m`` weights the *old* running statistics; PyTorch's weights the
new batch, so Keras 0.60 is PyTorch ``momentum=0.4``.

The widths here are smaller than the paper's 2.3 M parameters so that a whole
696×520 frame runs in tens of milliseconds on two CPU cores.
"""

from __future__ import annotations

from itertools import pairwise

import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator
from torch import nn

__all__ = ["DelpNet", "DelpNetConfig"]


class DelpNetConfig(BaseModel):
    """Architecture of a DelpNet and the meaning of its outputs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    levels_um: tuple[float, ...] = Field(
        tuple(float(z) for z in range(0, 41, 2)), min_length=2, max_length=64
    )
    """|defocus| of each class, in µm, increasing."""
    background_class: bool = True
    """Whether the last output is the extra "bg" class (paper section 3.2)."""
    patch: int = Field(84, ge=32, le=256)
    width: int = Field(16, ge=4, le=128)
    """Channels of the first layer; they double at every stride-2 layer."""
    dropout: float = Field(0.1, ge=0.0, le=0.9)
    bn_momentum: float = Field(0.4, gt=0.0, le=1.0)
    """PyTorch convention (Keras 0.60)."""

    @field_validator("levels_um")
    @classmethod
    def _increasing(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if any(b <= a for a, b in pairwise(v)) or v[0] < 0:
            raise ValueError(f"levels_um must be non-negative and increasing, got {v}")
        return v

    @property
    def n_classes(self) -> int:
        """Number of outputs: one per level, plus "bg" when enabled."""
        return len(self.levels_um) + int(self.background_class)

    @property
    def class_names(self) -> list[str]:
        """Name of each output, in order: ``"0 µm"``, ``"2 µm"``, ..., then ``"bg"``."""
        return [f"{z:g} µm" for z in self.levels_um] + ["bg"] * self.background_class

    @property
    def step_um(self) -> float:
        """The widest gap between neighbouring levels."""
        return max(b - a for a, b in pairwise(self.levels_um))


# --- blocks -----------------------------------------------------------------


class ConvBlock(nn.Sequential):
    """conv3x3 => BN => ReLU => Dropout."""

    def __init__(
        self, *, c_in: int, c_out: int, stride: int, dropout: float, momentum: float
    ) -> None:
        super().__init__(
            nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(c_out, momentum=momentum),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
        )


# --- model ------------------------------------------------------------------


REL_TOLERANCE = 0.15
"""Confidence counts probability within ``max(one level step, 15 % of |z|)``: the blur
radius grows linearly with defocus, so the precision one can ask of an estimate at
34 µm is ten times coarser than at 3.4 µm."""


def tolerance_um(z_um: torch.Tensor | float, step_um: float) -> torch.Tensor:
    """Return the agreement tolerance around estimates ``z_um`` (see REL_TOLERANCE)."""
    return torch.clamp(REL_TOLERANCE * torch.as_tensor(z_um).abs(), min=step_um)


class DelpNet(nn.Module):
    """Seven conv blocks, global max pooling, dense head.

    Input ``(B, 1, P, P)`` patches linearly normalised to [0, 1]; output ``(B, C)``
    logits, classes ordered as ``config.levels_um`` then "bg".
    """

    def __init__(self, *, config: DelpNetConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or DelpNetConfig()
        w = cfg.width
        # (out channels, stride) of the seven layers: 84 -> 42 -> 21 -> 11 px.
        plan = [(w, 1), (w, 2), (2 * w, 1), (2 * w, 2)]
        plan += [(4 * w, 1), (4 * w, 2), (8 * w, 1)]
        layers, c_in = [], 1
        for c_out, stride in plan:
            layers.append(
                ConvBlock(
                    c_in=c_in,
                    c_out=c_out,
                    stride=stride,
                    dropout=cfg.dropout,
                    momentum=cfg.bn_momentum,
                )
            )
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(c_in, cfg.n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return class logits for a batch of normalised patches."""
        f = self.features(x)
        f = torch.amax(f, dim=(-2, -1))  # global max pooling
        return self.head(f)

    def expected_um(self, logits: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Turn logits into (defocus µm, confidence, P(bg)) per patch.

        The defocus is the probability-weighted level among the non-bg classes; the
        confidence is the probability mass within :func:`tolerance_um` of it.
        """
        p = torch.softmax(logits.float(), dim=-1)
        n = len(self.config.levels_um)
        levels = torch.tensor(self.config.levels_um, device=p.device)
        p_bg = p[:, n] if self.config.background_class else torch.zeros_like(p[:, 0])
        pf = p[:, :n] / p[:, :n].sum(-1, keepdim=True).clamp_min(1e-12)
        z = (pf * levels).sum(-1)
        tol = tolerance_um(z, self.config.step_um)[:, None]
        near = (levels[None] - z[:, None]).abs() <= tol * 1.0001
        conf = (pf * near).sum(-1)
        return z, conf, p_bg
