"""Gaussian densities and divergences, in nats.

``gaussian_kl`` is the closed form KL(N(mu_q, var_q) || N(mu_p, var_p)) per latent
dimension (Kingma & Welling 2014, appendix B for the standard-normal prior):
0.5 * (log var_p - log var_q + (var_q + (mu_q - mu_p)^2) / var_p - 1).
"""

from __future__ import annotations

import math

import torch

LOG_2PI = math.log(2 * math.pi)


def gaussian_kl(
    mu_q: torch.Tensor, logvar_q: torch.Tensor, mu_p: torch.Tensor | None = None, logvar_p: torch.Tensor | None = None
) -> torch.Tensor:
    """Per-dimension KL, same shape as ``mu_q``; standard normal prior when p is None."""
    if mu_p is None:
        return 0.5 * (mu_q.pow(2) + logvar_q.exp() - 1.0 - logvar_q)
    assert logvar_p is not None
    return 0.5 * (logvar_p - logvar_q + (logvar_q.exp() + (mu_q - mu_p).pow(2)) / logvar_p.exp() - 1.0)


def gaussian_log_prob(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; mu, diag(exp(logvar))) summed over the last dimension."""
    return -0.5 * (LOG_2PI + logvar + (z - mu).pow(2) / logvar.exp()).sum(-1)


def mixture_log_prob(
    z: torch.Tensor, means: torch.Tensor, logvars: torch.Tensor, log_weights: torch.Tensor | None = None
) -> torch.Tensor:
    """log sum_k w_k N(z; m_k, diag(v_k)) for z (B, D), means/logvars (K, D) -> (B,).

    Uniform weights 1/K when ``log_weights`` is None (the GMVAE prior of design document 003).
    """
    k = means.shape[0]
    comp = gaussian_log_prob(z.unsqueeze(1), means.unsqueeze(0), logvars.unsqueeze(0))  # (B, K)
    if log_weights is None:
        log_weights = torch.full((k,), -math.log(k), device=z.device, dtype=z.dtype)
    return torch.logsumexp(comp + log_weights, dim=1)
