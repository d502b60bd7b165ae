"""ResNet18-style convolutional VAE (design document 000, section 2.1).

Encoder (64 px, 1 or 3 channels): 3x3 stride-2 stem + GN + ReLU -> 64@32^2; three stages
of two residual blocks, 64@32^2, 128@16^2, 256@8^2 (stride-2 first block, 1x1 projection
shortcut); global average pooling; linear to [mu, log sigma^2].
Decoder: linear z -> 256, reshaped 256@1^2 and interpolated to 4^2; residual stages that
upsample by interpolation + 3x3 conv: 128@8^2, 64@16^2, 32@32^2, 32@32^2. The document's
list ends at 32^2 while the output is 64^2: radgen closes the gap the way the encoder
opened it, with one more x2 interpolation (mirroring the stride-2 stem) before the
final 3x3 conv + sigmoid. For 128 px one extra residual up-block (32@64^2) is inserted
first, so every x2 step except the last is learned. Other sizes end with a bilinear
resize to the exact size. Loss (000): L1 (default) or MSE, averaged per pixel, x
recon_weight, + KL averaged over latent dims x kl weight (beta).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch.nn.functional as F
from torch import nn

from radgen.models.base import register_model
from radgen.models.latent import GaussianVAE, LatentVAEConfig, match_size
from radgen.nn import DecoderResBlock, EncoderResBlock, group_norm


@dataclass
class ResNetVAEConfig(LatentVAEConfig):
    """The ResNet VAE's settings: reconstruction loss, the reductions of both terms and upsampling."""

    recon_loss: Literal["bce", "mse", "l1"] = "l1"
    recon_reduction: Literal["sum", "mean"] = "mean"
    kl_reduction: Literal["sum", "mean"] = "mean"
    upsample: Literal["nearest", "bilinear"] = "nearest"


@register_model(
    "resnet_vae", "ResNet18-style conv VAE with GroupNorm (design document 000): L1/MSE + weighted KL, 64/128 px"
)
class ResNetVAE(GaussianVAE):
    """A ResNet18-style convolutional VAE with GroupNorm (design document 000)."""

    Config = ResNetVAEConfig

    def __init__(self, config: ResNetVAEConfig):
        super().__init__(config)
        c = config
        self.label, ld = self.make_label_embedding()
        cin = int(c.channels) + ld
        self.stem = nn.Sequential(nn.Conv2d(cin, 64, 3, stride=2, padding=1, bias=False), group_norm(64), nn.ReLU())
        self.stages = nn.Sequential(
            EncoderResBlock(64, 64),
            EncoderResBlock(64, 64),  # 64@32^2
            EncoderResBlock(64, 128, stride=2),
            EncoderResBlock(128, 128),  # 128@16^2
            EncoderResBlock(128, 256, stride=2),
            EncoderResBlock(256, 256),  # 256@8^2
        )
        self.to_latent = nn.Linear(256 + ld, 2 * c.latent_dim)
        self.from_latent = nn.Linear(c.latent_dim + ld, 256)
        up = c.upsample
        blocks = [
            DecoderResBlock(256, 128, scale=2, mode=up),  # 128@8^2
            DecoderResBlock(128, 64, scale=2, mode=up),  # 64@16^2
            DecoderResBlock(64, 32, scale=2, mode=up),  # 32@32^2
            DecoderResBlock(32, 32, scale=1, mode=up),  # 32@32^2
        ]
        r = 32
        while r * 2 < int(c.image_size):  # 128 px: one more learned x2 stage (32@64^2)
            blocks.append(DecoderResBlock(32, 32, scale=2, mode=up))
            r *= 2
        self.dec_stages = nn.Sequential(*blocks)
        self.final_scale = 2 if r * 2 == int(c.image_size) else None
        self.out = nn.Conv2d(32, int(c.channels), 3, padding=1)

    def encode(self, x, y=None):
        f = self.stages(self.stem(self.condition(x, y))).mean(
            dim=(2, 3)
        )  # global average pool: (B, 256, h, w) -> (B, 256)
        mu, logvar = self.to_latent(self.condition(f, y)).chunk(2, dim=1)
        return mu, logvar

    def decode_logits(self, z, y=None):
        h = self.from_latent(self.condition(z, y))[:, :, None, None]  # (B, 256) -> (B, 256, 1, 1)
        h = F.interpolate(h, size=(4, 4), mode="nearest")  # -> (B, 256, 4, 4)
        h = self.dec_stages(h)
        if self.final_scale:
            h = F.interpolate(h, scale_factor=2, mode=self.config.upsample)  # 32^2 -> 64^2 (or 64^2 -> 128^2)
        return match_size(self.out(h), int(self.config.image_size))
