"""Membership inference: AUC and TPR at low FPR against sklearn; a replaying generator and a VAE trained to
memorise 64 images are caught, a generator of unseen images is not; every family's model-based score is declared on
the model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score, roc_curve

from radgen.data import load_dataset
from radgen.metrics.membership import auc, membership_inference, roc_summary, tpr_at_fpr
from radgen.models.base import CapabilityError, build_model


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auc_and_tpr_at_fpr_equal_sklearn(seed):
    rng = np.random.default_rng(seed)
    m = np.round(rng.normal(0.5, 1, 700), 1)  # rounded: many ties
    n = np.round(rng.normal(0, 1, 1500), 1)
    y, s = np.r_[np.ones(700), np.zeros(1500)], np.r_[m, n]
    assert auc(m, n) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    fpr, tpr, _ = roc_curve(y, s)
    for target in (0.001, 0.01, 0.1):
        assert tpr_at_fpr(m, n, target) == pytest.approx(tpr[fpr <= target].max(), abs=1e-12)
    r = roc_summary(m, n, bootstrap=200, seed=0)
    assert r["auc_ci95"][0] < r["auc"] < r["auc_ci95"][1]
    assert r["tpr_at_0.001_fpr_resolvable"] and r["tpr_at_0.01_fpr"] == tpr_at_fpr(m, n, 0.01)


@pytest.fixture(scope="module")
def pneumonia():
    ds = load_dataset("pneumoniamnist", progress=False)
    return ds["train"], ds["val"], ds["test"]


def test_a_generator_that_replays_its_64_training_images_is_caught_black_box(pneumonia):
    train, val, _ = pneumonia
    members = train.images[:64]
    g = torch.Generator().manual_seed(0)
    # the black-box attack alone: it returns its 64 training films, re-drawn with replacement and with a little noise
    generated = members[torch.randint(0, 64, (256,), generator=g)] + 0.01 * torch.randn(256, 1, 28, 28, generator=g)
    mi = membership_inference(members, None, val.images[:64], None, generated=generated.clamp(0, 1), bootstrap=200)
    assert mi["black_box"]["auc"] >= 0.95 and mi["black_box"]["tpr_at_0.01_fpr"] >= 0.5


def test_a_vae_trained_to_memorise_64_images_is_caught_by_its_model_based_attack(pneumonia):
    """Issue 33: a generator trained to memorise 64 images has membership-inference AUC >= 0.95. A real radgen
    MLP VAE (z = 8, beta = 0.01, MSE: a small KL weight lets each of the 64 films keep a code of its own) fitted
    full-batch for 1,500 Adam steps; its ELBO-loss attack on those 64 against 64 validation films must reach
    AUC >= 0.95, and the same model's attack on two held-out sets must stay at chance (0.5 +- 0.1)."""
    train, val, _ = pneumonia
    members = train.images[:64]
    torch.manual_seed(0)
    config = {"name": "vae", "latent_dim": 8, "beta": 0.01, "hidden": [256, 256], "recon_loss": "mse"}
    model = build_model(config, image_size=28, channels=1, num_classes=2)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    model.train()
    for _ in range(1500):  # ~5 s on 2 cores; 600 steps at beta = 1 and BCE had reached AUC 0.54 only
        loss = model((members, torch.zeros(64, dtype=torch.long))).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    generated = model.sample(256, generator=torch.Generator().manual_seed(0))
    mi = membership_inference(members, None, val.images[:64], None, generated=generated, model=model, bootstrap=200)
    assert mi["model_based"]["auc"] >= 0.95 and mi["model_based"]["tpr_at_0.01_fpr"] >= 0.5
    assert mi["model_based"]["auc_ci95"][0] > 0.9
    control = membership_inference(
        val.images[64:192], None, val.images[192:320], None, generated=generated, model=model, bootstrap=200
    )
    assert abs(control["model_based"]["auc"] - 0.5) <= 0.1  # two held-out sets: the attack has nothing to find


def test_a_generator_of_unseen_images_gives_chance(pneumonia):
    train, val, test = pneumonia
    mi = membership_inference(
        train.images[:300], None, val.images[:300], None, generated=test.images[:300], bootstrap=200
    )
    assert abs(mi["black_box"]["auc"] - 0.5) <= 0.1
    lo, hi = mi["black_box"]["auc_ci95"]
    assert lo < 0.5 + 0.1 and hi > 0.5 - 0.1


@pytest.mark.parametrize(
    "config",
    [
        {"name": "cvae", "latent_dim": 4, "widths": [8, 16], "conditional": "one_hot"},
        {"name": "lsgan", "latent_dim": 8, "base_width": 8, "conditional": "one_hot"},
        {"name": "wgan_gp", "latent_dim": 8, "base_width": 8},
        {
            "name": "ddpm",
            "block_out_channels": [8, 16],
            "attention_resolutions": [],
            "norm_groups": 8,
            "layers_per_block": 1,
            "timesteps": 20,
        },
    ],
)
def test_every_family_declares_a_model_based_score(config):
    model = build_model(config, image_size=28 if config["name"] != "ddpm" else 16, channels=1, num_classes=2).eval()
    size = model.config.image_size
    x, y = torch.rand(5, 1, size, size), torch.tensor([0, 1, 0, 1, 1])
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    a = model.membership_score(x, model.condition_labels(y), generator=g1)
    b = model.membership_score(x, model.condition_labels(y), generator=g2)
    assert a.shape == (5,) and torch.isfinite(a).all() and isinstance(model.membership_attack, str)
    torch.testing.assert_close(a, b)  # the same noise for the same seed: members and non-members scored alike


def test_a_model_without_a_declared_attack_says_so():
    from radgen.models.base import GenerativeModel, ModelConfig

    m = GenerativeModel(ModelConfig(name="x", image_size=4, channels=1, num_classes=1))
    assert m.membership_attack is None
    with pytest.raises(CapabilityError, match="no model-based membership-inference attack"):
        m.membership_score(torch.rand(2, 1, 4, 4))
