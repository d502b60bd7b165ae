"""VAE-GAN (Larsen et al. 2016) and alpha-GAN (Rosca et al. 2017): baselines of design document 004, Table 3.

VAE-GAN: encoder E -> q(z|x); decoder/generator G; discriminator D. The reconstruction
term is measured in D's last hidden layer (Gaussian in feature space): L_llike =
1/2 ||D_l(x) - D_l(G(z))||^2 summed over features, mean over the batch. Three optimizer
groups with the paper's split: encoder <- beta * KL + L_llike; decoder <- gamma * L_llike
+ non-saturating GAN loss on G(z~q) and G(z~p); discriminator <- BCE on x, G(z~q), G(z~p).

alpha-GAN: deterministic encoder, generator, image discriminator D and code discriminator
C (an MLP on z). Groups: autoencoder (E and G together) <- lambda * L1(x, G(E(x))) (mean
per pixel) + GAN loss on G(E(x)) and G(z) + code GAN loss on E(x); discriminator and
code_discriminator <- BCE real vs fake.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from radgen.losses import bce_fake, bce_real, gaussian_kl
from radgen.models.adversarial import AdversarialConfig, AdversarialModel, GaussianEncoderGAN
from radgen.models.base import ModelOutput, register_model
from radgen.models.latent import reparameterize
from radgen.nn.gan import DCGANDiscriminator, DCGANGenerator, to_signed, to_unit


@dataclass
class VAEGANConfig(AdversarialConfig):
    """VAE-GAN's settings: latent size, KL weight (beta) and the feature reconstruction weight (gamma)."""

    latent_dim: int = 128
    beta: float = 1.0  # weight of the KL in the encoder loss
    gamma: float = 1e-2  # weight of the feature reconstruction in the decoder loss (Larsen et al.: 1e-6..1e-2)


@register_model(
    "vae_gan",
    "VAE-GAN (Larsen et al. 2016): reconstruction in discriminator feature space; a baseline of design document 004",
)
class VAEGAN(GaussianEncoderGAN):
    """VAE-GAN (Larsen et al. 2016): reconstruction measured in the discriminator's features."""

    Config = VAEGANConfig
    generator_group = "decoder"
    loss_statement = (
        "VAE-GAN: encoder = beta * KL (sum over dims) + 1/2 ||D_l(x) - D_l(G(z))||^2 (sum over features); "
        "decoder = gamma * that + BCE GAN loss on G(z~q), G(z~p); discriminator = BCE; all means over the batch"
    )

    def __init__(self, config: VAEGANConfig):
        super().__init__(config)
        c = config
        self.encoder = DCGANDiscriminator(
            int(c.channels) + self.k, int(c.image_size), base=c.base_width, norm="batch", out_dim=2 * c.latent_dim
        )
        self.generator = DCGANGenerator(c.latent_dim + self.k, int(c.image_size), int(c.channels), base=c.base_width)
        self.discriminator = DCGANDiscriminator(
            int(c.channels) + self.k, int(c.image_size), base=c.base_width, norm=self.d_norm("batch")
        )
        self.add_stabilisers()

    def optimizer_groups(self):
        return {
            "discriminator": list(self.discriminator.parameters()),
            "encoder": list(self.encoder.parameters()),
            "decoder": list(self.generator.parameters()),
        }

    def forward(self, batch, *, group: str = "discriminator") -> ModelOutput:
        x, y = batch
        y = self.condition_labels(y)
        real = to_signed(x)
        mu, logvar = self.encode(x, y)
        z = reparameterize(mu, logvar)
        x_rec = self.generate(z, y)
        x_p = self.generate(self.noise(x.shape[0]), y)
        if group == "discriminator":
            d_real, penalty, logs = self.discriminate_real(real, y)
            loss = (
                bce_real(d_real)
                + bce_fake(self.discriminate(x_rec.detach(), y))
                + bce_fake(self.discriminate(x_p.detach(), y))
            )
            return ModelOutput(loss if penalty is None else loss + penalty, {"loss/d": loss.detach(), **logs})
        f_real = self.discriminator.features(self.condition(real, y)).flatten(1)
        f_rec = self.discriminator.features(self.condition(x_rec, y)).flatten(1)
        llike = 0.5 * (f_real.detach() - f_rec).pow(2).sum(1).mean()
        if group == "encoder":
            kl = gaussian_kl(mu, logvar).sum(1).mean()
            loss = self.config.beta * kl + llike
            return ModelOutput(
                loss,
                {"loss/encoder": loss.detach(), "loss/kl": kl.detach(), "loss/feature_recon": llike.detach()},
                {"mu": mu.detach()},
            )
        gan = bce_real(self.discriminate(x_rec, y)) + bce_real(self.discriminate(x_p, y))
        loss = self.config.gamma * llike + gan
        return ModelOutput(loss, {"loss/decoder": loss.detach(), "loss/g": gan.detach()})


