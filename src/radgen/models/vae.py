"""MLP VAE and beta-VAE (design document 002; Kingma & Welling 2014; Higgins et al. 2017).

Encoder: flatten C*H*W -> 256 -> 256 (ReLU) -> [mu, log sigma^2] in R^{2z}.
Decoder: z -> 256 -> 256 (ReLU) -> C*H*W logits. beta = 1 is the plain VAE.
With ``conditional`` set, the label vector is concatenated to the input and to z
(Sohn et al. 2015).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn

from radgen.models.base import register_model
from radgen.models.latent import GaussianVAE, LatentVAEConfig


@dataclass
class MLPVAEConfig(LatentVAEConfig):
    """The MLP VAE's settings: hidden layer widths."""

    hidden: list[int] = field(default_factory=lambda: [256, 256])


def mlp(sizes: list[int]) -> nn.Sequential:
    """Linear layers of ``sizes`` with ReLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


@register_model(
    "vae", "MLP VAE / beta-VAE (Kingma & Welling 2014; Higgins et al. 2017), design document 002: 784-256-256-z, BCE"
)
class MLPVAE(GaussianVAE):
    """The VAE of Kingma & Welling 2014 with MLP encoder and decoder."""

    Config = MLPVAEConfig

    def __init__(self, config: MLPVAEConfig):
        super().__init__(config)
        c = config
        self.n_pixels = int(c.channels) * int(c.image_size) ** 2
        self.label, ld = self.make_label_embedding()
        self.encoder = mlp([self.n_pixels + ld, *c.hidden, 2 * c.latent_dim])
        self.decoder = mlp([c.latent_dim + ld, *reversed(c.hidden), self.n_pixels])

    def encode(self, x, y=None):
        h = self.condition(x.flatten(1), y)  # (B, C, H, W) -> (B, C*H*W [+ L])
        mu, logvar = self.encoder(h).chunk(2, dim=1)
        return mu, logvar

    def decode_logits(self, z, y=None):
        return self.decoder(self.condition(z, y)).view(-1, *self.image_shape)  # (B, C*H*W) -> (B, C, H, W)
