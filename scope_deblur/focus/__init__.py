"""Focus: keep the sample in focus from the image itself (no extra hardware).

:class:`FocusLock` turns each frame's |defocus| estimate into signed stage moves
during an MDA (the live session runs it through
:class:`~scope_deblur.live.FocusLockEngine`); :func:`refocus` brings one field into
focus in a few frames, beside a classical search of a focus metric
(:func:`search_focus`).
"""

from ._lock import FocusLock, LockConfig, LockStep, Probe
from ._refocus import RefocusResult, normalised_variance, refocus, search_focus

__all__ = [
    "FocusLock",
    "LockConfig",
    "LockStep",
    "Probe",
    "RefocusResult",
    "normalised_variance",
    "refocus",
    "search_focus",
]
