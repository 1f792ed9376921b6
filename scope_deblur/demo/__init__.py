"""The demo microscope: a simulated camera, focus drive and XY stage for UniMMCore."""

from ._core import DEMO_CONFIG, define_pixel_size, demo_camera, load_demo_core
from ._drift import DriftConfig, DriftModel
from ._run import DemoRun, demo_pixel_um, frame_scorer, run_demo
from ._world import DemoWorld, Truth, bead_field, get_world, register_world

__all__ = [
    "DEMO_CONFIG",
    "DemoRun",
    "DemoWorld",
    "DriftConfig",
    "DriftModel",
    "Truth",
    "bead_field",
    "define_pixel_size",
    "demo_camera",
    "demo_pixel_um",
    "frame_scorer",
    "get_world",
    "load_demo_core",
    "register_world",
    "run_demo",
]
