"""The generative VAE/GAN hybrid of design document 004 (sections 4.2-4.3, Tables 1-2), with WGAN-GP.

Encoder (004: four 3x3 conv layers with BatchNorm + LeakyReLU): stride-2 convs at widths
base, 2base, 4base, 4base, then a linear to [mu, log sigma^2]. Generator (Table 1, scaled
so that 128 px reproduces it with base=64): FC z -> 4base @ S/4; two ResNet blocks
(4base); x2 upsampling; ResNet blocks 4base->2base, 2base; x2 upsampling; ResNet blocks
2base->base, base; 3x3 conv to C; tanh. Critic (Table 2): conv C->base; ResNet blocks
base, base->2base; AvgPool; 2base, 2base->4base; AvgPool; linear 4base*(S/4)^2 -> 1.
Deviations, stated: 004's table ends the discriminator in 1000 outputs, but a Wasserstein
critic needs one score, so radgen's ends in 1; the critic uses layer norm instead of
BatchNorm, which the per-sample gradient penalty forbids (Gulrajani et al. 2017).
Loss: encoder and generator are one network: -E[D(G(z_p))] - E[D(G(z_q))] +
recon_weight * L1(x, G(z_q)) (mean per pixel) + beta * KL (sum over dims); critic:
(E[D(G(z_p))] + E[D(G(z_q))]) / 2 - E[D(x)] + lambda * GP. Means over the batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from radgen.errors import ConfigError
from radgen.losses import gaussian_kl, gradient_penalty
from radgen.models.adversarial import AdversarialConfig, GaussianEncoderGAN
from radgen.models.base import ModelOutput, register_model
from radgen.models.latent import reparameterize
from radgen.nn.gan import GVAEResBlock, to_signed, to_unit


@dataclass
class GVAEConfig(AdversarialConfig):
    """The GVAE's settings (design document 004): latent size, widths, critic steps, penalty and loss weights."""

    latent_dim: int = 1000  # 004 Table 4: 1000 gave the best MMD and MS-SSIM
    base_width: int = 64  # 004's tables at 128 px; use 16-32 on a CPU
    n_critic: int = 5
    gp_weight: float = 10.0
    recon_weight: float = 1.0
    beta: float = 1.0
    dropout: float = 0.3  # 004: "30% dropouts" inside ResNet blocks


