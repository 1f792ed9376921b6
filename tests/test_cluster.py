"""``restore --workers``: the same output as one process, through a killed worker and a rerun."""

import csv
import os
import signal

import numpy as np
import pytest
import tifffile
from scope_deblur.cluster import WORK_FOLDER, RestoreSpec, restore_on_cluster

from .test_cli import MODELS_READY, run_cli

pytest.importorskip("distributed")


def _cells(shape, seed):
    """A noisy, blurred field of bright blobs (camera counts)."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    field = np.zeros(shape, np.float32)
    field[tuple(rng.integers(0, s, 60) for s in shape)] = 4000
    blurred = gaussian_filter(field, 4) * 40
    return (rng.poisson(blurred) + 100).astype(np.uint16)


@pytest.fixture
def inputs(tmp_path):
    a, b = tmp_path / "a.tif", tmp_path / "b.tif"
    stacks = {a: ("TYX", range(3)), b: ("ZYX", range(3, 8))}
    for path, (axes, seeds) in stacks.items():
        planes = np.stack([_cells((96, 128), s) for s in seeds])
        tifffile.imwrite(path, planes, photometric="minisblack", metadata={"axes": axes})
    return [a, b]


def _same_outputs(one, other, names):
    for name in names:
        x, y = tifffile.imread(one / name), tifffile.imread(other / name)
        assert x.shape == y.shape
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-3)
        assert np.isfinite(y).all()


@pytest.mark.skipif(not MODELS_READY, reason="shipped weights not present")
def test_two_workers_write_what_one_process_writes(tmp_path, inputs):
    big = tmp_path / "big.tif"  # taller than the network's 1024 px tile: restored in tiles
    tifffile.imwrite(big, _cells((1100, 96), 9))
    files = [*inputs, big]
    args = ("restore", *files, "--method", "fusion-fast")
    single = run_cli(*args, "-o", tmp_path / "single")
    multi = run_cli(*args, "-o", tmp_path / "multi", "--workers", 2, "--json")
    assert single.returncode == multi.returncode == 0, single.stderr + multi.stderr
    assert "Dask dashboard: http" in multi.stderr
    _same_outputs(tmp_path / "single", tmp_path / "multi", ["a.tif", "b.tif", "big.tif"])
    with open(tmp_path / "multi" / "b.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["plane"]) for r in rows] == list(range(5))
    assert all(float(r["defocus_um"]) >= 0 for r in rows)
    assert not (tmp_path / "multi" / WORK_FOLDER).exists()  # work removed once complete


def _targets(out, inputs):
    out.mkdir(exist_ok=True)
    return [out / p.name for p in inputs], [out / (p.stem + ".csv") for p in inputs]


def test_a_killed_worker_loses_no_plane(tmp_path, inputs):
    from distributed import default_client

    targets, tables = _targets(tmp_path / "out", inputs)
    killed = []

    def kill_one_worker(done, total):
        if done >= 1 and not killed:
            pids = default_client().run(os.getpid)  # the driver's client: kill one worker
            killed.append(next(iter(pids.values())))
            os.kill(killed[0], signal.SIGKILL)

    summary = restore_on_cluster(
        inputs, targets, tables, RestoreSpec("rl"), workers=2, progress=kill_one_worker
    )
    assert killed and summary["planes"] == summary["planes_restored"] == 8
    for target, n in zip(targets, (3, 5), strict=True):
        planes = tifffile.imread(target)
        assert planes.shape[0] == n and np.isfinite(planes).all()


def _interrupted(inputs, targets, tables, after):
    """Run with Ctrl-C pressed once ``after`` planes are done."""

    def interrupt(done, total):
        if done >= after:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        restore_on_cluster(
            inputs, targets, tables, RestoreSpec("rl"), workers=1, progress=interrupt
        )


def test_an_interrupted_run_restores_only_the_missing_planes(tmp_path, inputs):
    targets, tables = _targets(tmp_path / "out", inputs)
    _interrupted(inputs, targets, tables, after=3)
    kept = sorted((tmp_path / "out" / WORK_FOLDER).glob("*/done/*.json"))
    assert len(kept) >= 3 and not any(t.exists() for t in targets)
    summary = restore_on_cluster(inputs, targets, tables, RestoreSpec("rl"), workers=1)
    assert summary["planes_already_done"] == len(kept)
    assert summary["planes_restored"] == 8 - len(kept)
    reference, _ = _targets(tmp_path / "ref", inputs)
    restore_on_cluster(
        inputs, reference, [t.with_suffix(".csv") for t in reference], RestoreSpec("rl"), workers=1
    )
    _same_outputs(tmp_path / "ref", tmp_path / "out", ["a.tif", "b.tif"])


def test_work_of_another_restoration_is_never_mixed_in(tmp_path, inputs):
    targets, tables = _targets(tmp_path / "out", inputs)
    _interrupted(inputs, targets, tables, after=1)
    with pytest.raises(ValueError, match="unfinished work of another restoration"):
        restore_on_cluster(inputs, targets, tables, RestoreSpec("awdvd"), workers=1)
