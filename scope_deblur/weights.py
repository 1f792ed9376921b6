"""Shipped model weights: safetensors files beside JSON cards, checked on load.

A card ``models/NAME.json`` holds the architecture ``config``, the ``sha256`` of
``models/NAME.safetensors``, and free-form provenance (optics, training data, seed,
metrics). Loading verifies the hash and that every tensor fits the architecture;
pickle is never used.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

__all__ = ["load_card", "load_state_dict", "models_dir", "resolve", "save_weights", "sha256_file"]


def models_dir() -> Path:
    """Return the folder of shipped weights: the checkout's ``models/``, else the wheel's."""
    import importlib.util

    checkout = Path(__file__).resolve().parent.parent / "models"
    if checkout.is_dir():
        return checkout
    spec = importlib.util.find_spec("scope_deblur_models")
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    raise FileNotFoundError(
        f"no shipped models found (looked in {checkout} and for scope_deblur_models); "
        "reinstall scope-deblur"
    )


def resolve(name_or_path: str | Path) -> Path:
    """Map a model name (``"delpnet"``) or a path to its ``.safetensors`` file."""
    p = Path(name_or_path)
    if p.suffix == ".json":
        p = p.with_suffix(".safetensors")
    if p.suffix != ".safetensors":
        # A bare name ("delpnet") means a shipped model; anything else is a path.
        p = models_dir() / p.name if p.parent == Path(".") and not p.exists() else p
        p = p.with_suffix(".safetensors")
    return p


def sha256_file(path: Path) -> str:
    """Return the hex sha256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_card(name_or_path: str | Path) -> dict[str, Any]:
    """Read the JSON card of a model."""
    card_path = resolve(name_or_path).with_suffix(".json")
    if not card_path.is_file():
        raise FileNotFoundError(f"model card not found: {card_path}")
    try:
        return json.loads(card_path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"model card {card_path} is not valid JSON: {e}") from e


def load_state_dict(
    name_or_path: str | Path, model: torch.nn.Module | None = None
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Load verified weights and their card; load them into ``model`` if given.

    Raises
    ------
    FileNotFoundError
        If the weights or the card are missing.
    ValueError
        If the hash does not match the card, the file is corrupt, or the tensors do
        not fit ``model``'s architecture.
    """
    from safetensors.torch import load_file

    path = resolve(name_or_path)
    if not path.is_file():
        raise FileNotFoundError(f"model weights not found: {path}")
    card = load_card(path)
    digest = sha256_file(path)
    if card.get("sha256") != digest:
        raise ValueError(
            f"{path.name} is corrupt or was replaced: sha256 {digest[:12]}… does not "
            f"match its card ({str(card.get('sha256'))[:12]}…); reinstall or retrain it"
        )
    try:
        state = load_file(str(path))
    except Exception as e:  # safetensors raises its own error types
        raise ValueError(f"cannot read {path}: {e}") from e
    if model is not None:
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as e:
            first = str(e).splitlines()[0]
            raise ValueError(f"{path.name} does not fit the architecture: {first}") from e
    return state, card


def save_weights(model: torch.nn.Module, path: str | Path, card: dict[str, Any]) -> Path:
    """Save ``model``'s weights as safetensors and write the card with their sha256."""
    from safetensors.torch import save_file

    p = Path(path).with_suffix(".safetensors")
    p.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(state, str(p))
    full = {**card, "sha256": sha256_file(p), "file": p.name}
    p.with_suffix(".json").write_text(json.dumps(full, indent=2, default=str) + "\n")
    return p
