"""Test-set loss terms of a VAE-family model, in the model's own bookkeeping.

``elbo_terms`` averages, over a whole split, the per-image reconstruction term and KL
exactly as the model's training loss defines them (reductions stated in
``model.describe_losses()``), with one seeded posterior sample per image, and reports
``loss = recon_weight * recon + beta * KL`` (design document 002's L_VAE) beside
``neg_elbo = recon + KL``, which is -ELBO in nats per image only when the reconstruction
term is a summed log-likelihood (BCE, ``recon_reduction='sum'``).
"""
from __future__ import annotations

import torch

from radgen.data.base import ImageSet


@torch.no_grad()
def elbo_terms(model, images: ImageSet, *, batch_size: int = 512, seed: int = 0) -> dict[str, float]:
    if not hasattr(model, "loss_terms"):
        raise TypeError(f"model {model.config.name!r} is not of the VAE family")
    model.eval()
    g = torch.Generator().manual_seed(seed)
    recon_sum = kl_sum = 0.0
    n = len(images)
    for start in range(0, n, batch_size):
        x = images.images[start : start + batch_size]
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
