"""The scope-deblur Qt acquisition GUI (imports the core, never the reverse)."""

from ._app import main, run_app
from ._window import MainWindow

__all__ = ["MainWindow", "main", "run_app"]
