"""Reading a weight file into a plain state dict: the one place radgen loads user-given weights.

``.safetensors`` is read with safetensors; anything else with ``torch.load(weights_only=True)``, which refuses
pickled code. A checkpoint that wraps its weights under ``state_dict`` is unwrapped.
"""

from __future__ import annotations

from pathlib import Path

import torch

from radgen.errors import ConfigError

SAVE_HINT = "save one with torch.save(model.state_dict(), PATH) or safetensors"


def read_state_dict(path: str | Path, *, what: str = "a state dict", fix: str = SAVE_HINT) -> dict[str, torch.Tensor]:
    """The state dict of tensors in ``path``; a file that is not one is a one-line ``ConfigError`` saying it
    cannot be read as ``what``, then ``fix``. The caller checks that the file exists (its message names its option).
    """
    path = Path(path)
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ConfigError(
            f"{path}: cannot be read as {what} ({type(exc).__name__}: {' '.join(str(exc).split())[:160]}); {fix}"
        ) from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):  # a checkpoint wrapping its state dict
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ConfigError(f"{path}: holds a {type(state).__name__}, not a state dict of tensors; {fix}")
    return state
