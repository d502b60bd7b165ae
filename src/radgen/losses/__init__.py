"""Losses with their reductions stated: every function says what it sums and what it averages."""

from radgen.losses.adversarial import (
    bce_fake,
    bce_real,
    gradient_penalty,
    hinge_discriminator,
    hinge_generator,
    ls_discriminator,
    ls_generator,
    r1_penalty,
)
from radgen.losses.divergences import gaussian_kl, gaussian_log_prob, mixture_log_prob
from radgen.losses.reconstruction import ms_ssim, reconstruction_loss, ssim_loss

__all__ = [
    "bce_fake",
    "bce_real",
    "gradient_penalty",
    "hinge_discriminator",
    "hinge_generator",
    "ls_discriminator",
    "ls_generator",
    "r1_penalty",
    "gaussian_kl",
    "gaussian_log_prob",
    "mixture_log_prob",
    "ms_ssim",
    "reconstruction_loss",
    "ssim_loss",
]
