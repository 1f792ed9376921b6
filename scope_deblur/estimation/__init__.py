"""Defocus estimators (DelpNet imports torch only when an estimator is built)."""

from ._delpnet import DelpNetEstimator, background_rule, bench_estimate
from ._rescaled import RescaledEstimator, check_estimate_memory, estimate_bytes

__all__ = [
    "DelpNetEstimator",
    "RescaledEstimator",
    "background_rule",
    "bench_estimate",
    "check_estimate_memory",
    "estimate_bytes",
]
