"""The microscope core's lifetime: loaded for a block, released however it ends.

MMCore's callback thread must be gone before the interpreter shuts down, or the
process aborts (``FATAL: exception not rethrown``, exit 134). The core sits in
reference cycles, so dropping the last name is not enough: :func:`open_core`
cancels any running MDA when the block ends, and a cycle collection registered
at exit frees every core that no frame still holds.
"""

from __future__ import annotations

import atexit
import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, TypeVar

from pymmcore_plus.experimental.unicore import UniMMCore

if TYPE_CHECKING:
    from pymmcore_plus import CMMCorePlus

__all__ = ["MicroscopeCore", "load_config", "open_core"]

CoreT = TypeVar("CoreT", bound="CMMCorePlus")

atexit.register(gc.collect)  # after every command's frames are gone, before MMCore's teardown


@contextmanager
def open_core(load: Callable[[], CoreT]) -> Iterator[CoreT]:
    """Yield the core that ``load()`` returns; stop its MDA and free it afterwards.

    Use the core only inside the block and keep no other reference to it.
    """
    core = load()
    try:
        yield core
    finally:
        if core.mda.is_running():
            core.mda.cancel()
        del core
        gc.collect()


class MicroscopeCore(UniMMCore):
    """UniMMCore that also takes the Core device's role properties for Python devices.

    pymmcore-widgets selects a stage with ``setProperty("Core", "XYStage", label)``
    (its stage widget's "current device" button); UniMMCore hands that to MMCore,
    which rejects a Python device's label. Here it goes to the setter that knows
    Python devices (``setXYStageDevice``, ``setFocusDevice``, ...).
    """

    _ROLES: ClassVar[dict[str, str]] = {
        "XYStage": "setXYStageDevice",
        "Focus": "setFocusDevice",
        "Camera": "setCameraDevice",
        "Shutter": "setShutterDevice",
    }

    def setProperty(self, label: str, propName: str, propValue: bool | float | int | str) -> None:
        """Set a property; the Core's stage, camera and shutter roles accept Python devices."""
        role = self._ROLES.get(propName) if label == "Core" else None
        if role is not None and str(propValue) and self.isPyDevice(str(propValue)):
            getattr(self, role)(str(propValue))
            return
        super().setProperty(label, propName, propValue)


def load_config(config: Path) -> UniMMCore:
    """Return a UniMMCore with ``config`` loaded (C++ and ``#py`` Python devices).

    Raises
    ------
    FileNotFoundError, IsADirectoryError
        If there is no such file.
    ValueError
        If Micro-Manager cannot load it (its last line of explanation is kept).
    """
    from ..demo import define_pixel_size

    config = Path(config)
    if config.is_dir():
        raise IsADirectoryError(f"Micro-Manager config {config} is a directory, not a file")
    if not config.is_file():
        raise FileNotFoundError(f"no such Micro-Manager config file: {config}")
    core = MicroscopeCore()
    problem = ""
    try:
        core.loadSystemConfiguration(str(config))
        if not core.getLoadedDevices() or core.getLoadedDevices() == ("Core",):
            problem = "it declares no device"
        define_pixel_size(core)
    except Exception as e:  # MMCore raises RuntimeError, the loader many more
        lines = [ln for ln in str(e).splitlines() if ln.strip()]
        problem = lines[-1] if lines else type(e).__name__
    if problem:
        core.unloadAllDevices()
        del core  # freed by the collector at exit, not held by the exception
        raise ValueError(f"cannot load Micro-Manager config {config}: {problem}")
    return core
