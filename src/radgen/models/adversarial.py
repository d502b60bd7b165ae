"""Adversarial models: the shared base, LSGAN (DCGAN) and WGAN-GP.

Real images enter discriminators in [-1, 1] (``to_signed``); generators end in tanh and
``sample`` returns ``to_unit`` of their output. A class-conditional option concatenates
the one-hot label to z and, as constant maps, to the discriminator's input channels, so
one model can generate the minority class. Adversarial models keep the last checkpoint
as the exported one (their losses do not rank checkpoints), and warn when training
collapses: discriminator loss near zero for several epochs, or near-identical samples
(pairwise MS-SSIM, checked on every sample grid).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
import torch.nn.functional as F

from radgen.errors import ConfigError
from radgen.losses import gradient_penalty, ls_discriminator, ls_generator
from radgen.models.base import GenerativeModel, ModelConfig, ModelOutput, register_model
from radgen.models.latent import LOGVAR_CLAMP
from radgen.nn.gan import DCGANDiscriminator, DCGANGenerator, label_maps, to_signed, to_unit

D_COLLAPSE_LOSS = 1e-3  # epoch-mean discriminator loss below this: D wins outright
D_COLLAPSE_EPOCHS = 3


@dataclass
class AdversarialConfig(ModelConfig):
    latent_dim: int = 100
    base_width: int = 64  # DCGAN ngf/ndf: widths base, 2*base, ... (capped at 8*base)
    conditional: Literal["none", "one_hot"] = "none"


class AdversarialModel(GenerativeModel):
    """Subclasses build ``self.generator``/``self.discriminator`` and define the group losses."""

    Config = AdversarialConfig
    checkpoint_selection: ClassVar[str] = "last"
    d_loss_key: ClassVar[str | None] = "loss/d"

    def __init__(self, config: AdversarialConfig):
        super().__init__(config)
        self.config: AdversarialConfig = config
        self.k = int(config.num_classes) if config.conditional != "none" else 0
        self._low_d_epochs = 0

    @property
    def supports_labels(self) -> bool:
        return self.k > 0

    def onehot(self, y: torch.Tensor | None) -> torch.Tensor | None:
        return F.one_hot(y.long(), self.k).float() if self.k and y is not None else None

    def noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.randn(n, self.config.latent_dim, generator=generator, device=self._device)

    def generate(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Generator output in [-1, 1]."""
        oh = self.onehot(y)
        return self.generator(torch.cat([z, oh], 1) if oh is not None else z)

    def with_label_maps(self, x_signed: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        """Concatenate the one-hot label as constant maps to the image channels (conditional models)."""
        oh = self.onehot(y)
        return torch.cat([x_signed, label_maps(oh, *x_signed.shape[-2:])], 1) if oh is not None else x_signed

    def discriminate(self, x_signed: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.discriminator(self.with_label_maps(x_signed, y))

    @torch.no_grad()
    def sample(
        self, n: int, *, labels: torch.Tensor | None = None, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        y = self.check_labels(labels, n)
        if y is not None:
            y = y.to(self._device)
        return to_unit(self.generate(self.noise(n, generator), y))

    def collapse_check(self, epoch_logs: dict[str, float]) -> str | None:
        """Called once per epoch with the epoch means; returns a warning or None."""
        if self.d_loss_key is None or self.d_loss_key not in epoch_logs:
            return None
        self._low_d_epochs = self._low_d_epochs + 1 if epoch_logs[self.d_loss_key] < D_COLLAPSE_LOSS else 0
        if self._low_d_epochs >= D_COLLAPSE_EPOCHS:
            return (
                f"{self.d_loss_key} has stayed below {D_COLLAPSE_LOSS} for {self._low_d_epochs} "
                "epochs: the discriminator wins and the "
                f"generator gets no signal; lower the discriminator's lr (train.lr_groups) or raise generator steps"
            )
        return None


class GaussianEncoderGAN(AdversarialModel):
    """Adversarial models with an encoder to q(z|x) = N(mu, sigma^2) (VAE-GAN, the 004 hybrid)."""

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.encoder(self.with_label_maps(to_signed(x), y)).chunk(2, dim=1)
        return mu, logvar.clamp(*LOGVAR_CLAMP)

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Decode the posterior mean."""
        y = y if self.k else None
        mu, _ = self.encode(x, y)
        return to_unit(self.generate(mu, y))


@dataclass
class LSGANConfig(AdversarialConfig):
    generator_steps: int = 1  # generator updates per discriminator update (design document 003 used 3)


@register_model(
    "lsgan",
    "least-squares GAN (Mao et al. 2017) on DCGAN networks (Radford et al. 2016), design document "
    "003; class-conditional option",
)
class LSGAN(AdversarialModel):
    Config = LSGANConfig
    loss_statement = (
        "LSGAN: D = 1/2 E[(D(x)-1)^2] + 1/2 E[D(G(z))^2], G = 1/2 E[(D(G(z))-1)^2], each a mean over the batch"
    )

    def __init__(self, config: LSGANConfig):
        super().__init__(config)
        if config.generator_steps < 1:
            raise ConfigError(f"model.generator_steps={config.generator_steps} must be >= 1")
        c = config
        self.generator = DCGANGenerator(c.latent_dim + self.k, int(c.image_size), int(c.channels), base=c.base_width)
        self.discriminator = DCGANDiscriminator(
            int(c.channels) + self.k, int(c.image_size), base=c.base_width, norm="batch"
        )

    def optimizer_groups(self):
        return {"discriminator": list(self.discriminator.parameters()), "generator": list(self.generator.parameters())}

    def group_steps(self, batch_idx: int = 0):
        return {"discriminator": 1, "generator": self.config.generator_steps}

    def forward(self, batch, *, group: str = "discriminator") -> ModelOutput:
        x, y = batch
        y = y if self.k else None
        fake = self.generate(self.noise(x.shape[0]), y)
        if group == "discriminator":
            d_real, d_fake = self.discriminate(to_signed(x), y), self.discriminate(fake.detach(), y)
            loss = ls_discriminator(d_real, d_fake)
            return ModelOutput(
                loss, {"loss/d": loss.detach(), "d/real": d_real.mean().detach(), "d/fake": d_fake.mean().detach()}
            )
        loss = ls_generator(self.discriminate(fake, y))
        return ModelOutput(loss, {"loss/g": loss.detach()})


@dataclass
class WGANGPConfig(AdversarialConfig):
    n_critic: int = 5  # critic updates per generator update (Gulrajani et al. 2017)
    gp_weight: float = 10.0  # lambda


@register_model(
    "wgan_gp",
    "Wasserstein GAN with gradient penalty (Gulrajani et al. 2017), critic without BatchNorm; a "
    "baseline of design document 004",
)
class WGANGP(AdversarialModel):
    Config = WGANGPConfig
    d_loss_key = None  # a critic's loss is not bounded below by 0: no "D wins" test
    loss_statement = (
        "WGAN-GP: critic = E[D(G(z))] - E[D(x)] + lambda E[(||grad D(x_hat)||_2 - "
        "1)^2], generator = -E[D(G(z))], means over the batch"
    )

    def __init__(self, config: WGANGPConfig):
        super().__init__(config)
        c = config
        if c.n_critic < 1:
            raise ConfigError(f"model.n_critic={c.n_critic} must be >= 1")
        self.generator = DCGANGenerator(c.latent_dim + self.k, int(c.image_size), int(c.channels), base=c.base_width)
        self.discriminator = DCGANDiscriminator(
            int(c.channels) + self.k, int(c.image_size), base=c.base_width, norm="layer"
        )

    def optimizer_groups(self):
        return {"critic": list(self.discriminator.parameters()), "generator": list(self.generator.parameters())}

    def group_steps(self, batch_idx: int = 0):
        return {"critic": 1, "generator": 1 if (batch_idx + 1) % self.config.n_critic == 0 else 0}

    def forward(self, batch, *, group: str = "critic") -> ModelOutput:
        x, y = batch
        y = y if self.k else None
        fake = self.generate(self.noise(x.shape[0]), y)
        if group == "critic":
            real = to_signed(x)
            d_real, d_fake = self.discriminate(real, y).mean(), self.discriminate(fake.detach(), y).mean()
            gp = gradient_penalty(lambda t: self.discriminate(t, y), real, fake)
            loss = d_fake - d_real + self.config.gp_weight * gp
            return ModelOutput(
                loss, {"loss/critic": loss.detach(), "wasserstein": (d_real - d_fake).detach(), "gp": gp.detach()}
            )
        loss = -self.discriminate(fake, y).mean()
        return ModelOutput(loss, {"loss/g": loss.detach()})
