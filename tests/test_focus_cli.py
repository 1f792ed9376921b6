"""``scope-deblur focus`` and ``demo --focus-lock`` as a user runs them (real DelpNet)."""

import json

import pytest

from .test_cli import MODELS_READY, assert_one_line_error, run_cli

pytestmark = pytest.mark.skipif(not MODELS_READY, reason="shipped weights not present")


def test_focus_from_20_um_below_in_fewer_frames_than_the_search():
    proc = run_cli("focus", "--demo", "--start-um", -20, "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    ours, search = result["delpnet"], result["search"]
    assert ours["converged"] and abs(ours["final_defocus_um"]) < 1.0
    assert ours["frames"] <= 5 < search["frames"]
    assert abs(search["final_defocus_um"]) < 1.0  # the baseline works too: a fair race


def test_focus_needs_one_microscope():
    assert_one_line_error(run_cli("focus"), "--config CFG or --demo")


def test_demo_with_the_focus_lock_stays_in_focus(tmp_path):
    args = ("demo", "--frames", 60, "--interval-ms", 0, "--method", "none", "--seed", 11)
    locked = run_cli(*args, "--focus-lock", "--out", tmp_path / "on", "--json")
    free = run_cli(*args, "--out", tmp_path / "off", "--json")
    assert locked.returncode == free.returncode == 0, locked.stderr + free.stderr
    on, off = json.loads(locked.stdout), json.loads(free.stdout)
    assert on["focus_lock"] and on["lock_stopped"] is None
    assert on["frames_acquired"] == on["frames_saved_raw"] == 60  # probes are not data
    assert on["frames_probe"] <= 10
    assert on["defocus_abs_median_um"] < 1.5
    assert off["defocus_abs_median_um"] > 5 * on["defocus_abs_median_um"]
    assert (tmp_path / "on" / "focus.csv").is_file()
