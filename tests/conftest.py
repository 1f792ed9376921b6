"""Shared fixtures: a fresh demo core, stand-in estimators and restorers."""

from __future__ import annotations

import gc
import os
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import pytest
from scope_deblur.protocols import DefocusEstimate


@pytest.fixture
def one_torch_thread():
    """Run torch on one thread: on a shared 2-core machine small ops stall otherwise."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def demo_core():
    """A UniMMCore with the demo microscope; released after the test."""
    from scope_deblur.demo import load_demo_core

    core = load_demo_core()
    yield core
    core.mda.cancel()
    del core
    gc.collect()  # MMCore sits in reference cycles; a core alive at exit aborts


class OracleEstimator:
    """Reads the true defocus from the demo camera (a stand-in for DelpNet)."""

    name = "oracle"

    def __init__(self, camera):
        self.camera = camera

    def estimate(self, frame: np.ndarray) -> DefocusEstimate:
        truth = self.camera.truth_for(frame)
        return DefocusEstimate(None if truth is None else abs(truth.defocus_um), 1.0)


class ScaleRestorer:
    """Halves the frame (so tests can tell restored from raw), optionally slowly."""

    name = "scale"

    def __init__(self, delay_s: float = 0.0, fail_on: set[int] | None = None):
        self.delay_s, self.fail_on, self.calls = delay_s, fail_on or set(), 0

    def restore(self, frame: np.ndarray, estimate: DefocusEstimate) -> np.ndarray:
        self.calls += 1
        if self.calls - 1 in self.fail_on:
            raise RuntimeError(f"injected failure on call {self.calls - 1}")
        time.sleep(self.delay_s)
        return np.asarray(frame, dtype=np.float32) * 0.5


@pytest.fixture
def oracle(demo_core):
    from scope_deblur.demo import demo_camera

    return OracleEstimator(demo_camera(demo_core))


def read_run(path, indices):
    """Stack the frames at the MDA ``indices`` of raw or restored data; NaN where missing."""
    from scope_deblur.live import RawData

    data = RawData(path, indices)
    first = next(data.read(i) for i in indices if data.has(i))
    return np.stack(
        [
            data.read(i).astype(np.float32) if data.has(i) else np.full(first.shape, np.nan)
            for i in indices
        ]
    )
