"""Tests of the figures the runtime commands make."""

from __future__ import annotations

import matplotlib.image
import numpy as np
from scope_deblur.figures import save_defocus_map


def test_defocus_map_png_masks_background(tmp_path) -> None:
    m = np.full((20, 30), np.nan)
    m[5:15, 5:25] = np.linspace(0, 40, 20)[None]
    img = matplotlib.image.imread(save_defocus_map(m, tmp_path / "map.png", title="t"))
    assert img.ndim == 3 and img.std() > 0.05
