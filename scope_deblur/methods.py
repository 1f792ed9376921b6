"""Choose the estimator and the restorer by name (what the CLI and GUI offer)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, get_args

import numpy as np

from ._device import resolve_device
from .protocols import DefocusEstimate, DefocusEstimator, Restorer

if TYPE_CHECKING:
    from pathlib import Path

    from .optics import OpticsProfile

__all__ = [
    "FUSION_METHODS",
    "KNOWN_OPTICS",
    "MDEBLURGAN",
    "METHODS",
    "Method",
    "Passthrough",
    "build_estimator",
    "build_restorer",
    "method_upscale",
    "resolve_device",
]

Method = Literal[
    "fusion",
    "fusion-fast",
    "fusion-known",
    "fusion-known-fast",
    "comi",
    "m-deblurgan",
    "awdvd",
    "rl",
    "none",
]
METHODS: tuple[str, ...] = get_args(Method)
FUSION_METHODS = ("fusion", "fusion-fast", "fusion-known", "fusion-known-fast")
"""The shipped fusion networks: the best one and a 4x lighter one for live CPU use, each
also for known optics (a calibrated profile, or the textbook PSF)."""
MDEBLURGAN = "m-deblurgan"
"""Deblurring with 2× super-resolution, for binned frames (a low-magnification objective)."""
KNOWN_OPTICS = {"fusion": "fusion-known", "fusion-fast": "fusion-known-fast"}
"""The network that takes an optics profile in place of each that does not."""


class Passthrough:
    """The ``none`` method: returns the frame unchanged (as float32)."""

    name = "none"

    def restore(self, frame: np.ndarray, estimate: DefocusEstimate) -> np.ndarray:
        """Return ``frame`` as float32."""
        return np.asarray(frame, dtype=np.float32)


def build_restorer(
    method: str,
    device: str = "auto",
    *,
    compile: bool = False,
    profile: OpticsProfile | None = None,
    weights: str | Path | None = None,
    gates: bool = True,
    pixel_um: float | None = None,
) -> Restorer:
    """Return the restorer called ``method`` (one of :data:`METHODS`).

    ``compile`` compiles the fusion network (see :class:`FusionRestorer`). With an
    optics ``profile`` (``scope-deblur calibrate``), ``rl`` and ``awdvd`` deconvolve
    with its PSF, and ``fusion`` and ``fusion-fast`` become ``fusion-known`` and
    ``fusion-known-fast``, the networks that trust it. For the evaluation of other
    networks, a fusion method can load other ``weights`` (a ``.safetensors`` path with
    its card), and ``gates=False`` gives the network alone, without the do-no-harm
    gates (depth, fidelity).

    ``comi`` (:class:`~scope_deblur.restoration.ComiRestorer`, a generator trained on
    unpaired real images) takes no optics: a profile gives it only the pixel size.
    Nor does ``m-deblurgan`` (:class:`~scope_deblur.restoration.MDeblurganRestorer`),
    which restores 2×2-binned frames (1.29 µm pixels) to frames with twice the pixels
    per side (:class:`~scope_deblur.protocols.Upscaling`), whatever the channel.

    A profile with channel entries gives one restorer per channel
    (:class:`~scope_deblur.restoration.ChannelRestorers`). ``pixel_um`` is the frames'
    pixel size in the sample (the profile's when not
    given). Richardson–Lucy and AWDVD then take their PSF at it; a network trained at
    another pixel size (its card's optics) gets each frame resampled to that one
    (:class:`~scope_deblur.restoration.RescaledRestorer`), within the memory budget.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if compile and method not in FUSION_METHODS:
        raise ValueError(f"--compile applies to the fusion methods, not {method!r}")
    if (weights is not None or not gates) and method not in (*FUSION_METHODS, "comi", MDEBLURGAN):
        raise ValueError(f"weights and gates apply to the networks, not {method!r}")
    if profile is not None and method == "none":
        raise ValueError("--profile needs a restoration method, not 'none'")
    if method == "none":
        return Passthrough()
    from . import restoration

    frame_um = pixel_um or (profile.optics.pixel_um if profile is not None else None)
    if method == MDEBLURGAN:  # optics-free: a profile gives only the pixel size
        sr = restoration.MDeblurganRestorer(
            str(weights or MDEBLURGAN), device=resolve_device(device)
        )
        if not gates:
            sr.in_focus_um = -1.0
        return _at_frame_pixel(sr, frame_um, sr.card.optics.pixel_um)
    if profile is not None and profile.channels:  # one restorer per channel's entry
        return restoration.ChannelRestorers(
            lambda entry: build_restorer(
                method,
                device,
                compile=compile,
                profile=entry,
                weights=weights,
                gates=gates,
                pixel_um=pixel_um,
            ),
            profile,
        )
    from .optics import NOMINAL

    dev = resolve_device(device)
    if method in FUSION_METHODS:
        from .weights import load_card

        if profile is not None:
            method = KNOWN_OPTICS.get(method, method)
        trained_um = load_card(str(weights or method)).optics.pixel_um
        known = profile if method in KNOWN_OPTICS.values() else None
        if known is not None:  # the network sees frames at its pixel size, PSF included
            known = _at_pixel(known, trained_um)
        restorer = restoration.FusionRestorer(
            str(weights or method), device=dev, compile=compile, profile=known
        )
        if not gates:
            restorer.in_focus_um, restorer.error_floor = -1.0, 0.0
        return _at_frame_pixel(restorer, frame_um, trained_um)
    if method == "comi":  # blind and optics-free: a profile gives only the pixel size
        comi = restoration.ComiRestorer(str(weights or "comi"), device=dev)
        if not gates:
            comi.in_focus_um = -1.0
        return _at_frame_pixel(comi, frame_um, comi.card.optics.pixel_um)
    psf = _at_pixel(profile or NOMINAL, frame_um)
    if method == "awdvd":
        return restoration.AWDVDRestorer(device=dev, profile=psf)
    return restoration.RLRestorer(device=dev, profile=psf)


def method_upscale(method: str) -> int:
    """Return how many output pixels ``method`` makes of one input pixel, per side.

    1 for every method but ``m-deblurgan``, whose card says (2). Reads no weights.
    """
    if method != MDEBLURGAN:
        return 1
    from .weights import load_card

    return int(load_card(MDEBLURGAN).config.get("upscale", 2))


def _at_frame_pixel(network: Restorer, frame_um: float | None, trained_um: float) -> Restorer:
    """Return ``network`` (trained at ``trained_um``) ready for frames of ``frame_um`` pixels.

    That is the network itself when it was trained at that size (or the size is
    unknown), else the network wrapped to resample each frame to its trained size.
    """
    from . import restoration

    if frame_um is None or not restoration.needs_resampling(frame_um, trained_um):
        return network
    return restoration.RescaledRestorer(network, pixel_um=frame_um, working_um=trained_um)


def _at_pixel(profile: OpticsProfile, pixel_um: float | None) -> OpticsProfile:
    """Return ``profile`` sampled at ``pixel_um`` (the same optics)."""
    if pixel_um is None or pixel_um == profile.optics.pixel_um:
        return profile
    optics = profile.optics.model_copy(update={"pixel_um": pixel_um})
    return profile.model_copy(update={"optics": optics})


def build_estimator(
    device: str = "auto",
    *,
    pixel_um: float | None = None,
    profile: OpticsProfile | None = None,
) -> DefocusEstimator:
    """Return the shipped DelpNet defocus estimator.

    For frames of ``pixel_um`` pixels, or of a microscope with an optics ``profile``,
    it resamples them to DelpNet's pixel size and, with a profile, reads the µm in
    its optics (:class:`~scope_deblur.estimation.RescaledEstimator`).
    """
    from .estimation import DelpNetEstimator, RescaledEstimator

    delpnet = DelpNetEstimator(device=resolve_device(device))
    if pixel_um is None and profile is None:
        return delpnet
    return RescaledEstimator(delpnet, pixel_um=pixel_um, profile=profile)
