"""The scope-deblur Qt acquisition GUI (imports the core, never the reverse).

Importing the package imports no Qt (``scope-deblur`` lists the ``gui`` command of
:mod:`.cli` without it); :class:`MainWindow` imports it when first used.
"""

from typing import TYPE_CHECKING, Any

from ._app import main, run_app

if TYPE_CHECKING:
    from ._window import MainWindow

__all__ = ["MainWindow", "main", "run_app"]


def __getattr__(name: str) -> Any:
    if name == "MainWindow":
        from ._window import MainWindow

        return MainWindow
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
