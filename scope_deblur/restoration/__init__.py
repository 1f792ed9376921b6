"""Restoration behind ``Restorer``: classical deconvolution, the fusion U-Net, COMI, M-Deblurgan.

Richardson–Lucy, AWDVD, and the fusion U-Net with what it is fed (``input_planes``,
``normalise``: one contract for training and inference).

Importing this package does not import torch; the functions import it when called.
"""

from ._awdvd import AWDVDRestorer, awdvd
from ._channels import ChannelRestorers
from ._checked import restore_checked
from ._comi import COMI_IN_FOCUS_UM, ComiRestorer
from ._fusion import FusionRestorer
from ._fusion_inputs import RL_TV_WEIGHT, WIENER_BALANCE, Z_STEP_UM, input_planes, normalise
from ._mdeblurgan import MDEBLURGAN_IN_FOCUS_UM, MDeblurganRestorer, bicubic_up
from ._rescaled import RescaledRestorer, needs_resampling
from ._rl import RLRestorer, estimate_background, richardson_lucy

__all__ = [
    "COMI_IN_FOCUS_UM",
    "MDEBLURGAN_IN_FOCUS_UM",
    "RL_TV_WEIGHT",
    "WIENER_BALANCE",
    "Z_STEP_UM",
    "AWDVDRestorer",
    "ChannelRestorers",
    "ComiRestorer",
    "FusionRestorer",
    "MDeblurganRestorer",
    "RLRestorer",
    "RescaledRestorer",
    "awdvd",
    "bicubic_up",
    "estimate_background",
    "input_planes",
    "needs_resampling",
    "normalise",
    "restore_checked",
    "richardson_lucy",
]
