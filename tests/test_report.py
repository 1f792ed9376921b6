"""Tests of the lab's figures."""

from __future__ import annotations

import numpy as np
from scope_deblur.lab.report import plot_confusion


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
