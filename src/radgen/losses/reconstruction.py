"""Reconstruction terms, per image.

``reconstruction_loss`` returns one value per image: the per-pixel loss summed
(``reduction='sum'``, the negative log-likelihood convention of design document 002:
BCE in nats per image) or averaged (``reduction='mean'``, the ``F.l1_loss`` convention of
design document 000) over C x H x W. Averaging over the batch is the caller's job, so
the two reductions are never mixed up.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

from radgen.errors import ConfigError

ReconLoss = Literal["bce", "mse", "l1"]
Reduction = Literal["sum", "mean"]


def reconstruction_loss(
    x_hat_or_logits: torch.Tensor, x: torch.Tensor, *, kind: ReconLoss, reduction: Reduction
) -> torch.Tensor:
    """(B, C, H, W) prediction and target in [0, 1] -> (B,) loss per image.

    For ``kind='bce'`` the prediction must be logits (numerically stable BCE); for
    ``mse``/``l1`` it is the image in [0, 1].
    """
    if kind == "bce":
        per_pixel = F.binary_cross_entropy_with_logits(x_hat_or_logits, x, reduction="none")
    elif kind == "mse":
        per_pixel = (x_hat_or_logits - x) ** 2
    elif kind == "l1":
        per_pixel = (x_hat_or_logits - x).abs()
    else:
        raise ConfigError(f"recon_loss={kind!r}; valid: bce, mse, l1")
    flat = per_pixel.flatten(1)  # (B, C*H*W)
    return flat.sum(1) if reduction == "sum" else flat.mean(1)


def ssim_loss(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """(B,) 1 - SSIM per image (Wang et al. 2004; Gaussian window 11, sigma 1.5, data range 1).

    torchmetrics' differentiable SSIM; the window shrinks for images under 11 px.
    """
    from torchmetrics.functional.image import structural_similarity_index_measure as ssim

    k = 11 if min(x.shape[-2:]) >= 11 else (min(x.shape[-2:]) // 2) * 2 - 1
    val = ssim(x_hat, x, data_range=1.0, kernel_size=k, sigma=1.5 * k / 11, reduction="none")
    return 1.0 - val
