"""Test-set loss terms of a VAE-family model, in the model's own bookkeeping.

``elbo_terms`` averages, over a whole split, the per-image reconstruction term and KL
exactly as the model's training loss defines them (reductions stated in
``model.describe_losses()``), with one seeded posterior sample per image, and reports
``loss = recon_weight * recon + beta * KL`` (design document 002's L_VAE) beside
``neg_elbo = recon + KL``, which is -ELBO in nats per image only when the reconstruction
term is a summed log-likelihood (BCE, ``recon_reduction='sum'``).
"""

from __future__ import annotations

import math

import torch

from radgen.data.base import ImageSet
from radgen.errors import ConfigError
from radgen.losses import gaussian_log_prob
from radgen.models.latent import reparameterize


@torch.no_grad()
def elbo_terms(model, images: ImageSet, *, batch_size: int = 512, seed: int = 0) -> dict[str, float]:
    """Mean reconstruction, KL and negative ELBO of a VAE-family model on ``images``, in nats per image."""
    if not model.likelihood:
        raise ConfigError(f"model {model.config.name!r} is not of the VAE family")
    model.eval()
    g = torch.Generator().manual_seed(seed)
    recon_sum = kl_sum = 0.0
    n, xs = len(images), images.images  # float conversion once, not per batch
    for start in range(0, n, batch_size):
        x = xs[start : start + batch_size]
        y = images.labels[start : start + batch_size]
        t = model.loss_terms(x, y, generator=g)
        recon_sum += float(t["recon"].sum())
        kl_sum += float(t["kl"].sum())
    c = model.config
    recon, kl = recon_sum / n, kl_sum / n
    return {
        "recon": recon,
        "kl": kl,
        "loss": c.recon_weight * recon + c.beta * kl,
        "neg_elbo": recon + kl,
        "n": n,
        "recon_kind": f"{c.recon_loss} ({c.recon_reduction} over pixels)",
        "kl_kind": f"{c.kl_reduction} over latent dims",
    }


@torch.no_grad()
def iwae_bound(model, images: ImageSet, *, k: int = 50, batch_size: int = 64, seed: int = 0) -> dict[str, float]:
    """Importance-weighted bound (Burda et al. 2016) on log p(x), averaged over a split:

        log p(x) >= E[log (1/K) sum_k p(x|z_k) p(z_k) / q(z_k|x)],  z_k ~ q(z|x),

    in nats per image and in bits per dimension (-bound / (C*H*W * ln 2)). K = 1 is the ELBO.
    p(x|z) must be a normalised likelihood: radgen uses the Bernoulli likelihood of
    ``recon_loss='bce'`` with ``recon_reduction='sum'``; other reconstruction terms are not
    densities and are refused.
    """
    c = model.config
    if not model.likelihood or c.recon_loss != "bce" or c.recon_reduction != "sum":
        raise ConfigError(
            "the IWAE bound needs a Bernoulli likelihood (recon_loss=bce, recon_reduction=sum); "
            f"{c.name!r} uses {getattr(c, 'recon_loss', '?')}/{getattr(c, 'recon_reduction', '?')}"
        )
    model.eval()
    g = torch.Generator().manual_seed(seed)
    total, n, xs = 0.0, len(images), images.images
    for start in range(0, n, batch_size):
        x = xs[start : start + batch_size]
        y = images.labels[start : start + batch_size]
        yy = model.condition_labels(y)
        mu, logvar = model.posterior(x, yy)
        b = x.shape[0]
        mu_k, lv_k = mu.repeat_interleave(k, 0), logvar.repeat_interleave(k, 0)  # (B*K, D)
        y_k = yy.repeat_interleave(k, 0) if yy is not None else None
        z = model.reparameterize(mu_k, lv_k, g)
        logits = model.decode_logits(z, y_k)
        x_k = x.repeat_interleave(k, 0)
        log_px_z = (
            -torch.nn.functional.binary_cross_entropy_with_logits(logits, x_k, reduction="none").flatten(1).sum(1)
        )
        log_w = log_px_z + model.prior_log_prob(z, y_k) - gaussian_log_prob(z, mu_k, lv_k)
        total += float((torch.logsumexp(log_w.view(b, k), 1) - math.log(k)).sum())
    bound = total / n
    dims = int(c.channels) * int(c.image_size) ** 2
    return {"log_px_bound": bound, "bits_per_dim": -bound / (dims * math.log(2)), "k": k, "n": n}


