"""A DINOv2 vision transformer in plain torch whose state-dict keys are Hugging Face ``transformers``' ``Dinov2Model``.

It reads the files a RAD-DINO folder holds (``config.json`` and ``model.safetensors``, as published for
``Dinov2Model``; Perez-Garcia et al. 2024, RAD-DINO; Oquab et al. 2023, DINOv2) without ``transformers``: the
transformers 5 wheel cannot import its DINOv2 classes without ``tokenizers``, which radgen does not install.
Only the standard DINOv2 block is built (layer scale, GELU MLP, no SwiGLU, no registers); a config asking for
anything else is refused. Images are fed at the config's ``image_size``, so the position embeddings are used as
stored (no interpolation). Output: the final layer norm's class token (``Dinov2Model``'s ``pooler_output``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from radgen.errors import ConfigError


def check_dinov2_config(cfg: dict[str, Any], where: str) -> dict[str, Any]:
    """The config values the model uses; a config of another architecture is a one-line ``ConfigError``."""
    if cfg.get("model_type", "dinov2") != "dinov2":
        raise ConfigError(
            f"{where}: model_type {cfg.get('model_type')!r}, not 'dinov2'; give a RAD-DINO/DINOv2 folder"
        )
    if cfg.get("use_swiglu_ffn") or cfg.get("num_register_tokens"):
        raise ConfigError(f"{where}: SwiGLU or register tokens are not supported; give a standard DINOv2 (RAD-DINO)")
    if cfg.get("hidden_act", "gelu") != "gelu":
        raise ConfigError(f"{where}: hidden_act {cfg.get('hidden_act')!r} is not supported (only 'gelu')")
    try:
        out = {
            "hidden_size": int(cfg["hidden_size"]),
            "num_hidden_layers": int(cfg["num_hidden_layers"]),
            "num_attention_heads": int(cfg["num_attention_heads"]),
            "mlp_ratio": float(cfg.get("mlp_ratio", 4)),
            "patch_size": int(cfg.get("patch_size", 14)),
            "image_size": int(cfg.get("image_size", 518)),
            "num_channels": int(cfg.get("num_channels", 3)),
            "layer_norm_eps": float(cfg.get("layer_norm_eps", 1e-6)),
        }
    except (KeyError, TypeError, ValueError) as exc:
        problem = f"{type(exc).__name__}: {exc}"
        raise ConfigError(f"{where}: not a DINOv2 config ({problem}); give RAD-DINO's config.json") from None
    if out["hidden_size"] % out["num_attention_heads"]:
        raise ConfigError(f"{where}: hidden_size {out['hidden_size']} is not a multiple of num_attention_heads")
    return out


class _SelfAttention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.query, self.key, self.value = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.view(b, n, self.heads, d // self.heads).transpose(1, 2)

        out = nn.functional.scaled_dot_product_attention(
            split(self.query(x)), split(self.key(x)), split(self.value(x))
        )
        return out.transpose(1, 2).reshape(b, n, d)


class _Attention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.attention = _SelfAttention(dim, heads)
        self.output = nn.Module()
        self.output.dense = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.output.dense(self.attention(x))


class _LayerScale(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.lambda1 = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.lambda1


class _MLP(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(dim, hidden), nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(nn.functional.gelu(self.fc1(x)))


class _Layer(nn.Module):
    def __init__(self, dim: int, heads: int, hidden: int, eps: float):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim, eps=eps), nn.LayerNorm(dim, eps=eps)
        self.attention = _Attention(dim, heads)
        self.layer_scale1, self.layer_scale2 = _LayerScale(dim), _LayerScale(dim)
        self.mlp = _MLP(dim, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.layer_scale1(self.attention(self.norm1(x)))
        return x + self.layer_scale2(self.mlp(self.norm2(x)))


class Dinov2(nn.Module):
    """DINOv2 with ``Dinov2Model``'s parameter names; ``forward`` gives the (N, hidden_size) class token."""

    def __init__(self, *, hidden_size, num_hidden_layers, num_attention_heads, mlp_ratio, patch_size, image_size,
                 num_channels, layer_norm_eps):  # fmt: skip
        super().__init__()
        self.image_size, self.num_channels, self.hidden_size = image_size, num_channels, hidden_size
        n_patches = (image_size // patch_size) ** 2
        self.embeddings = nn.Module()
        self.embeddings.cls_token = nn.Parameter(torch.zeros(1, 1, hidden_size))
        self.embeddings.mask_token = nn.Parameter(torch.zeros(1, hidden_size))
        self.embeddings.position_embeddings = nn.Parameter(torch.zeros(1, n_patches + 1, hidden_size))
        self.embeddings.patch_embeddings = nn.Module()
        self.embeddings.patch_embeddings.projection = nn.Conv2d(num_channels, hidden_size, patch_size, patch_size)
        self.encoder = nn.Module()
        hidden = int(hidden_size * mlp_ratio)
        self.encoder.layer = nn.ModuleList(
            _Layer(hidden_size, num_attention_heads, hidden, layer_norm_eps) for _ in range(num_hidden_layers)
        )
        self.layernorm = nn.LayerNorm(hidden_size, eps=layer_norm_eps)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """(N, num_channels, image_size, image_size), normalised as the model's processor does -> (N, hidden_size)."""
        e = self.embeddings
        x = e.patch_embeddings.projection(pixels).flatten(2).transpose(1, 2)
        x = torch.cat([e.cls_token.expand(len(x), -1, -1), x], 1) + e.position_embeddings
        for layer in self.encoder.layer:
            x = layer(x)
        return self.layernorm(x)[:, 0]