@dataclass
class AlphaGANConfig(AdversarialConfig):
    """alpha-GAN's settings: latent size, the L1 reconstruction weight and the code discriminator's widths."""

    latent_dim: int = 128
    recon_weight: float = 1.0  # lambda on the L1 reconstruction (mean per pixel)
    code_hidden: list[int] = field(default_factory=lambda: [512, 512])


@register_model(
    "alpha_gan",
    "alpha-GAN (Rosca et al. 2017): encoder, generator, image and code discriminators; a baseline "
    "of design document 004",
)
class AlphaGAN(AdversarialModel):
    """alpha-GAN (Rosca et al. 2017): encoder, generator, and image and code discriminators."""

    encoding = "deterministic"
    Config = AlphaGANConfig
    generator_group = "autoencoder"  # the EMA averages the generator half of it
    loss_statement = (
        "alpha-GAN: autoencoder = lambda * L1 (mean per pixel) + BCE GAN loss on G(E(x)), G(z) + "
        "BCE code loss on E(x); "
        "discriminators = BCE real vs fake; means over the batch"
    )

    def __init__(self, config: AlphaGANConfig):
        super().__init__(config)
        c = config
        self.encoder = DCGANDiscriminator(
            int(c.channels) + self.k, int(c.image_size), base=c.base_width, norm="batch", out_dim=c.latent_dim
        )
        self.generator = DCGANGenerator(c.latent_dim + self.k, int(c.image_size), int(c.channels), base=c.base_width)
        self.discriminator = DCGANDiscriminator(
            int(c.channels) + self.k, int(c.image_size), base=c.base_width, norm=self.d_norm("batch")
        )
        layers: list[nn.Module] = []
        width = c.latent_dim
        for h in c.code_hidden:
            layers += [nn.Linear(width, h), nn.LeakyReLU(0.2, True)]
            width = h
        self.code_discriminator = nn.Sequential(*layers, nn.Linear(width, 1))
        self.add_stabilisers()

    def optimizer_groups(self):
        return {
            "discriminator": list(self.discriminator.parameters()),
            "code_discriminator": list(self.code_discriminator.parameters()),
            "autoencoder": list(self.encoder.parameters()) + list(self.generator.parameters()),
        }

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Deterministic code E(x) (alpha-GAN has no posterior noise)."""
        return self.encoder(self.condition(to_signed(x), y))

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        y = self.condition_labels(y)
        return to_unit(self.generate(self.encode(x, y), y))

    def forward(self, batch, *, group: str = "discriminator") -> ModelOutput:
        x, y = batch
        y = self.condition_labels(y)
        z_e = self.encode(x, y)
        z_p = self.noise(x.shape[0])
        x_rec, x_p = self.generate(z_e, y), self.generate(z_p, y)
        if group == "discriminator":
            d_real, penalty, logs = self.discriminate_real(to_signed(x), y)
            loss = (
                bce_real(d_real)
                + bce_fake(self.discriminate(x_rec.detach(), y))
                + bce_fake(self.discriminate(x_p.detach(), y))
            )
            return ModelOutput(loss if penalty is None else loss + penalty, {"loss/d": loss.detach(), **logs})
        if group == "code_discriminator":
            loss = bce_real(self.code_discriminator(z_p)) + bce_fake(self.code_discriminator(z_e.detach()))
            return ModelOutput(loss, {"loss/code_d": loss.detach()})
        rec = (to_unit(x_rec) - x).abs().mean()
        gan = bce_real(self.discriminate(x_rec, y)) + bce_real(self.discriminate(x_p, y))
        code = bce_real(self.code_discriminator(z_e))
        loss = self.config.recon_weight * rec + gan + code
        return ModelOutput(
            loss,
            {
                "loss/autoencoder": loss.detach(),
                "loss/recon": rec.detach(),
                "loss/g": gan.detach(),
                "loss/code_g": code.detach(),
            },
        )
