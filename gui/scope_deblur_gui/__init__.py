"""The scope-deblur Qt acquisition GUI (imports the core, never the reverse).

Importing the package imports no Qt (``scope-deblur`` lists the ``gui`` command of
:mod:`.cli` without it). :class:`RunController` (the run: state, folders, session,
focus lock, summary) and its :class:`View` protocol are Qt-free; :class:`MainWindow`
is the Qt view, imported when first used.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

from ._app import main, run_app

if TYPE_CHECKING:
    from ._controller import RunController
    from ._types import LockStatus, RunSettings, View
    from ._window import MainWindow

__all__ = ["LockStatus", "MainWindow", "RunController", "RunSettings", "View", "main", "run_app"]

_LAZY = {
    "LockStatus": "._types",
    "RunController": "._controller",
    "RunSettings": "._types",
    "View": "._types",
    "MainWindow": "._window",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
