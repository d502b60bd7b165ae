"""Reconstruction terms, per image.

``reconstruction_loss`` returns one value per image: the per-pixel loss summed
(``reduction='sum'``, the negative log-likelihood convention of design document 002:
BCE in nats per image) or averaged (``reduction='mean'``, the ``F.l1_loss`` convention of
design document 000) over C x H x W. Averaging over the batch is the caller's job, so
the two reductions are never mixed up.

Structural similarity lives here too, once, for the losses and the diversity metric alike:

- ``ssim_loss``: 1 - SSIM (Wang et al. 2004).
- ``ms_ssim``: MS-SSIM (Wang et al. 2003) through torchmetrics, on a Gaussian window of ``k`` px with
  ``sigma = 1.5 * k / 11`` (the standard 11 px, sigma 1.5 window, scaled with its size) and the standard scale
  weights (0.0448, 0.2856, 0.3001, 0.2363, 0.1333). Five scales need images larger than (11 - 1) * 2^4 = 160 px;
  smaller images keep the 11 px window where it fits and use the largest number of scales s for which
  ``(k - 1) * 2^(s - 1) < size``, the first s weights renormalised to sum to 1; below 22 px the window shrinks to
  the largest odd size that fits two scales (``ms_ssim_settings``).
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


MS_SSIM_BETAS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def ms_ssim_settings(size: int) -> tuple[int, tuple[float, ...]]:
    """(kernel_size, betas) that fit ``size`` x ``size`` images."""
    k = 11
    while k > 3 and (k - 1) * 2 >= size:
        k -= 2
    scales = 1
    while scales < 5 and (k - 1) * 2**scales < size:
        scales += 1
    betas = MS_SSIM_BETAS[:scales]
    total = sum(betas)
    return k, tuple(b / total for b in betas)


def ms_ssim(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-pair MS-SSIM of (N, C, H, W) images in [0, 1] -> (N,), differentiable (see the module docstring)."""
    from torchmetrics.functional.image import multiscale_structural_similarity_index_measure as msssim

    k, betas = ms_ssim_settings(min(a.shape[-2:]))
    return msssim(
        a.float(),
        b.float(),
        data_range=1.0,
        kernel_size=k,
        sigma=1.5 * k / 11,
        betas=betas,
        normalize="relu",
        reduction="none",
    )
