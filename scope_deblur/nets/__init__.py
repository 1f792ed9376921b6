"""Neural networks (each imports torch; import this subpackage lazily)."""

from .delpnet import DelpNet, DelpNetConfig

__all__ = ["DelpNet", "DelpNetConfig"]
