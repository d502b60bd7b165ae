"""Reconstruction quality of encoder-decoder models on a split (decoding mu, design document 000 section 3.4).

Per image, then averaged: SSIM (Gaussian window 11, sigma 1.5, data range 1; the window
shrinks below 11 px), PSNR = 10 log10(1 / MSE) in dB, L1 and MSE per pixel, all on [0, 1].
"""

from __future__ import annotations

import torch

from radgen.data.base import ImageSet
from radgen.errors import ConfigError


def image_quality(x_hat: torch.Tensor, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-image SSIM, PSNR, L1, MSE of (N, C, H, W) images in [0, 1]."""
    from radgen.losses import ssim_loss

    mse = (x_hat - x).pow(2).flatten(1).mean(1)
    return {
        "ssim": 1.0 - ssim_loss(x_hat.float(), x.float()),
        "psnr": 10 * torch.log10(1.0 / mse.clamp(min=1e-12)),
        "l1": (x_hat - x).abs().flatten(1).mean(1),
        "mse": mse,
    }


@torch.no_grad()
def reconstruction_metrics(model, images: ImageSet, *, batch_size: int = 256) -> dict[str, float]:
    """Mean SSIM, PSNR, L1 and MSE of the model's reconstructions of ``images``, and their number."""
    if model.encoding == "none":
        raise ConfigError(f"model {model.config.name!r} has no encoder to reconstruct with")
    model.eval()
    sums: dict[str, float] = {}
    for s in range(0, len(images), batch_size):
        x, y = images.batch(torch.arange(s, min(s + batch_size, len(images))))  # this batch only
        for key, v in image_quality(model.reconstruct(x, y), x).items():
            sums[key] = sums.get(key, 0.0) + float(v.sum())
    out = {k: v / len(images) for k, v in sums.items()}
    out["n"] = len(images)
    return out
