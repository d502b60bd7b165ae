"""What the network predicts, and how the training loss weights each timestep.

Notation (Ho et al. 2020; Salimans & Ho 2022): x_t = alpha_t x_0 + sigma_t eps with
alpha_t = sqrt(alpha_bar_t), sigma_t = sqrt(1 - alpha_bar_t), so alpha_t^2 + sigma_t^2 = 1.

prediction_type (diffusers' names, so its schedulers read the output as is):
- ``epsilon``: the noise eps (Ho et al. 2020).
- ``v_prediction``: v = alpha_t eps - sigma_t x_0 (Salimans & Ho 2022, section 4); then
  x_0 = alpha_t x_t - sigma_t v and eps = sigma_t x_t + alpha_t v.
- ``sample``: x_0 itself.

Min-SNR-gamma weighting (Hang et al. 2023, "Efficient Diffusion Training via Min-SNR
Weighting Strategy", eq. 11 and its section 3.4): with SNR(t) = alpha_t^2 / sigma_t^2, the
per-timestep weight of the x_0-space loss is min(SNR, gamma); written as a weight on the
loss of each prediction type it is
- epsilon:       min(SNR, gamma) / SNR
- v_prediction:  min(SNR, gamma) / (SNR + 1)
- sample:        min(SNR, gamma)
(gamma = 5 in the paper).
"""

from __future__ import annotations

from typing import Literal

import torch

from radgen.errors import ConfigError

PredictionType = Literal["epsilon", "v_prediction", "sample"]
PREDICTION_TYPES = ("epsilon", "v_prediction", "sample")
LossWeighting = Literal["none", "min_snr"]


def alpha_sigma(alphas_cumprod: torch.Tensor, t: torch.Tensor, ndim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(alpha_t, sigma_t), shaped (B, 1, ..., 1) to broadcast over an ``ndim``-dimensional batch."""
    ab = alphas_cumprod.to(t.device)[t].float().view(-1, *[1] * (ndim - 1))
    return ab.sqrt(), (1.0 - ab).sqrt()


def velocity(x0: torch.Tensor, eps: torch.Tensor, alpha: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """v = alpha_t eps - sigma_t x_0 (Salimans & Ho 2022, section 4)."""
    return alpha * eps - sigma * x0


def x0_from_v(x_t: torch.Tensor, v: torch.Tensor, alpha: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """x_0 = alpha_t x_t - sigma_t v."""
    return alpha * x_t - sigma * v


def eps_from_v(x_t: torch.Tensor, v: torch.Tensor, alpha: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """eps = sigma_t x_t + alpha_t v."""
    return sigma * x_t + alpha * v


def training_target(
    prediction_type: str, x0: torch.Tensor, eps: torch.Tensor, alpha: torch.Tensor, sigma: torch.Tensor
) -> torch.Tensor:
    """What the network is regressed on for ``prediction_type``."""
    if prediction_type == "epsilon":
        return eps
    if prediction_type == "v_prediction":
        return velocity(x0, eps, alpha, sigma)
    if prediction_type == "sample":
        return x0
    raise ConfigError(f"prediction_type={prediction_type!r}; valid: {', '.join(PREDICTION_TYPES)}")


def snr(alphas_cumprod: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """SNR(t) = alpha_bar_t / (1 - alpha_bar_t), shape (B,), float32 (computed in float64: near t = 0,
    1 - alpha_bar_t ~ 1e-4 loses digits in float32)."""
    ab = alphas_cumprod.to(t.device, torch.float64)[t]
    return (ab / (1.0 - ab)).float()


def min_snr_weight(snr_t: torch.Tensor, *, gamma: float, prediction_type: str) -> torch.Tensor:
    """Hang et al. 2023: the min-SNR-gamma loss weight for each timestep, by prediction type."""
    clipped = torch.clamp(snr_t, max=gamma)
    if prediction_type == "epsilon":
        return clipped / snr_t
    if prediction_type == "v_prediction":
        return clipped / (snr_t + 1.0)
    if prediction_type == "sample":
        return clipped
    raise ConfigError(f"prediction_type={prediction_type!r}; valid: {', '.join(PREDICTION_TYPES)}")
