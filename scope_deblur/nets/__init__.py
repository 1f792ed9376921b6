"""Neural networks (each imports torch; import this subpackage lazily)."""

from .delpnet import DelpNet, DelpNetConfig
from .fusion_unet import FusionUNet, FusionUNetConfig

__all__ = ["DelpNet", "DelpNetConfig", "FusionUNet", "FusionUNetConfig"]
