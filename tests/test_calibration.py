"""Through-focus calibration: the fit recovers known optics, profiles load and are used."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
from scope_deblur.live import RawData, RunFolder, open_core
from scope_deblur.optics import (
    NOMINAL,
    Optics,
    OpticsProfile,
    PsfParams,
    born_wolf_psf,
    load_profile,
    pupil_psfs,
)

from scope_deblur_calibration import acquire_stack, demo_bead_core, extract_bead, fit_stack

from .test_cli import assert_one_line_error, run_cli

HIGH_NA = Optics(wavelength_um=0.52, na=0.85, n=1.0, pixel_um=0.13)
TRUE = PsfParams(sigma_px=0.8, sigma_per_um=0.6, spherical=0.4)


def _bead_stack(params: PsfParams, seed: int = 0, shift: float = 0.0) -> np.ndarray:
    """One bead through focus (0.3 µm steps, focus at plane 8), with offset and noise."""
    z = (np.arange(17) - 8) * 0.3 + shift
    psfs = pupil_psfs(z, params, HIGH_NA, size=51, oversample=1)
    stack = np.zeros((17, 80, 80))
    stack[:, 12:63, 20:71] = psfs * 3e5
    rng = np.random.default_rng(seed)
    return rng.poisson(stack + 100).astype(np.uint16)


def test_nominal_profile_is_the_textbook_psf() -> None:
    np.testing.assert_array_equal(NOMINAL.psf(10.0), born_wolf_psf(10.0).astype(np.float32))
    assert NOMINAL.psf(10.2) is NOMINAL.psf(10.0)  # rounded to 0.5 µm and cached
    assert NOMINAL.defocus_from_nominal(12.0) == pytest.approx(12.0)
    assert OpticsProfile(optics=HIGH_NA).defocus_from_nominal(12.0) < 12.0  # steeper cone


def test_profile_round_trip_and_clear_errors(tmp_path) -> None:
    p = OpticsProfile(optics=HIGH_NA, psf_params=TRUE, source="test")
    assert load_profile(p.save(tmp_path / "sub" / "p.json")) == p
    bad = tmp_path / "bad.json"
    bad.write_text('{"optics": {"na": "wide"}}')
    with pytest.raises(ValueError, match=r"not an optics profile.*scope-deblur calibrate"):
        load_profile(bad)
    with pytest.raises(FileNotFoundError):
        load_profile(tmp_path / "none.json")


def test_fit_recovers_known_smoothing_and_prefers_the_family() -> None:
    result = fit_stack(_bead_stack(TRUE), 0.3, HIGH_NA, source="synthetic")
    res = {n: c["relative_residual"] for n, c in result.candidates.items()}
    assert res["family"] < res["born_wolf_smoothed"] < res["born_wolf"]
    assert result.best == "family"
    fitted = result.profile.psf_params
    assert fitted.sigma_at(2.0) == pytest.approx(TRUE.sigma_at(2.0), abs=0.3)
    assert fitted.spherical == pytest.approx(TRUE.spherical, abs=0.2)
    assert result.profile.fit is not None and result.profile.fit["best"] == "family"


def test_fit_keeps_plain_born_wolf_when_it_explains_the_bead() -> None:
    result = fit_stack(_bead_stack(PsfParams(), seed=1), 0.3, HIGH_NA)
    assert result.best == "born_wolf"
    assert result.candidates["born_wolf"]["relative_residual"] < 0.05


def test_focus_between_planes_is_found() -> None:
    bead = extract_bead(_bead_stack(PsfParams(), shift=0.12), 0.3, HIGH_NA)
    assert bead.focus_index == pytest.approx(8 - 0.12 / 0.3, abs=0.1)  # planes sit at z + 0.12


def test_unusable_stacks_say_what_is_wrong() -> None:
    with pytest.raises(ValueError, match="at least 5 planes"):
        fit_stack(np.zeros((3, 32, 32)), 0.3, HIGH_NA)
    with pytest.raises(ValueError, match="no bead"):
        noise = np.random.default_rng(0).normal(100, 2, (9, 64, 64))
        fit_stack(noise, 0.3, HIGH_NA)
    with pytest.raises(ValueError, match="positive"):
        fit_stack(_bead_stack(TRUE), 0.0, HIGH_NA)


def test_demo_bead_slide_acquired_through_the_mda(tmp_path) -> None:
    folder = RunFolder(tmp_path / "stack")
    with open_core(demo_bead_core) as core:
        stack = acquire_stack(core, folder, range_um=8.0, step_um=1.0)
    assert stack.shape == (9, 512, 512)
    raw = RawData(folder.raw)  # the stack stays on disk, frame for frame
    np.testing.assert_array_equal(raw.read({"z": 8}), stack[8])
    result = fit_stack(stack, 1.0, NOMINAL.optics, candidates=("born_wolf",))
    assert result.bead.focus_index == pytest.approx(4.0, abs=0.3)  # focus in the middle
    assert result.candidates["born_wolf"]["relative_residual"] < 0.02


def test_restorers_use_the_profile_psf() -> None:
    from scope_deblur.methods import build_restorer
    from scope_deblur.protocols import DefocusEstimate

    rng = np.random.default_rng(0)
    frame = rng.poisson(100 + 400 * (rng.random((64, 64)) > 0.97)).astype(np.float32)
    est = DefocusEstimate(8.0, 1.0)
    smooth = OpticsProfile(psf_params=PsfParams(sigma_px=3.0))
    plain = build_restorer("rl", "cpu").restore(frame, est)
    fitted = build_restorer("rl", "cpu", profile=smooth).restore(frame, est)
    assert not np.allclose(plain, fitted)
    assert build_restorer("fusion-fast", "cpu", profile=smooth).name == "fusion-known-fast"
    with pytest.raises(ValueError, match="--profile needs a restoration method"):
        build_restorer("none", "cpu", profile=smooth)


def test_calibrate_cli_writes_profile_and_figure(tmp_path) -> None:
    stack = tmp_path / "beads.tif"
    tifffile.imwrite(stack, _bead_stack(TRUE))
    out = tmp_path / "scope.json"
    proc = run_cli(
        "calibrate", "--stack", stack, "--z-step", "0.3", "--na", "0.85",
        "--wavelength-nm", "520", "--pixel-size", "0.13", "--out", out, "--json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["best"] == "family" and set(report["candidates"]) == {
        "born_wolf",
        "born_wolf_smoothed",
        "family",
    }
    assert load_profile(out).optics == HIGH_NA
    assert out.with_suffix(".png").stat().st_size > 10_000
    # The profile drives restore: rl deconvolves with its PSF.
    frame = tmp_path / "frame.tif"
    tifffile.imwrite(frame, _bead_stack(TRUE)[3])
    proc = run_cli("restore", frame, "-o", tmp_path / "r", "--method", "rl", "--profile", out)
    assert proc.returncode == 0, proc.stderr
    assert tifffile.imread(tmp_path / "r" / "frame.tif").shape == (80, 80)


def test_calibrate_cli_bad_input_exits_2(tmp_path) -> None:
    stack = tmp_path / "beads.tif"
    tifffile.imwrite(stack, _bead_stack(TRUE))
    assert_one_line_error(run_cli("calibrate"), "exactly one of")
    assert_one_line_error(run_cli("calibrate", "--stack", stack), "--z-step")
    assert_one_line_error(
        run_cli("calibrate", "--stack", stack, "--z-step", "0.3"), "--na", "--wavelength-nm"
    )
    bad = tmp_path / "p.json"
    bad.write_text("not json")
    assert_one_line_error(
        run_cli("restore", stack, "-o", tmp_path / "o", "--profile", bad), "optics profile"
    )
