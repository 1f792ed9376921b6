"""Build a UniMMCore loaded with the demo microscope."""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from ._world import DemoWorld, register_world

if TYPE_CHECKING:
    from pymmcore_plus.experimental.unicore import UniMMCore

    from .devices import DemoCamera

__all__ = ["DEMO_CONFIG", "define_pixel_size", "demo_camera", "load_demo_core"]

DEMO_CONFIG = Path(__file__).with_name("demo.cfg")
"""Path of the shipped demo configuration file."""

_counter = itertools.count()


def load_demo_core(world: DemoWorld | None = None, core: UniMMCore | None = None) -> UniMMCore:
    """Return a ``UniMMCore`` with the demo microscope loaded.

    Parameters
    ----------
    world : DemoWorld, optional
        The simulated specimen, stages and drift. A fresh default world if omitted;
        each call gets its own world, so cores never share state by accident.
    core : UniMMCore, optional
        Load into this core instead of a new one (default: a
        :class:`~scope_deblur.live.MicroscopeCore`).
    """
    from ..live import MicroscopeCore

    name = f"world-{next(_counter)}"
    register_world(name, world or DemoWorld())
    text = DEMO_CONFIG.read_text()
    # Point every device at this core's world (a pre-init property, set before init).
    labels = ("Camera", "Z", "XY", "Shutter")
    init = "Property,Core,Initialize,1"
    props = "".join(f"#py Property,{lab},World,{name}\n" for lab in labels)
    text = text.replace(init, props + init, 1)
    core = core or MicroscopeCore()
    with tempfile.TemporaryDirectory() as tmp:  # the public loader reads files only
        config = Path(tmp) / DEMO_CONFIG.name
        config.write_text(text)
        core.loadSystemConfiguration(str(config))
    define_pixel_size(core)
    return core


def define_pixel_size(core: UniMMCore) -> None:
    """Give a demo camera its pixel size, if the config left it undefined.

    A pixel-size preset keyed on a Python device property is rejected by the C++
    core, so a config file cannot express it; this defines an unconditional preset
    ``px`` (the core scales it by the binning). Other cameras are left alone.
    """
    from .devices import DemoCamera

    label = core.getCameraDevice()
    camera = core._pydevices[label] if label and core.isPyDevice(label) else None
    if not isinstance(camera, DemoCamera) or core.getPixelSizeUm() > 0:
        return
    core.definePixelSizeConfig("px")
    core.setPixelSizeUm("px", camera.sim.optics.pixel_um)
    core.setPixelSizeConfig("px")


def demo_camera(core: UniMMCore) -> DemoCamera:
    """Return the demo camera object of ``core`` (it knows each frame's truth)."""
    from .devices import DemoCamera

    label = core.getCameraDevice()
    device = core._pydevices[label]  # the only way to reach a Python device object
    if not isinstance(device, DemoCamera):
        raise TypeError(f"camera {label!r} is not the scope-deblur demo camera")
    return device
