"""Adversarial losses: least squares (Mao et al. 2017; design document 003), hinge (Lim & Ye 2017;
Miyato et al. 2018, Eq. 17), non-saturating BCE (Goodfellow et al. 2014), the WGAN gradient penalty
(Gulrajani et al. 2017) and the R1 penalty on real images (Mescheder et al. 2018, Eq. 9)."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F


def ls_discriminator(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """1/2 E[(D(x) - 1)^2] + 1/2 E[D(G(z))^2]."""
    return 0.5 * (d_real - 1).pow(2).mean() + 0.5 * d_fake.pow(2).mean()


def ls_generator(d_fake: torch.Tensor) -> torch.Tensor:
    """1/2 E[(D(G(z)) - 1)^2]."""
    return 0.5 * (d_fake - 1).pow(2).mean()


def hinge_discriminator(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))], means over the batch."""
    return F.relu(1.0 - d_real).mean() + F.relu(1.0 + d_fake).mean()


def hinge_generator(d_fake: torch.Tensor) -> torch.Tensor:
    """-E[D(G(z))]."""
    return -d_fake.mean()


def bce_real(logits: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of discriminator logits against the label real (1), mean over every logit."""
    return F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))


def bce_fake(logits: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of discriminator logits against the label fake (0), mean over every logit."""
    return F.binary_cross_entropy_with_logits(logits, torch.zeros_like(logits))


def gradient_penalty(
    critic: Callable[[torch.Tensor], torch.Tensor],
    real: torch.Tensor,
    fake: torch.Tensor,
    *,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """E[(||grad_x D(x_hat)||_2 - 1)^2] at x_hat = eps x + (1 - eps) x_fake, eps ~ U[0, 1] per sample."""
    b = real.shape[0]
    eps = torch.rand((b,) + (1,) * (real.ndim - 1), generator=generator, device=real.device, dtype=real.dtype)
    x_hat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    out = critic(x_hat)
    (grad,) = torch.autograd.grad(out.sum(), x_hat, create_graph=True)
    return (grad.flatten(1).norm(2, dim=1) - 1.0).pow(2).mean()


def r1_penalty(d_real: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """E[||grad_x D(x)||_2^2] over real images ``real`` (which must require grad and have produced
    ``d_real``), with the graph kept so the penalty trains D; R1 = gamma / 2 times this."""
    (grad,) = torch.autograd.grad(d_real.sum(), real, create_graph=True)
    return grad.flatten(1).pow(2).sum(1).mean()
