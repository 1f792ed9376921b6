"""Shipped model weights: safetensors files beside JSON cards, checked on load.

A card ``models/NAME.json`` (a :class:`ModelCard`) names the ``architecture`` and
holds its ``config``, the ``sha256`` of ``models/NAME.safetensors``, and provenance:
the paper, the optics, the command that trained it, and free-form fields (training
data, seed, metrics). :func:`build_model` builds the network a card describes.
Loading verifies the hash and that every tensor fits the architecture; pickle is
never used.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from .errors import field_error, one_line
from .optics import Optics

if TYPE_CHECKING:
    import torch

__all__ = [
    "Architecture",
    "ModelCard",
    "build_model",
    "load_card",
    "load_state_dict",
    "models_dir",
    "resolve",
    "save_weights",
    "sha256_file",
]

Architecture = Literal["DelpNet", "FusionUNet", "ComiGenerator", "MDeblurGenerator"]
"""The networks a card can describe (:mod:`scope_deblur.nets`)."""


class ModelCard(BaseModel):
    """The JSON card beside a model's weights.

    The fields every card has are typed; any other field (training data, metrics,
    ``error_floor``, ...) is kept as it is, in ``model_extra``.
    """

    model_config = ConfigDict(frozen=True, extra="allow")

    architecture: Architecture
    """Which network ``config`` configures."""
    config: dict[str, Any]
    """The network's config (``DelpNetConfig``, ``FusionUNetConfig``, ``ComiConfig`` or
    ``MDeblurConfig`` fields)."""
    paper: str
    """The paper, and its sections or equations, that the network follows."""
    optics: Optics
    """The optics of the training data."""
    command: str | None
    """The command that trains the network again (None: not one the CLI offers)."""
    sha256: str = ""
    """The weights' sha256 (written by :func:`save_weights`)."""
    file: str = ""
    """The weights' file name (written by :func:`save_weights`)."""

    @model_validator(mode="before")
    @classmethod
    def _fusion_model_key(cls, data: Any) -> Any:
        """Read the shipped fusion cards: they name the architecture ``"model": "fusion_unet"``."""
        if isinstance(data, dict) and data.get("model") == "fusion_unet":
            return {"architecture": "FusionUNet", **data}
        return data


def build_model(card: ModelCard) -> torch.nn.Module:
    """Return the network (untrained) that ``card`` describes: its architecture and config.

    Raises
    ------
    ValueError
        If the config is not a valid config of the architecture.
    """
    from .nets import (
        ComiConfig,
        ComiGenerator,
        DelpNet,
        DelpNetConfig,
        FusionUNet,
        FusionUNetConfig,
        MDeblurConfig,
        MDeblurGenerator,
    )

    try:
        if card.architecture == "DelpNet":
            return DelpNet(config=DelpNetConfig(**card.config))
        if card.architecture == "ComiGenerator":
            return ComiGenerator(config=ComiConfig(**card.config))
        if card.architecture == "MDeblurGenerator":
            return MDeblurGenerator(config=MDeblurConfig(**card.config))
        return FusionUNet(config=FusionUNetConfig(**card.config))
    except (TypeError, ValueError) as e:
        raise ValueError(
            f"model card of {card.file or 'a model'} has no valid {card.architecture} config: "
            f"{one_line(e)}"
        ) from e


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


def load_card(name_or_path: str | Path) -> ModelCard:
    """Read the JSON card of a model.

    Raises
    ------
    FileNotFoundError
        If there is no card.
    ValueError
        If it is not valid JSON, or not a valid card (naming the field).
    """
    card_path = resolve(name_or_path).with_suffix(".json")
    if not card_path.is_file():
        raise FileNotFoundError(f"model card not found: {card_path}")
    try:
        return ModelCard.model_validate_json(card_path.read_bytes())
    except ValidationError as e:
        raise ValueError(f"model card {card_path} is not valid: {field_error(e)}") from e


def load_state_dict(
    name_or_path: str | Path, model: torch.nn.Module | None = None
) -> tuple[dict[str, torch.Tensor], ModelCard]:
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
    if card.sha256 != digest:
        raise ValueError(
            f"{path.name} is corrupt or was replaced: sha256 {digest[:12]}… does not "
            f"match its card ({card.sha256[:12]}…); reinstall or retrain it"
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


def save_weights(model: torch.nn.Module, path: str | Path, card: ModelCard) -> Path:
    """Save ``model``'s weights as safetensors and write ``card`` with their sha256."""
    from safetensors.torch import save_file

    p = Path(path).with_suffix(".safetensors")
    p.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(state, str(p))
    full = card.model_copy(update={"sha256": sha256_file(p), "file": p.name}).model_dump()
    p.with_suffix(".json").write_text(json.dumps(full, indent=2, default=str) + "\n")
    return p
