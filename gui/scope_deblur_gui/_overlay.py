"""The defocus-map overlay: DelpNet's map of the newest raw frame, on its own thread (no Qt)."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from scope_deblur.protocols import DefocusEstimator

    from ._controller import RunController

__all__ = ["Overlay"]

log = logging.getLogger(__name__)


class Overlay:
    """Computes the defocus map of the newest raw frame on its own thread, when on.

    While it is on, raw frames reach the viewer with their map (newest first; frames
    that arrive while one is estimated are dropped from the display, never from disk).
    """

    def __init__(self, owner: RunController) -> None:
        self.owner = owner
        self.enabled = False
        self.estimator: DefocusEstimator | None = owner._injected[0]
        self.last: tuple[np.ndarray, str] | None = None
        self._pending: tuple[np.ndarray, str] | None = None
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._stop = False

    def offer(self, img: np.ndarray, caption: str) -> None:
        self.last = (img, caption)
        self._pending = (img, caption)
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._work, name="scope-deblur-overlay", daemon=True
            )
            self._thread.start()
        self._wake.set()

    def stop(self) -> None:
        self._stop = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(10)

    def _work(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._stop:
                return
            job, self._pending = self._pending, None
            if job is None:
                continue
            defocus_map = None
            try:
                if self.estimator is None:
                    self.estimator = self.owner.overlay_estimator()
                defocus_map = self.estimator.estimate(job[0]).defocus_map
            except Exception as e:
                log.exception("the defocus map failed")
                self.enabled = False
                self.owner._error(f"Cannot compute the defocus map: {type(e).__name__}: {e}")
            self.owner._offer(raw=job, map=defocus_map, _estimated=True)
