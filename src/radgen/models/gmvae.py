"""Gaussian-mixture VAE (design document 003; Dilokthanakul et al. 2016; CS236 formulation).

Prior p(z) = (1/K) sum_k N(z; m_k, diag(v_k)) with learned means and variances. The KL
term has no closed form, so it is the one-sample Monte Carlo estimate
log q(z|x) - log p(z) at the reparameterised z (unbiased for KL(q || p)). Sampling picks
a component uniformly, then samples from it. ``fs_gmvae`` is the label-conditioned
variant of 003: the one-hot label is concatenated to z before the decoder.

003's own networks (Sec. 4-5.1, Tables 2-5) are config values of this one family:
``encoder: vgg16 | densenet121`` (torchvision-layout ImageNet backbones, ``encoder_weights: PATH``,
``freeze_encoder`` for 003's "Encoder in Eval"), ``transition: conv_pool`` (003's transition layer),
``input_normalize: imagenet`` (003's normalisation block) and ``decoder: decoder1 | decoder2 | linear``;
see ``radgen.nn.encoders`` and ``radgen.nn.decoders``. The defaults are radgen's small conv nets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import nn

from radgen.errors import ConfigError
from radgen.losses import gaussian_log_prob, mixture_log_prob
from radgen.models.base import register_model, register_preset
from radgen.models.latent import LOGVAR_CLAMP, GaussianVAE, LatentVAEConfig, reparameterize
from radgen.nn import ConvDecoder, ConvEncoder
from radgen.nn.backbones import load_backbone_weights
from radgen.nn.decoders import LinearDecoder, TransposedConvDecoder
from radgen.nn.encoders import BackboneEncoder

BACKBONE_ENCODERS = ("vgg16", "densenet121")


@dataclass
class GMVAEConfig(LatentVAEConfig):
    """The GMVAE's settings: latent size and the number of mixture components."""

    latent_dim: int = 32
    components: int = 10
    widths: list[int] = field(default_factory=lambda: [32, 64, 128, 256])
    conditional: Literal["none", "one_hot", "embedding"] = "none"
    # -- design document 003's networks (radgen.nn.encoders / radgen.nn.decoders) --
    encoder: Literal["conv", "vgg16", "densenet121"] = "conv"
    encoder_weights: str | None = (
        None  # torchvision-layout ImageNet state dict (.pth/.pt, weights_only, or .safetensors); null: random init
    )
    freeze_encoder: bool = False  # 003's "Encoder in Eval": backbone frozen, BatchNorm in eval mode, features memoised
    encoder_width: float = 1.0  # channel multiplier of the backbone; 1.0 is the published network (weights need it)
    transition: Literal["none", "conv_pool"] = "none"  # conv_pool: 003's Conv1x1(300)-BN-ReLU-MaxPool(7)-Linear
    transition_channels: int = 300  # 003 Sec. 4
    input_normalize: Literal["none", "imagenet"] = "none"  # 003's normalisation block, inside the encoder only
    feature_cache_mb: float = 2048.0  # memo of a frozen backbone's features (0: recompute every batch)
    decoder: Literal["conv", "decoder1", "decoder2", "linear"] = "conv"  # decoder1/2: 003 Tables 2/3
    decoder_hidden: list[int] = field(default_factory=lambda: [512])  # hidden widths of decoder: linear


@register_model(
    "gmvae", "Gaussian-mixture VAE (Dilokthanakul et al. 2016), design document 003: K learned prior components, MC KL"
)
class GMVAE(GaussianVAE):
    """VAE with a Gaussian-mixture prior (Dilokthanakul et al. 2016)."""

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
        size, ch, zin = int(c.image_size), int(c.channels), c.latent_dim + ld
        if c.encoder == "conv":
            bad = [k for k, v in (("encoder_weights", c.encoder_weights), ("freeze_encoder", c.freeze_encoder)) if v]
            bad += ["transition"] if c.transition != "none" else []
            bad += ["input_normalize"] if c.input_normalize != "none" else []
            if bad:
                raise ConfigError(
                    f"model.{bad[0]} needs a pretrained backbone; "
                    f"set model.encoder to one of {', '.join(BACKBONE_ENCODERS)}"
                )
            self.encoder = ConvEncoder(ch, size, c.widths)
            self.to_latent = nn.Linear(self.encoder.out_features, 2 * c.latent_dim)
        else:
            if c.encoder_weights and c.encoder_width != 1.0:
                raise ConfigError(
                    f"model.encoder_weights needs model.encoder_width=1.0 (the published {c.encoder}), "
                    f"not {c.encoder_width}"
                )
            if c.transition_channels < 1:
                raise ConfigError(f"model.transition_channels={c.transition_channels} must be >= 1")
            self.encoder = BackboneEncoder(
                c.encoder,
                ch,
                c.latent_dim,
                width=c.encoder_width,
                transition=c.transition,
                transition_channels=c.transition_channels,
                normalize=c.input_normalize,
                freeze=c.freeze_encoder,
                cache_mb=c.feature_cache_mb,
            )
            self.to_latent = None
        if c.decoder == "conv":
            self.decoder = ConvDecoder(zin, size, ch, c.widths)
        elif c.decoder == "linear":
            self.decoder = LinearDecoder(zin, size, ch, list(c.decoder_hidden))
        else:
            self.decoder = TransposedConvDecoder(c.decoder, zin, size, ch)
        g = torch.Generator().manual_seed(0)
        self.prior_means = nn.Parameter(
            torch.randn(c.components, c.latent_dim, generator=g)
        )  # (K, D), spread like N(0, I)
        self.prior_logvars = nn.Parameter(torch.zeros(c.components, c.latent_dim))  # (K, D), unit variances

    def load_pretrained(self) -> dict[str, Any]:
        """Read ``encoder_weights`` into the backbone; returns path and sha256, or "random init", for run.json."""
        c = self.config
        if c.encoder == "conv":
            return {}
        if not c.encoder_weights:
            return {"encoder": c.encoder, "encoder_weights": "random init"}
        got = load_backbone_weights(self.encoder.backbone, c.encoder_weights)
        return {"encoder": c.encoder, "encoder_weights": got["path"], "sha256": got["sha256"]}

    def encode(self, x, y=None):
        if self.to_latent is None:
            return self.encoder(x)
        mu, logvar = self.to_latent(self.encoder(x)).chunk(2, dim=1)
        return mu, logvar

    def decode_logits(self, z, y=None):
        return self.decoder(self.condition(z, y))

    def prior_log_prob(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return mixture_log_prob(z, self.prior_means, self.prior_logvars.clamp(*LOGVAR_CLAMP))

    def kl_per_dim(self, mu, logvar, y):
        return None  # no closed form for a mixture prior

    def kl_monte_carlo(self, mu, logvar, z, y):
        return gaussian_log_prob(z, mu, logvar) - self.prior_log_prob(z)

    def prior_sample(self, n, y, generator):
        k = torch.randint(self.config.components, (n,), generator=generator, device=self._device)
        return reparameterize(self.prior_means[k], self.prior_logvars[k].clamp(*LOGVAR_CLAMP), generator)


register_preset(
    "fs_gmvae",
    "gmvae",
    "label-conditioned GMVAE (FS-GMVAE, design document 003): one-hot label concatenated to z for the decoder",
    conditional="one_hot",
)
