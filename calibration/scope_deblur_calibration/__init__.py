"""Through-focus calibration of scope-deblur for one microscope.

Fit the optics (the PSF through focus) to a bead z-stack, read from a file or
acquired on the microscope, and write an optics profile that the restorers use
(``--profile``). Imports the core only.
"""

from ._acquire import acquire_stack, demo_bead_core
from ._figure import save_figure
from ._fit import CANDIDATES, BeadStack, CalibrationResult, extract_bead, fit_stack

__all__ = [
    "CANDIDATES",
    "BeadStack",
    "CalibrationResult",
    "acquire_stack",
    "demo_bead_core",
    "extract_bead",
    "fit_stack",
    "save_figure",
]
