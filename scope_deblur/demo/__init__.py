"""The demo microscope: a simulated camera, focus drive and XY stage for UniMMCore."""

from ._core import DEMO_CONFIG, define_pixel_size, demo_camera, load_demo_core
from ._drift import DriftConfig, DriftModel
from ._world import DemoWorld, Truth, get_world, register_world

__all__ = [
    "DEMO_CONFIG",
    "DemoWorld",
    "DriftConfig",
    "DriftModel",
    "Truth",
    "define_pixel_size",
    "demo_camera",
    "get_world",
    "load_demo_core",
    "register_world",
]
