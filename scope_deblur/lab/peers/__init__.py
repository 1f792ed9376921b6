"""Peers: other projects' methods, trained and scored on exactly our data.

CARE (csbdeep) needs TensorFlow, which cannot share an environment with this
project's torch, so it runs in its own virtual environment
(:func:`care_environment`, created on first use from the package registry), as a
subprocess that reads training pairs and test frames from a file and writes its
restorations back (``_care_worker.py``: numpy and csbdeep only).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = ["CARE_REQUIREMENTS", "care_environment", "run_care"]

CARE_REQUIREMENTS = ("csbdeep==0.8.2", "tensorflow-cpu==2.21.0", "keras==3.15.1")
"""The CARE environment, pinned (tested together on 2026-12-03)."""

CARE_PAIRS = 2048  # 128² training pairs (256 of train_fusion's batches)
CARE_VALIDATION = 128

_WORKER = Path(__file__).with_name("_care_worker.py")


def _default_env() -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return cache / "scope-deblur" / "peer-care"


def care_environment(path: str | Path | None = None) -> Path:
    """Return the Python of CARE's own environment, creating it when missing.

    Default location: ``~/.cache/scope-deblur/peer-care``. Creating it installs
    :data:`CARE_REQUIREMENTS` (about 700 MB) with pip.

    Raises
    ------
    RuntimeError
        If the environment cannot be created or CARE does not import in it.
    """
    env = Path(path) if path is not None else _default_env()
    python = env / "bin" / "python"
    check = [str(python), "-c", "import csbdeep, tensorflow"]
    if python.is_file() and subprocess.run(check, capture_output=True).returncode == 0:
        return python
    print(f"creating CARE's environment in {env} ({', '.join(CARE_REQUIREMENTS)})", file=sys.stderr)
    steps = (
        [sys.executable, "-m", "venv", str(env)],
        [str(python), "-m", "pip", "install", "-q", *CARE_REQUIREMENTS],
        check,
    )
    for cmd in steps:
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise RuntimeError(f"CARE environment {env}: {' '.join(cmd[:3])} failed: {tail[0]}")
    return python


def run_care(
    python: Path,
    *,
    data_dir: str | Path | None,
    val_image: str,
    minutes: float,
    inputs: Sequence[np.ndarray],
    work: str | Path,
    seed: int = 0,
    threads: int | None = None,
) -> tuple[list[np.ndarray], float]:
    """Train CARE on every image but ``val_image``, then restore ``inputs``.

    CARE trains for ``minutes`` of wall time; returned are the restorations (input
    units) and the minutes it trained.

    The pairs come from :func:`~scope_deblur.lab.training.sample_pairs`, the sampler
    that trains the fusion networks (same images, forward-model family and noise); the
    validation pairs too, from the same training images. Test frames are normalised
    by the same per-frame map as the fusion networks' and mapped back after.
    ``threads`` caps TensorFlow's CPU threads (default: TensorFlow's own choice).
    """
    from ...restoration import normalise
    from ..training import sample_pairs

    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    x, y = sample_pairs(data_dir, CARE_PAIRS + CARE_VALIDATION, val_image=val_image, seed=seed)
    maps = [normalise(np.asarray(f, np.float32)) for f in inputs]
    tests = np.stack([(f - lo) / s for f, (lo, s) in zip(inputs, maps, strict=True)])
    job, out = work / "job.npz", work / "out.npz"
    np.savez(
        job,
        x=x[:CARE_PAIRS],
        y=y[:CARE_PAIRS],
        x_val=x[CARE_PAIRS:],
        y_val=y[CARE_PAIRS:],
        tests=tests.astype(np.float32),
        minutes=np.float64(minutes),
        seed=np.int64(seed),
        threads=np.int64(threads or 0),
    )
    t0 = time.perf_counter()
    done = subprocess.run(
        [str(python), str(_WORKER), str(job), str(out), str(work)],
        capture_output=True,
        text=True,
        timeout=minutes * 60 * 2 + 900,
    )
    (work / "worker.log").write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        raise RuntimeError(f"CARE failed (exit {done.returncode}); see {work / 'worker.log'}")
    result = np.load(out)
    preds = [p * s + lo for p, (lo, s) in zip(result["preds"], maps, strict=True)]
    return [p.astype(np.float32) for p in preds], float(
        result.get("minutes", (time.perf_counter() - t0) / 60)
    )
