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

__all__ = [
    "DEFAULT_IN_FOCUS_DIR",
    "DEFAULT_VAL_IMAGE",
    "REAL_Z00_DIR",
    "SHARED_DATA_DIR",
    "add_error_floor",
    "in_focus_paths",
    "load_in_focus",
    "measure_error_floor",
    "random_crops",
    "sample_pairs",
    "split_by_image",
    "train_fusion",
    "well_of",
]
