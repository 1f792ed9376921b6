"""Tests of the multi-scale fusion U-Net (shapes, fusion modes, multi-scale loss)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from scope_deblur.nets.fusion_unet import (  # noqa: E402
    FusionUNet,
    FusionUNetConfig,
    multiscale_l1,
)


def _net(n: int, fusion: str, width: int = 4, depth: int = 2) -> FusionUNet:
    torch.manual_seed(0)
    cfg = FusionUNetConfig(n_scales=n, fusion=fusion, base_width=width, depth=depth)
    return FusionUNet(config=cfg).eval()


@pytest.mark.parametrize("fusion", ["sum", "concat"])
@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_every_scale_has_the_right_shape(n: int, fusion: str) -> None:
    net = _net(n, fusion)
    m = net.multiple
    assert m == 2 ** (n - 1 + 2)
    for h, w in [(m, m), (2 * m, 3 * m)]:
        x = torch.rand(2, 1, h, w)
        with torch.no_grad():
            outs = net.forward_scales(x)
        assert len(outs) == n
        for k, y in enumerate(outs):  # coarsest first
            f = 2 ** (n - 1 - k)
            assert y.shape == (2, 1, h // f, w // f)
        assert torch.equal(net(x), outs[-1])


def test_n1_is_a_plain_unet_without_fusion_layers() -> None:
    a, b = _net(1, "sum"), _net(1, "concat")
    assert sum(p.numel() for p in a.parameters()) == sum(p.numel() for p in b.parameters())
    assert a.nets[0].fuse is None


def test_concat_fusion_adds_parameters_and_sum_does_not() -> None:
    n1 = sum(p.numel() for p in _net(1, "sum").parameters())
    s2 = sum(p.numel() for p in _net(2, "sum").parameters())
    c2 = sum(p.numel() for p in _net(2, "concat").parameters())
    assert s2 == 2 * n1  # summation (eq. 7) is parameter-free
    assert c2 > s2  # concatenation (eq. 8) needs 1x1 convs


def test_coarse_features_reach_the_finest_output() -> None:
    """Head-to-tail fusion: the coarse sub-network's weights change the fine output."""
    net = _net(2, "sum")
    x = torch.rand(1, 1, 32, 32)
    net(x).sum().backward()
    grads = [p.grad for p in net.nets[0].parameters() if p.grad is not None]
    assert grads and any(g.abs().sum() > 0 for g in grads)


def test_multiscale_l1_is_zero_for_downsampled_truth_and_positive_otherwise() -> None:
    y = torch.rand(1, 1, 16, 16)
    outs = [
        torch.nn.functional.avg_pool2d(y, 4),
        torch.nn.functional.avg_pool2d(y, 2),
        y,
    ]
    assert float(multiscale_l1(outs, y)) == pytest.approx(0.0, abs=1e-7)
    outs[0] = outs[0] + 0.3
    assert float(multiscale_l1(outs, y)) == pytest.approx(0.1, rel=1e-5)


@pytest.mark.parametrize("bad", [{"n_scales": 0}, {"n_scales": 5}, {"fusion": "mul"}, {"depth": 0}])
def test_config_is_bounded(bad: dict) -> None:
    with pytest.raises(ValueError, match="validation error"):
        FusionUNetConfig(**bad)


def test_conditioned_net_reads_the_defocus_plane() -> None:
    torch.manual_seed(0)
    net = FusionUNet(config=FusionUNetConfig(n_scales=2, base_width=4, depth=1, conditioned=True))
    x = torch.rand(1, 1, 16, 16)
    with torch.no_grad():
        near = net(torch.cat([x, torch.full_like(x, 0.2)], 1))
        far = net(torch.cat([x, torch.full_like(x, 0.8)], 1))
    assert near.shape == (1, 1, 16, 16)
    assert not torch.allclose(near, far)


def test_wiener_input_planes() -> None:
    """Image, defocus plane, then the frame Wiener-deconvolved at that defocus."""
    from scope_deblur.optics import blur, born_wolf_psf
    from scope_deblur.restoration._fusion_inputs import Z_SCALE_UM, input_planes

    cfg = FusionUNetConfig(n_scales=2, base_width=4, depth=1, conditioned=True, wiener=True)
    assert cfg.in_channels == 3 and FusionUNet(config=cfg)(torch.rand(1, 3, 16, 16)).shape == (
        1,
        1,
        16,
        16,
    )
    rng = np.random.default_rng(0)
    sharp = np.zeros((64, 64), np.float32)
    sharp[rng.integers(8, 56, 12), rng.integers(8, 56, 12)] = 1.0
    blurred = blur(torch.from_numpy(sharp), born_wolf_psf(6.0)).numpy()
    planes = input_planes(np.stack([blurred, blurred]), np.array([6.0, 30.0]), cfg)
    assert planes.shape == (2, 3, 64, 64)
    np.testing.assert_array_equal(planes[:, 0], np.stack([blurred, blurred]))
    np.testing.assert_allclose(planes[:, 1, 0, 0], [6.0 / Z_SCALE_UM, 30.0 / Z_SCALE_UM])
    # The right PSF sharpens the points back (higher peaks, lower squared error);
    # a wrong one (30 µm) does not.
    err = [((p - sharp) ** 2).sum() for p in (blurred, planes[0, 2], planes[1, 2])]
    assert err[1] < err[0] and err[1] < err[2]
    assert planes[0, 2].max() > 2 * blurred.max() > 2 * planes[1, 2].max()


def test_rl_input_plane_uses_the_profile_psf() -> None:
    """A known-optics network's third plane is RL with the profile's PSF at the defocus."""
    from scope_deblur.optics import OpticsProfile, PsfParams, blur
    from scope_deblur.restoration import input_planes

    with pytest.raises(ValueError, match="exclusive"):
        FusionUNetConfig(wiener=True, rl_plane=True)
    cfg = FusionUNetConfig(n_scales=2, base_width=4, depth=1, conditioned=True, rl_plane=True)
    assert cfg.in_channels == 3 and cfg.needs_defocus
    profile = OpticsProfile(psf_params=PsfParams(apodisation=0.6, sigma_px=1.5))
    rng = np.random.default_rng(0)
    sharp = np.zeros((64, 64), np.float32)
    sharp[rng.integers(8, 56, 12), rng.integers(8, 56, 12)] = 1.0
    blurred = blur(torch.from_numpy(sharp), profile.psf(6.0)).numpy()
    right = input_planes(blurred[None], np.array([6.0]), cfg, profile)
    wrong = input_planes(blurred[None], np.array([6.0]), cfg)  # nominal Born–Wolf
    assert right.shape == (1, 3, 64, 64)
    err = [((p - sharp) ** 2).sum() for p in (blurred, right[0, 2], wrong[0, 2])]
    assert err[1] < err[0] and err[1] < err[2]
