"""One restorer per channel, each with the optics profile's entry for its wavelength."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ..optics import OpticsProfile
    from ..protocols import DefocusEstimate, Restorer

__all__ = ["ChannelRestorers"]


class ChannelRestorers:
    """Restorers by channel: ``build(profile.for_channel(name))``, made when first needed.

    The live pipeline asks :meth:`for_channel` for each frame's restorer; a channel the
    profile has no entry for, or a frame without a channel, gets the profile's own.
    """

    def __init__(self, build: Callable[[OpticsProfile], Restorer], profile: OpticsProfile) -> None:
        self._build, self.profile = build, profile
        self.default = build(profile.for_channel(None))
        self.name = self.default.name
        self._by_channel: dict[str, Restorer] = {}

    def for_channel(self, channel: str | None) -> Restorer:
        """Return the restorer for frames of ``channel``."""
        if channel is None or channel not in self.profile.channels:
            return self.default
        if channel not in self._by_channel:
            self._by_channel[channel] = self._build(self.profile.for_channel(channel))
        return self._by_channel[channel]

    def restore(self, frame: np.ndarray, estimate: DefocusEstimate) -> np.ndarray:
        """Restore a frame of no known channel (with the profile's own entry)."""
        return self.default.restore(frame, estimate)
