"""Neural networks (each imports torch; import this subpackage lazily)."""

from .comi import ComiConfig, ComiDiscriminator, ComiGenerator
from .delpnet import DelpNet, DelpNetConfig
from .fusion_unet import FusionUNet, FusionUNetConfig
from .m_deblurgan import MDeblurConfig, MDeblurGenerator

__all__ = [
    "ComiConfig",
    "ComiDiscriminator",
    "ComiGenerator",
    "DelpNet",
    "DelpNetConfig",
    "FusionUNet",
    "FusionUNetConfig",
    "MDeblurConfig",
    "MDeblurGenerator",
]
