"""Exported models: ``config.yaml`` + ``weights.safetensors``; nothing is unpickled on load.

These two files are safe to share. Engine checkpoints (``checkpoints/*.ckpt``) are for
resuming a run on the machine that wrote them and are loaded with ``weights_only=True``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import yaml

from radgen import __version__
from radgen.config import to_dict
from radgen.errors import ConfigError, DataError, MissingDataError
from radgen.io import atomic_path, write_text
from radgen.models.base import GenerativeModel, build_model, class_index, model_config_from_dict
from radgen.runfolder import CONFIG, WEIGHTS, export_files

EXPORT_FORMAT = "radgen-export-1"


def save_exported(model: GenerativeModel, folder: str | Path, *, extra: dict[str, Any] | None = None) -> Path:
    """Write ``model`` as ``config.yaml`` + ``weights.safetensors`` into ``folder``; returns the folder."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(folder / WEIGHTS) as tmp:
        save_file(state, str(tmp), metadata={"format": EXPORT_FORMAT})
    meta = {
        "format": EXPORT_FORMAT,
        "radgen_version": __version__,
        "model": to_dict(model.config),
        "losses": model.describe_losses(),
        **(extra or {}),
    }
    write_text(folder / CONFIG, yaml.safe_dump(meta, sort_keys=False))
    return folder


def load_exported(
    folder: str | Path, *, map_location: str | torch.device = "cpu"
) -> tuple[GenerativeModel, dict[str, Any]]:
    """(model in eval mode, the export's metadata). ``folder`` is an export or a run directory."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    cfg_path, w_path = export_files(folder)
    if not cfg_path.is_file() or not w_path.is_file():
        raise MissingDataError(
            f"{cfg_path.parent}: not an exported model (needs config.yaml and weights.safetensors); pass a "
            "run directory or its export/ folder"
        )
    from radgen.config import load_yaml

    meta = load_yaml(cfg_path)
    if meta.get("format") != EXPORT_FORMAT or not isinstance(meta.get("model"), dict):
        raise ConfigError(f"{cfg_path}: not a {EXPORT_FORMAT} file (format and model fields)")
    model = build_model(model_config_from_dict(meta["model"]), pretrained=False)  # the export holds every weight
    try:
        state = load_file(str(w_path), device=str(map_location))
    except (SafetensorError, OSError) as exc:
        raise DataError(
            f"{w_path}: damaged or truncated weights ({' '.join(str(exc).split())[:100]}); copy the export again, "
            "or re-export it from the run's checkpoints/best.ckpt"
        ) from None
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # a tensor of the wrong shape
        raise ConfigError(
            f"{w_path}: weights do not match {cfg_path.name} ({' '.join(str(exc).split())[:120]})"
        ) from None
    if missing or unexpected:
        raise ConfigError(
            f"{w_path}: weights do not match the config (missing {missing[:3]}, unexpected {unexpected[:3]})"
        )
    names = (meta.get("data") or {}).get("class_names")
    model.class_names = tuple(str(c) for c in names) if names else None
    return model.eval(), meta


def label_index(text: str | int | None, class_names: list[str] | tuple[str, ...]) -> int | None:
    """A class given by name (as the export's metadata records it; exact, else any case) or by index
    (``models.base.class_index``)."""
    return None if text is None else class_index(text, class_names)
