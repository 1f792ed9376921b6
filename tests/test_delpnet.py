"""DelpNet network: shapes, configuration bounds, paper settings, level read-out."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError
from scope_deblur.nets import DelpNet, DelpNetConfig


@pytest.mark.parametrize("batch", [1, 5])
@pytest.mark.parametrize("bg", [True, False])
def test_output_shape(batch: int, bg: bool) -> None:
    cfg = DelpNetConfig(width=4, background_class=bg)
    net = DelpNet(config=cfg).eval()
    out = net(torch.rand(batch, 1, 84, 84))
    assert out.shape == (batch, 21 + int(bg))
    assert cfg.n_classes == len(cfg.class_names) == 21 + int(bg)
    assert cfg.class_names[:2] == ["0 µm", "2 µm"] and cfg.step_um == 2.0
    assert (cfg.class_names[-1] == "bg") == bg


def test_paper_settings() -> None:
    net = DelpNet()
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    bns = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(convs) == 7 and len(bns) == 7
    assert all(b.momentum == pytest.approx(0.4) for b in bns)  # Keras 0.60
    assert sum(p.numel() for p in net.parameters()) < 500_000


@pytest.mark.parametrize(
    "bad",
    [
        {"levels_um": (0.0, 2.0, 2.0)},
        {"levels_um": (0.0,)},
        {"width": 0},
        {"dropout": 1.5},
        {"patch": 8},
        {"unknown": 1},
    ],
)
def test_config_rejects(bad: dict) -> None:
    with pytest.raises(ValidationError):
        DelpNetConfig(**bad)


def test_expected_um_reads_levels() -> None:
    cfg = DelpNetConfig(levels_um=(0.0, 2.0, 4.0), width=4)
    net = DelpNet(config=cfg)
    logits = torch.tensor([[0.0, 20.0, 0.0, -20.0], [-9.0, -9.0, -9.0, 20.0]])
    z, conf, p_bg = net.expected_um(logits)
    assert z[0].item() == pytest.approx(2.0, abs=1e-4)
    assert conf[0].item() == pytest.approx(1.0, abs=1e-4)
    assert p_bg[0].item() < 1e-6 and p_bg[1].item() > 0.99


def test_confidence_tolerance_grows_with_defocus() -> None:
    levels = tuple(float(z) for z in range(0, 41, 2))
    net = DelpNet(config=DelpNetConfig(levels_um=levels, width=4))

    def spread(*zs: float) -> torch.Tensor:  # equal mass on the given levels, none on bg
        logits = torch.full((1, len(levels) + 1), -30.0)
        for z in zs:
            logits[0, levels.index(z)] = 0.0
        return logits

    z, conf, _ = net.expected_um(spread(30.0, 34.0, 38.0))  # ±4 µm at 34: within 15 %
    assert z.item() == pytest.approx(34.0, abs=1e-3) and conf.item() == pytest.approx(1.0)
    z, conf, _ = net.expected_um(spread(2.0, 6.0, 10.0))  # ±4 µm at 6: only the centre
    assert z.item() == pytest.approx(6.0, abs=1e-3) and conf.item() == pytest.approx(1 / 3)