def _gaussian_encoder(model):
    """(posterior(x, y) -> (mu, logvar), decoder_mean(z, y) -> probabilities in (0, 1), log_prior(z, y)) for
    any Gaussian-encoder model.
    """
    if model.likelihood:  # the VAE family: its own prior
        return (
            (lambda x, y: model.posterior(x, y)),
            (lambda z, y: model.decode(z, model.condition_labels(y))),
            (lambda z, y: model.prior_log_prob(z, model.condition_labels(y))),
        )
    if model.encoding == "gaussian":  # VAE-GAN, the 004 hybrid: N(0, I) prior

        def post(x, y):
            return model.encode(x, model.condition_labels(y))

        return (
            post,
            (lambda z, y: model.decode(z, y)),
            (lambda z, y: gaussian_log_prob(z, torch.zeros_like(z), torch.zeros_like(z))),
        )
    if model.encoding == "deterministic":
        raise ConfigError(f"{model.config.name!r} has a deterministic encoder: no posterior to bound log p(x) with")
    raise ConfigError(f"model {model.config.name!r} has no Gaussian encoder")


@torch.no_grad()
def bernoulli_bounds(model, images: ImageSet, *, k: int = 50, batch_size: int = 64, seed: int = 0) -> dict[str, float]:
    """One yardstick for every Gaussian-encoder model (design document 004, Table 5: a VAE beside the VAE/GAN hybrid).

    The decoder's mean image p = E[x | z] is scored as a Bernoulli likelihood, log p(x|z) =
    sum_pixels [x log p + (1 - x) log(1 - p)] (p clamped to [1e-6, 1 - 1e-6]) - the VAE's own
    likelihood, and a plug-in one for the hybrid, which trains with L1 and has no likelihood of
    its own. With z_k ~ q(z|x), k = 1..K, all per image in nats:

      reconstruction  E_q[-log p(x|z)]                       (BCE summed over pixels)
      kl              E_q[log q(z|x) - log p(z)]             (Monte Carlo over the K draws)
      elbo            E_q[log p(x|z)] - kl
      log_px_iwae     E[log (1/K) sum_k p(x|z_k) p(z_k) / q(z_k|x)] <= log p(x)   (Burda et al. 2016)
      mse             mean squared error per pixel of the decoded posterior mean

    plus ``bits_per_dim`` = -log_px_iwae / (C H W ln 2).
    """
    post, dec, log_prior = _gaussian_encoder(model)
    model.eval()
    g = torch.Generator().manual_seed(seed)
    sums = {"reconstruction": 0.0, "kl": 0.0, "log_px_iwae": 0.0, "mse": 0.0}
    n, xs = len(images), images.images  # float conversion once, not per batch
    for start in range(0, n, batch_size):
        x = xs[start : start + batch_size]
        y = images.labels[start : start + batch_size]
        b = x.shape[0]
        mu, logvar = post(x, y)
        sums["mse"] += float((dec(mu, y) - x).pow(2).flatten(1).mean(1).sum())
        mu_k, lv_k = mu.repeat_interleave(k, 0), logvar.repeat_interleave(k, 0)
        y_k = y.repeat_interleave(k, 0)
        z = reparameterize(mu_k, lv_k, g)
        p = dec(z, y_k).clamp(1e-6, 1 - 1e-6)
        x_k = x.repeat_interleave(k, 0)
        log_px_z = (x_k * p.log() + (1 - x_k) * (1 - p).log()).flatten(1).sum(1)
        log_q_minus_p = gaussian_log_prob(z, mu_k, lv_k) - log_prior(z, y_k)
        sums["reconstruction"] += float(-log_px_z.view(b, k).mean(1).sum())
        sums["kl"] += float(log_q_minus_p.view(b, k).mean(1).sum())
        sums["log_px_iwae"] += float((torch.logsumexp((log_px_z - log_q_minus_p).view(b, k), 1) - math.log(k)).sum())
    out = {key: v / n for key, v in sums.items()}
    out["elbo"] = -out["reconstruction"] - out["kl"]
    dims = int(xs[0].numel())
    out.update(
        {
            "bits_per_dim": -out["log_px_iwae"] / (dims * math.log(2)),
            "k": k,
            "n": n,
            "likelihood": "Bernoulli on the decoder mean (nats per image)",
        }
    )
    return out
