"""Restoration: classical deconvolution (Richardson–Lucy, AWDVD) behind ``Restorer``.

Importing this package does not import torch; the functions import it when called.
"""

from ._awdvd import AWDVDRestorer, awdvd
from ._fusion import FusionRestorer
from ._rl import RLRestorer, estimate_background, richardson_lucy

__all__ = [
    "AWDVDRestorer",
    "FusionRestorer",
    "RLRestorer",
    "awdvd",
    "estimate_background",
    "richardson_lucy",
]
