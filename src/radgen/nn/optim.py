"""Optimizer helpers shared by the generative engine and the classifiers."""

from __future__ import annotations

import torch


def fused_ok(params: list[torch.nn.Parameter]) -> bool:
    """Whether torch's fused Adam/AdamW kernel takes ``params``: floating point, all on CPU or all on CUDA.

    The fused kernel updates every tensor in one call and equals the per-tensor loop to float32 rounding."""
    kinds = {p.device.type for p in params}
    return len(kinds) == 1 and kinds <= {"cpu", "cuda"} and all(p.is_floating_point() for p in params)
