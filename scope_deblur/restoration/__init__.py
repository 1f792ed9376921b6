"""Restoration: classical deconvolution (Richardson–Lucy, AWDVD) behind ``Restorer``.

Importing this package does not import torch; the functions import it when called.
"""

from ._awdvd import AWDVDRestorer, awdvd
from ._channels import ChannelRestorers
from ._fusion import FusionRestorer
from ._rescaled import RescaledRestorer, needs_resampling
from ._rl import RLRestorer, estimate_background, richardson_lucy

__all__ = [
    "AWDVDRestorer",
    "ChannelRestorers",
    "FusionRestorer",
    "RLRestorer",
    "RescaledRestorer",
    "awdvd",
    "estimate_background",
    "needs_resampling",
    "richardson_lucy",
]
