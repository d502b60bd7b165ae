"""Adversarial specifics: gradient penalty by hand, loss formulas, n_critic schedule, collapse warnings."""

from __future__ import annotations

import pytest
import torch

from radgen.losses import gradient_penalty, ls_discriminator, ls_generator
from radgen.models import build_model
from radgen.nn.gan import start_size, to_signed, to_unit
from radgen.training import load_run_config, train
from radgen.training.run import read_metrics


def test_gradient_penalty_of_a_linear_critic_is_norm_minus_one_squared():
    w = torch.tensor([3.0, 4.0, 0.0, 0.0]).view(1, 1, 2, 2)  # ||w|| = 5 -> penalty (5 - 1)^2 = 16 everywhere
    critic = lambda x: (x * w).flatten(1).sum(1)  # noqa: E731
    real, fake = torch.rand(5, 1, 2, 2), torch.rand(5, 1, 2, 2)
    assert float(gradient_penalty(critic, real, fake)) == pytest.approx(16.0)


def test_gradient_penalty_of_a_quadratic_critic_matches_a_hand_computation():
    critic = lambda x: 0.5 * x.flatten(1).pow(2).sum(1)  # noqa: E731  grad = x_hat itself
    real, fake = torch.randn(4, 1, 3, 3), torch.randn(4, 1, 3, 3)
    g = torch.Generator().manual_seed(7)
    gp = gradient_penalty(critic, real, fake, generator=g)
    eps = torch.rand((4, 1, 1, 1), generator=torch.Generator().manual_seed(7))
    x_hat = eps * real + (1 - eps) * fake
    expected = (x_hat.flatten(1).norm(dim=1) - 1).pow(2).mean()
    assert float(gp.detach()) == pytest.approx(float(expected), rel=1e-6)


def test_least_squares_losses_and_value_range_helpers():
    d_real, d_fake = torch.tensor([1.0, 0.5]), torch.tensor([0.0, 0.5])
    assert float(ls_discriminator(d_real, d_fake)) == pytest.approx(0.5 * 0.125 + 0.5 * 0.125)
    assert float(ls_generator(torch.tensor([1.0, 0.0]))) == pytest.approx(0.25)
    x = torch.rand(10)
    torch.testing.assert_close(to_unit(to_signed(x)), x)
    assert [start_size(s) for s in (28, 32, 64, 128)] == [(7, 2), (4, 3), (4, 4), (4, 5)]


def test_wgan_gp_schedule_gives_n_critic_steps_per_generator_step(tmp_path):
    cfg = load_run_config(
        {
            "model": {"name": "wgan_gp", "latent_dim": 8, "base_width": 8, "n_critic": 5},
            "data": {"name": "fashion_mnist"},
            "train": {
                "epochs": 1,
                "batch_size": 32,
                "lr": 1e-4,
                "betas": [0.0, 0.9],
                "limit_train_batches": 10,
                "sample_every": 1,
                "sample_count": 16,
                "progress_bar": False,
            },
            "seed": 0,
            "output_dir": str(tmp_path),
        }
    )
    r = train(cfg)
    row = read_metrics(r.run_dir)[0]
    assert row["step"] == 10 + 2  # 10 critic steps, 2 generator steps
    assert {"train/loss/critic", "train/wasserstein", "train/gp", "train/loss/g", "samples/ms_ssim"} <= set(row)
    assert r.summary["monitor"] == "last epoch" and (r.run_dir / "checkpoints/last.ckpt").is_file()
    assert not (r.run_dir / "checkpoints/best.ckpt").exists()


@pytest.mark.parametrize("name", ["wgan_gp", "gvae"])
def test_critics_with_gradient_penalty_train_on_data_with_a_val_split(tmp_path, name):
    cfg = load_run_config(
        {
            "model": {"name": name, "latent_dim": 8, "base_width": 8},
            "data": {"name": "pneumoniamnist"},  # has an official val split
            "train": {
                "epochs": 1,
                "batch_size": 16,
                "limit_train_batches": 5,
                "sample_every": 0,
                "progress_bar": False,
            },
            "seed": 0,
            "output_dir": str(tmp_path),
        }
    )
    r = train(cfg)
    row = read_metrics(r.run_dir)[0]
    assert "train/gp" in row and not any(k.startswith("val/") for k in row)


def test_collapse_warnings_for_a_winning_discriminator_and_identical_samples():
    m = build_model({"name": "lsgan", "latent_dim": 4, "base_width": 8}, image_size=28, channels=1, num_classes=2)
    assert m.collapse_check({"loss/d": 1e-5}) is None and m.collapse_check({"loss/d": 1e-5}) is None
    assert "discriminator wins" in m.collapse_check({"loss/d": 1e-5})
    assert m.collapse_check({"loss/d": 0.3}) is None  # resets
    from radgen.metrics.diversity import pairwise_ms_ssim

    same = torch.rand(1, 1, 28, 28).repeat(16, 1, 1, 1)
    assert pairwise_ms_ssim(same, n_pairs=20)["ms_ssim"] == pytest.approx(1.0, abs=1e-5)


def test_adversarial_models_refuse_early_stopping(tmp_path):
    from radgen.errors import ConfigError

    cfg = load_run_config(
        {
            "model": {"name": "lsgan", "base_width": 8},
            "data": {"name": "fashion_mnist"},
            "train": {"epochs": 1, "early_stopping_patience": 3, "progress_bar": False},
            "output_dir": str(tmp_path),
            "seed": 0,
        }
    )
    with pytest.raises(ConfigError, match="adversarial"):
        train(cfg)
