import json

import numpy as np
import pytest
from scope_deblur.training import _ablation, _fusion


def test_ablation_trains_and_scores_every_variant(tmp_path, monkeypatch, one_torch_thread):
    monkeypatch.setattr(_fusion, "BANK", 2)
    monkeypatch.setattr(_ablation, "VARIANTS", ((1, "sum", False), (2, "concat", True)))
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
