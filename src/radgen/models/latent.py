"""Base of the VAE family: a Gaussian posterior q(z|x[,y]) and explicit loss bookkeeping.

Loss per batch (Kingma & Welling 2014; beta-VAE, Higgins et al. 2017; design docs 000-003):

    loss = recon_weight * mean_b R(x_b) + beta_t * mean_b KL_b [+ ssim_weight * mean_b (1 - SSIM_b)]

- R is summed over C x H x W (``recon_reduction='sum'``: nats per image for BCE, design
  document 002) or averaged (``'mean'``: per pixel, design document 000).
- KL_b is the analytic Gaussian KL summed over latent dimensions (``kl_reduction='sum'``)
  or averaged over them (``'mean'``, design document 000 eq. 8); models whose prior has
  no closed form (GMVAE) use the one-sample Monte Carlo estimate log q(z|x) - log p(z).
- beta_t = beta * min(1, epoch / kl_warmup_epochs) (linear warm-up; off at 0).
- free bits (Kingma et al. 2016): each dimension's batch-mean KL counts at least
  ``free_bits`` nats in the loss; the logged KL is always the true one.
The decoder emits logits; images are their sigmoid; BCE uses the logits for stability.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

from radgen.errors import ConfigError
from radgen.losses import gaussian_kl, gaussian_log_prob, reconstruction_loss, ssim_loss
from radgen.models.base import CapabilityError, GenerativeModel, ModelConfig, ModelOutput
from radgen.nn import LabelEmbedding

LOGVAR_CLAMP = (-30.0, 20.0)  # keeps exp(logvar) finite in float32
ACTIVE_UNIT_THRESHOLD = 0.01  # Burda et al. 2016: a unit is active when Var_x E_q[z_d] > 0.01


@dataclass
class LatentVAEConfig(ModelConfig):
    """Settings shared by the VAE family: latent size, beta and the reconstruction loss."""

    latent_dim: int = 64
    beta: float = 1.0
    recon_loss: Literal["bce", "mse", "l1"] = "bce"
    recon_reduction: Literal["sum", "mean"] = "sum"
    kl_reduction: Literal["sum", "mean"] = "sum"
    recon_weight: float = 1.0
    ssim_weight: float = 0.0
    kl_warmup_epochs: float = 0.0
    free_bits: float = 0.0
    conditional: Literal["none", "one_hot", "embedding"] = "none"
    label_dim: int = 16  # size of a learned label embedding (conditional='embedding')


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """z = mu + sigma * eps, eps ~ N(0, I), sigma = exp(logvar / 2) (Kingma & Welling 2014, eq. 10);
    ``generator`` seeds eps (one draw of mu's shape), else the global stream."""
    eps = (
        torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        if generator is not None
        else torch.randn_like(mu)
    )
    return mu + (0.5 * logvar).exp() * eps


class GaussianVAE(GenerativeModel):
    """Subclasses implement ``encode(x, y) -> (mu, logvar)`` and ``decode_logits(z, y)``, conditioning
    their networks through ``condition`` on ``self.label`` (from ``make_label_embedding``); a different
    prior overrides ``kl_per_dim``/``kl_monte_carlo``, ``prior_log_prob`` and ``prior_sample``."""

    Config = LatentVAEConfig
    encoding = "gaussian"
    likelihood = True  # posterior, prior_log_prob, kl_per_dim (GenerativeModel.likelihood)
    latent_decoder = True

    def __init__(self, config: LatentVAEConfig):
        super().__init__(config)
        if config.latent_dim < 1:
            raise ConfigError(f"model.latent_dim={config.latent_dim} must be >= 1")
        if config.beta < 0 or config.free_bits < 0 or config.kl_warmup_epochs < 0:
            raise ConfigError("model.beta, model.free_bits and model.kl_warmup_epochs must be >= 0")
        self.config: LatentVAEConfig = config
        self.label: LabelEmbedding | None = None  # set by conditional subclasses (make_label_embedding)
        self.epoch = 0.0  # fractional training epoch (set_epoch), for the KL warm-up

    # -- capabilities -----------------------------------------------------------------------
    @property
    def supports_labels(self) -> bool:
        return self.config.conditional != "none"

    @property
    def loss_statement(self) -> str:  # type: ignore[override]
        c = self.config
        recon = (
            f"{c.recon_loss.upper()} {'summed' if c.recon_reduction == 'sum' else 'averaged'} "
            f"over C*H*W pixels per image, mean over the batch, x recon_weight={c.recon_weight}"
        )
        kl = (
            f"KL {'summed' if c.kl_reduction == 'sum' else 'averaged'} over {c.latent_dim} latent "
            f"dims per image, mean over the batch, x beta={c.beta}"
        )
        extra = []
        if c.kl_warmup_epochs:
            extra.append(f"beta warmed up linearly over {c.kl_warmup_epochs} epochs")
        if c.free_bits:
            extra.append(f"free bits {c.free_bits} nats/dim")
        if c.ssim_weight:
            extra.append(f"+ {c.ssim_weight} x (1 - SSIM) averaged over the batch")
        return "; ".join([recon, kl, *extra])

    # -- pieces subclasses provide ---------------------------------------------------------------
    def encode(
        self, x: torch.Tensor, y: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:  # pragma: no cover
        raise NotImplementedError

    def decode_logits(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return torch.sigmoid(self.decode_logits(z, y))

    def kl_per_dim(self, mu: torch.Tensor, logvar: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor | None:
        """(B, D) analytic KL to the prior, or None when it has no closed form."""
        return gaussian_kl(mu, logvar)

    def kl_monte_carlo(
        self, mu: torch.Tensor, logvar: torch.Tensor, z: torch.Tensor, y: torch.Tensor | None
    ) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def prior_sample(self, n: int, y: torch.Tensor | None, generator: torch.Generator | None) -> torch.Tensor:
        return torch.randn(n, self.config.latent_dim, generator=generator, device=self._device)

    def prior_log_prob(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """log p(z) (summed over dimensions); standard normal here."""
        return gaussian_log_prob(z, torch.zeros_like(z), torch.zeros_like(z))

    # -- shared machinery -------------------------------------------------------------------
    def make_label_embedding(self) -> tuple[LabelEmbedding | None, int]:
        """The label module of a conditional model (None otherwise) and its output width."""
        c = self.config
        if c.conditional == "none":
            return None, 0
        emb = LabelEmbedding(int(c.num_classes), kind=c.conditional, dim=c.label_dim)
        return emb, emb.dim

    def label_vector(self, y: torch.Tensor | None) -> torch.Tensor | None:
        return self.label(y) if self.label is not None else None

    reparameterize = staticmethod(reparameterize)

    def set_epoch(self, epoch: float) -> None:
        self.epoch = float(epoch)

    def posterior(self, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.encode(x, self.condition_labels(y))
        return mu, logvar.clamp(*LOGVAR_CLAMP)

    def beta_now(self) -> float:
        """beta_t = beta * min(1, epoch / kl_warmup_epochs) at the epoch ``set_epoch`` passed in."""
        c = self.config
        if c.kl_warmup_epochs <= 0:
            return c.beta
        return c.beta * min(1.0, self.epoch / c.kl_warmup_epochs)

    def loss_terms(
        self, x: torch.Tensor, y: torch.Tensor | None, *, generator: torch.Generator | None = None
    ) -> dict[str, torch.Tensor]:
        """Per-image terms with the configured reductions: recon (B,), kl (B,), kl_dims (B, D) or None."""
        c = self.config
        y = self.condition_labels(y)
        mu, logvar = self.posterior(x, y)
        z = self.reparameterize(mu, logvar, generator)
        logits = self.decode_logits(z, y)
        if c.recon_loss == "bce":
            recon = reconstruction_loss(logits, x, kind="bce", reduction=c.recon_reduction)
        else:
            recon = reconstruction_loss(torch.sigmoid(logits), x, kind=c.recon_loss, reduction=c.recon_reduction)
        kl_dims = self.kl_per_dim(mu, logvar, y)
        if kl_dims is not None:
            kl = kl_dims.sum(1) if c.kl_reduction == "sum" else kl_dims.mean(1)
        else:
            kl = self.kl_monte_carlo(mu, logvar, z, y)
            if c.kl_reduction == "mean":
                kl = kl / c.latent_dim
        return {"recon": recon, "kl": kl, "kl_dims": kl_dims, "mu": mu, "logvar": logvar, "logits": logits}

    def forward(self, batch, *, group: str = "model") -> ModelOutput:
        x, y = batch
        c = self.config
        t = self.loss_terms(x, y)
        recon, kl, kl_dims = t["recon"].mean(), t["kl"].mean(), t["kl_dims"]
        kl_in_loss = kl
        if c.free_bits > 0 and kl_dims is not None:
            per_dim = kl_dims.mean(0).clamp(min=c.free_bits)
            kl_in_loss = per_dim.sum() if c.kl_reduction == "sum" else per_dim.mean()
        beta = self.beta_now()
        loss = c.recon_weight * recon + beta * kl_in_loss
        logs = {"loss/recon": recon.detach(), "loss/kl": kl.detach(), "beta": torch.tensor(beta)}
        if c.ssim_weight > 0:
            s = ssim_loss(torch.sigmoid(t["logits"]), x).mean()
            loss = loss + c.ssim_weight * s
            logs["loss/ssim"] = s.detach()
        logs["loss/total"] = loss.detach()
        stats = {"mu": t["mu"].detach()}
        if kl_dims is not None:
            stats["kl_per_dim"] = kl_dims.detach()
        return ModelOutput(loss=loss, logs=logs, stats=stats)

    membership_attack = (
        "negative training loss (recon_weight x reconstruction + beta x KL, the ELBO's terms), mean of 4 z draws"
    )

    @torch.no_grad()
    def membership_score(self, x, y=None, *, generator=None) -> torch.Tensor:
        """-(recon_weight R(x) + beta KL(x)) averaged over 4 posterior draws (the loss the model was fitted to)."""
        c = self.config
        total = torch.zeros(x.shape[0], device=x.device)
        for _ in range(4):
            t = self.loss_terms(x, y, generator=generator)
            total += c.recon_weight * t["recon"] + c.beta * t["kl"]
        return -total / 4

    def private_modules(self) -> dict[str, torch.nn.Module]:
        """The encoder and the decoder both see real images: the whole model is private."""
        if self.config.free_bits > 0:
            raise CapabilityError(
                "free bits clamp the batch-mean KL, so no image has a gradient of its own; set model.free_bits=0"
            )
        return {"model": self}

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Decode the posterior mean, not a sample (design document 000 section 3.4)."""
        y = self.condition_labels(y)
        mu, _ = self.posterior(x, y)
        return self.decode(mu, y)

    @torch.no_grad()
    def sample(
        self, n: int, *, labels: torch.Tensor | None = None, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        y = self.check_labels(labels, n)
        if y is not None:
            y = y.to(self._device)
        z = self.prior_sample(n, y, generator)
        return self.decode(z, y)


def match_size(x: torch.Tensor, size: int) -> torch.Tensor:
    """Bilinear resize of a (B, C, h, w) map to (size, size) when it differs."""
    return (
        x
        if x.shape[-1] == size and x.shape[-2] == size
        else F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    )