@register_model(
    "gvae", "generative VAE/GAN hybrid of design document 004: encoder + ResNet-block generator and critic, WGAN-GP"
)
class GVAE(GaussianEncoderGAN):
    """Design document 004's VAE/GAN hybrid with a WGAN-GP critic: the encoder and generator train as one."""

    Config = GVAEConfig
    d_loss_key = None
    generator_group = "encoder_generator"
    generator_modules = ("fc", "generator_blocks")
    discriminator_group = "critic"
    loss_statement = (
        "GVAE (004): encoder+generator = -E[D(G(z_p))] - E[D(G(z_q))] + recon_weight * L1 (mean "
        "per pixel) + beta * KL (sum over dims); "
        "critic = (E[D(G(z_p))] + E[D(G(z_q))])/2 - E[D(x)] + lambda * GP; means over the batch"
    )

    @classmethod
    def check_image_size(cls, config, size: int) -> None:
        if size < 4 or size % 4:
            raise ConfigError(
                f"gvae needs an image size divisible by 4 (got {size}): its tables halve the resolution twice; "
                f"set data.size to {max(4, size // 4 * 4)} or {size // 4 * 4 + 4}"
            )

    def __init__(self, config: GVAEConfig):
        super().__init__(config)
        c = config
        s = int(c.image_size)
        b, ch, k = c.base_width, int(c.channels), self.k
        self.s4 = s // 4
        enc: list[nn.Module] = []
        cin = ch + k
        for w in (b, 2 * b, 4 * b, 4 * b):
            enc += [nn.Conv2d(cin, w, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(w), nn.LeakyReLU(0.2, True)]
            cin = w
        self.encoder = nn.Sequential(*enc, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4 * b, 2 * c.latent_dim))
        self.fc = nn.Linear(c.latent_dim + k, 4 * b * self.s4 * self.s4)
        self.generator_blocks = nn.Sequential(
            GVAEResBlock(4 * b, 4 * b, dropout=c.dropout),
            GVAEResBlock(4 * b, 4 * b, dropout=c.dropout),
            nn.Upsample(scale_factor=2),
            GVAEResBlock(4 * b, 2 * b, dropout=c.dropout),
            GVAEResBlock(2 * b, 2 * b, dropout=c.dropout),
            nn.Upsample(scale_factor=2),
            GVAEResBlock(2 * b, b, dropout=c.dropout),
            GVAEResBlock(b, b, dropout=c.dropout),
            nn.Conv2d(b, ch, 3, padding=1),
            nn.Tanh(),
        )
        d_norm = self.d_norm("layer")
        self.discriminator = nn.Sequential(  # the critic
            nn.Conv2d(ch + k, b, 3, padding=1),
            GVAEResBlock(b, b, norm=d_norm, dropout=c.dropout),
            GVAEResBlock(b, 2 * b, norm=d_norm, dropout=c.dropout),
            nn.AvgPool2d(2),
            GVAEResBlock(2 * b, 2 * b, norm=d_norm, dropout=c.dropout),
            GVAEResBlock(2 * b, 4 * b, norm=d_norm, dropout=c.dropout),
            nn.AvgPool2d(2),
            nn.Flatten(),
            nn.Linear(4 * b * self.s4 * self.s4, 1),
        )
        self.add_stabilisers()

    def real_score_midpoint(self) -> None:
        return None  # a critic

    def optimizer_groups(self):
        return {
            "critic": list(self.discriminator.parameters()),
            "encoder_generator": list(self.encoder.parameters())
            + list(self.fc.parameters())
            + list(self.generator_blocks.parameters()),
        }

    def group_steps(self, batch_idx: int = 0):
        return {"critic": 1, "encoder_generator": 1 if (batch_idx + 1) % self.config.n_critic == 0 else 0}

    def generate(self, z, y=None):
        h = self.fc(self.condition(z, y)).view(
            -1, 4 * self.config.base_width, self.s4, self.s4
        )  # (B, 4b*s4*s4) -> (B, 4b, s4, s4)
        return self.generator_blocks(h)

    def forward(self, batch, *, group: str = "critic") -> ModelOutput:
        x, y = batch
        y = self.condition_labels(y)
        real = to_signed(x)
        critic = group == "critic"
        with torch.set_grad_enabled(
            torch.is_grad_enabled() and not critic
        ):  # the critic's step needs the fakes, not their graph
            mu, logvar = self.encode(x, y)
            z_q = reparameterize(mu, logvar)
            x_q, x_p = self.generate(z_q, y), self.generate(self.noise(x.shape[0]), y)
        if critic:
            d_real, penalty, logs = self.discriminate_real(real, y)
            d_real = d_real.mean()
            d_fake = 0.5 * (self.discriminate(x_p.detach(), y).mean() + self.discriminate(x_q.detach(), y).mean())
            gp = gradient_penalty(lambda t: self.discriminate(t, y), real, x_p)
            loss = d_fake - d_real + self.config.gp_weight * gp
            logs = {"loss/critic": loss.detach(), "wasserstein": (d_real - d_fake).detach(), "gp": gp.detach(), **logs}
            return ModelOutput(loss if penalty is None else loss + penalty, logs)
        adv = -(self.discriminate(x_p, y).mean() + self.discriminate(x_q, y).mean())
        rec = (to_unit(x_q) - x).abs().mean()
        kl = gaussian_kl(mu, logvar).sum(1).mean()
        loss = adv + self.config.recon_weight * rec + self.config.beta * kl
        return ModelOutput(
            loss,
            {
                "loss/encoder_generator": loss.detach(),
                "loss/g": adv.detach(),
                "loss/recon": rec.detach(),
                "loss/kl": kl.detach(),
            },
            {"mu": mu.detach()},
        )
