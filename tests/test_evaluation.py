"""Tests of the evaluation commands' building blocks on small real crops."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from scope_deblur.io import read_image
from scope_deblur.lab.evaluation import evaluate_real, evaluate_restoration
from scope_deblur.lab.training import REAL_Z00_DIR, in_focus_paths


def _crop(path, side: int = 160) -> np.ndarray:
    img = read_image(path)
    return np.ascontiguousarray(img[:side, :side])


@pytest.mark.skipif(not REAL_Z00_DIR.is_dir(), reason="needs ../shared/data")
def test_evaluate_real_scores_every_method_with_delpnet_estimates(tmp_path, one_torch_thread):
    z00, focus = tmp_path / "z00", tmp_path / "focus"
    z00.mkdir(), focus.mkdir()
    real = sorted(REAL_Z00_DIR.glob("*.tif"))[:2]
    for k, path in enumerate(real):
        tifffile.imwrite(z00 / f"z{k}.tif", _crop(path))
    tifffile.imwrite(focus / "f.tif", _crop(in_focus_paths()[0]))
    out = evaluate_real(tmp_path / "fig.png", z00_dir=z00, in_focus_dir=focus, device="cpu")
    assert out["n_real"] == 2 and (tmp_path / "fig.png").is_file()
    assert all(z is not None and z >= 20 for z in out["estimates_um"]), out["estimates_um"]
    assert out["in_focus"]["area_ratio"] == 1.0
    assert out["in_focus_estimates_um"][0] <= 2.0  # do no harm: in-focus frames stay so
    assert out["fusion_in_focus"]["area_ratio"] == pytest.approx(1.0, abs=0.1)
    for name in ("input", "fusion", "rl", "awdvd"):
        assert out[name]["median_area_px"] > 0 and np.isfinite(out[name]["spectrum_log_error"])


def test_evaluate_restoration_gain_is_psnr_over_the_input(one_torch_thread):
    out = evaluate_restoration(("input", "rl"), depths=(0, 10), crop=96, device="cpu")
    rl, inp = out["rows"]["rl"], out["rows"]["input"]
    assert rl["gain_db"] == pytest.approx(np.subtract(rl["psnr"], inp["psnr"]), abs=1e-3)
    assert rl["gain_db"][0] == 0.0  # in focus: RL passes the frame through
    assert rl["gain_db"][1] > 1.0  # the true PSF at 10 µm must help


def test_family_forward_blurs_with_members_of_the_family(one_torch_thread):
    kw = {"depths": (10,), "crop": 96, "device": "cpu"}
    bw = evaluate_restoration(("input",), **kw)
    fam = evaluate_restoration(("input",), forward="family", members=2, **kw)
    assert (bw["forward"], bw["members"], fam["forward"], fam["members"]) == (
        "born_wolf",
        1,
        "family",
        2,
    )
    # the family adds smoothing and aberrations: a different, here blurrier, input
    assert fam["rows"]["input"]["psnr"][0] != bw["rows"]["input"]["psnr"][0]
    with pytest.raises(ValueError, match="forward"):
        evaluate_restoration(("input",), forward="disc", **kw)


def test_known_optics_hands_rl_the_member_that_blurred_each_frame(one_torch_thread):
    kw = {"depths": (10,), "crop": 96, "device": "cpu", "forward": "family", "members": 2}
    nominal = evaluate_restoration(("input", "rl"), **kw)
    known = evaluate_restoration(("input", "rl"), known_optics=True, **kw)
    # the same degraded frames (same seed), deconvolved with the right PSF
    assert known["rows"]["input"] == nominal["rows"]["input"] and known["known_optics"]
    assert known["rows"]["rl"]["psnr"][0] > nominal["rows"]["rl"]["psnr"][0]


def test_do_no_harm_table_compares_the_raw_network_with_the_gated_restorer(
    tmp_path, one_torch_thread
):
    import json
    import shutil

    from scope_deblur.lab.evaluation import evaluate_do_no_harm
    from scope_deblur.weights import resolve

    # A floor far above any difference makes the gated restorer return the input.
    src = resolve("fusion-fast")
    dst = tmp_path / "floored.safetensors"
    shutil.copy(src, dst)
    card = json.loads(src.with_suffix(".json").read_text())
    dst.with_suffix(".json").write_text(json.dumps({**card, "error_floor": 1e9}))
    out = evaluate_do_no_harm(str(dst), depths=(0, 10), photons=(1000,), crop=96, device="cpu")
    assert out["depths"] == [0, 10] and out["photons"] == [1000]
    assert out["gain_db"] == [[0.0, 0.0]]
    assert out["raw_gain_db"][0][1] > 1.0  # the network alone restores the 10 um frame
