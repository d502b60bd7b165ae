"""A KL-regularised convolutional autoencoder for latent diffusion (Rombach et al. 2022, section 3.1).

Network: diffusers' ``AutoencoderKL`` (encoder -> diagonal Gaussian q(z|x) -> decoder), downsampling
factor f = 4 or 8 (``2^(levels - 1)``), ``latent_channels`` configurable. diffusers rather than MONAI:
it is already radgen's diffusion dependency (the DDPM's UNet2DModel), while MONAI is an optional peer
extra; both give the same encoder/decoder topology and a Gaussian posterior, and diffusers' module is
a plain ``nn.Module`` whose state dict exports to safetensors like every radgen model.

Loss of the ``autoencoder`` group (per image, then the mean over the batch):
  L1(x_hat, x) mean over pixels
  + ``ssim_weight`` * (1 - SSIM) or (1 - MS-SSIM) (Wang et al. 2004 / 2003; ``structural``)
  + ``kl_weight`` * KL(q(z|x) || N(0, I)) mean over latent elements (small: 1e-4 by default)
  + ``disc_weight`` * hinge generator loss -mean D(x_hat) after ``disc_start_epoch`` epochs (optional).
The optional ``discriminator`` group is a PatchGAN (Isola et al. 2017, 70x70-style, 3 strided convs)
trained with the hinge loss mean(relu(1 - D(x))) + mean(relu(1 + D(x_hat))) (as in Esser et al. 2021's
VQGAN / LDM autoencoders). No perceptual (LPIPS) term: it needs downloaded ImageNet weights.

Latent scale (Rombach et al. 2022, appendix G "scale factor"): after training, ``after_fit`` encodes
the training split, samples z ~ q(z|x) and stores ``latent_shift`` = mean(z) and ``latent_scale`` =
1 / std(z) as buffers, so they travel in ``weights.safetensors``; the latent diffusion model denoises
(z - shift) * scale, which has unit variance.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from radgen.errors import ConfigError
from radgen.losses import gaussian_kl, ms_ssim, ssim_loss
from radgen.models.base import GenerativeModel, ModelConfig, ModelOutput, register_model
from radgen.nn.gan import to_signed, to_unit

SCALE_BATCH = 128  # images per batch when measuring the latent scale


@dataclass
class AutoencoderKLConfig(ModelConfig):
    """The KL autoencoder's settings: downsampling, latent channels, loss weights and discriminator."""

    downsample: int = 4  # f: 4 or 8 (latents of image_size / f)
    latent_channels: int = 4
    block_out_channels: list[int] | None = None  # null: [32, 64, 64] for f=4, [32, 64, 64, 64] for f=8
    layers_per_block: int = 1
    norm_groups: int = 16
    mid_block: Literal["attention", "resnet"] = "attention"
    structural: Literal["ssim", "ms_ssim", "none"] = "ssim"
    ssim_weight: float = 0.2
    kl_weight: float = 1e-4
    disc_weight: float = 0.0  # 0: no discriminator
    disc_start_epoch: float = 1.0  # warm-up: the adversarial term and the discriminator start after this many epochs
    disc_base: int = 32


class PatchDiscriminator(nn.Module):
    """PatchGAN (Isola et al. 2017): strided 4x4 convs, LeakyReLU 0.2, batch norm; one logit per patch."""

    def __init__(self, channels: int, *, base: int = 32, layers: int = 3):
        super().__init__()
        mods: list[nn.Module] = [nn.Conv2d(channels, base, 4, 2, 1), nn.LeakyReLU(0.2)]
        c = base
        for i in range(1, layers):
            nc = base * min(2**i, 8)
            mods += [nn.Conv2d(c, nc, 4, 2, 1, bias=False), nn.BatchNorm2d(nc), nn.LeakyReLU(0.2)]
            c = nc
        mods += [nn.Conv2d(c, c, 4, 1, 1, bias=False), nn.BatchNorm2d(c), nn.LeakyReLU(0.2), nn.Conv2d(c, 1, 4, 1, 1)]
        self.net = nn.Sequential(*mods)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)  # (B, 1, h, w) patch logits


