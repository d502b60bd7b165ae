"""Conditional VAE and the enhanced conditional VAE (design document 001; Sohn et al. 2015).

The label enters the encoder (as constant maps beside the image channels, and beside the
pooled features) and the decoder (concatenated to z), as one-hot or a learned embedding.
``prior='learned'`` replaces N(0, I) by a learned conditional prior
p(z|y) = N(mu_y, diag(sigma_y^2)) (one mean and log-variance per class, initialised at
N(0, I)); the KL between the two Gaussians stays analytic.

``enhanced_cvae`` (001) = residual decoder blocks + MSE + beta * KL + lambda * (1 - SSIM)
with a differentiable SSIM; its shipped configs stop early on the validation loss with
patience 3.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import nn

from radgen.errors import ConfigError
from radgen.losses import gaussian_kl, gaussian_log_prob
from radgen.models.base import register_model, register_preset
from radgen.models.latent import GaussianVAE, LatentVAEConfig, reparameterize
from radgen.nn import ConvDecoder, ConvEncoder


@dataclass
class CVAEConfig(LatentVAEConfig):
    """The conditional VAE's settings: latent size and how the label enters (one-hot or embedding)."""

    latent_dim: int = 64
    conditional: Literal["none", "one_hot", "embedding"] = "one_hot"
    widths: list[int] = field(default_factory=lambda: [32, 64, 128, 256])
    decoder: Literal["conv", "residual"] = "conv"
    prior: Literal["standard", "learned"] = "standard"


@register_model(
    "cvae",
    "conditional VAE (Sohn et al. 2015), design document 001: label in encoder and decoder, "
    "optional learned prior p(z|y)",
)
class ConditionalVAE(GaussianVAE):
    """Conditional VAE (Sohn et al. 2015): encoder and decoder both see the label."""

    Config = CVAEConfig

    def __init__(self, config: CVAEConfig):
        super().__init__(config)
        c = config
        k = int(c.num_classes)
        self.label, ld = self.make_label_embedding()
        self.encoder = ConvEncoder(int(c.channels) + ld, int(c.image_size), c.widths)
        self.to_latent = nn.Linear(self.encoder.out_features + ld, 2 * c.latent_dim)
        self.decoder = ConvDecoder(
            c.latent_dim + ld, int(c.image_size), int(c.channels), c.widths, residual=c.decoder == "residual"
        )
        if c.prior == "learned":
            if self.label is None:
                raise ConfigError("prior='learned' needs a conditional model (conditional: one_hot or embedding)")
            self.prior_params = nn.Parameter(torch.zeros(k, 2 * c.latent_dim))  # [mu_y, logvar_y], starts at N(0, I)

    def encode(self, x, y=None):
        f = self.condition(
            self.encoder(self.condition(x, y)), y
        )  # label as maps beside the image, then beside the features
        mu, logvar = self.to_latent(f).chunk(2, dim=1)
        return mu, logvar

    def decode_logits(self, z, y=None):
        return self.decoder(self.condition(z, y))

    def _prior(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu_p, logvar_p = self.prior_params[y.long()].chunk(2, dim=1)
        return mu_p, logvar_p

    def kl_per_dim(self, mu, logvar, y):
        if self.config.prior == "learned":
            mu_p, logvar_p = self._prior(y)
            return gaussian_kl(mu, logvar, mu_p, logvar_p)
        return gaussian_kl(mu, logvar)

    def prior_log_prob(self, z, y=None):
        if self.config.prior == "learned":
            mu_p, logvar_p = self._prior(y)
            return gaussian_log_prob(z, mu_p, logvar_p)
        return super().prior_log_prob(z, y)

    def prior_sample(self, n, y, generator):
        if self.config.prior == "learned":
            return reparameterize(*self._prior(y), generator)
        return super().prior_sample(n, y, generator)


register_preset(
    "enhanced_cvae",
    "cvae",
    "enhanced conditional VAE, design document 001: residual decoder, MSE + beta*KL + lambda*(1-SSIM), early stopping",
    decoder="residual",
    recon_loss="mse",
    ssim_weight=10.0,
)
