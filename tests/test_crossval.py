"""Leave-one-well-out cross-validation (#24) and the CARE peer's plumbing."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")


@pytest.fixture(scope="module")
def three_wells(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Small crops of three shipped in-focus images, under their BBBC006 names."""
    import tifffile
    from scope_deblur.lab.training import in_focus_paths, load_in_focus

    folder = tmp_path_factory.mktemp("wells")
    paths = [
        p for p in in_focus_paths() if any(f"__{w}__" in p.name for w in ("a03", "a05", "a07"))
    ]
    for path, image in zip(paths, load_in_focus(paths), strict=True):
        tifffile.imwrite(folder / f"{path.stem}.tif", image[:232, :232].astype(np.uint16))
    return folder


def test_each_fold_trains_without_its_well_and_scores_it(three_wells, tmp_path, one_torch_thread):
    from scope_deblur.lab.crossval import FIELDS, cross_validate, plot_cross_validation
    from scope_deblur.weights import load_card

    calls = []
    out = cross_validate(
        3,
        wells=["a07", "a03"],
        depths=(0.0, 12.0),
        data_dir=three_wells,
        work=tmp_path / "work",
        progress=lambda done, total: calls.append((done, total)),
    )
    assert list(out["folds"]) == ["a07", "a03"] and calls[-1] == (2, 2)
    for well in ("a07", "a03"):
        card = load_card(str(tmp_path / "work" / f"fold-{well}-3.safetensors")).model_extra
        assert card["training"]["val_image"] == well
        assert well not in card["training"]["train_images"]
        assert len(card["training"]["train_images"]) == 2
        rows = out["folds"][well]["rows"]
        assert list(rows) == list(FIELDS)
        for methods in rows.values():
            assert set(methods) == {"net", "net_oracle", "rl"}
            assert all(len(m["gain_db"]) == len(m["ssim_gain"]) == 2 for m in methods.values())
    rl = out["summary"]["dense"]["rl"]
    assert rl["gain_db_min"][1] <= rl["gain_db_mean"][1] <= rl["gain_db_max"][1]
    assert out["delpnet_trained_on"] == ["a02", "a03", "a04", "a05", "a06"]
    assert plot_cross_validation(out, tmp_path / "cv.png").stat().st_size > 0
    # a rerun reuses the trained folds
    again = cross_validate(
        3, wells=["a07"], depths=(0.0, 12.0), data_dir=three_wells, work=tmp_path / "work"
    )
    assert again["folds"]["a07"]["train_minutes"] == out["folds"]["a07"]["train_minutes"]


def test_unknown_well_is_a_value_error(three_wells, tmp_path):
    from scope_deblur.lab.crossval import cross_validate

    with pytest.raises(ValueError, match="a99"):
        cross_validate(1, wells=["a99"], data_dir=three_wells, work=tmp_path)


FAKE_WORKER = """
import sys, numpy as np
job = np.load(sys.argv[1])
assert job["x"].shape[1:] == (128, 128) and len(job["x_val"]) > 0
np.savez(sys.argv[2], preds=job["tests"] * 1.0, minutes=np.float64(0.01))
"""


def test_care_runs_in_its_own_python_and_maps_back(three_wells, tmp_path, monkeypatch):
    """The peer gets normalised pairs and tests in a file; its outputs come back in
    the frames' own units (here a stand-in CARE that returns its input)."""
    from scope_deblur.lab import peers

    worker = tmp_path / "worker.py"
    worker.write_text(FAKE_WORKER)
    python = tmp_path / "python"  # ignores the real worker's path, runs the stand-in
    python.write_text(f'#!/bin/sh\nshift\nexec "{sys.executable}" "{worker}" "$@"\n')
    python.chmod(python.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setattr(peers, "CARE_PAIRS", 16)
    monkeypatch.setattr(peers, "CARE_VALIDATION", 8)
    rng = np.random.default_rng(0)
    frames = [rng.uniform(100, 900, (40, 52)).astype(np.float32) for _ in range(3)]
    outs, minutes = peers.run_care(
        python,
        data_dir=three_wells,
        val_image="a07",
        minutes=0.1,
        inputs=frames,
        work=tmp_path / "w",
    )
    assert minutes == pytest.approx(0.01)
    for f, o in zip(frames, outs, strict=True):
        np.testing.assert_allclose(o, f, rtol=1e-5)
    assert (tmp_path / "w" / "worker.log").is_file()
    assert os.access(python, os.X_OK)