@register_model(
    "autoencoder_kl",
    "KL autoencoder for latent diffusion (Rombach et al. 2022): diffusers AutoencoderKL, f=4/8, "
    "L1 + SSIM + small KL, optional PatchGAN",
)
class AutoencoderKL(GenerativeModel):
    """The first stage of latent diffusion: a KL-regularised autoencoder (Rombach et al. 2022)."""

    Config = AutoencoderKLConfig
    encoding = "gaussian"  # (mu, logvar) of q(z|x), spatial latents

    def __init__(self, config: AutoencoderKLConfig):
        super().__init__(config)
        from diffusers import AutoencoderKL as DiffusersAutoencoderKL

        c = config
        if c.downsample not in (4, 8):
            raise ConfigError(f"model.downsample={c.downsample}; valid: 4, 8")
        levels = {4: 3, 8: 4}[c.downsample]
        widths = list(c.block_out_channels or ([32, 64, 64] if c.downsample == 4 else [32, 64, 64, 64]))
        if len(widths) != levels:
            raise ConfigError(
                f"model.block_out_channels {widths} has {len(widths)} levels; downsample={c.downsample} needs {levels}"
            )
        if any(w % c.norm_groups for w in widths):
            raise ConfigError(f"model.block_out_channels {widths} must all be divisible by model.norm_groups")
        if int(c.image_size) % c.downsample:
            raise ConfigError(
                f"image size {c.image_size} is not divisible by model.downsample={c.downsample}; use 4 or resize"
            )
        if min(c.ssim_weight, c.kl_weight, c.disc_weight) < 0:
            raise ConfigError("model.ssim_weight, kl_weight and disc_weight must be >= 0")
        self.vae = DiffusersAutoencoderKL(
            in_channels=int(c.channels),
            out_channels=int(c.channels),
            down_block_types=("DownEncoderBlock2D",) * levels,
            up_block_types=("UpDecoderBlock2D",) * levels,
            block_out_channels=tuple(widths),
            layers_per_block=c.layers_per_block,
            latent_channels=c.latent_channels,
            norm_num_groups=c.norm_groups,
            sample_size=int(c.image_size),
            mid_block_add_attention=c.mid_block == "attention",
        )
        self.discriminator = PatchDiscriminator(int(c.channels), base=c.disc_base) if c.disc_weight > 0 else None
        self.register_buffer("latent_shift", torch.zeros(()))
        self.register_buffer("latent_scale", torch.ones(()))
        self.epoch = 0.0  # fractional training epoch (set_epoch): the discriminator starts at disc_start_epoch

    # -- shapes and capabilities --------------------------------------------------------------------
    @property
    def latent_shape(self) -> tuple[int, int, int]:
        c = self.config
        s = int(c.image_size) // c.downsample
        return (c.latent_channels, s, s)

    @property
    def checkpoint_selection(self) -> str:
        return "last" if self.discriminator is not None else "loss"  # adversarial losses do not rank checkpoints

    def optimizer_groups(self):
        groups = {"autoencoder": list(self.vae.parameters())}
        if self.discriminator is not None:
            groups["discriminator"] = list(self.discriminator.parameters())
        return groups

    def set_epoch(self, epoch: float) -> None:
        self.epoch = float(epoch)

    def _adversarial_on(self) -> bool:
        return self.discriminator is not None and self.epoch >= self.config.disc_start_epoch

    def group_steps(self, batch_idx: int = 0) -> dict[str, int]:
        steps = {"autoencoder": 1}
        if self.discriminator is not None:
            steps["discriminator"] = int(self._adversarial_on())
        return steps

    def describe_losses(self) -> str:
        c = self.config
        s = {"ssim": "(1 - SSIM)", "ms_ssim": "(1 - MS-SSIM)", "none": None}[c.structural]
        parts = ["L1 mean over pixels"]
        if s:
            parts.append(f"{c.ssim_weight:g} x {s} per image")
        parts.append(
            f"{c.kl_weight:g} x KL(q(z|x) || N(0, I)) mean over {'x'.join(map(str, self.latent_shape))} latents"
        )
        if self.discriminator is not None:
            parts.append(
                f"{c.disc_weight:g} x hinge generator loss after epoch {c.disc_start_epoch:g}; "
                "discriminator: hinge loss, mean over patches"
            )
        return "AutoencoderKL: " + " + ".join(parts) + "; means over the batch"

    # -- encoder / decoder ---------------------------------------------------------------------------
    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Images in [0, 1] (B, C, H, W) -> (mu, logvar) of q(z|x), each (B, c_lat, H/f, W/f)."""
        post = self.vae.encode(to_signed(x)).latent_dist
        return post.mean, post.logvar

    def decode_signed(self, z: torch.Tensor) -> torch.Tensor:
        """Latents -> the decoder's output in [-1, 1] units, unclamped."""
        return self.vae.decode(z).sample

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Latents (B, c_lat, h, w) -> images in [0, 1]."""
        return to_unit(self.decode_signed(z))

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Decodes the posterior mean."""
        mu, _ = self.encode(x.to(self._device))
        return self.decode(mu)

    def kl_term(self, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """(B,) KL(N(mu, exp(logvar)) || N(0, I)) mean over latent elements (closed form, in nats)."""
        return gaussian_kl(mu, logvar).flatten(1).mean(1)

    # -- training -------------------------------------------------------------------------------------
    def forward(self, batch, *, group: str = "autoencoder") -> ModelOutput:
        c = self.config
        x, _ = batch  # (B, C, H, W) in [0, 1]
        mu, logvar = self.encode(x)
        z = mu + (0.5 * logvar).exp() * torch.randn_like(mu)
        x_hat = (self.decode_signed(z) + 1.0) / 2.0  # [0, 1] units, unclamped so the L1 keeps its gradient
        if group == "discriminator":
            d_real, d_fake = self.discriminator(to_signed(x)), self.discriminator(to_signed(x_hat.detach()))
            loss = F.relu(1.0 - d_real).mean() + F.relu(1.0 + d_fake).mean()
            return ModelOutput(loss, {"loss/d": loss.detach()})
        l1 = (x_hat - x).abs().flatten(1).mean(1)  # (B,)
        kl = self.kl_term(mu, logvar)
        loss = l1 + c.kl_weight * kl
        logs = {"loss/l1": l1.mean().detach(), "loss/kl": kl.mean().detach()}
        if c.structural != "none" and c.ssim_weight > 0:
            s = ssim_loss(x_hat, x) if c.structural == "ssim" else 1.0 - ms_ssim(x_hat, x)
            loss = loss + c.ssim_weight * s
            logs["loss/ssim"] = s.mean().detach()
        loss = loss.mean()
        if self.discriminator is not None:
            g = -self.discriminator(to_signed(x_hat)).mean()
            logs["loss/g"] = g.detach()
            if self._adversarial_on():
                loss = loss + c.disc_weight * g
        logs["loss/total"] = loss.detach()
        return ModelOutput(loss, logs)

    # -- the latent scale -----------------------------------------------------------------------------
    @torch.no_grad()
    def measure_latent_scale(self, images: torch.Tensor, *, seed: int = 0) -> dict[str, float]:
        """shift = mean(z), scale = 1 / std(z) over z ~ q(z|x) of ``images`` (all elements), stored as buffers."""
        g = torch.Generator(device="cpu").manual_seed(seed)
        n, s, ss = 0, 0.0, 0.0
        for i in range(0, len(images), SCALE_BATCH):
            mu, logvar = self.encode(images[i : i + SCALE_BATCH].to(self._device))
            eps = torch.randn(mu.shape, generator=g).to(mu.device)
            z = (mu + (0.5 * logvar).exp() * eps).double()
            n, s, ss = n + z.numel(), s + float(z.sum()), ss + float((z * z).sum())
        mean = s / n
        std = max((ss / n - mean**2) * n / (n - 1), 1e-12) ** 0.5
        self.latent_shift.fill_(mean)
        self.latent_scale.fill_(1.0 / std)
        return {"latent_shift": mean, "latent_std": std, "latent_scale": 1.0 / std, "latent_images": len(images)}

    def after_fit(self, train_set) -> dict[str, float]:
        was = self.training
        self.eval()
        out = self.measure_latent_scale(train_set.images)
        self.train(was)
        return out

    @torch.no_grad()
    def sample(self, n: int, *, labels=None, generator=None) -> torch.Tensor:
        """Decodes z ~ N(shift, 1/scale^2): the aggregate posterior's first two moments, not a generative
        model worth using on its own (train ``latent_diffusion`` on these latents)."""
        self.check_labels(labels, n)
        eps = torch.randn((n, *self.latent_shape), generator=generator).to(self._device)
        return self.decode(eps / self.latent_scale + self.latent_shift)
