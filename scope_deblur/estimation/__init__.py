"""Defocus estimators (DelpNet imports torch only when an estimator is built)."""

from ._delpnet import DelpNetEstimator, background_rule, bench_estimate

__all__ = ["DelpNetEstimator", "background_rule", "bench_estimate"]
