import json

import numpy as np
import pytest
from scope_deblur.lab.training import _ablation, _fusion


def test_ablation_trains_and_scores_every_variant(tmp_path, monkeypatch, one_torch_thread):
    monkeypatch.setattr(_fusion, "BANK", 2)
    monkeypatch.setattr(
        _ablation, "VARIANTS", ((1, "sum", False, False), (2, "concat", True, False))
    )
    result = _ablation.run_ablation(None, tmp_path, steps=1, crop=64)
    names = ["unet_n1", "fusion_n2_concat_conditioned"]
    assert list(result["rows"]) == ["input", "rl", "awdvd", *names]
    assert result["rows"]["input"]["gain_db"] == [0.0] * len(result["depths"])
    assert np.isfinite(result["rows"][names[1]]["psnr"]).all()
    assert (tmp_path / "unet_n1.safetensors").is_file()
    saved = json.loads((tmp_path / "ablation.json").read_text())
    assert saved["steps"] == 1 and set(saved["train_minutes"]) == set(names)
    # A second run reuses the trained variants, and refuses a different budget.
    stamp = (tmp_path / "unet_n1.safetensors").stat().st_mtime_ns
    again = _ablation.run_ablation(None, tmp_path, steps=1, crop=64)
    assert (tmp_path / "unet_n1.safetensors").stat().st_mtime_ns == stamp
    assert again["rows"][names[1]] == result["rows"][names[1]]
    with pytest.raises(ValueError, match="delete"):
        _ablation.run_ablation(None, tmp_path, steps=2, crop=64)


def test_ablation_subset_merges_into_saved_rows(tmp_path, monkeypatch, one_torch_thread):
    monkeypatch.setattr(_fusion, "BANK", 2)
    monkeypatch.setattr(_ablation, "VARIANTS", ((1, "sum", False, False), (2, "sum", True, True)))
    first = _ablation.run_ablation(None, tmp_path, steps=1, crop=64, variants=["unet_n1"])
    assert list(first["rows"]) == ["input", "rl", "awdvd", "unet_n1"]
    both = _ablation.run_ablation(
        None, tmp_path, steps=1, crop=64, variants=["fusion_n2_sum_conditioned_wiener"]
    )
    assert list(both["rows"]) == [
        "input",
        "rl",
        "awdvd",
        "unet_n1",
        "fusion_n2_sum_conditioned_wiener",
    ]
    assert both["rows"]["unet_n1"] == first["rows"]["unet_n1"]
    saved = json.loads((tmp_path / "ablation.json").read_text())
    assert set(saved["train_minutes"]) == {"unet_n1", "fusion_n2_sum_conditioned_wiener"}
    with pytest.raises(ValueError, match="unknown ablation variants"):
        _ablation.run_ablation(None, tmp_path, steps=1, crop=64, variants=["unet_n9"])


def test_train_fusion_writes_a_loadable_card_with_its_error_floor(
    tmp_path, monkeypatch, one_torch_thread
):
    from scope_deblur.restoration import FusionRestorer

    monkeypatch.setattr(_fusion, "BANK", 2)
    card = _fusion.train_fusion(
        None, tmp_path / "tiny", steps=2, base_width=4, conditioned=True, progress=False
    )
    saved = json.loads((tmp_path / "tiny.json").read_text())
    assert saved["error_floor"] == card["error_floor"] > 0
    assert "--width 4" in saved["command"] and "--conditioned" in saved["command"]
    restorer = FusionRestorer(str(tmp_path / "tiny.safetensors"), device="cpu")
    assert restorer.error_floor == saved["error_floor"]
