"""The VAE family: shapes, closed forms, the contract, overfitting, export round trip."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from radgen.errors import ConfigError
from radgen.losses import gaussian_kl, mixture_log_prob, reconstruction_loss
from radgen.models import MODELS, build_model

FAMILY = ["vae", "resnet_vae", "cvae", "enhanced_cvae", "gmvae", "fs_gmvae"]
SMALL = {  # small widths keep the suite fast; the architecture code paths are the same
    "vae": {"hidden": [32, 32], "latent_dim": 4},
    "resnet_vae": {"latent_dim": 4},
    "cvae": {"widths": [8, 16, 32], "latent_dim": 4},
    "enhanced_cvae": {"widths": [8, 16, 32], "latent_dim": 4},
    "gmvae": {"widths": [8, 16, 32], "latent_dim": 4, "components": 3},
    "fs_gmvae": {"widths": [8, 16, 32], "latent_dim": 4, "components": 3},
}


def make(name: str, size: int = 28, channels: int = 1, **over):
    torch.manual_seed(0)
    return build_model({"name": name, **SMALL[name], **over}, image_size=size, channels=channels, num_classes=2)


def test_every_family_is_registered():
    assert set(FAMILY) <= set(MODELS.names())


@pytest.mark.parametrize("name", FAMILY)
@pytest.mark.parametrize("size,channels", [(28, 1), (28, 3), (64, 1), (64, 3)])
def test_shapes_and_output_range(name, size, channels):
    m = make(name, size, channels)
    x, y = torch.rand(3, channels, size, size), torch.tensor([0, 1, 1])
    out = m((x, y))
    assert out.loss.ndim == 0 and torch.isfinite(out.loss)
    assert {"loss/total", "loss/recon", "loss/kl", "beta"} <= set(out.logs)
    assert all(v.ndim == 0 and not v.requires_grad for v in out.logs.values())
    mu, logvar = m.posterior(x, y)
    assert mu.shape == logvar.shape == (3, m.config.latent_dim)
    rec = m.reconstruct(x, y)
    labels = y if m.supports_labels else None
    s = m.sample(3, labels=labels, generator=torch.Generator().manual_seed(0))
    for t in (rec, s):
        assert t.shape == (3, channels, size, size) and float(t.min()) >= 0 and float(t.max()) <= 1


def test_resnet_vae_follows_document_000_shapes():
    m = make("resnet_vae", 64, 3)
    shapes = {}
    for name, mod in [
        ("stem", m.stem),
        *[(f"enc{i}", b) for i, b in enumerate(m.stages)],
        *[(f"dec{i}", b) for i, b in enumerate(m.dec_stages)],
    ]:
        mod.register_forward_hook(lambda mod, inp, out, name=name: shapes.__setitem__(name, tuple(out.shape[1:])))
    m((torch.rand(2, 3, 64, 64), torch.zeros(2, dtype=torch.long)))
    assert shapes["stem"] == (64, 32, 32)
    assert shapes["enc1"] == (64, 32, 32) and shapes["enc3"] == (128, 16, 16) and shapes["enc5"] == (256, 8, 8)
    assert [shapes[f"dec{i}"] for i in range(4)] == [(128, 8, 8), (64, 16, 16), (32, 32, 32), (32, 32, 32)]
    big = make("resnet_vae", 128, 1)
    assert len(big.dec_stages) == 5  # one extra learned x2 stage for 128 px
    assert big.sample(1).shape == (1, 1, 128, 128)


def test_gaussian_kl_matches_torch_distributions():
    from torch.distributions import Normal, kl_divergence

    g = torch.Generator().manual_seed(0)
    mu_q, lv_q, mu_p, lv_p = (torch.randn(5, 7, generator=g) for _ in range(4))
    ref_std = kl_divergence(Normal(mu_q, (0.5 * lv_q).exp()), Normal(0.0, 1.0))
    ref_two = kl_divergence(Normal(mu_q, (0.5 * lv_q).exp()), Normal(mu_p, (0.5 * lv_p).exp()))
    torch.testing.assert_close(gaussian_kl(mu_q, lv_q), ref_std, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(gaussian_kl(mu_q, lv_q, mu_p, lv_p), ref_two, rtol=1e-5, atol=1e-6)


def test_mixture_prior_density_normalises_in_1d_and_2d():
    means = torch.tensor([[-2.0], [0.5], [3.0]], dtype=torch.float64)
    logvars = torch.tensor([[0.0], [-1.0], [0.7]], dtype=torch.float64)
    z = torch.linspace(-15, 15, 20001, dtype=torch.float64)[:, None]
    p = mixture_log_prob(z, means, logvars).exp()
    assert abs(float(torch.trapezoid(p, z[:, 0])) - 1.0) < 1e-6
    m2 = torch.tensor([[-1.0, 1.0], [2.0, 0.0]], dtype=torch.float64)
    lv2 = torch.tensor([[0.0, -0.5], [0.3, 0.1]], dtype=torch.float64)
    axis = torch.linspace(-10, 10, 801, dtype=torch.float64)
    zz = torch.cartesian_prod(axis, axis)
    dens = mixture_log_prob(zz, m2, lv2).exp().view(801, 801)
    assert abs(float(torch.trapezoid(torch.trapezoid(dens, axis, dim=1), axis)) - 1.0) < 1e-5


def test_gmvae_prior_of_the_model_normalises_and_samples_follow_it():
    m = make("gmvae", latent_dim=1, components=3)
    with torch.no_grad():
        m.prior_means.copy_(torch.tensor([[-3.0], [0.0], [4.0]]))
        m.prior_logvars.copy_(torch.tensor([[-1.0], [0.0], [-2.0]]))
    z = torch.linspace(-20, 20, 40001)[:, None]
    assert abs(float(torch.trapezoid(m.prior_log_prob(z).exp(), z[:, 0])) - 1.0) < 1e-4
    zs = m.prior_sample(60000, None, torch.Generator().manual_seed(0))
    expected_mean = float(m.prior_means.mean())
    assert abs(float(zs.mean()) - expected_mean) < 0.05


def test_loss_reductions_are_what_they_say():
    m = make("vae")
    x, y = torch.rand(4, 1, 28, 28), torch.zeros(4, dtype=torch.long)
    torch.manual_seed(1)
    t_sum = m.loss_terms(x, y)
    m.config.recon_reduction, m.config.kl_reduction = "mean", "mean"
    torch.manual_seed(1)
    t_mean = m.loss_terms(x, y)
    torch.testing.assert_close(t_sum["recon"], t_mean["recon"] * 784)
    torch.testing.assert_close(t_sum["kl"], t_mean["kl"] * m.config.latent_dim)
    ref = (
        torch.nn.functional.binary_cross_entropy(torch.sigmoid(t_sum["logits"]), x, reduction="none").flatten(1).sum(1)
    )
    torch.testing.assert_close(t_sum["recon"], ref, rtol=1e-4, atol=1e-3)
    assert reconstruction_loss(x, x, kind="l1", reduction="sum").abs().max() == 0


def test_beta_warmup_and_free_bits():
    m = make("vae", beta=2.0, kl_warmup_epochs=4.0)
    m.set_epoch(1.0)
    assert m.beta_now() == pytest.approx(0.5)
    m.set_epoch(10.0)
    assert m.beta_now() == pytest.approx(2.0)
    fb = make("vae", free_bits=5.0)
    x, y = torch.rand(4, 1, 28, 28), torch.zeros(4, dtype=torch.long)
    out = fb((x, y))
    # at initialisation each dim's KL is far below 5 nats, so the loss counts 5 per dim
    assert float(out.loss) == pytest.approx(float(out.logs["loss/recon"]) + 5.0 * fb.config.latent_dim, rel=1e-5)
    assert float(out.logs["loss/kl"]) < 5.0 * fb.config.latent_dim


@pytest.mark.parametrize("name", FAMILY)
def test_every_family_overfits_one_small_batch(name):
    """MSE reconstruction (BCE on grey images has an entropy floor far above half its start)."""
    from radgen.data import load_dataset

    ds = load_dataset("pneumoniamnist", progress=False)["train"]
    x, y = ds.images[:8], ds.labels[:8]
    over = {"recon_loss": "mse"} if name != "resnet_vae" else {}
    m = make(name, **over)
    opt = torch.optim.Adam(m.parameters(), lr=2e-3)
    torch.manual_seed(0)
    losses = []
    for _ in range(250):
        out = m((x, y))
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        losses.append(float(out.loss))
        if len(losses) >= 15 and np.mean(losses[-10:]) <= 0.5 * np.mean(losses[:5]):
            break  # reached the target; no need to spend the remaining steps
    first, last = np.mean(losses[:5]), np.mean(losses[-10:])
    assert last <= 0.5 * first, (first, last)


def test_seeded_sampling_is_deterministic_and_label_checks():
    m = make("cvae").eval()
    a = m.sample(4, labels=torch.tensor([1]), generator=torch.Generator().manual_seed(3))
    b = m.sample(4, labels=torch.tensor([1]), generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    with pytest.raises(ConfigError, match="class-conditional; pass labels"):
        m.sample(2)
    with pytest.raises(ConfigError, match=r"label 5 was not trained; valid: 0..1"):
        m.sample(2, labels=torch.tensor([5]))
    with pytest.raises(ConfigError, match="trained without labels"):
        make("vae").sample(2, labels=torch.tensor([0, 1]))


def test_learned_conditional_prior_changes_kl_and_samples():
    m = make("cvae", prior="learned")
    with torch.no_grad():
        m.prior_params[1, :4] = 3.0  # class 1 prior mean at 3
    z = m.prior_sample(2000, torch.ones(2000, dtype=torch.long), torch.Generator().manual_seed(0))
    assert abs(float(z.mean()) - 3.0) < 0.1
    mu, lv = torch.full((1, 4), 3.0), torch.zeros(1, 4)
    assert float(m.kl_per_dim(mu, lv, torch.tensor([1])).sum()) == pytest.approx(0.0, abs=1e-6)
    assert float(m.kl_per_dim(mu, lv, torch.tensor([0])).sum()) == pytest.approx(4 * 4.5)


def test_bad_model_configs_are_one_line_errors():
    with pytest.raises(ConfigError, match="unknown model 'vea'; valid: .*vae"):
        build_model({"name": "vea"}, image_size=28, channels=1, num_classes=2)
    with pytest.raises(ConfigError, match="unknown config key 'model.latnt_dim'; valid keys: .*latent_dim"):
        build_model({"name": "vae", "latnt_dim": 3}, image_size=28, channels=1, num_classes=2)
    with pytest.raises(ConfigError, match="model.image_size=64 but the data has image_size=28"):
        build_model({"name": "vae", "image_size": 64}, image_size=28, channels=1, num_classes=2)
    with pytest.raises(ConfigError, match="recon_loss='ce' is not valid; valid: bce, mse, l1"):
        build_model({"name": "vae", "recon_loss": "ce"}, image_size=28, channels=1, num_classes=2)
