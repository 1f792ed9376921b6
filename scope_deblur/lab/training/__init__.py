"""Training of the networks on synthetic defocus (imports torch lazily)."""

from ._data import (
    DEFAULT_IN_FOCUS_DIR,
    DEFAULT_VAL_IMAGE,
    REAL_Z00_DIR,
    SHARED_DATA_DIR,
    in_focus_paths,
    load_in_focus,
    random_crops,
    split_by_image,
    well_of,
)
from ._fusion import add_error_floor, measure_error_floor, sample_pairs, train_fusion
from ._mdeblurgan import BINNING, bin_sum, train_mdeblurgan

__all__ = [
    "BINNING",
    "DEFAULT_IN_FOCUS_DIR",
    "DEFAULT_VAL_IMAGE",
    "REAL_Z00_DIR",
    "SHARED_DATA_DIR",
    "add_error_floor",
    "bin_sum",
    "in_focus_paths",
    "load_in_focus",
    "measure_error_floor",
    "random_crops",
    "sample_pairs",
    "split_by_image",
    "train_fusion",
    "train_mdeblurgan",
    "well_of",
]
