"""IWAE bound: >= ELBO, non-decreasing in K, equal to the ELBO at K = 1; refused without a Bernoulli likelihood."""

from __future__ import annotations

import pytest
import torch

from radgen.data import load_dataset
from radgen.errors import ConfigError
from radgen.metrics import elbo_terms, iwae_bound
from radgen.models import build_model


@pytest.fixture(scope="module")
def trained():
    ds = load_dataset("pneumoniamnist", progress=False)
    torch.manual_seed(0)
    m = build_model({"name": "vae", "latent_dim": 4, "hidden": [64, 64]}, image_size=28, channels=1, num_classes=2)
    opt = torch.optim.Adam(m.parameters(), lr=2e-3)
    x, y = ds["train"].images[:512], ds["train"].labels[:512]
    for step in range(60):
        b = slice((step * 64) % 512, (step * 64) % 512 + 64)
        out = m((x[b], y[b]))
        opt.zero_grad()
        out.loss.backward()
        opt.step()
    return m.eval(), ds["test"].subset(list(range(200)))


def test_iwae_is_at_least_the_elbo_and_grows_with_k(trained):
    m, test = trained
    elbo = -elbo_terms(m, test, seed=0)["neg_elbo"]
    bounds = {k: iwae_bound(m, test, k=k, seed=0)["log_px_bound"] for k in (1, 5, 50)}
    assert bounds[1] == pytest.approx(elbo, rel=5e-3)  # K = 1 is the ELBO (different noise draws)
    assert bounds[50] >= bounds[5] - 0.05 >= bounds[1] - 0.1  # non-decreasing up to Monte Carlo noise
    assert bounds[50] > elbo
    bpd = iwae_bound(m, test, k=5, seed=0)
    assert bpd["bits_per_dim"] == pytest.approx(-bpd["log_px_bound"] / (784 * 0.6931471805599453))


def test_iwae_works_for_mixture_and_learned_priors_and_refuses_non_densities():
    test = load_dataset("pneumoniamnist", progress=False)["test"].subset(list(range(16)))
    for cfg in (
        {"name": "gmvae", "widths": [8, 16], "latent_dim": 3, "components": 3},
        {"name": "cvae", "widths": [8, 16], "latent_dim": 3, "prior": "learned"},
    ):
        m = build_model(cfg, image_size=28, channels=1, num_classes=2)
        out = iwae_bound(m, test, k=4)
        assert out["log_px_bound"] < 0 and out["bits_per_dim"] > 0
    l1 = build_model({"name": "resnet_vae", "latent_dim": 4}, image_size=28, channels=1, num_classes=2)
    with pytest.raises(ConfigError, match="Bernoulli likelihood"):
        iwae_bound(l1, test, k=2)


def test_bernoulli_bounds_agree_with_the_vae_s_own_iwae_and_elbo(trained):
    from radgen.metrics.likelihood import bernoulli_bounds

    m, test = trained
    b = bernoulli_bounds(m, test, k=20, seed=0)
    own = iwae_bound(m, test, k=20, seed=0)
    assert b["log_px_iwae"] == pytest.approx(own["log_px_bound"], rel=1e-3)  # same draws; only the 1e-6 clamp differs
    t = elbo_terms(m, test)  # analytic KL, one posterior sample: matches the MC terms to sampling noise
    assert b["kl"] == pytest.approx(t["kl"], rel=0.1)
    assert b["elbo"] == pytest.approx(-t["neg_elbo"], rel=0.02)
    assert b["log_px_iwae"] >= b["elbo"]
    with torch.no_grad():
        recon = m.decode(m.posterior(test.images, test.labels)[0])
    assert b["mse"] == pytest.approx(float((recon - test.images).pow(2).mean()), rel=1e-5)


def test_bernoulli_bounds_score_the_hybrid_and_refuse_deterministic_encoders():
    from radgen.metrics.likelihood import bernoulli_bounds

    ds = load_dataset("pneumoniamnist", progress=False)["test"].subset(list(range(16)))
    torch.manual_seed(0)
    hybrid = build_model(
        {"name": "gvae", "latent_dim": 8, "base_width": 4}, image_size=28, channels=1, num_classes=2
    ).eval()
    b = bernoulli_bounds(hybrid, ds, k=4)
    assert all(torch.isfinite(torch.tensor(b[k])) for k in ("elbo", "log_px_iwae", "kl", "mse"))
    assert b["log_px_iwae"] >= b["elbo"]
    from radgen.losses import gaussian_kl

    with torch.no_grad():
        mu, logvar = hybrid.encode(ds.images)
    assert b["kl"] == pytest.approx(
        float(gaussian_kl(mu, logvar).sum(1).mean()), abs=0.5
    )  # Monte Carlo vs closed form
    alpha = build_model(
        {"name": "alpha_gan", "latent_dim": 8, "base_width": 8}, image_size=28, channels=1, num_classes=2
    )
    with pytest.raises(ConfigError, match="deterministic encoder"):
        bernoulli_bounds(alpha, ds, k=2)
