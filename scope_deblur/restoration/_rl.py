"""Richardson–Lucy deconvolution in torch (DelpNet/AWDVD paper, eq. 3).

    o_{t+1} = [ (i / (h ⊗ o_t)) ⊗ h(−x, −y) ] · o_t,        o_0 = i

with the optional total-variation regulariser of Dey et al. (Microsc. Res. Tech.
69, 2006), which divides the update by ``1 − λ·div(∇o/|∇o|)`` and keeps plain RL
from amplifying noise as the iterations go on. Borders follow Bertero & Boccacci
(A&A 437, 2005): the object extends one PSF radius past the image (started from a
reflection of it), the FFTs are zero-padded so nothing wraps around, and the
back-projection is normalised by H^T·1. The PSF's transfer function is computed
once. Works on ``(H, W)`` or ``(B, H, W)`` tensors on any device.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .._device import resolve_device
from ..io import check_frame
from ..optics import NOMINAL, OpticsProfile
from ..protocols import DefocusEstimate

if TYPE_CHECKING:
    import torch

__all__ = ["RLRestorer", "estimate_background", "richardson_lucy"]


def estimate_background(frame: np.ndarray) -> float:
    """Return a camera-offset estimate: the 1st percentile of a 3×3 box-filtered frame.

    Averaging first lowers the noise, so the percentile sits close to the offset
    instead of several noise σ below it.
    """
    from scipy.ndimage import uniform_filter

    smooth = uniform_filter(np.asarray(frame, dtype=np.float32), size=3, mode="reflect")
    return float(np.percentile(smooth, 1.0))


def _fast_len(n: int) -> int:
    """Return the smallest m >= n that is 5-smooth and, above 64, a multiple of 16.

    MKL and pocketfft are fastest on such lengths (e.g. 640 beats 625 by ~30 %).
    """
    step = 16 if n > 64 else 1
    m = -(-n // step) * step
    while True:
        q = m
        for p in (2, 3, 5):
            while q % p == 0:
                q //= p
        if q == 1:
            return m
        m += step


def _tv_factor(u: torch.Tensor, eps: torch.Tensor, weight: float) -> torch.Tensor:
    """Return ``max(1 − λ·div(∇u/|∇u|), 0.2)``: forward differences in, backward out.

    Written in place on two buffers: this runs every iteration, and allocation
    dominated the first version.
    """
    import torch

    nx = torch.zeros_like(u)
    ny = torch.zeros_like(u)
    torch.sub(u[..., :, 1:], u[..., :, :-1], out=nx[..., :, :-1])
    torch.sub(u[..., 1:, :], u[..., :-1, :], out=ny[..., :-1, :])
    inv = torch.addcmul(eps * eps, nx, nx).addcmul_(ny, ny).rsqrt_()
    nx.mul_(inv)
    ny.mul_(inv)
    div = inv  # reuse: div = nx − nx(x−1) + ny − ny(y−1)
    torch.add(nx, ny, out=div)
    div[..., :, 1:].sub_(nx[..., :, :-1])
    div[..., 1:, :].sub_(ny[..., :-1, :])
    return div.mul_(-weight).add_(1.0).clamp_min_(0.2)


def richardson_lucy(
    images: torch.Tensor,
    psf: torch.Tensor | np.ndarray,
    *,
    iterations: int = 30,
    tv_weight: float = 0.01,
    tol: float | None = None,
    preserve_flux: bool = True,
) -> torch.Tensor:
    """Deconvolve non-negative images with Richardson–Lucy, optionally TV-regularised.

    Parameters
    ----------
    images : torch.Tensor
        ``(H, W)`` or ``(B, H, W)`` non-negative images (background already removed;
        negative values are clamped to 0).
    psf : torch.Tensor or numpy.ndarray
        Odd square ``(k, k)`` kernel, or one per image ``(B, k, k)``; normalised here.
    iterations : int
        Maximum number of iterations (0 returns the input).
    tv_weight : float
        λ of the TV regulariser (unit-free); 0 gives plain RL, which amplifies noise.
    tol : float, optional
        Stop early once the mean relative change of an iteration drops below this.
    preserve_flux : bool
        Rescale each result to the input's total intensity (RL conserves it only up
        to boundary effects).

    Returns
    -------
    torch.Tensor
        Restored images: same shape and device as ``images``, float32.
    """
    import torch
    import torch.nn.functional as F

    if iterations < 0:
        raise ValueError(f"iterations must be >= 0, got {iterations}")
    if not 0.0 <= tv_weight < 0.5:
        raise ValueError(f"tv_weight must be in [0, 0.5), got {tv_weight}")
    if images.ndim not in (2, 3):
        raise ValueError(f"expected (H, W) or (B, H, W), got shape {tuple(images.shape)}")
    squeeze = images.ndim == 2
    y = (images[None] if squeeze else images).to(torch.float32).clamp_min(0)
    kernel = torch.tensor(psf) if isinstance(psf, np.ndarray) else psf
    kernel = kernel.to(device=y.device, dtype=torch.float32)
    kernel = kernel[None] if kernel.ndim == 2 else kernel
    k = kernel.shape[-1]
    if kernel.ndim != 3 or kernel.shape[-2] != k or k % 2 == 0:
        raise ValueError(f"PSF must be (k, k) or (B, k, k) with odd k, got {tuple(kernel.shape)}")
    if kernel.shape[0] not in (1, y.shape[0]):
        raise ValueError(f"got {kernel.shape[0]} PSFs for a batch of {y.shape[0]}")
    kernel = kernel / kernel.sum(dim=(-2, -1), keepdim=True)
    if iterations == 0:
        return (y[0] if squeeze else y).clone()

    # Unknown-boundary RL (Bertero & Boccacci 2005): the object lives on the image
    # grown by the PSF radius r, data only on the image, and the back-projection is
    # normalised by H^T·1. A period of h + 2r is enough for no wrap-around: the
    # forward model is read only on the data, which sees the object alone, and the
    # back-projection of data-supported ratios reaches only the object.
    h, w = y.shape[-2:]
    r = k // 2
    fh, fw = _fast_len(h + 2 * r), _fast_len(w + 2 * r)
    mode = "reflect" if r < min(h, w) else "replicate"
    est = torch.zeros(y.shape[0], fh, fw, device=y.device)
    est[:, : h + 2 * r, : w + 2 * r] = F.pad(y[:, None], (r, r, r, r), mode=mode)[:, 0]
    data = torch.zeros_like(est)
    data[:, r : r + h, r : r + w] = y
    mask = torch.zeros(1, fh, fw, device=y.device)
    mask[:, r : r + h, r : r + w] = 1.0
    # Transfer function of the kernel centred at the origin.
    centred = torch.zeros(kernel.shape[0], fh, fw, device=y.device)
    centred[:, :k, :k] = kernel
    otf = torch.fft.rfft2(torch.roll(centred, shifts=(-r, -r), dims=(-2, -1)))
    otf_conj = otf.conj()

    def conv(x: torch.Tensor, tf: torch.Tensor) -> torch.Tensor:
        return torch.fft.irfft2(torch.fft.rfft2(x) * tf, s=(fh, fw))

    norm = conv(mask, otf_conj)
    # Object pixels that (almost) no data pixel sees are dropped (set to 0).
    inv_norm = torch.where(norm > 1e-3, 1.0 / norm.clamp_min(1e-3), 0.0)
    mean = y.mean(dim=(-2, -1), keepdim=True).clamp_min(1e-12)
    tiny, tv_eps = 1e-6 * mean, 1e-2 * mean
    for _ in range(iterations):
        ratio = conv(est, otf).clamp_min_(tiny)
        torch.div(data, ratio, out=ratio)  # data is 0 outside the image
        update = conv(ratio, otf_conj).clamp_min_(0).mul_(inv_norm)
        if tv_weight > 0:
            update.div_(_tv_factor(est, tv_eps, tv_weight))
        if tol is None:
            est.mul_(update)
            continue
        new = est * update
        change = float((new - est).abs().sum() / est.abs().sum().clamp_min(1e-12))
        est = new
        if change < tol:
            break

    out = est[:, r : r + h, r : r + w]
    if preserve_flux:
        total = out.sum(dim=(-2, -1), keepdim=True).clamp_min(1e-12)
        out = out * (y.sum(dim=(-2, -1), keepdim=True) / total)
    return out[0] if squeeze else out


class RLRestorer:
    """Depth-invariant restorer: (TV-)Richardson–Lucy with the PSF at the estimate.

    Parameters
    ----------
    profile : OpticsProfile
        The PSF model: a calibrated microscope's, or the textbook Born–Wolf one.
    iterations : int
        RL iterations.
    tv_weight : float
        TV regularisation weight (0: plain RL).
    min_defocus_um : float
        Below this |defocus| (or with no estimate) the frame passes through unchanged:
        restoration must do no harm in focus.
    device : str
        ``"auto"``, ``"cpu"`` or ``"cuda"``.
    """

    name = "rl"

    def __init__(
        self,
        *,
        profile: OpticsProfile = NOMINAL,
        iterations: int = 30,
        tv_weight: float = 0.01,
        min_defocus_um: float = 1.0,
        device: str = "auto",
    ) -> None:
        if iterations < 0:
            raise ValueError(f"iterations must be >= 0, got {iterations}")
        self.profile = profile
        self.iterations = int(iterations)
        self.tv_weight = float(tv_weight)
        self.min_defocus_um = float(min_defocus_um)
        self.device = resolve_device(device)

    def restore(self, frame: np.ndarray, estimate: DefocusEstimate) -> np.ndarray:
        """Return the restored frame: float32, same shape and intensity units.

        The camera offset (see :func:`estimate_background`) is removed before RL and
        added back afterwards, so flux and units are kept.
        """
        import torch

        image = check_frame(frame)
        z = estimate.defocus_um
        if z is None or not np.isfinite(z) or abs(z) < self.min_defocus_um:
            return image.copy()
        background = estimate_background(image)
        x = torch.from_numpy(image - np.float32(background)).to(self.device)
        with torch.inference_mode():
            out = richardson_lucy(
                x,
                self.profile.psf(float(z)),
                iterations=self.iterations,
                tv_weight=self.tv_weight,
            )
        return (out.cpu().numpy() + np.float32(background)).astype(np.float32)
