"""Tests of the report figures."""

from __future__ import annotations

import numpy as np
from scope_deblur.report import plot_confusion, save_defocus_map


def _png(path) -> np.ndarray:
    import matplotlib.image

    return matplotlib.image.imread(path)


def test_confusion_figure_has_one_panel_per_matrix(tmp_path) -> None:
    conf = np.array([[9, 1, 0], [0, 5, 5], [0, 0, 0]])
    one = plot_confusion({"a": conf}, ["0 µm", "2 µm", "bg"], tmp_path / "one.png")
    two = plot_confusion({"a": conf, "b": conf.T}, ["0 µm", "2 µm", "bg"], tmp_path / "two.png")
    w1, w2 = _png(one).shape[1], _png(two).shape[1]
    assert 1.7 < w2 / w1 < 2.3  # two panels side by side
    assert _png(one).std() > 0.05  # something was drawn


def test_defocus_map_png_masks_background(tmp_path) -> None:
    m = np.full((20, 30), np.nan)
    m[5:15, 5:25] = np.linspace(0, 40, 20)[None]
    img = _png(save_defocus_map(m, tmp_path / "map.png", title="t"))
    assert img.ndim == 3 and img.std() > 0.05
