"""Gaussian-mixture VAE (design document 003; Dilokthanakul et al. 2016; CS236 formulation).

Prior p(z) = (1/K) sum_k N(z; m_k, diag(v_k)) with learned means and variances. The KL
term has no closed form, so it is the one-sample Monte Carlo estimate
log q(z|x) - log p(z) at the reparameterised z (unbiased for KL(q || p)). Sampling picks
a component uniformly, then samples from it. ``fs_gmvae`` is the label-conditioned
variant of 003: the one-hot label is concatenated to z before the decoder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import nn

from radgen.errors import ConfigError
from radgen.losses import gaussian_log_prob, mixture_log_prob
from radgen.models.base import register_model, register_preset
from radgen.models.latent import LOGVAR_CLAMP, GaussianVAE, LatentVAEConfig
from radgen.nn import ConvDecoder, ConvEncoder


@dataclass
class GMVAEConfig(LatentVAEConfig):
    latent_dim: int = 32
    components: int = 10
    widths: list[int] = field(default_factory=lambda: [32, 64, 128, 256])
    conditional: Literal["none", "one_hot", "embedding"] = "none"


@register_model(
    "gmvae", "Gaussian-mixture VAE (Dilokthanakul et al. 2016), design document 003: K learned prior components, MC KL"
)
class GMVAE(GaussianVAE):
    Config = GMVAEConfig

    def __init__(self, config: GMVAEConfig):
        super().__init__(config)
        c = config
        if c.components < 1:
            raise ConfigError(f"model.components={c.components} must be >= 1")
        if c.free_bits:
            raise ConfigError(
                "model.free_bits needs an analytic per-dimension KL; the GMVAE's KL is a Monte Carlo estimate"
            )
        self.label, ld = self.make_label_embedding()
        self.encoder = ConvEncoder(int(c.channels), int(c.image_size), c.widths)
        self.to_latent = nn.Linear(self.encoder.out_features, 2 * c.latent_dim)
        self.decoder = ConvDecoder(c.latent_dim + ld, int(c.image_size), int(c.channels), c.widths)
        g = torch.Generator().manual_seed(0)
        self.prior_means = nn.Parameter(
            torch.randn(c.components, c.latent_dim, generator=g)
        )  # (K, D), spread like N(0, I)
        self.prior_logvars = nn.Parameter(torch.zeros(c.components, c.latent_dim))  # (K, D), unit variances

    def encode(self, x, y=None):
        mu, logvar = self.to_latent(self.encoder(x)).chunk(2, dim=1)
        return mu, logvar

    def decode_logits(self, z, y=None):
        if self.label is not None:
            z = torch.cat([z, self.label(y)], 1)
        return self.decoder(z)

    def prior_log_prob(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return mixture_log_prob(z, self.prior_means, self.prior_logvars.clamp(*LOGVAR_CLAMP))

    def kl_per_dim(self, mu, logvar, y):
        return None  # no closed form for a mixture prior

    def kl_monte_carlo(self, mu, logvar, z, y):
        return gaussian_log_prob(z, mu, logvar) - self.prior_log_prob(z)

    def prior_sample(self, n, y, generator):
        k = torch.randint(self.config.components, (n,), generator=generator, device=self._device)
        eps = torch.randn(n, self.config.latent_dim, generator=generator, device=self._device)
        return self.prior_means[k] + (0.5 * self.prior_logvars[k].clamp(*LOGVAR_CLAMP)).exp() * eps


register_preset(
    "fs_gmvae",
    "gmvae",
    "label-conditioned GMVAE (FS-GMVAE, design document 003): one-hot label concatenated to z for the decoder",
    conditional="one_hot",
)
