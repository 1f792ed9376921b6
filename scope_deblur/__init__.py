"""scope-deblur: live defocus estimation and restoration for Micro-Manager.

Importing this package is cheap: torch and Qt are loaded lazily, only by the
modules that need them.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("scope-deblur")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = ["__version__"]
