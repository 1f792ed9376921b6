"""Focus drift: where the sample's focal plane sits, frame after frame.

Real stages drift along z through thermal ramps, slow wander and occasional jumps
(a bumped table, a refocusing immersion film). The model is the sum of the three,
advanced once per exposed frame, and fully determined by its seed.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

__all__ = ["DriftConfig", "DriftModel"]


class DriftConfig(BaseModel):
    """Parameters of the focal-plane drift, in µm per frame."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    start_um: float = Field(0.0, ge=-200, le=200, description="focal plane at frame 0")
    ramp_um_per_frame: float = Field(0.5, ge=-20, le=20, description="steady drift")
    walk_um_per_frame: float = Field(0.1, ge=0, le=20, description="random-walk step SD")
    jump_probability: float = Field(0.01, ge=0, le=1, description="chance of a jump per frame")
    jump_um: float = Field(5.0, ge=0, le=100, description="SD of a jump")
    limit_um: float = Field(40.0, gt=0, le=500, description="|focal plane| is reflected here")
    seed: int = Field(0, ge=0)


class DriftModel:
    """Seeded focal-plane trajectory; ``step()`` advances one frame.

    Parameters
    ----------
    config : DriftConfig
        Ramp, random walk and jump parameters.
    """

    def __init__(self, config: DriftConfig | None = None) -> None:
        self.config = config or DriftConfig()
        self.reset()

    def reset(self) -> None:
        """Return to frame 0 and re-seed."""
        self._rng = np.random.default_rng(self.config.seed)
        self.frame = 0
        self.focal_plane_um = float(self.config.start_um)

    def step(self) -> float:
        """Advance one frame and return the new focal-plane position in µm."""
        c = self.config
        dz = c.ramp_um_per_frame + c.walk_um_per_frame * self._rng.standard_normal()
        if self._rng.random() < c.jump_probability:
            dz += c.jump_um * self._rng.standard_normal()
        z = self.focal_plane_um + dz
        # Reflect at ±limit so long runs stay in the range the models know.
        period = 4 * c.limit_um
        z = (z + c.limit_um) % period
        z = (z if z <= 2 * c.limit_um else period - z) - c.limit_um
        self.focal_plane_um = float(z)
        self.frame += 1
        return self.focal_plane_um

    def trajectory(self, n: int) -> np.ndarray:
        """Return the next ``n`` focal-plane positions of a fresh copy of this model."""
        copy = DriftModel(self.config)
        return np.array([copy.step() for _ in range(n)])
